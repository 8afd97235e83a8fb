/// Decides when a flood of refusals (unauthenticated requests, refused connections) gets a log
/// line: the first refusal of an episode logs at once; later ones are counted and summarized at
/// most once per `interval`. Pure: the caller passes the time and keeps it under its own lock.
public struct RefusalLog: Sendable {
    /// What a log line should say: refusals since the previous line, and over how long.
    public struct Summary: Sendable, Equatable {
        public var count: Int
        public var seconds: Int
    }

    public let interval: Duration
    private var lastLine: ContinuousClock.Instant?
    private var unlogged = 0

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Records one refusal at `now`; returns the summary to log, or nil to stay quiet.
    public mutating func record(now: ContinuousClock.Instant) -> Summary? {
        unlogged += 1
        if let lastLine, now - lastLine < interval { return nil }
        let summary = Summary(
            count: unlogged, seconds: lastLine.map { Int(($0.duration(to: now)).components.seconds) } ?? 0)
        lastLine = now
        unlogged = 0
        return summary
    }
}
