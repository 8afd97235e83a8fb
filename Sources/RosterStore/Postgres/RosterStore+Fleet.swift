import Foundation
import Logging
import Metrics
import RosterCore
import Synchronization

/// Fleet mode: many instances, one PostgreSQL database. Each instance's writes go through the
/// head lock (`PostgresEngine.writeBatch`); what the others commit reaches it through
/// `catchUp()`, driven by `FleetFollower`.
extension RosterStore {
    /// Opens a store on PostgreSQL: takes the data-directory lock (so two instances never share a
    /// data directory), connects, migrates, and starts from the local checkpoint when it belongs
    /// to this database and is not ahead of it (then fetches the revisions after it), else from a
    /// snapshot of the database at its head. Returns once the index has caught up with the head
    /// seen at start.
    ///
    /// When PostgreSQL cannot be reached and a checkpoint exists, the instance starts from it and
    /// serves lookups (stale, said loudly in the log; writes answer 503 until the database is
    /// back), unless `requireDatabase` makes that a startup error.
    /// - Throws: `.configuration`, `.unavailable` (no database and no checkpoint), `.schemaTooNew`,
    ///   `.corrupt`, `.invariantBroken`, `.locked`, `.unwritable`.
    public static func openFleet(
        _ settings: PostgresSettings, configuration: StoreConfiguration, requireDatabase: Bool = false, logger: Logger
    ) throws(StoreError) -> RosterStore {
        let lock = try DataDirectoryLock(path: configuration.path + ".lock")
        let dataDirectory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent().path
        let checkpoint = try FleetCheckpoint(path: dataDirectory + "/fleet-checkpoint.sqlite", logger: logger)
        var local: (state: LoadedState, generation: String)?
        do {
            local = try checkpoint.load()
        } catch {
            logger.warning("fleet: the local checkpoint is unreadable; starting from the database", metadata: ["fleet.error": "\(error)"])
        }
        let engine = try PostgresEngine(settings: settings, logger: logger)
        var state: LoadedState
        var fromCheckpoint = false
        var reachable = true
        do {
            let head = try engine.head()
            if let local, local.generation == head.generation, local.state.index.revision <= head.revision {
                engine.adopt(generation: local.generation)
                state = local.state
                fromCheckpoint = true
            } else {
                if let local {
                    logger.notice(
                        "fleet: the local checkpoint does not belong to this database's history; loading a snapshot",
                        metadata: [
                            "fleet.checkpoint_revision": "\(local.state.index.revision)", "fleet.head_revision": "\(head.revision)",
                        ])
                }
                state = try engine.load()
            }
        } catch let error where error.code == .unavailable {
            guard !requireDatabase, let local else {
                engine.close()
                throw error
            }
            logger.error(
                "fleet: PostgreSQL is unreachable at start; serving the local checkpoint, which may be stale (writes answer 503 until the database is back)",
                metadata: ["fleet.checkpoint_revision": "\(local.state.index.revision)", "fleet.error": "\(error.message)"])
            engine.adopt(generation: local.generation)
            state = local.state
            fromCheckpoint = true
            reachable = false
        } catch {
            engine.close()
            throw error
        }
        let store: RosterStore
        do {
            store = try open(
                engine: engine, lock: lock, configuration: configuration, logger: logger, loaded: state, checkpoint: checkpoint)
        } catch {
            engine.close()
            throw error
        }
        if !fromCheckpoint, let generation = state.generation {
            checkpoint.replace(with: state.index, tokens: state.tokens, generation: generation)
        }
        if fromCheckpoint && reachable {
            // Ready only once caught up with the head seen at start.
            let caughtUp: String? = store.queue.sync {
                do {
                    try store.followLog()
                    return nil
                } catch let error as StoreError where error.code == .stale {
                    logger.notice("fleet: the checkpoint is behind the change log's retention; loading a snapshot")
                    do {
                        try store.reloadOnQueue()
                        return nil
                    } catch {
                        return "\(error)"
                    }
                } catch {
                    return "\(error)"
                }
            }
            if let caughtUp {
                logger.warning("fleet: catching up after the checkpoint failed; the follower retries", metadata: ["fleet.error": "\(caughtUp)"])
            }
            logger.info(
                "fleet: started from the local checkpoint", metadata: ["fleet.revision": "\(store.publisher.revision)"])
        }
        return store
    }

    /// The PostgreSQL engine, when this store runs on one.
    var postgres: PostgresEngine? { engine as? PostgresEngine }

    /// Whether other instances write to this store too (fleet mode).
    public var isShared: Bool { postgres != nil }

    /// Fleet mode: has the follower run one round that started after this call (so it saw every
    /// revision committed before it), waiting at most `timeout`; returns whether the published
    /// revision moved meanwhile. For a request that names what another instance may have just
    /// created (a directory, a token): worth looking again only then. Rounds are shared by every
    /// caller and paced by the follower, so a flood of such requests costs the database no more
    /// than a few rounds a second. On a single host nothing else writes: false at once.
    public func followFleet(timeout: Duration) async -> Bool {
        guard let round = followRound.withLock({ $0 }) else { return false }
        let before = publisher.revision
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await round() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return publisher.revision != before
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

    /// How long other instances' revisions took from their commit to this instance's index, by
    /// the database's clock and this host's (the same clock on one machine; NTP-close in a fleet).
    private func recordCommitToApplied(_ entries: [ChangeLogEntry]) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for entry in entries {
            guard let committedAt = entry.committedAt else { continue }
            commitToApplied.recordMilliseconds(max(0, now - committedAt))
        }
    }

    /// `catchUp` itself; on the writer's queue only.
    @discardableResult
    func followLog() throws -> UInt64 {
        while true {
            let entries = try engine.committed(after: publisher.revision, limit: 1_000)
            if entries.isEmpty { return publisher.revision }
            publish(try Self.replay(entries, onto: publisher.current), entries: entries)
            recordCommitToApplied(entries)
            if entries.count < 1_000 { return publisher.revision }
        }
    }

    /// Drops the index and loads a new snapshot of the database (after `.stale`: a change log
    /// pruned past this instance, or a database rewound or restored under it).
    public func reload() async throws {
        try await onWriterQueue { [self] in try reloadOnQueue() }
    }

    /// `reload` itself; on the writer's queue only.
    func reloadOnQueue() throws(StoreError) {
        let loaded = try engine.load()
        let violations = loaded.index.invariantViolations(limit: 20)
        if !violations.isEmpty {
            throw StoreError(.invariantBroken, "\(engine.location) breaks the model's invariants: \(violations.joined(separator: "; "))")
        }
        tokenHashes.withLock { $0 = loaded.tokens }
        publisher.publish(loaded.index)
        if let generation = loaded.generation {
            checkpoint?.replace(with: loaded.index, tokens: loaded.tokens, generation: generation)
        }
    }
}
