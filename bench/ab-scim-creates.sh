#!/usr/bin/env bash
# A/B of two rosterd binaries on batched SCIM user creates (durability on), alternating, in one
# run: each repetition starts each binary on a fresh data directory (pinned to CPU 0) and drives
# it with wrk (CPU 1, 16 connections) for SECONDS. For comparing a change's effect on the write
# tail; scripts/bench-scim is the full benchmark.
# Usage: bench/ab-scim-creates.sh BIN_A BIN_B [SECONDS] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; SECONDS_PER_RUN=${3:-10}; REPS=${4:-3}
WORK=$(mktemp -d /tmp/roster-ab.XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
for rep in $(seq 1 "$REPS"); do
  for label in A B; do
    bin=$A; [ "$label" = B ] && bin=$B
    dir="$WORK/$label-$rep"; mkdir -p "$dir"
    taskset -c 0 "$bin" --data-dir "$dir" --scim-listen 127.0.0.1:0 --ready-file "$dir/ready.json" \
      --bootstrap-directory bench --log-level warning > "$dir/out.txt" 2> "$dir/err.txt" &
    pid=$!
    for _ in $(seq 1 300); do [ -s "$dir/ready.json" ] && break; sleep 0.1; done
    base=$(grep "SCIM base URL" "$dir/out.txt" | awk '{print $5}')
    token=$(grep "Bearer token" "$dir/out.txt" | awk '{print $4}')
    result=$(ROSTER_TOKEN=$token taskset -c 1 wrk -t 2 -c 16 -d "${SECONDS_PER_RUN}s" --latency \
      -s bench/scim-create-users.lua "$base" 2>&1)
    rps=$(echo "$result" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$result" | awk '$1=="50%"{print $2}')
    p99=$(echo "$result" | awk '$1=="99%"{print $2}')
    tail=$(echo "$result" | grep "tail:" | sed "s/^ *tail: //")
    printf 'rep %s  %s  %-28s  req/s %8s  p50 %8s  p99 %8s  %s\n' "$rep" "$label" "$(basename "$bin")" "$rps" "$p50" "$p99" "$tail"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
