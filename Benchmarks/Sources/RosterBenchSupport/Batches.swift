/// Runs `lookup` over `0..<count` in batches of 1,000 for `passes` passes after one untimed warm
/// pass, and returns the mean per-lookup time of each batch in nanoseconds (the C program in
/// `c-hashset/` measures the same way). Consecutive lookups are independent, so the CPU may
/// overlap the cache misses of neighbouring lookups: short lookups gain more from that than
/// long ones (see docs/BENCHMARKS.md).
public func measureBatches(count: Int, passes: Int, _ lookup: (Int) -> Bool) -> (samples: [Double], hits: Int) {
    let batch = 1_000
    var hits = 0
    for i in 0..<count where lookup(i) { hits &+= 1 }
    var samples: [Double] = []
    samples.reserveCapacity(passes * (count / batch + 1))
    hits = 0
    for _ in 0..<passes {
        var start = 0
        while start < count {
            let end = Swift.min(start + batch, count)
            let t0 = ProcessProbe.nanos()
            for i in start..<end where lookup(i) { hits &+= 1 }
            samples.append(Double(ProcessProbe.nanos() - t0) / Double(end - start))
            start = end
        }
    }
    return (samples, hits)
}
