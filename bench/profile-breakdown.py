#!/usr/bin/env python3
"""Where rosterd's CPU goes on the lookup path, from a perf profile with call graphs.

    perf record -e cpu-clock -F 4000 -g -p $(pidof rosterd) -o perf.data -- sleep 5
    perf script -i perf.data | swift demangle --simplified | bench/profile-breakdown.py

Each sample is charged to the innermost frame on its stack that matches a category below
(categories are checked from the leaf upwards, so "index lookup" wins over "frame decoding"
for a sample inside MembershipIndex.check called from the decoder's channelRead). Prints the
share of samples per category and, with --top N, the hottest leaf functions of each.
"""
import re
import sys
from collections import Counter, defaultdict

# (category, regex on a demangled frame), most specific first within one frame.
CATEGORIES = [
    ("metrics (swift-metrics → Prometheus)", r"ServerMetrics|Prometheus|CoreMetrics|\bMetrics\.|recordDuration|recordCheck|RosterConnectionHandler\.record\(|BurstCounters"),
    ("snapshot copy: IndexPublisher.current + MembershipIndex retain/release", r"IndexPublisher\.current|outlined destroy of MembershipIndex|initializeWithCopy for MembershipIndex|destroy for MembershipIndex"),
    ("index lookup: Lookups.check → MembershipIndex.check (id keys, hash tables, entry copies)", r"MembershipIndex\.check|MembershipIndex\.resolve|Lookups\.check|UserReference\.init|GroupReference\.init|UUIDKey"),
    ("request decode: SwiftProtobuf RequestFrame", r"Roster_V1_RequestFrame\.init\(framePayload|Roster_V1_RequestFrame\.decodeMessage|BinaryDecoder"),
    ("response encode: FastFrames.writeCheckResponse", r"FastFrames\.writeCheckResponse"),
    ("call bookkeeping: state machine, method names, deadlines", r"RosterConnectionHandler\.StateMachine|MethodLabel|methodName|NIODeadline\.now|OneOf_Method"),
    ("write(2) and flush", r"Socket\.write|writeToSocket|flushNow|PendingWritesManager|CheckLane\.flush|CheckLane\.send|CheckLane\.writable|^__send$|^send$"),
    ("read(2) and receive buffers", r"Socket\.read|readFromSocket|RecvBufferAllocator|^__libc_recv$|^recv$"),
    ("frame splitting and in-place reading: FrameDecoder, CheckRequestView", r"ByteToMessageHandler|FrameDecoder|NIOSingleStepByteToMessageDecoder|CheckRequestView|InPlaceChecks"),
    ("check lane: its own loop code", r"CheckLane\."),
    ("channel handler plumbing", r"RosterConnectionHandler|ChannelHandlerContext|ChannelPipeline"),
    ("event loop: epoll, tasks, wake-ups", r"Selector\.|SelectableEventLoop|epoll"),
    ("SQLite / store (not the lookup path)", r"sqlite|GRDB|RosterStore"),
    ("HTTP (not the lookup path)", r"Hummingbird|NIOHTTP1"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]


def samples(stream):
    stack = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        if line.startswith((" ", "\t")):
            # "    7f12 symbol+0x12 (dso)"
            parts = line.strip().split(" ", 1)
            frame = parts[1] if len(parts) > 1 else parts[0]
            frame = re.sub(r"\+0x[0-9a-f]+ \(.*\)$", "", frame)
            frame = re.sub(r" \(.*\)$", "", frame)
            stack.append(frame)
        else:
            stack = []  # header line of a new sample
    if stack:
        yield stack


def main():
    top = 0
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
    counts = Counter()
    leaves = defaultdict(Counter)
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        category = "other"
        for frame in stack:  # leaf first
            hit = next((name for name, rx in COMPILED if rx.search(frame)), None)
            if hit:
                category = hit
                break
        counts[category] += 1
        leaves[category][stack[0][:110]] += 1
    if total == 0:
        print("no samples")
        return
    print(f"{total} samples")
    print("| share | where |")
    print("|---:|---|")
    for name, n in counts.most_common():
        print(f"| {100 * n / total:5.1f}% | {name} |")
        if top:
            for leaf, m in leaves[name].most_common(top):
                print(f"|   {100 * m / total:4.1f}% | &nbsp;&nbsp;&nbsp;{leaf} |")


if __name__ == "__main__":
    main()
