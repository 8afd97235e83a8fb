import Dispatch
import Foundation
import GRDB
import Logging
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
    let pool: DatabasePool
    private let lock: DataDirectoryLock
    let logger: Logger
    /// The one writer: batches, idle compaction and their publishes run here, in order.
    let queue = DispatchQueue(label: "roster.store.writer")
    let pending = Mutex(PendingWrites())
    /// Runs WAL checkpoints beside the writer instead of inside its COMMITs (nil: SQLite's own).
    let checkpointer: WALCheckpointer?
    /// Token hashes by directory id: the current token, then the previous one during rotation.
    private let tokenHashes: Mutex<[String: [[UInt8]]]>
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

    /// Opens (creating if needed) the database, takes the data-directory lock, migrates, loads the
    /// whole state into the index and checks its invariants.
    /// - Throws: `StoreError` naming the problem: `.locked` (with the other daemon's pid),
    ///   `.unwritable`, `.corrupt`, `.schemaTooNew`, `.invariantBroken`.
    public static func open(_ configuration: StoreConfiguration, logger: Logger) throws(StoreError) -> RosterStore {
        let lock = try DataDirectoryLock(path: configuration.path + ".lock")
        let pool: DatabasePool
        do {
            var config = Configuration()
            config.foreignKeysEnabled = true
            config.busyMode = .timeout(configuration.busyTimeoutSeconds)
            let synchronous = configuration.synchronous == .full ? "FULL" : "NORMAL"
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
            pool = try DatabasePool(path: configuration.path, configuration: config)
        } catch {
            throw Self.openError(error, path: configuration.path)
        }
        do {
            let migrator = Schema.migrator
            let known = try pool.read { db in try migrator.hasBeenSuperseded(db) }
            if known {
                throw StoreError(
                    .schemaTooNew,
                    "\(configuration.path) was written by a newer Roster (its schema has migrations this binary does not know); upgrade rosterd or restore a backup"
                )
            }
            try migrator.migrate(pool)
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.openError(error, path: configuration.path)
        }
        let start = ContinuousClock.now
        let (index, tokens, timing) = try loadTimed(pool, path: configuration.path)
        let checkStart = ContinuousClock.now
        let violations = index.invariantViolations(limit: 20)
        let checkTime = ContinuousClock.now - checkStart
        if !violations.isEmpty {
            throw StoreError(
                .invariantBroken,
                "\(configuration.path) breaks the model's invariants (\(violations.joined(separator: "; "))); restore a backup or run rosterctl verify on a copy"
            )
        }
        logger.info(
            "store loaded",
            metadata: [
                "store.path": "\(configuration.path)", "store.revision": "\(index.revision)",
                "store.users": "\(index.userCount)", "store.groups": "\(index.groupCount)",
                "store.memberships": "\(index.membershipCount)",
                "store.load_ms": "\((ContinuousClock.now - start).milliseconds)",
                "store.read_ms": "\(timing.read.milliseconds)", "store.build_ms": "\(timing.build.milliseconds)",
                "store.check_ms": "\(checkTime.milliseconds)",
            ])
        var checkpointer: WALCheckpointer?
        if configuration.walCheckpoint == .background {
            do {
                checkpointer = try WALCheckpointer(
                    pool: pool, path: configuration.path, synchronous: configuration.synchronous == .full ? "FULL" : "NORMAL",
                    thresholds: configuration.walThresholds, logger: logger)
            } catch {
                throw Self.openError(error, path: configuration.path)
            }
        }
        return RosterStore(
            configuration: configuration, pool: pool, lock: lock, index: index, tokens: tokens, checkpointer: checkpointer,
            logger: logger)
    }

    private init(
        configuration: StoreConfiguration, pool: DatabasePool, lock: DataDirectoryLock, index: MembershipIndex,
        tokens: [String: [[UInt8]]], checkpointer: WALCheckpointer?, logger: Logger
    ) {
        self.configuration = configuration
        self.pool = pool
        self.checkpointer = checkpointer
        self.lock = lock
        self.logger = logger
        self.publisher = IndexPublisher(index)
        self.tokenHashes = Mutex(tokens)
    }

    static func openError(_ error: any Error, path: String) -> StoreError {
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return StoreError(.corrupt, "\(path) is not a valid Roster database (\(db.message ?? "corrupt")); restore a backup")
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM:
                return StoreError(.unwritable, "cannot open \(path) for writing (\(db.message ?? "\(db.resultCode)")); check the directory's permissions")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(.locked, "\(path) is locked by another process (\(db.message ?? "busy"))")
            case .SQLITE_FULL:
                return StoreError(.io, "the disk holding \(path) is full")
            default:
                return StoreError(.io, "cannot open \(path): \(db)")
            }
        }
        return StoreError(.io, "cannot open \(path): \(error)")
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
        queue.sync {}
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
            checkpointer?.betweenBatches()
        }
    }

    private enum Result {
        case done(WriteOutcome)
        case refused(any Error)
    }

    private func commit(_ batch: [(WriteRequest, CheckedContinuation<WriteOutcome, any Error>)]) {
        let before = publisher.current
        var index = before
        var results: [Result] = []
        results.reserveCapacity(batch.count)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var timing = BatchTiming()
        do {
            try pool.write { db in
                for (request, _) in batch {
                    let context = WriteContext(index: index, now: now, db: db)
                    var next = index
                    do {
                        timing.beginStep()
                        let mutation = try request.prepare(context)
                        let applied = try next.apply(mutation, now: now)
                        timing.endStep()
                        try db.inSavepoint {
                            try Self.persist(applied, now: now, db)
                            try request.persistExtra?(db, applied)
                            // "ignored": accepted but the rules changed nothing (e.g. a member add for a
                            // suspended user), so the audit trail answers "why is U not in G?".
                            let outcome = applied.events.isEmpty && !applied.notes.isEmpty ? "ignored" : "ok"
                            try Self.audit(request, status: request.audit.successStatus, outcome: outcome, applied: applied, now: now, db)
                            return .commit
                        }
                        var outcome = WriteOutcome(applied: applied)
                        if let user = applied.user, user.state != .deleted {
                            outcome.user = try StoreReads.user(db, directoryID: user.directoryID, id: user.id)
                        }
                        if let group = applied.group {
                            outcome.group = try StoreReads.group(db, directoryID: group.directoryID, id: group.id)
                        }
                        index = next
                        results.append(.done(outcome))
                    } catch let error as DatabaseError where Self.isFatal(error) {
                        throw error
                    } catch {
                        try? Self.audit(
                            request, status: request.audit.failureStatus(error), outcome: "refused",
                            detail: "\(error)", applied: nil, now: now, db)
                        results.append(.refused(error))
                    }
                }
                try flushAudit(db)
                if index.revision != before.revision {
                    try db.execute(
                        sql: "UPDATE meta SET value = ? WHERE key = 'revision'", arguments: [Int64(index.revision)])
                }
                if failNextCommit.withLock({ flag in defer { flag = false }; return flag }) {
                    throw DatabaseError(resultCode: .SQLITE_IOERR, message: "simulated I/O error")
                }
                timing.markPrepared()
            }
            timing.markCommitted()
        } catch {
            let storeError = Self.writeError(error, path: configuration.path)
            logger.error("write batch failed", metadata: ["store.error": "\(storeError)", "store.batch": "\(batch.count)"])
            for (_, continuation) in batch { continuation.resume(throwing: storeError) }
            return
        }
        publisher.publish(index)
        for ((request, continuation), result) in zip(batch, results) {
            switch result {
            case .done(let outcome):
                request.afterCommit?(outcome.applied)
                continuation.resume(returning: outcome)
            case .refused(let error):
                continuation.resume(throwing: error)
            }
        }
        timing.logIfSlow(count: batch.count, logger: logger)
    }

    private static func isFatal(_ error: DatabaseError) -> Bool {
        switch error.resultCode.primaryResultCode {
        case .SQLITE_CONSTRAINT: return false
        default: return true
        }
    }

    private static func writeError(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let db = error as? DatabaseError {
            switch db.resultCode.primaryResultCode {
            case .SQLITE_FULL: return StoreError(.io, "the disk holding \(path) is full; nothing was written")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(.io, "\(path) is locked by another process; nothing was written, retry")
            case .SQLITE_READONLY: return StoreError(.io, "\(path) became read-only; nothing was written")
            default: return StoreError(.io, "the database could not commit (\(db.message ?? "\(db.resultCode)")); nothing was written")
            }
        }
        return StoreError(.io, "the database could not commit (\(error)); nothing was written")
    }

    /// Writes the row-level changes and events of one applied mutation.
    static func persist(_ applied: Applied, now: Int64, _ db: Database) throws {
        for change in applied.changes {
            switch change {
            case .putDirectory(let d):
                try db.cachedStatement(
                    sql: """
                        INSERT INTO directories (id, name, provider, policy, created_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, policy = excluded.policy
                        """
                ).execute(arguments: [d.id, d.name, d.provider.rawValue, d.policy.rawValue, d.createdAt])
            case .deleteDirectory(let id):
                try db.cachedStatement(sql: "DELETE FROM directories WHERE id = ?").execute(arguments: [id])
            case .putUser(let u, let resource):
                if let resource {
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO users (key, id, directory_id, user_name, user_name_lower, external_id, display_name,
                                               state, version, created_at, modified_at, resource)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT (key) DO UPDATE SET user_name = excluded.user_name,
                                user_name_lower = excluded.user_name_lower, external_id = excluded.external_id,
                                display_name = excluded.display_name, state = excluded.state, version = excluded.version,
                                modified_at = excluded.modified_at, resource = excluded.resource
                            """
                    ).execute(arguments: [
                        Int64(u.key), u.id, u.directoryID, u.userName, u.userName.lowercased(), u.externalID,
                        u.displayName, u.state.rawValue, Int64(u.version), now, now,
                        JSONSerializer.serializeToString(.object(resource)),
                    ])
                } else {
                    try db.cachedStatement(sql: "UPDATE users SET state = ?, version = ?, modified_at = ? WHERE key = ?")
                        .execute(arguments: [u.state.rawValue, Int64(u.version), now, Int64(u.key)])
                }
            case .putGroup(let g, let resource):
                if let resource {
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO groups (key, id, directory_id, display_name, display_name_lower, external_id,
                                                version, created_at, modified_at, resource)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT (key) DO UPDATE SET display_name = excluded.display_name,
                                display_name_lower = excluded.display_name_lower, external_id = excluded.external_id,
                                version = excluded.version, modified_at = excluded.modified_at, resource = excluded.resource
                            """
                    ).execute(arguments: [
                        Int64(g.key), g.id, g.directoryID, g.displayName, g.displayName.lowercased(), g.externalID,
                        Int64(g.version), now, now, JSONSerializer.serializeToString(.object(resource)),
                    ])
                } else {
                    try db.cachedStatement(sql: "UPDATE groups SET version = ?, modified_at = ? WHERE key = ?")
                        .execute(arguments: [Int64(g.version), now, Int64(g.key)])
                }
            case .deleteGroup(let id):
                try db.cachedStatement(sql: "DELETE FROM groups WHERE id = ?").execute(arguments: [id])
            case .addMember(let groupKey, let userKey):
                try db.cachedStatement(sql: "INSERT INTO memberships (group_key, user_key) VALUES (?, ?)")
                    .execute(arguments: [Int64(groupKey), Int64(userKey)])
            case .removeMember(let groupKey, let userKey):
                try db.cachedStatement(sql: "DELETE FROM memberships WHERE group_key = ? AND user_key = ?")
                    .execute(arguments: [Int64(groupKey), Int64(userKey)])
            }
        }
        let insertEvent = try db.cachedStatement(
            sql: "INSERT INTO events (revision, seq, directory_id, kind, user_id, group_id, cause, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for event in applied.events {
            try insertEvent.execute(arguments: [
                Int64(event.revision), Int64(event.seq), event.directoryID, event.kind.rawValue, event.userID,
                event.groupID, event.cause.rawValue, event.time,
            ])
        }
    }

    private static func audit(
        _ request: WriteRequest, status: Int, outcome: String, detail: String? = nil, applied: Applied?, now: Int64,
        _ db: Database
    ) throws {
        let noteDetail = applied.map { $0.notes.joined(separator: "; ") } ?? ""
        try insertAudit(
            AuditEntry(
                revision: applied?.revision, time: now, directoryID: request.directoryID,
                provider: request.audit.provider, method: request.audit.method, path: request.audit.path,
                status: status, outcome: outcome, detail: detail ?? noteDetail,
                durationMicroseconds: (ContinuousClock.now - request.audit.startedAt).microseconds),
            db)
    }

    /// Longest path and detail stored in an audit row, in UTF-8 bytes; longer ones are cut (with
    /// "…"), so a row's size does not depend on what a client sent.
    static let maxAuditPathBytes = 512
    static let maxAuditDetailBytes = 2048

    /// The one INSERT of an audit row, for writes (in their savepoint) and for buffered refusals.
    private static func insertAudit(_ e: AuditEntry, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO audit (revision, time, directory_id, provider, method, path, status, outcome, detail, duration_us)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            e.revision.map { Int64($0) }, e.time, e.directoryID?.truncated(toUTF8Bytes: 64), e.provider,
            e.method.truncated(toUTF8Bytes: 16), e.path.truncated(toUTF8Bytes: maxAuditPathBytes), e.status,
            e.outcome, e.detail.truncated(toUTF8Bytes: maxAuditDetailBytes), e.durationMicroseconds,
        ])
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
                do {
                    try pool.write { db in try flushAudit(db) }
                } catch {
                    logger.warning("audit flush failed", metadata: ["store.error": "\(error)"])
                }
            }
        }
    }

    private func flushAudit(_ db: Database) throws {
        let (entries, dropped) = auditBuffer.withLock { buffer in
            defer {
                buffer.entries = []
                buffer.dropped = 0
                buffer.flushScheduled = false
            }
            return (buffer.entries, buffer.dropped)
        }
        for entry in entries { try Self.insertAudit(entry, db) }
        if dropped > 0 {
            logger.warning("audit rows dropped", metadata: ["store.audit_dropped": "\(dropped)"])
        }
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
        request.persistExtra = { db, _ in
            try db.execute(sql: "UPDATE directories SET token_hash = ? WHERE id = ?", arguments: [Data(hash), id])
        }
        request.afterCommit = { [self] _ in self.tokenHashes.withLock { $0[id] = [hash] } }
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
        request.persistExtra = { db, _ in
            try db.execute(
                sql: "UPDATE directories SET previous_token_hash = token_hash, token_hash = ? WHERE id = ?",
                arguments: [Data(hash), directoryID])
        }
        request.afterCommit = { [self] _ in
            self.tokenHashes.withLock { hashes in hashes[directoryID] = [hash] + (hashes[directoryID]?.prefix(1) ?? []) }
        }
        _ = try await write(request)
        return token
    }

    public func deleteDirectory(id: String) async throws -> Applied {
        var request = WriteRequest(directoryID: id, audit: AuditInfo(method: "ADMIN", path: "DeleteDirectory")) { _ in
            .deleteDirectory(id: id)
        }
        request.afterCommit = { [self] _ in self.tokenHashes.withLock { $0[id] = nil } }
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

    public func user(directoryID: String, id: String) throws -> StoredUser? {
        try pool.read { db in try StoreReads.user(db, directoryID: directoryID, id: id) }
    }

    public func group(directoryID: String, id: String) throws -> StoredGroup? {
        try pool.read { db in try StoreReads.group(db, directoryID: directoryID, id: id) }
    }

    /// Live users of a directory in a stable order (creation), `limit` after skipping `offset`.
    public func users(directoryID: String, offset: Int, limit: Int) throws -> [StoredUser] {
        try pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(StoreReads.userColumns) FROM users WHERE directory_id = ? AND state <> 'deleted' ORDER BY key LIMIT ? OFFSET ?"),
                arguments: [directoryID, limit, offset]
            ).map(StoreReads.decodeUser)
        }
    }

    public func groups(directoryID: String, offset: Int, limit: Int) throws -> [StoredGroup] {
        try pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(StoreReads.groupColumns) FROM groups WHERE directory_id = ? ORDER BY key LIMIT ? OFFSET ?"),
                arguments: [directoryID, limit, offset]
            ).map(StoreReads.decodeGroup)
        }
    }

    /// Calls `body` with every live user of the directory in creation order, until it returns false.
    public func scanUsers(directoryID: String, _ body: (StoredUser) throws -> Bool) throws {
        try pool.read { db in
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(StoreReads.userColumns) FROM users WHERE directory_id = ? AND state <> 'deleted' ORDER BY key",
                arguments: [directoryID])
            while let row = try cursor.next() {
                if try !body(StoreReads.decodeUser(row)) { return }
            }
        }
    }

    public func scanGroups(directoryID: String, _ body: (StoredGroup) throws -> Bool) throws {
        try pool.read { db in
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(StoreReads.groupColumns) FROM groups WHERE directory_id = ? ORDER BY key",
                arguments: [directoryID])
            while let row = try cursor.next() {
                if try !body(StoreReads.decodeGroup(row)) { return }
            }
        }
    }

    /// Events after `revision` in order, optionally of one directory: at most `limit`, except
    /// that a revision is never split (the last revision of a page comes whole), so a reader
    /// that resumes after the last revision it saw misses nothing and sees nothing twice.
    public func events(after revision: UInt64, directoryID: String?, limit: Int) throws -> [Event] {
        try pool.read { db in
            let columns = "revision, seq, directory_id, kind, user_id, group_id, cause, time"
            let scope = directoryID == nil ? "" : "AND directory_id = ?"
            // Clamped, not converted: a revision past Int64.max has no events after it, and must not trap.
            var arguments: StatementArguments = [Int64(clamping: revision)]
            if let directoryID { arguments += [directoryID] }
            var events = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(columns) FROM events WHERE revision > ? \(scope) ORDER BY revision, seq LIMIT ?"),
                arguments: arguments + [max(1, limit)]
            ).map(Self.decodeEvent)
            if events.count >= limit, let last = events.last {
                var rest: StatementArguments = [Int64(last.revision), Int64(last.seq)]
                if let directoryID { rest += [directoryID] }
                events += try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT \(columns) FROM events WHERE revision = ? AND seq > ? \(scope) ORDER BY seq"),
                    arguments: rest
                ).map(Self.decodeEvent)
            }
            return events
        }
    }

    private static func decodeEvent(_ row: Row) -> Event {
        Event(
            revision: UInt64(row[0] as Int64), seq: UInt32(truncatingIfNeeded: row[1] as Int64), directoryID: row[2],
            kind: Event.Kind(rawValue: row[3]) ?? .userUpdated, userID: row[4], groupID: row[5],
            cause: Event.Cause(rawValue: row[6]) ?? .request, time: row[7])
    }

    /// The oldest revision still in the event log (0 if it is empty).
    public func oldestEventRevision() throws -> UInt64 {
        try pool.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT min(revision) FROM events") ?? 0) }
    }

    /// Audit rows of a directory (all directories if nil) at or after `since` (ms), newest last.
    public func audit(directoryID: String?, since: Int64, limit: Int) throws -> [AuditEntry] {
        try pool.read { db in
            let filter = directoryID == nil ? "" : "AND directory_id = ?"
            var arguments: StatementArguments = [since]
            if let directoryID { arguments += [directoryID] }
            arguments += [limit]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT revision, time, directory_id, provider, method, path, status, outcome, detail, duration_us
                    FROM audit WHERE time >= ? \(filter) ORDER BY id DESC LIMIT ?
                    """, arguments: arguments)
            return rows.reversed().map { row in
                AuditEntry(
                    revision: (row[0] as Int64?).map { UInt64($0) }, time: row[1], directoryID: row[2],
                    provider: row[3], method: row[4], path: row[5], status: row[6], outcome: row[7], detail: row[8],
                    durationMicroseconds: row[9])
            }
        }
    }

    // MARK: Verify, backup, retention

    /// Rebuilds an index from the database and compares it with the live one. Runs on the
    /// writer's queue, so no write lands between reading the rows and reading the live index.
    public func verify() async throws -> VerifyReport {
        try await onWriterQueue { [self] in
            let (rebuilt, _) = try Self.load(pool, path: configuration.path)
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
        let file = try BackupDestination(creating: path)
        return try await onWriterQueue { [self] in
            let revision = publisher.current.revision
            do {
                let destination = try DatabaseQueue(path: path)
                try pool.backup(to: destination)
                try destination.close()
            } catch {
                file.abandon()
                throw StoreError(.io, "backup to \(path) failed: \(error)")
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
                try pool.write { db in
                    try db.execute(
                        sql: "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? ORDER BY id LIMIT ?)",
                        arguments: [cutoffTime, Self.auditPruneSlice])
                    return db.changesCount
                }
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
            try pool.write { db in
                // The revision below which the count rule allows deletion.
                let countBoundary =
                    try Int64.fetchOne(
                        db, sql: "SELECT revision FROM events ORDER BY revision DESC, seq DESC LIMIT 1 OFFSET ?",
                        arguments: [keepCount]) ?? -1
                var boundary = countBoundary
                if let floor { boundary = min(boundary, Int64(clamping: floor)) }
                try db.execute(
                    sql: "DELETE FROM events WHERE revision <= ? AND time < ?", arguments: [boundary, cutoffTime])
                return db.changesCount
            }
        }
    }

    /// Runs `body` on the writer's queue, between batches.
    private func onWriterQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

