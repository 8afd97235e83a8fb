#!/usr/bin/env bash
# Side-by-side figures for docs/BENCHMARKS.md ("Membership index (RosterCore)"): the C reference
# hash sets, the RosterCore check, plain Swift sets, and the what-if layouts, one after the other
# in one run (the machine is shared, so compare within a run). About 3 minutes on 2 cores.
#
#   Benchmarks/compare.sh            # from the repository root
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
passes="${PASSES:-3}"

echo "== machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $(free -g | awk '/Mem:/ {print $2 " GiB"}'); load $(cut -d' ' -f1-3 /proc/loadavg)"

make -s -C c-hashset
swift build -c release --product index-probe 2>&1 | grep -E "error|Compiling|Build complete" || true
probe=.build/release/index-probe

echo "== C reference sets, 1M pairs (the first 100k users of the Swift dataset)"
c-hashset/build/hashset 100000 100000 10 1000000 "$passes"
echo "== C reference sets, 10M pairs (the same memberships as the Swift index)"
c-hashset/build/hashset 1000000 100000 10 1000000 "$passes"
echo "== RosterCore MembershipIndex.check, 1M users / 100k groups / 10M memberships"
$probe check --passes "$passes"
$probe check --by-username --passes "$passes"
echo "== plain Swift sets of the pairs, 1M pairs and 10M pairs"
$probe baseline --users 100000 --passes "$passes"
$probe baseline --passes "$passes"
echo "== what-if layouts for check, 10M memberships"
$probe layouts --passes "$passes"
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
