#!/usr/bin/env python3
"""Summarizes scripts/bench-lookup's results.jsonl as Markdown: medians per target and
configuration, the ratios roster/redis and roster/floor, BatchCheck and the soak run.

    bench/summarize.py results.jsonl [machine.txt] [seed.json]
"""
import json
import statistics
import sys
from collections import defaultdict

TARGETS = [
    ("roster", "roster (Swift roster-load)"),
    ("roster-c", "roster (C loadgen)"),
    ("roster-nio", "roster without the check lane (C loadgen, --check-lanes 0)"),
    ("redis", "Redis SISMEMBER (C loadgen, same pairs)"),
    ("redis-benchmark", "Redis SISMEMBER (redis-benchmark -r)"),
    ("floor", "C floor (loadgen → floor-server)"),
]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_rate(v):
    return "–" if v is None else f"{v / 1000:,.0f} k"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def fmt_ratio(a, b):
    return "–" if not a or not b else f"{a / b:.2f}"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    machine = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""
    seed = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None

    by = defaultdict(list)
    for r in rows:
        by[(r["target"], r["config"])].append(r)
    configs = []
    for r in rows:
        if r["target"] in dict(TARGETS) and r["config"] not in configs:
            configs.append(r["config"])
    reps = max((r["rep"] for r in rows), default=0)

    def med(target, config, key):
        return median([r.get(key) for r in by.get((target, config), [])])

    out = []
    if machine:
        out.append("Machine and run:\n")
        out.append("```\n" + machine + "\n```\n")
    if seed:
        out.append(
            f"Dataset: {seed['users']:,} users, {seed['groups']:,} groups, {seed['memberships']:,} memberships "
            f"seeded through SCIM in {seed['seconds']:.1f} s ({seed['requests_per_second']:,.0f} SCIM requests/s, "
            f"{seed['users_per_second']:,.0f} users/s, {seed['memberships_per_second']:,.0f} memberships/s); "
            f"{seed['queries']:,} queries, {seed['queries_allow']:,} allow.\n"
        )
    out.append(f"Medians of {reps} alternating repetitions.\n")

    out.append("**Throughput (checks/s)**\n")
    header = "| C×P | " + " | ".join(name for _, name in TARGETS) + " | roster/redis (Swift · C client) | roster/floor (Swift · C) |"
    out.append(header)
    out.append("|" + "---|" * (len(TARGETS) + 3))
    for config in configs:
        cells = [fmt_rate(med(t, config, "checks_per_second")) for t, _ in TARGETS]
        rs, rc = med("roster", config, "checks_per_second"), med("roster-c", config, "checks_per_second")
        redis, floor = med("redis", config, "checks_per_second"), med("floor", config, "checks_per_second")
        out.append(
            f"| {config} | " + " | ".join(cells)
            + f" | {fmt_ratio(rs, redis)} · {fmt_ratio(rc, redis)} | {fmt_ratio(rs, floor)} · {fmt_ratio(rc, floor)} |"
        )
    out.append("")

    def paired(target, reference, config):
        ratios = []
        for rep in range(1, reps + 1):
            a = [r["checks_per_second"] for r in by.get((target, config), []) if r["rep"] == rep]
            b = [r["checks_per_second"] for r in by.get((reference, config), []) if r["rep"] == rep]
            if a and b and b[0]:
                ratios.append(a[0] / b[0])
        return (min(ratios), statistics.median(ratios), max(ratios)) if ratios else None

    out.append(
        "Paired ratios (each repetition's roster figure over the reference measured next to it; "
        "median, with the range over repetitions):\n"
    )
    out.append("| C×P | Swift client / Redis | C client / Redis | Swift client / floor | check lane / SwiftNIO only (C client) |")
    out.append("|---|---|---|---|---|")
    for config in configs:
        cells = []
        for target, reference in (("roster", "redis"), ("roster-c", "redis"), ("roster", "floor"), ("roster-c", "roster-nio")):
            p = paired(target, reference, config)
            cells.append("–" if p is None else f"{p[1]:.2f} ({p[0]:.2f}–{p[2]:.2f})")
        out.append(f"| {config} | " + " | ".join(cells) + " |")
    out.append("")

    out.append("**Latency p50 / p99 (µs)**\n")
    out.append("| C×P | " + " | ".join(name for _, name in TARGETS) + " |")
    out.append("|" + "---|" * (len(TARGETS) + 1))
    for config in configs:
        cells = [f"{fmt_us(med(t, config, 'p50_us'))} / {fmt_us(med(t, config, 'p99_us'))}" for t, _ in TARGETS]
        out.append(f"| {config} | " + " | ".join(cells) + " |")
    out.append("")

    if "1x1" in configs:
        floor = med("floor", "1x1", "p50_us")
        out.append(
            f"1×1 p50 round trip: roster {fmt_us(med('roster', '1x1', 'p50_us'))} µs (Swift client), "
            f"{fmt_us(med('roster-c', '1x1', 'p50_us'))} µs (C client), floor {fmt_us(floor)} µs: "
            f"ratio {fmt_ratio(med('roster', '1x1', 'p50_us'), floor)} (Swift) · "
            f"{fmt_ratio(med('roster-c', '1x1', 'p50_us'), floor)} (C); target ≤ 1.5.\n"
        )

    batch = sorted({(r["target"], r["config"]) for r in rows if r["target"].startswith("roster-batch")})
    if batch:
        out.append("**BatchCheck (reported separately, not in place of single checks)**\n")
        out.append("| target | C×P | checks/s | calls/s | p50 / p99 per call (µs) |")
        out.append("|---|---|---|---|---|")
        for target, config in batch:
            out.append(
                f"| {target} | {config} | {fmt_rate(med(target, config, 'checks_per_second'))} | "
                f"{fmt_rate(med(target, config, 'calls_per_second'))} | "
                f"{fmt_us(med(target, config, 'p50_us'))} / {fmt_us(med(target, config, 'p99_us'))} |"
            )
        out.append("")

    soak = [r for r in rows if r["target"] == "roster-soak"]
    for r in soak:
        rss = ""
        if "server_rss_kb_start" in r:
            rss = (
                f"; rosterd RSS {r['server_rss_kb_start'] / 1024:.1f} MiB at the start, "
                f"{r['server_rss_kb_end'] / 1024:.1f} MiB at the end, max {r['server_rss_kb_max'] / 1024:.1f} MiB "
                f"({r['server_rss_samples']} samples)"
            )
        out.append(
            f"Soak, {r['seconds']:.0f} s at {r['config']}: {r['checks_per_second'] / 1000:,.0f} k checks/s, "
            f"p99 {fmt_us(r['p99_us'])} µs, {r['errors']} errors, {r['wrong']} wrong{rss}.\n"
        )

    errors = sum((r.get("errors") or 0) for r in rows)
    wrong = sum((r.get("wrong") or 0) for r in rows if r["target"] != "floor")
    checked = sum((r.get("answered_checks") or 0) for r in rows if r["target"] not in ("floor", "redis-benchmark"))
    out.append(
        f"Correctness: {checked:,} answers compared with the expected decision over the whole run: "
        f"{wrong} wrong, {errors} errors (the floor answers without a lookup and is not checked; "
        f"redis-benchmark does not check answers).\n"
    )
    print("\n".join(out))


if __name__ == "__main__":
    main()
