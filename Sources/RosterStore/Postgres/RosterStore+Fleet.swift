import Foundation
import Logging
import RosterCore
import Synchronization

/// Fleet mode: many instances, one PostgreSQL database. Each instance's writes go through the
/// head lock (`PostgresEngine.writeBatch`); what the others commit reaches it through
/// `catchUp()`, driven by `FleetFollower`.
extension RosterStore {
    /// Opens a store on PostgreSQL: takes the data-directory lock (so two instances never share a
    /// data directory), connects, migrates, and loads a snapshot of the database at its head.
    /// - Throws: `.configuration`, `.unavailable` (the database cannot be reached), `.schemaTooNew`,
    ///   `.corrupt`, `.invariantBroken`, `.locked`.
    public static func openFleet(
        _ settings: PostgresSettings, configuration: StoreConfiguration, logger: Logger
    ) throws(StoreError) -> RosterStore {
        let lock = try DataDirectoryLock(path: configuration.path + ".lock")
        let engine = try PostgresEngine(settings: settings, logger: logger)
        do {
            return try open(engine: engine, lock: lock, configuration: configuration, logger: logger)
        } catch {
            engine.close()
            throw error
        }
    }

    /// The PostgreSQL engine, when this store runs on one.
    var postgres: PostgresEngine? { engine as? PostgresEngine }

    /// Whether other instances write to this store too (fleet mode).
    public var isShared: Bool { postgres != nil }

    /// Fleet mode: waits (at most `timeout`) until a revision after `revision` is published,
    /// asking the follower to fetch at once. For a request that names what another instance may
    /// have just created (a directory, a token): true when something newer arrived, so it is
    /// worth looking again. On a single host nothing else writes: false at once.
    public func awaitNewer(than revision: UInt64, timeout: Duration) async -> Bool {
        guard isShared else { return false }
        let woke = AsyncStream<Void>.makeStream(of: Void.self)
        guard let token = publisher.whenRevision(revision + 1, { woke.continuation.yield() }) else { return true }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            woke.continuation.finish()
        }
        var iterator = woke.stream.makeAsyncIterator()
        let arrived = await iterator.next() != nil
        timer.cancel()
        publisher.cancel(token)
        return arrived
    }

    /// Replays every revision other instances committed after the published one, publishes, and
    /// returns the revision reached. Runs on the writer's queue, so it is ordered with this
    /// instance's own batches (which catch up the same way under the head lock).
    /// - Throws: `.unavailable` when the database cannot be read; `.stale` when the log no longer
    ///   reaches back to this instance's revision (then `reload()`).
    @discardableResult
    public func catchUp() async throws -> UInt64 {
        try await onWriterQueue { [self] in try followLog() }
    }

    /// `catchUp` itself; on the writer's queue only.
    @discardableResult
    func followLog() throws -> UInt64 {
        while true {
            let entries = try engine.committed(after: publisher.revision, limit: 1_000)
            if entries.isEmpty { return publisher.revision }
            publish(try Self.replay(entries, onto: publisher.current), entries: entries)
            if entries.count < 1_000 { return publisher.revision }
        }
    }

    /// Drops the index and loads a new snapshot of the database (after `.stale`: a change log
    /// pruned past this instance, or a database rewound or restored under it).
    public func reload() async throws {
        try await onWriterQueue { [self] in
            let loaded = try engine.load()
            let violations = loaded.index.invariantViolations(limit: 20)
            if !violations.isEmpty {
                throw StoreError(.invariantBroken, "\(engine.location) breaks the model's invariants: \(violations.joined(separator: "; "))")
            }
            tokenHashes.withLock { $0 = loaded.tokens }
            publisher.publish(loaded.index)
        }
    }
}
