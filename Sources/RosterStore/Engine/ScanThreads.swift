import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where scans of a whole directory run (SCIM searches with a filter or a sort): on a thread of
/// their own each, not on the concurrency pool's (one per core). A scan of a large directory, with
/// the caller's rendering and filtering in its body, takes long enough to hold those threads away
/// from `/healthz`, writes and every other request; here it only competes for the cores, and at a
/// lower priority (nice +10), so that the scheduler serves the event loops and the pool first.
/// The thread is new and ends with the scan: a nice value once raised cannot be lowered again
/// without privileges, so no shared thread may carry it. How many scans run at once is bounded
/// above this (`--max-searches-per-directory`).
enum ScanThreads {
    /// Runs `work` on a scan thread and waits for it. `work` may capture the caller's state: the
    /// caller is suspended until it returns, so nothing else touches that state meanwhile.
    static func run(_ work: () throws -> Void) async throws {
        try await withoutActuallyEscaping(work) { work in
            let slot = WorkSlot(work)
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    #if os(Linux)
                    // On Linux the nice value is per thread: 0 names the calling thread.
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                    #endif
                    // The closure must be gone before the caller resumes and leaves
                    // `withoutActuallyEscaping` (which traps on a closure still referenced).
                    let result = slot.run()
                    continuation.resume(with: result)
                }
                thread.name = "roster-scan"
                thread.start()
            }
        }
    }
}

/// A closure handed to another thread while its owner waits for that thread, released as soon as
/// it has run.
private final class WorkSlot: @unchecked Sendable {
    private var work: (() throws -> Void)?
    init(_ work: @escaping () throws -> Void) { self.work = work }

    func run() -> Result<Void, any Error> {
        guard let work else { return .success(()) }
        self.work = nil
        return Result { try work() }
    }
}
