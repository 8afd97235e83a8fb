import CoreMetrics
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RosterCore
import Synchronization

extension RosterConnectionHandler {
    /// What the frames of one read burst did, handed to the metrics once per burst instead of
    /// once per call (a metric update takes a lock or an atomic; a burst holds up to hundreds of
    /// Checks).
    struct BurstCounters {
        /// Frames read (every method).
        var frames = 0
        /// Checks answered in place, by `ServerMetrics.reasonIndex`.
        var reasons: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
        /// Checks answered in place with an error (unknown directory, ambiguous name).
        var checkErrors = 0
        /// Checks answered in place: each one's duration is the burst's, from read to flush.
        var inPlaceChecks = 0

        mutating func count(_ reason: CheckReason) {
            inPlaceChecks += 1
            switch ServerMetrics.reasonIndex(reason) {
            case 0: reasons.0 += 1
            case 1: reasons.1 += 1
            case 2: reasons.2 += 1
            case 3: reasons.3 += 1
            case 4: reasons.4 += 1
            default: reasons.5 += 1
            }
        }

        var isEmpty: Bool { frames == 0 && inPlaceChecks == 0 && checkErrors == 0 }

        /// Hands the counts to the metrics.
        func record(into server: ServerContext, burstNanoseconds: Int64) {
            let metrics = server.metrics
            if frames > 0 { server.callsTotal.add(UInt64(frames), ordering: .relaxed) }
            let counts = [reasons.0, reasons.1, reasons.2, reasons.3, reasons.4, reasons.5]
            for (position, count) in counts.enumerated() where count > 0 {
                metrics.checks[position].increment(by: Int64(count))
            }
            if checkErrors > 0 { metrics.checkErrors.increment(by: Int64(checkErrors)) }
            for _ in 0..<inPlaceChecks {
                metrics.recordDuration(method: .check, nanoseconds: burstNanoseconds)
            }
        }
    }

    /// The directory the previous in-place Check named: its id bytes, its String, and its handle
    /// in the snapshot it was resolved in. Clients send the same directory on almost every frame.
    struct DirectoryCache {
        var bytes: [UInt8]
        var id: String
        var handle: DirectoryHandle?

        func matches(_ candidate: UnsafeRawBufferPointer) -> Bool {
            guard bytes.count == candidate.count else { return false }
            return bytes.withUnsafeBytes { own in
                guard let mine = own.baseAddress, let other = candidate.baseAddress else { return true }
                return memcmp(mine, other, candidate.count) == 0
            }
        }
    }
}
