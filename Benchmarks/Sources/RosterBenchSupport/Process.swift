import CHeapProbe

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-level measurements: monotonic time, resident memory, heap in use.
public enum ProcessProbe {
    /// Nanoseconds on the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`, as in the C program).
    @inline(__always)
    public static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Resident set size in bytes, from `/proc/self/statm` (0 where it does not exist).
    public static func residentBytes() -> Int {
        #if os(Linux)
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let read = fread(&buffer, 1, buffer.count - 1, file)
        let fields = String(decoding: buffer[..<read], as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }

    /// Returns freed heap pages to the kernel so that RSS reflects live data (glibc `malloc_trim`).
    public static func trimHeap() {
        roster_heap_trim()
    }

    /// Bytes handed out by malloc and not yet freed (glibc `mallinfo2().uordblks + hblkhd`):
    /// the live heap, independent of fragmentation and of pages the allocator keeps.
    public static func heapInUseBytes() -> Int {
        Int(roster_heap_in_use())
    }
}

/// Sorted latency samples with the usual summaries.
public struct LatencySummary: CustomStringConvertible, Sendable {
    public let sorted: [Double]
    public let mean: Double

    public init(_ samples: [Double]) {
        sorted = samples.sorted()
        mean = samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count)
    }

    public func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]
    }

    public var median: Double { percentile(50) }
    public var max: Double { sorted.last ?? 0 }

    public var description: String {
        "p50 \(fmt(median))  p90 \(fmt(percentile(90)))  p99 \(fmt(percentile(99)))  max \(fmt(max))  mean \(fmt(mean))  (n=\(sorted.count))"
    }
}

/// A latency in nanoseconds as a short human string (ns, µs or ms).
public func fmt(_ nanos: Double) -> String {
    if nanos >= 1_000_000 { return String(format1(nanos / 1_000_000)) + " ms" }
    if nanos >= 10_000 { return String(format1(nanos / 1_000)) + " µs" }
    return String(format1(nanos)) + " ns"
}

func format1(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
}
