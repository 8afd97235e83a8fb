#!/usr/bin/env python3
"""Summarizes rosterd's `store.slow_batch` debug lines (write batches of 10 ms or more) by the
phase that dominated each: a request's prepare+apply (index folds show here), the COMMIT (fsync,
and SQLite's checkpoint when it runs inside the commit), or publishing and answering; and the
`store.wal_checkpoint` lines (checkpoints the writer ran between two batches, so the WAL restarts).
Usage: bench/slow-batches.py ROSTERD_STDERR [FIRST_LINE]"""
import re
import sys

lines = open(sys.argv[1], errors="replace").read().splitlines()[int(sys.argv[2]) if len(sys.argv) > 2 else 0:]
phases = {"prepare_us": "prepare+apply", "commit_us": "commit", "answer_us": "answer"}
groups = {name: [] for name in phases.values()}
for line in lines:
    if "store.slow_batch" not in line:
        continue
    fields = {k: int(v) for k, v in re.findall(r"store\.(\w+)=(\d+)", line)}
    key = max(phases, key=lambda p: fields.get(p, 0))
    groups[phases[key]].append((fields.get(key, 0), fields.get("batch_us", 0)))
checkpoints = sorted(int(m) for line in lines if "store.wal_checkpoint" in line
                     for m in re.findall(r"store\.checkpoint_us=(\d+)", line))
total = sum(len(v) for v in groups.values())
print(f"  slow batches (>= 10 ms): {total}")
for name, rows in groups.items():
    if rows:
        spent = sorted(r[0] for r in rows)
        print(f"    {name:>13}: {len(rows):4d}  median {spent[len(spent) // 2] / 1000:6.1f} ms  max {spent[-1] / 1000:6.1f} ms")
if checkpoints:
    print(f"  writer checkpoints between batches: {len(checkpoints)}  median {checkpoints[len(checkpoints) // 2] / 1000:.1f} ms"
          f"  max {checkpoints[-1] / 1000:.1f} ms")
