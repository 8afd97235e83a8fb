import Dispatch
import Foundation
import GRDB
import Logging
import Metrics
import RosterCore
import Synchronization

/// The durable store: one SQLite database (WAL), one writer, and the published membership index.
///
/// Write path: requests queue up; the writer takes all that are waiting (up to `maxBatch`),
/// prepares and applies each under the rules in its own savepoint of one transaction, commits,
/// publishes the new index snapshot, and only then answers each caller. An answer therefore
/// means durable (with `synchronous=FULL`, even across power loss) and visible to every lookup
/// that starts afterwards. A request the rules refuse fails alone; an I/O error fails the batch
/// and leaves both the database and the published index as they were.
public final class RosterStore: Sendable {
    public let publisher: IndexPublisher
    public let configuration: StoreConfiguration
    let engine: any StoreEngine
    /// The data-directory lock (nil for engines that need none); released with the store.
    private let lock: DataDirectoryLock?
    /// Fleet mode: the local copy of the index that an instance starts from (nil on a single host).
    let checkpoint: FleetCheckpoint?
    /// Fleet mode: seconds from another instance's commit to this index (`roster_fleet_commit_to_applied_seconds`).
    let commitToApplied = Timer(label: "roster_fleet_commit_to_applied_seconds")
    /// Fleet mode: runs (or joins) one round of the follower (set by `FleetFollower.run`).
    let followRound = Mutex<(@Sendable () async -> Void)?>(nil)
    let logger: Logger
    /// The one writer: batches, idle compaction and their publishes run here, in order.
    let queue = DispatchQueue(label: "roster.store.writer")
    let pending = Mutex(PendingWrites())
    /// Token hashes by directory id: the current token, then the previous one during rotation.
    let tokenHashes: Mutex<[String: [[UInt8]]]>
    /// Revisions that live Watch streams still need; compaction keeps events after the lowest.
    private let watchFloors = Mutex(WatchFloors())
    /// Audit rows of requests that wrote nothing (refused before reaching the writer: bad auth,
    /// bad JSON), written in the next batch or within half a second. Bounded: past
    /// `maxBufferedAudit` rows, new ones are counted and dropped rather than grow memory.
    private let auditBuffer = Mutex(AuditBuffer())
    static let maxBufferedAudit = 10_000

    struct AuditBuffer {
        var entries: [AuditEntry] = []
        var dropped = 0
        var flushScheduled = false
    }

    /// Test hook: fails the next batch's commit with an I/O error (simulated disk failure).
    let failNextCommit = Mutex(false)

    struct PendingWrites {
        var items: [(WriteRequest, CheckedContinuation<WriteOutcome, any Error>)] = []
        var draining = false
        var closed = false
    }

    struct WatchFloors {
        var next = 0
        var floors: [Int: UInt64] = [:]
    }

    // MARK: Opening

    /// Opens (creating if needed) the SQLite database, takes the data-directory lock, migrates,
    /// loads the whole state into the index and checks its invariants.
    /// - Throws: `StoreError` naming the problem: `.locked` (with the other daemon's pid),
    ///   `.unwritable`, `.corrupt`, `.schemaTooNew`, `.invariantBroken`.
    public static func open(_ configuration: StoreConfiguration, logger: Logger) throws(StoreError) -> RosterStore {
        let lock = try DataDirectoryLock(path: configuration.path + ".lock")
        let engine = try SQLiteEngine(configuration, logger: logger)
        return try open(engine: engine, lock: lock, configuration: configuration, logger: logger)
    }

    /// Loads `engine`'s state, checks its invariants and starts serving it.
    /// `loaded`: the state to start from when the caller already has it (a fleet's checkpoint).
    static func open(
        engine: any StoreEngine, lock: DataDirectoryLock?, configuration: StoreConfiguration, logger: Logger,
        loaded preloaded: LoadedState? = nil, checkpoint: FleetCheckpoint? = nil
    ) throws(StoreError) -> RosterStore {
        let start = ContinuousClock.now
        let loaded: LoadedState
        if let preloaded { loaded = preloaded } else { loaded = try engine.load() }
        let checkStart = ContinuousClock.now
        let violations = loaded.index.invariantViolations(limit: 20)
        let checkTime = ContinuousClock.now - checkStart
        if !violations.isEmpty {
            throw StoreError(
                .invariantBroken,
                "\(engine.location) breaks the model's invariants (\(violations.joined(separator: "; "))); restore a backup or run rosterctl verify on a copy"
            )
        }
        let index = loaded.index
        logger.info(
            "store loaded",
            metadata: [
                "store.path": "\(engine.location)", "store.revision": "\(index.revision)",
                "store.users": "\(index.userCount)", "store.groups": "\(index.groupCount)",
                "store.memberships": "\(index.membershipCount)",
                "store.load_ms": "\((ContinuousClock.now - start).milliseconds)",
                "store.read_ms": "\(loaded.readTime.milliseconds)", "store.build_ms": "\(loaded.buildTime.milliseconds)",
                "store.check_ms": "\(checkTime.milliseconds)",
            ])
        return RosterStore(
            configuration: configuration, engine: engine, lock: lock, index: index, tokens: loaded.tokens,
            checkpoint: checkpoint, logger: logger)
    }

    private init(
        configuration: StoreConfiguration, engine: any StoreEngine, lock: DataDirectoryLock?, index: MembershipIndex,
        tokens: [String: [[UInt8]]], checkpoint: FleetCheckpoint?, logger: Logger
    ) {
        self.configuration = configuration
        self.engine = engine
        self.lock = lock
        self.checkpoint = checkpoint
        self.logger = logger
        self.publisher = IndexPublisher(index)
        self.tokenHashes = Mutex(tokens)
    }

    /// The SQLite engine's WAL checkpointer, for tests.
    var sqliteCheckpointer: WALCheckpointer? { (engine as? SQLiteEngine)?.checkpointer }

    /// The SQLite pool, for tests that reach under the store (SQLite engine only).
    var pool: DatabasePool {
        guard let sqlite = engine as? SQLiteEngine else { preconditionFailure("the store's engine is not SQLite") }
        return sqlite.pool
    }

    /// Stops accepting writes; queued ones fail with `.closed`. Returns once a batch in flight
    /// (and a WAL checkpoint the writer may run after it) is done, so nothing writes through this
    /// store afterwards and its last reference goes with the caller's (with the directory lock).
    public func close() {
        let abandoned = pending.withLock { state -> [(WriteRequest, CheckedContinuation<WriteOutcome, any Error>)] in
            state.closed = true
            let items = state.items
            state.items = []
            return items
        }
        for (_, continuation) in abandoned {
            continuation.resume(throwing: StoreError(.closed, "the store is shutting down"))
        }
        queue.sync { engine.close() }
    }

    // MARK: Writing

    /// Queues a write and returns once it is committed and published (or refused).
    /// - Throws: whatever `prepare` throws, a `RosterError` from the rules, or a `StoreError`
    ///   when the database could not commit (nothing was applied then).
    public func write(_ request: WriteRequest) async throws -> WriteOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let start = pending.withLock { state -> Bool? in
                if state.closed { return nil }
                state.items.append((request, continuation))
                if state.draining { return false }
                state.draining = true
                return true
            }
            switch start {
            case nil: continuation.resume(throwing: StoreError(.closed, "the store is shutting down"))
            case true?: queue.async { self.drain() }
            case false?: break
            }
        }
    }

    private func drain() {
        while true {
            let batch = pending.withLock { state -> [(WriteRequest, CheckedContinuation<WriteOutcome, any Error>)] in
                let count = min(state.items.count, max(1, configuration.maxBatch))
                let batch = Array(state.items.prefix(count))
                state.items.removeFirst(count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty {
                scheduleIdleCompaction()
                return
            }
            commit(batch)
            engine.afterBatch()
        }
    }

    private enum Result {
        case done(WriteOutcome)
        case refused(any Error)
    }

    private func commit(_ batch: [(WriteRequest, CheckedContinuation<WriteOutcome, any Error>)]) {
        let before = publisher.current
        var index = before
        // Revisions other writers committed, replayed before this batch's own: published even
        // when this batch fails, since they are durable already.
        var caughtUp: (index: MembershipIndex, entries: [ChangeLogEntry])?
        var written: [ChangeLogEntry] = []
        var results: [Result] = []
        results.reserveCapacity(batch.count)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var timing = BatchTiming()
        let bufferedAudit = takeBufferedAudit()
        do {
            // The body may run twice (an engine may write a batch again another way after a
            // first attempt rolled back): it starts from `before` each time.
            try engine.writeBatch(after: before.revision) { transaction, others in
                index = before
                caughtUp = nil
                if !others.isEmpty {
                    index = try Self.replay(others, onto: index)
                    caughtUp = (index, others)
                }
                written = []
                results = []
                for (request, _) in batch {
                    let context = WriteContext(index: index, now: now, transaction: transaction)
                    var next = index
                    do {
                        timing.beginStep()
                        let mutation = try request.prepare(context)
                        let applied = try next.apply(mutation, now: now)
                        timing.endStep()
                        let entry = ChangeLogEntry(revision: applied.revision, changes: applied.changes, tokens: request.tokens)
                        try transaction.inSavepoint {
                            try transaction.persist(entry, events: applied.events, now: now)
                            // "ignored": accepted but the rules changed nothing (e.g. a member add for a
                            // suspended user), so the audit trail answers "why is U not in G?".
                            let outcome = applied.events.isEmpty && !applied.notes.isEmpty ? "ignored" : "ok"
                            try transaction.insertAudit(
                                Self.auditEntry(request, status: request.audit.successStatus, outcome: outcome, applied: applied, now: now))
                        }
                        var outcome = WriteOutcome(applied: applied)
                        if let user = applied.user, user.state != .deleted {
                            outcome.user = try transaction.user(directoryID: user.directoryID, id: user.id)
                        }
                        if let group = applied.group {
                            outcome.group = try transaction.group(directoryID: group.directoryID, id: group.id)
                        }
                        index = next
                        written.append(entry)
                        results.append(.done(outcome))
                    } catch {
                        if engine.failsBatch(error) { throw error }
                        try? transaction.insertAudit(
                            Self.auditEntry(
                                request, status: request.audit.failureStatus(error), outcome: "refused",
                                detail: "\(error)", applied: nil, now: now))
                        results.append(.refused(error))
                    }
                }
                for entry in bufferedAudit { try transaction.insertAudit(entry) }
                if index.revision != before.revision {
                    try transaction.setRevision(index.revision)
                }
                if failNextCommit.withLock({ flag in defer { flag = false }; return flag }) {
                    throw StoreError(.io, "the database could not commit (simulated I/O error); nothing was written")
                }
                timing.markPrepared()
            }
            timing.markCommitted()
        } catch {
            let storeError = engine.commitError(error)
            logger.error("write batch failed", metadata: ["store.error": "\(storeError)", "store.batch": "\(batch.count)"])
            if let caughtUp { publish(caughtUp.index, entries: caughtUp.entries) }
            for (_, continuation) in batch { continuation.resume(throwing: storeError) }
            return
        }
        publish(index, entries: (caughtUp?.entries ?? []) + written)
        for ((_, continuation), result) in zip(batch, results) {
            switch result {
            case .done(let outcome): continuation.resume(returning: outcome)
            case .refused(let error): continuation.resume(throwing: error)
            }
        }
        timing.logIfSlow(count: batch.count, logger: logger)
    }

    /// `entries` replayed in order onto `index` (revisions another writer committed).
    /// - Throws: `StoreError(.corrupt)` when they do not follow on (a gap, or another database's log).
    static func replay(_ entries: [ChangeLogEntry], onto index: MembershipIndex) throws(StoreError) -> MembershipIndex {
        var index = index
        for entry in entries {
            do {
                try index.replay(entry.changes, revision: entry.revision)
            } catch {
                throw StoreError(.corrupt, "cannot follow the change log at revision \(entry.revision): \(error.message)")
            }
        }
        return index
    }

    /// Publishes `index` and brings the token cache up to the revisions in `entries`.
    func publish(_ index: MembershipIndex, entries: [ChangeLogEntry]) {
        tokenHashes.withLock { hashes in
            for entry in entries {
                for change in entry.changes {
                    if case .deleteDirectory(let id) = change { hashes[id] = nil }
                }
                for token in entry.tokens {
                    switch token {
                    case .set(let id, let hash): hashes[id] = [hash]
                    case .rotate(let id, let hash): hashes[id] = [hash] + (hashes[id]?.prefix(1) ?? [])
                    }
                }
            }
        }
        publisher.publish(index)
        checkpoint?.apply(entries)
    }

    private static func auditEntry(
        _ request: WriteRequest, status: Int, outcome: String, detail: String? = nil, applied: Applied?, now: Int64
    ) -> AuditEntry {
        let noteDetail = applied.map { $0.notes.joined(separator: "; ") } ?? ""
        return AuditEntry(
            revision: applied?.revision, time: now, directoryID: request.directoryID,
            provider: request.audit.provider, method: request.audit.method, path: request.audit.path,
            status: status, outcome: outcome, detail: detail ?? noteDetail,
            durationMicroseconds: (ContinuousClock.now - request.audit.startedAt).microseconds)
    }

    // MARK: Audit of requests that wrote nothing

    /// Records a request that never reached the writer (for example a 401 or a 400 for bad JSON).
    public func recordAudit(_ entry: AuditEntry) {
        let schedule = auditBuffer.withLock { buffer -> Bool in
            if buffer.entries.count >= Self.maxBufferedAudit {
                buffer.dropped += 1
                return false
            }
            buffer.entries.append(entry)
            if buffer.flushScheduled { return false }
            buffer.flushScheduled = true
            return true
        }
        if schedule {
            queue.asyncAfter(deadline: .now() + 0.5) { [self] in
                let entries = takeBufferedAudit()
                guard !entries.isEmpty else { return }
                do {
                    try engine.appendAudit(entries)
                } catch {
                    logger.warning("audit flush failed", metadata: ["store.error": "\(error)", "store.audit_lost": "\(entries.count)"])
                }
            }
        }
    }

    /// The buffered audit rows, taken out of the buffer (written by the caller).
    private func takeBufferedAudit() -> [AuditEntry] {
        let (entries, dropped) = auditBuffer.withLock { buffer in
            defer {
                buffer.entries = []
                buffer.dropped = 0
                buffer.flushScheduled = false
            }
            return (buffer.entries, buffer.dropped)
        }
        if dropped > 0 {
            logger.warning("audit rows dropped", metadata: ["store.audit_dropped": "\(dropped)"])
        }
        return entries
    }

    // MARK: Admin

    /// Creates a directory and its first SCIM token (returned once; only its hash is stored).
    public func createDirectory(name: String, provider: ProviderKind, policy: MembershipPolicy) async throws
        -> (Directory, token: String)
    {
        guard !name.isEmpty, name.count <= 200 else {
            throw RosterError(.invalidValue, "a directory name must have 1 to 200 characters")
        }
        let id = UUID().uuidString.lowercased()
        let token = Tokens.generate()
        let hash = Tokens.hash(token)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var request = WriteRequest(
            directoryID: id, audit: AuditInfo(method: "ADMIN", path: "CreateDirectory", successStatus: 201)
        ) { _ in
            .createDirectory(Directory(id: id, name: name, provider: provider, policy: policy, createdAt: now))
        }
        request.tokens = [.set(directoryID: id, hash: hash)]
        let outcome = try await write(request)
        guard let directory = outcome.applied.revision > 0 ? publisher.current.directory(id) : nil else {
            throw StoreError(.io, "directory \(id) was not visible after its commit")
        }
        return (directory, token)
    }

    /// Issues a new token; the previous one stays valid until the next rotation (two live tokens).
    public func rotateToken(directoryID: String) async throws -> String {
        let token = Tokens.generate()
        let hash = Tokens.hash(token)
        var request = WriteRequest(
            directoryID: directoryID, audit: AuditInfo(method: "ADMIN", path: "RotateToken")
        ) { _ in .none(directoryID: directoryID) }
        request.tokens = [.rotate(directoryID: directoryID, hash: hash)]
        _ = try await write(request)
        return token
    }

    public func deleteDirectory(id: String) async throws -> Applied {
        let request = WriteRequest(directoryID: id, audit: AuditInfo(method: "ADMIN", path: "DeleteDirectory")) { _ in
            .deleteDirectory(id: id)
        }
        return try await write(request).applied
    }

    /// Deletes a group and all its memberships (for providers that never send a group DELETE).
    public func deleteGroup(directoryID: String, groupID: String) async throws -> Applied {
        try await write(
            WriteRequest(directoryID: directoryID, audit: AuditInfo(method: "ADMIN", path: "DeleteGroup")) { _ in
                .deleteGroup(directoryID: directoryID, id: groupID, cause: .admin)
            }
        ).applied
    }

    /// Whether `token` is one of the directory's live tokens (constant-time comparison).
    public func authenticate(directoryID: String, token: String) -> Bool {
        guard let hashes = tokenHashes.withLock({ $0[directoryID] }), !hashes.isEmpty else { return false }
        let presented = Tokens.hash(token)
        var matched = false
        for hash in hashes where Tokens.constantTimeEqual(hash, presented) { matched = true }
        return matched
    }

    // MARK: Reads

    public func user(directoryID: String, id: String) async throws -> StoredUser? {
        try await engine.user(directoryID: directoryID, id: id)
    }

    public func group(directoryID: String, id: String) async throws -> StoredGroup? {
        try await engine.group(directoryID: directoryID, id: id)
    }

    /// Live users of a directory in a stable order (creation), `limit` after skipping `offset`.
    public func users(directoryID: String, offset: Int, limit: Int) async throws -> [StoredUser] {
        try await engine.users(directoryID: directoryID, offset: offset, limit: limit)
    }

    public func groups(directoryID: String, offset: Int, limit: Int) async throws -> [StoredGroup] {
        try await engine.groups(directoryID: directoryID, offset: offset, limit: limit)
    }

    /// Calls `body` with every live user of the directory in creation order, until it returns false.
    public func scanUsers(directoryID: String, _ body: (StoredUser) throws -> Bool) async throws {
        try await engine.scanUsers(directoryID: directoryID, body)
    }

    public func scanGroups(directoryID: String, _ body: (StoredGroup) throws -> Bool) async throws {
        try await engine.scanGroups(directoryID: directoryID, body)
    }

    /// Events after `revision` in order, optionally of one directory: at most `limit`, except
    /// that a revision is never split (the last revision of a page comes whole), so a reader
    /// that resumes after the last revision it saw misses nothing and sees nothing twice.
    public func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event] {
        try await engine.events(after: revision, directoryID: directoryID, limit: limit)
    }

    /// The oldest revision still in the event log (0 if it is empty).
    public func oldestEventRevision() async throws -> UInt64 {
        try await engine.oldestEventRevision()
    }

    /// Audit rows of a directory (all directories if nil) at or after `since` (ms), newest last.
    public func audit(directoryID: String?, since: Int64, limit: Int) async throws -> [AuditEntry] {
        try await engine.audit(directoryID: directoryID, since: since, limit: limit)
    }

    // MARK: Verify, backup, retention

    /// Rebuilds an index from the database and compares it with the live one. Runs on the
    /// writer's queue, so no write lands between reading the rows and reading the live index.
    public func verify() async throws -> VerifyReport {
        try await onWriterQueue { [self] in
            // In a fleet, other instances keep writing: follow the log to the snapshot's revision
            // (a few tries), so the comparison is of one revision on both sides.
            var rebuilt = try engine.load().index
            for _ in 0..<5 where rebuilt.revision != publisher.revision {
                try followLog()
                if rebuilt.revision != publisher.revision { rebuilt = try engine.load().index }
            }
            let live = publisher.current
            var differences = live.differences(from: rebuilt)
            differences += rebuilt.invariantViolations().map { "stored rows: \($0)" }
            return VerifyReport(
                revision: live.revision, users: live.userCount, groups: live.groupCount,
                memberships: live.membershipCount, differences: differences)
        }
    }

    /// Writes a consistent copy of the database to `path` (SQLite's online backup API) while
    /// the daemon keeps serving. Start a daemon on the copy to restore it.
    /// The file is created new with mode 0600 before SQLite opens it (`BackupDestination`).
    public func backup(to path: String) async throws -> BackupResult {
        if let postgres {
            // Refused before a file is made: a fleet's store is backed up by PostgreSQL's tools.
            try postgres.backup(to: path)
        }
        let file = try BackupDestination(creating: path)
        return try await onWriterQueue { [self] in
            let revision = publisher.current.revision
            do {
                try engine.backup(to: path)
            } catch {
                file.abandon()
                throw error
            }
            return BackupResult(path: path, bytes: try file.finish(), revision: revision)
        }
    }

    /// Registers a live Watch that still needs events after `revision`; compaction keeps them.
    /// Returns a handle for `releaseWatchFloor`.
    public func retainEvents(after revision: UInt64) -> Int {
        watchFloors.withLock { state in
            state.next += 1
            state.floors[state.next] = revision
            return state.next
        }
    }

    public func updateWatchFloor(_ handle: Int, to revision: UInt64) {
        watchFloors.withLock { state in if state.floors[handle] != nil { state.floors[handle] = revision } }
    }

    public func releaseWatchFloor(_ handle: Int) {
        _ = watchFloors.withLock { $0.floors.removeValue(forKey: handle) }
    }

    /// Deletes audit rows older than `auditRetentionDays`. Returns how many were removed.
    /// Rows go in id order (the order they were written, so the oldest first) in slices of
    /// `auditPruneSlice`, each its own transaction on the writer's queue, so SCIM writes interleave
    /// with a large prune instead of waiting behind it.
    @discardableResult
    public func compactAudit(nowMillis: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws -> Int {
        let cutoffTime = nowMillis - Int64(configuration.auditRetentionDays) * 86_400_000
        var removed = 0
        while true {
            let slice = try await onWriterQueue { [self] in
                try engine.pruneAudit(olderThan: cutoffTime, limit: Self.auditPruneSlice)
            }
            removed += slice
            if slice < Self.auditPruneSlice { return removed }
        }
    }

    static let auditPruneSlice = 5_000

    /// Deletes events older than the retention window (days) that are also outside the newest
    /// `eventRetentionCount`, never one a live Watch still needs. Returns how many were removed.
    @discardableResult
    public func compactEvents(nowMillis: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws -> Int {
        let floor = watchFloors.withLock { $0.floors.values.min() }
        let cutoffTime = nowMillis - Int64(configuration.eventRetentionDays) * 86_400_000
        let keepCount = configuration.eventRetentionCount
        return try await onWriterQueue { [self] in
            // The revision below which the count rule allows deletion.
            let countBoundary = try engine.eventRevision(keepingNewest: keepCount) ?? -1
            // The change log (fleet mode) follows the same window; live Watches read events only.
            let pruned = try engine.pruneChangeLog(
                throughRevision: min(countBoundary, Int64(clamping: publisher.revision) - Int64(keepCount)), olderThan: cutoffTime)
            if pruned > 0 { logger.info("change log pruned", metadata: ["store.changelog_removed": "\(pruned)"]) }
            var boundary = countBoundary
            if let floor { boundary = min(boundary, Int64(clamping: floor)) }
            return try engine.deleteEvents(throughRevision: boundary, olderThan: cutoffTime)
        }
    }

    /// Runs `body` on the writer's queue, between batches.
    func onWriterQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

