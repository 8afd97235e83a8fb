#!/bin/bash
# A quick side-by-side on the dataset a previous `scripts/bench-lookup` run left in its BENCH_DIR:
# rosterd with the check lane, rosterd with --check-lanes 0 (SwiftNIO only), redis-server and the
# C floor, each pinned to CPU 0 and driven by bench/build/loadgen on CPU 1, alternating.
#
#   bench/spot-check.sh BENCH_DIR [CONFIGS] [REPS] [SECONDS]
#   bench/spot-check.sh /tmp/roster-bench.abc123 "50x1 50x16" 2 4
#
# Release binaries must be built (swift build -c release; make -C bench). The rosterd data
# directory is copied, so the original run stays untouched.
set -u
cd "$(dirname "$0")/.."
WORK=${1:?usage: bench/spot-check.sh BENCH_DIR [CONFIGS] [REPS] [SECONDS]}
CONFIGS=${2:-"50x1 1x1 50x16 1x64"}; REPS=${3:-2}; DURATION=${4:-4}
BIN=$(swift build -c release --show-bin-path); LOADGEN=bench/build/loadgen
DIRECTORY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["directory_id"])' "$WORK/seed.json")
SCRATCH=$(mktemp -d /tmp/roster-spot.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$SCRATCH"' EXIT

start_rosterd() { # name lanes
  cp -r "$WORK/rosterd" "$SCRATCH/$1"
  rm -f "$SCRATCH/$1"/*.sock "$SCRATCH/$1"/ready.json
  taskset -c 0 "$BIN/rosterd" --event-loops 1 --check-lanes "$2" --data-dir "$SCRATCH/$1" \
    --socket "$SCRATCH/$1/r.sock" --scim-listen 127.0.0.1:0 --ready-file "$SCRATCH/$1/ready.json" \
    --log-level warning >"$SCRATCH/$1.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 300); do [ -s "$SCRATCH/$1/ready.json" ] && break; sleep 0.1; done
}
start_rosterd lane 1
start_rosterd nio 0
taskset -c 0 redis-server --port 0 --unixsocket "$SCRATCH/redis.sock" --save '' --appendonly no \
  --loglevel warning --dir "$SCRATCH" >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do redis-cli -s "$SCRATCH/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -s "$SCRATCH/redis.sock" --pipe < "$WORK/redis.resp" >/dev/null
taskset -c 0 bench/build/floor-server "$SCRATCH/floor.sock" &
PIDS+=("$!")
sleep 2

for rep in $(seq "$REPS"); do
  for config in $CONFIGS; do
    c=${config%x*}; p=${config#*x}
    for target in lane nio redis floor; do
      case $target in
        lane | nio) mode=roster; socket=$SCRATCH/$target/r.sock ;;
        redis) mode=redis; socket=$SCRATCH/redis.sock ;;
        floor) mode=floor; socket=$SCRATCH/floor.sock ;;
      esac
      taskset -c 1 "$LOADGEN" "$mode" --socket "$socket" --directory "$DIRECTORY" --queries "$WORK/queries.tsv" \
        --connections "$c" --pipeline "$p" --duration "$DURATION" --warmup 1 --json | tail -1 |
        python3 -c "import json,sys; o=json.loads(sys.stdin.read()); print(f'$rep $config $target {o[\"checks_per_second\"]:>12,.0f} checks/s  p50 {o[\"p50_us\"]:8.1f} us  p99 {o[\"p99_us\"]:8.1f} us  errors {o[\"errors\"]} wrong {o.get(\"wrong\")}')"
    done
  done
done
