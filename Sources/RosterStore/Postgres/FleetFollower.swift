import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import RosterCore
import ServiceLifecycle
import Synchronization

/// Keeps a fleet instance's index on the shared change log, and its heartbeat in the fleet view.
///
/// Three things wake it, all coalesced into one pending wake-up: a NOTIFY on the dedicated LISTEN
/// connection (each commit sends one), a tick every `pollInterval` (the backstop: a notification
/// is lost while the LISTEN connection is down, and LISTEN does not pass pgbouncer's transaction
/// pooling), and a reader waiting for a revision not yet published (`min_revision` ahead of the
/// index). Each wake-up replays whole revisions in order, then publishes (`RosterStore.catchUp`).
public final class FleetFollower: Service, Sendable {
    public struct Configuration: Sendable {
        /// This instance in the fleet view (hostname by default).
        public var instanceName: String
        public var pollInterval: Duration = .seconds(1)
        /// Instances whose heartbeat is older than this are not live (fleet status, fleet wait).
        public var liveWithin: Duration = .seconds(10)

        public init(instanceName: String) {
            self.instanceName = instanceName
        }
    }

    /// What the follower last knew, for health and metrics.
    public struct State: Sendable {
        /// When the database last answered (a catch-up or heartbeat that succeeded).
        public var lastContact: ContinuousClock.Instant
        public var connected: Bool
        public var headRevision: UInt64
    }

    let store: RosterStore
    let engine: PostgresEngine
    public let configuration: Configuration
    let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let state: Mutex<State>
    /// Rounds of `follow`: callers of `awaitRound` wait for one that starts after them.
    private struct Rounds {
        var completed: UInt64 = 0
        var running = false
        var waiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let rounds = Mutex(Rounds())
    private let startedAt = Int64(Date().timeIntervalSince1970 * 1000)
    private let appliedGauge = Gauge(label: "roster_fleet_applied_revision")
    private let headGauge = Gauge(label: "roster_fleet_head_revision")
    private let lagGauge = Gauge(label: "roster_fleet_lag_revisions")
    private let connectedGauge = Gauge(label: "roster_fleet_connected")
    private let resnapshots = Counter(label: "roster_fleet_resnapshots_total")

    /// - Precondition: `store` runs on PostgreSQL (`RosterStore.openFleet`).
    public init(store: RosterStore, configuration: Configuration, logger: Logger) {
        guard let engine = store.postgres else { preconditionFailure("FleetFollower needs a store opened with openFleet") }
        self.store = store
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        state = Mutex(State(lastContact: .now, connected: true, headRevision: store.publisher.revision))
    }

    public var current: State { state.withLock { $0 } }

    /// Seconds since the database last answered.
    public var stalenessSeconds: Double {
        let elapsed = ContinuousClock.now - current.lastContact
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    public func run() async throws {
        store.publisher.onDemand { [wake] in wake.yield() }
        store.followRound.withLock { $0 = { [weak self] in await self?.awaitRound() } }
        defer { store.followRound.withLock { $0 = nil } }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listen() }
            group.addTask { await self.tick() }
            group.addTask { await self.follow() }
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            group.cancelAll()
        }
        wake.finish()
    }

    /// Replays and heartbeats on every wake-up until cancelled.
    private func follow() async {
        var failing = false
        for await _ in wakeups {
            if Task.isCancelled { return }
            rounds.withLock { $0.running = true }
            defer { finishRound() }
            do {
                let applied = try await store.catchUp()
                // The pool's queries are bounded too: a round must end, or nothing follows.
                let head = try await Self.bounded(.seconds(10)) { [engine, configuration, startedAt] in
                    try await engine.heartbeat(
                        name: configuration.instanceName, pid: Int(getpid()), appliedRevision: applied, startedAt: startedAt)
                    return try await engine.fleetStatus(liveWithin: .zero).headRevision
                }
                state.withLock {
                    $0.lastContact = .now
                    $0.connected = true
                    $0.headRevision = max(head, applied)
                }
                appliedGauge.record(Int64(clamping: applied))
                headGauge.record(Int64(clamping: head))
                lagGauge.record(Int64(clamping: head > applied ? head - applied : 0))
                connectedGauge.record(1)
                if failing {
                    logger.notice("fleet: the database answers again", metadata: ["fleet.revision": "\(applied)"])
                    failing = false
                }
            } catch let error as StoreError where error.code == .stale {
                logger.error(
                    "fleet: this instance can no longer follow the change log; loading a new snapshot",
                    metadata: ["fleet.error": "\(error.message)"])
                resnapshots.increment()
                do {
                    try await store.reload()
                    logger.notice("fleet: snapshot loaded", metadata: ["fleet.revision": "\(store.publisher.revision)"])
                } catch {
                    logger.error("fleet: loading a snapshot failed", metadata: ["fleet.error": "\(error)"])
                }
            } catch {
                state.withLock { $0.connected = false }
                connectedGauge.record(0)
                if !failing {
                    logger.warning(
                        "fleet: the database does not answer; serving the last index and retrying",
                        metadata: ["fleet.error": "\(error)", "fleet.revision": "\(store.publisher.revision)"])
                    failing = true
                }
            }
            // At most one round per few milliseconds, however many wake-ups (requests waiting for
            // a revision, a flood of unauthenticated ones) ask for it: wake-ups meanwhile share
            // the next round.
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// `work`, or `StoreError(.unavailable)` once `limit` passes first.
    static func bounded<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError(.unavailable, "PostgreSQL did not answer the follower within \(limit)")
            }
            return value
        }
    }

    /// Waits for a round that starts after this call (one already running may have read the log
    /// before what the caller is looking for was committed).
    func awaitRound() async {
        let target = rounds.withLock { $0.completed + ($0.running ? 2 : 1) }
        wake.yield()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = rounds.withLock { state -> Bool in
                if state.completed >= target { return true }
                state.waiters.append((target, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func finishRound() {
        let ready = rounds.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.completed += 1
            state.running = false
            let completed = state.completed
            let ready = state.waiters.filter { $0.target <= completed }.map(\.continuation)
            state.waiters.removeAll { $0.target <= completed }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// The backstop poll.
    private func tick() async {
        while !Task.isCancelled {
            wake.yield()
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// LISTEN on a dedicated connection (never a pooled one: it must stay in one session and
    /// never open a transaction), reconnecting with backoff when it is lost.
    private func listen() async {
        var backoff: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try engine.settings.connectionConfiguration(), id: 2, logger: logger)
                backoff = .milliseconds(100)
                // Whatever was committed while no one listened is fetched now.
                wake.yield()
                do {
                    try await connection.listen(on: PostgresEngine.channel) { notifications in
                        for try await _ in notifications { wake.yield() }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.debug("fleet: LISTEN connection lost", metadata: ["fleet.error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// The fleet view: the head and every live instance.
    public func status() async throws -> FleetStatus {
        try await engine.fleetStatus(liveWithin: configuration.liveWithin)
    }
}
