import Logging
import RosterCore

/// Where one write batch spent its time, for the `store.slow_batch` debug log: the phase that
/// makes a slow batch slow (a request's prepare+apply — which includes index folds —, the
/// COMMIT with its fsync, or publishing and answering) is what tells a tail's cause apart.
struct BatchTiming {
    /// Batches at least this long are logged (at debug level).
    static let slowThreshold: Duration = .milliseconds(10)

    let start = ContinuousClock.now
    private var stepStart = ContinuousClock.now
    private(set) var slowestStep: Duration = .zero
    private var prepared: ContinuousClock.Instant?
    private var committed: ContinuousClock.Instant?

    /// Marks the start of one request's prepare and apply.
    mutating func beginStep() { stepStart = .now }

    /// Marks its end (keeps the slowest).
    mutating func endStep() { slowestStep = max(slowestStep, .now - stepStart) }

    /// Every request was prepared, applied and persisted; COMMIT comes next.
    mutating func markPrepared() { prepared = .now }

    /// COMMIT returned (durable).
    mutating func markCommitted() { committed = .now }

    /// Logs the batch's phases when it took `slowThreshold` or more, once it was answered.
    func logIfSlow(count: Int, logger: Logger) {
        let end = ContinuousClock.now
        guard end - start >= Self.slowThreshold, logger.logLevel <= .debug else { return }
        let prepared = prepared ?? end
        let committed = committed ?? end
        logger.debug(
            "store.slow_batch",
            metadata: [
                "store.batch": "\(count)", "store.batch_us": "\((end - start).microseconds)",
                "store.prepare_us": "\((prepared - start).microseconds)",
                "store.slowest_request_us": "\(slowestStep.microseconds)",
                "store.commit_us": "\((committed - prepared).microseconds)",
                "store.answer_us": "\((end - committed).microseconds)",
            ])
    }
}
