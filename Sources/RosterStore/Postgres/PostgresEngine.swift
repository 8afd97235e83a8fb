import Dispatch
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import PostgresNIO
import RosterCore
import Synchronization

/// The fleet engine: every instance writes to and follows one PostgreSQL database.
///
/// **One gapless order of revisions.** Each write batch is one READ COMMITTED transaction that
/// first locks the head row (`SELECT … FOR UPDATE`). PostgreSQL makes a transaction visible
/// before it releases its row locks, so the holder of revision R+1 cannot begin before R is
/// visible: any snapshot that sees R+1 sees R, and a follower reading "revisions after mine"
/// never skips one (a sequence or a timestamp would: a smaller value can commit later). The
/// batch then replays what other instances committed since this one last looked, applies its
/// own requests exactly as on SQLite, writes rows, events, audit and one change-log entry per
/// revision, advances the head, NOTIFYs and commits.
///
/// The writer uses one dedicated connection, driven synchronously from the store's writer
/// queue (a dedicated thread, never an event loop), so the batcher is the same code for both
/// engines. Reads use a connection pool (`PostgresClient`).
final class PostgresEngine: StoreEngine {
    let settings: PostgresSettings
    let logger: Logger
    let client: PostgresClient
    /// The pool's run loop (`PostgresClient` is a service that must be running to serve queries).
    private let clientTask: Task<Void, Never>
    /// The writer's connection; nil after it was lost (reconnected by the next batch).
    private let writer = Mutex<PostgresConnection?>(nil)
    private let eventLoopGroup: any EventLoopGroup
    /// Limits that keep a stuck writer from blocking the fleet for more than a few seconds.
    let timeouts: Timeouts

    struct Timeouts: Sendable {
        var lock: Duration = .seconds(5)
        var statement: Duration = .seconds(15)
        var idleInTransaction: Duration = .seconds(5)
        var connect: Duration = .seconds(5)
    }

    var location: String { settings.redacted }

    /// Connects, migrates the schema (under an advisory lock) and returns the engine.
    /// - Throws: `.unavailable` when the database cannot be reached, `.schemaTooNew`, `.configuration`.
    init(settings: PostgresSettings, timeouts: Timeouts = Timeouts(), logger: Logger) throws(StoreError) {
        self.settings = settings
        self.timeouts = timeouts
        self.logger = logger
        eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        client = PostgresClient(configuration: settings.clientConfiguration(), eventLoopGroup: eventLoopGroup, backgroundLogger: logger)
        let client = client
        clientTask = Task { await client.run() }
    }

    /// The database's generation id as this instance knows it, and why the instance can no longer
    /// follow (a reconnection found another generation: the database was recreated or restored).
    private struct Identity {
        var generation: String?
        var migrated = false
        var staleReason: String?
    }
    private let identity = Mutex(Identity())

    /// The generation of the data this instance's index came from (a snapshot or a checkpoint).
    func adopt(generation: String) {
        identity.withLock {
            $0.generation = generation
            $0.staleReason = nil
        }
    }

    /// Throws `.stale` when the database under this instance is no longer the one it follows.
    private func checkIdentity() throws(StoreError) {
        if let reason = identity.withLock({ $0.staleReason }) { throw StoreError(.stale, reason) }
    }

    deinit {
        clientTask.cancel()
    }

    func close() {
        clientTask.cancel()
        if let connection = writer.withLock({ $0.take() }) {
            try? connection.close().wait()
        }
    }

    // MARK: Connections

    /// The writer's connection, connecting (or reconnecting) when there is none.
    @discardableResult
    func connectWriter() throws(StoreError) -> PostgresConnection {
        if let connection = writer.withLock({ $0 }), !connection.isClosed { return connection }
        let connection: PostgresConnection
        do {
            let configuration = try settings.connectionConfiguration()
            connection = try PostgresConnection.connect(
                on: eventLoopGroup.any(), configuration: configuration, id: 1, logger: logger
            ).wait()
        } catch {
            throw StoreError(.unavailable, "cannot reach PostgreSQL at \(settings.redacted): \(Self.describe(error)); retry later")
        }
        do {
            // Session limits: a writer stopped while holding the head lock (a frozen host, SIGSTOP)
            // is cut off by the server after `idleInTransaction`, and waiters give up after `lock`.
            try connection.run("SET lock_timeout = '\(timeouts.lock.milliseconds)ms'", logger: logger)
            try connection.run("SET statement_timeout = '\(timeouts.statement.milliseconds)ms'", logger: logger)
            try connection.run(
                "SET idle_in_transaction_session_timeout = '\(timeouts.idleInTransaction.milliseconds)ms'", logger: logger)
        } catch {
            try? connection.close().wait()
            throw StoreError(.unavailable, "cannot configure the PostgreSQL session: \(Self.describe(error))")
        }
        do {
            if !identity.withLock({ $0.migrated }) {
                try migrate(connection)
                identity.withLock { $0.migrated = true }
            }
            // A database recreated or restored under a running fleet has another generation.
            guard let row = try connection.run("SELECT generation FROM roster_head WHERE id = 1", logger: logger).first else {
                throw StoreError(.corrupt, "\(settings.redacted) has no head row")
            }
            let generation = try row.decode(String.self)
            identity.withLock { state in
                if let known = state.generation, known != generation {
                    state.staleReason =
                        "\(settings.redacted) is another database now (generation \(generation), this instance followed \(known)): it was recreated or restored; loading it anew"
                }
            }
        } catch let error as StoreError {
            try? connection.close().wait()
            throw error
        } catch {
            try? connection.close().wait()
            throw StoreError(.unavailable, "cannot read the head of \(settings.redacted): \(Self.describe(error))")
        }
        writer.withLock { $0 = connection }
        return connection
    }

    private func dropWriter() {
        if let connection = writer.withLock({ $0.take() }) {
            let closing: EventLoopFuture<Void> = connection.close()
            closing.whenComplete { _ in }
        }
    }

    private func migrate(_ connection: PostgresConnection) throws(StoreError) {
        do {
            try connection.run("SELECT pg_advisory_lock(\(PostgresSchema.migrationLock))", logger: logger)
            defer { _ = try? connection.run("SELECT pg_advisory_unlock(\(PostgresSchema.migrationLock))", logger: logger) }
            try connection.run("CREATE TABLE IF NOT EXISTS roster_schema (version integer NOT NULL)", logger: logger)
            let rows = try connection.run("SELECT version FROM roster_schema", logger: logger)
            var version = try rows.first.map { try $0.decode(Int.self) } ?? 0
            if rows.isEmpty { try connection.run("INSERT INTO roster_schema (version) VALUES (0)", logger: logger) }
            if version > PostgresSchema.steps.count {
                throw StoreError(
                    .schemaTooNew,
                    "\(settings.redacted) was migrated by a newer Roster (schema \(version), this binary knows \(PostgresSchema.steps.count)); upgrade rosterd")
            }
            while version < PostgresSchema.steps.count {
                try connection.run("BEGIN", logger: logger)
                do {
                    for statement in PostgresSchema.statements(of: PostgresSchema.steps[version]) {
                        try connection.run(statement, logger: logger)
                    }
                    version += 1
                    try connection.run("UPDATE roster_schema SET version = \(version)", logger: logger)
                    try connection.run("COMMIT", logger: logger)
                } catch {
                    _ = try? connection.run("ROLLBACK", logger: logger)
                    throw error
                }
                logger.notice("postgres schema migrated", metadata: ["store.schema_version": "\(version)"])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "cannot migrate the schema in \(settings.redacted): \(Self.describe(error))")
        }
    }

    // MARK: Loading

    /// One REPEATABLE READ, READ ONLY snapshot of every table at the head.
    func load() throws(StoreError) -> LoadedState {
        let connection = try connectWriter()
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            defer { _ = try? connection.run("COMMIT", logger: logger) }
            // A large snapshot streams for longer than a write's statement_timeout allows.
            try connection.run("SET LOCAL statement_timeout = 0", logger: logger)
            guard let head = try connection.run("SELECT revision, generation FROM roster_head WHERE id = 1", logger: logger).first
            else { throw StoreError(.corrupt, "\(settings.redacted) has no head row") }
            let (revision, generation) = try head.decode((Int64, String).self)
            let userCount = try connection.run("SELECT count(*) FROM users", logger: logger).first?.decode(Int64.self) ?? 0
            let groupCount = try connection.run("SELECT count(*) FROM groups", logger: logger).first?.decode(Int64.self) ?? 0
            var builder = MembershipIndexBuilder(
                revision: UInt64(revision), expectedUsers: Int(userCount), expectedGroups: Int(groupCount))
            var tokens: [String: [[UInt8]]] = [:]
            for row in try connection.run(
                "SELECT id, name, provider, policy, created_at, token_hash, previous_token_hash FROM directories ORDER BY created_at, id",
                logger: logger)
            {
                let (id, name, provider, policy, created, token, previous) = try row.decode(
                    (String, String, String, String, Int64, ByteBuffer?, ByteBuffer?).self)
                guard let provider = ProviderKind(rawValue: provider), let policy = MembershipPolicy(rawValue: policy) else {
                    throw StoreError(.corrupt, "directory \(id) has an unknown provider or policy")
                }
                builder.add(Directory(id: id, name: name, provider: provider, policy: policy, createdAt: created))
                tokens[id] = [token, previous].compactMap { $0.map { Array($0.readableBytesView) } }
            }
            // Rows are handed over as they arrive (a million users, ten million memberships):
            // never collected as row objects first.
            let sink = Sink(builder)
            try connection.query(
                "SELECT key, id, directory_id, user_name, external_id, display_name, state, version FROM users", logger: logger
            ) { row in
                let (key, id, directoryID, userName, external, display, state, version) = try row.decode(
                    (Int64, String, String, String, String?, String?, String, Int64).self)
                guard let state = UserState(rawValue: state) else { throw StoreError(.corrupt, "user \(id) has an unknown state") }
                sink.value.add(
                    UserRecord(
                        key: UInt32(truncatingIfNeeded: key), id: id, directoryID: directoryID, userName: userName,
                        externalID: external, displayName: display, state: state, version: UInt64(version)))
            }.wait()
            try connection.query("SELECT key, id, directory_id, display_name, external_id, version FROM groups", logger: logger) { row in
                let (key, id, directoryID, name, external, version) = try row.decode(
                    (Int64, String, String, String, String?, Int64).self)
                sink.value.add(
                    GroupRecord(
                        key: UInt32(truncatingIfNeeded: key), id: id, directoryID: directoryID, displayName: name,
                        externalID: external, version: UInt64(version)))
            }.wait()
            let pairs = Sink([UInt64]())
            pairs.value.reserveCapacity(Int(userCount) * 4)
            try connection.query("SELECT (group_key << 32) | user_key FROM memberships", logger: logger) { row in
                pairs.value.append(UInt64(bitPattern: try row.decode(Int64.self)))
            }.wait()
            builder = sink.value
            builder.addMemberships(pairs.value)
            let read = clock.now
            let (index, rejected) = builder.buildReportingRejections()
            if !rejected.isEmpty {
                throw StoreError(
                    .corrupt, "\(settings.redacted) holds rows that reference missing parents: \(rejected.prefix(5).joined(separator: "; "))")
            }
            adopt(generation: generation)
            return LoadedState(
                index: index, tokens: tokens, readTime: read - start, buildTime: clock.now - read, generation: generation)
        } catch let error as StoreError {
            throw error
        } catch {
            if connection.isClosed { dropWriter() }
            throw StoreError(.unavailable, "cannot read a snapshot of \(settings.redacted): \(Self.describe(error))")
        }
    }

    /// The head revision and the database's generation id (changes when a database is recreated).
    func head() throws(StoreError) -> (revision: UInt64, generation: String) {
        let connection = try connectWriter()
        do {
            guard let row = try connection.run("SELECT revision, generation FROM roster_head WHERE id = 1", logger: logger).first else {
                throw StoreError(.corrupt, "\(settings.redacted) has no head row")
            }
            let (revision, generation) = try row.decode((Int64, String).self)
            return (UInt64(revision), generation)
        } catch let error as StoreError {
            throw error
        } catch {
            if connection.isClosed { dropWriter() }
            throw StoreError(.unavailable, "cannot read the head of \(settings.redacted): \(Self.describe(error))")
        }
    }

    // MARK: Writing

    func writeBatch(after localRevision: UInt64, _ body: (any StoreTransaction, [ChangeLogEntry]) throws -> Void) throws {
        do {
            try attemptBatch(after: localRevision, together: true, body)
        } catch let error as PSQLError where Self.isConstraintViolation(error) {
            // Rows written together collided on a unique index mid-statement (see PendingBatch);
            // one request at a time, each in its savepoint, refuses only the request at fault.
            batchesRewritten.increment()
            logger.notice(
                "fleet: a batch's rows conflicted when written together; writing it again one request at a time",
                metadata: ["store.error": "\(Self.describe(error))"])
            try attemptBatch(after: localRevision, together: false, body)
        }
    }

    /// Batches written again one request at a time (`roster_fleet_batches_rewritten_total`).
    private let batchesRewritten = Counter(label: "roster_fleet_batches_rewritten_total")

    static func isConstraintViolation(_ error: PSQLError) -> Bool {
        error.code == .server && error.serverInfo?[.sqlState]?.hasPrefix("23") == true
    }

    /// One transaction: lock the head, catch up, run `body`, write, commit. `together`: the rows
    /// are held and written in a few statements at the end (PendingBatch); otherwise each request
    /// writes its rows in its own savepoint as it goes.
    private func attemptBatch(
        after localRevision: UInt64, together: Bool, _ body: (any StoreTransaction, [ChangeLogEntry]) throws -> Void
    ) throws {
        let connection = try connectWriter()
        try checkIdentity()
        var committing = false
        do {
            try connection.run("BEGIN", logger: logger)
            guard let row = try connection.run("SELECT revision FROM roster_head WHERE id = 1 FOR UPDATE", logger: logger).first
            else { throw StoreError(.corrupt, "\(settings.redacted) has no head row") }
            let head = UInt64(try row.decode(Int64.self))
            if head < localRevision {
                throw StoreError(
                    .stale,
                    "\(settings.redacted) is at revision \(head), behind this instance's \(localRevision): the database was rewound or restored; this instance must reload it")
            }
            var others: [ChangeLogEntry] = []
            var after = localRevision
            while after < head {
                let page = try changeLog(connection, after: after, limit: 1_000)
                guard let last = page.last else { break }
                others += page
                after = last.revision
            }
            if after != head {
                throw StoreError(.stale, "the change log of \(settings.redacted) ends at \(after), before its head \(head)")
            }
            let pending = together ? PendingBatch() : nil
            try body(Transaction(connection: connection, logger: logger, pending: pending), others)
            try pending?.flush(connection, logger: logger)
            committing = true
            try connection.run("COMMIT", logger: logger)
        } catch {
            if connection.isClosed {
                dropWriter()
                if committing {
                    throw StoreError(
                        .unavailable,
                        "the connection to PostgreSQL was lost at COMMIT: the write may or may not have landed; retry it (a retry is idempotent, or answers 409)")
                }
            } else {
                _ = try? connection.run("ROLLBACK", logger: logger)
            }
            throw error
        }
    }

    /// Entries after `revision`, in order; a gap (pruned, or a log that does not match) is `.stale`.
    private func changeLog(_ connection: PostgresConnection, after revision: UInt64, limit: Int) throws -> [ChangeLogEntry] {
        let rows = try connection.run(
            "SELECT revision, payload, committed_at FROM roster_changelog WHERE revision > \(Int64(clamping: revision)) ORDER BY revision LIMIT \(limit)",
            logger: logger)
        var entries: [ChangeLogEntry] = []
        entries.reserveCapacity(rows.count)
        var expected = revision + 1
        for row in rows {
            let (number, payload, committedAt) = try row.decode((Int64, String, Int64).self)
            guard UInt64(number) == expected else {
                throw StoreError(
                    .stale,
                    "the change log of \(settings.redacted) has no revision \(expected) (it starts again at \(number)): it was pruned past this instance or the database was restored; this instance must reload")
            }
            var entry = try ChangeLogCodec.decode(payload, revision: UInt64(number))
            entry.committedAt = committedAt
            entries.append(entry)
            expected += 1
        }
        return entries
    }

    func failsBatch(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        // Class 23: integrity constraint violation — that request alone is refused (its savepoint
        // rolled back); anything else (a lost connection, a timeout) fails the whole batch.
        return !Self.isConstraintViolation(error)
    }

    func commitError(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "55P03": return StoreError(.unavailable, "another instance held the write lock for too long (lock_timeout); nothing was written, retry")
            case "57014": return StoreError(.unavailable, "PostgreSQL cancelled a statement (statement_timeout); nothing was written, retry")
            default: break
            }
        }
        return StoreError(.unavailable, "PostgreSQL could not commit (\(Self.describe(error))); nothing was written, retry")
    }

    func afterBatch() {}

    func committed(after revision: UInt64, limit: Int) throws -> [ChangeLogEntry] {
        let connection = try connectWriter()
        try checkIdentity()
        do {
            return try changeLog(connection, after: revision, limit: limit)
        } catch let error as StoreError {
            throw error
        } catch {
            if connection.isClosed { dropWriter() }
            throw StoreError(.unavailable, "cannot read the change log of \(settings.redacted): \(Self.describe(error))")
        }
    }

    /// One transaction of the writer on its connection: writing as it goes, or holding the rows
    /// in `pending` for the end of the batch.
    struct Transaction: StoreTransaction {
        let connection: PostgresConnection
        let logger: Logger
        let pending: PendingBatch?

        func user(directoryID: String, id: String) throws -> StoredUser? {
            let fetch = { () throws -> StoredUser? in
                var binds = PostgresBindings()
                binds.append(id)
                binds.append(directoryID)
                return try connection.run(
                    "SELECT \(PostgresRows.userColumns) FROM users WHERE id = $1 AND directory_id = $2 AND state <> 'deleted'", binds,
                    logger: logger
                ).first.map(PostgresRows.decodeUser)
            }
            guard let pending else { return try fetch() }
            return try pending.user(directoryID: directoryID, id: id, fetch: fetch)
        }

        func group(directoryID: String, id: String) throws -> StoredGroup? {
            let fetch = { () throws -> StoredGroup? in
                var binds = PostgresBindings()
                binds.append(id)
                binds.append(directoryID)
                return try connection.run(
                    "SELECT \(PostgresRows.groupColumns) FROM groups WHERE id = $1 AND directory_id = $2", binds, logger: logger
                ).first.map(PostgresRows.decodeGroup)
            }
            guard let pending else { return try fetch() }
            return try pending.group(directoryID: directoryID, id: id, fetch: fetch)
        }

        func inSavepoint(_ body: () throws -> Void) throws {
            if let pending { return try pending.inSavepoint(body) }
            try connection.run("SAVEPOINT request", logger: logger)
            do {
                try body()
            } catch {
                if !connection.isClosed { try connection.run("ROLLBACK TO SAVEPOINT request", logger: logger) }
                throw error
            }
            try connection.run("RELEASE SAVEPOINT request", logger: logger)
        }

        func persist(_ entry: ChangeLogEntry, events: [Event], now: Int64) throws {
            if let pending { return pending.persist(entry, events: events, now: now) }
            let run = statementRunner
            try PostgresRows.persist(entry.changes, events: events, now: now, run)
            for token in entry.tokens { try PostgresRows.apply(token, run) }
            try PostgresRows.insertChangeLog([entry], run)
        }

        func insertAudit(_ entry: AuditEntry) throws {
            if let pending { return pending.insertAudit(entry) }
            try PostgresRows.insertAudits([entry], statementRunner)
        }

        func setRevision(_ revision: UInt64) throws {
            if let pending { return pending.setRevision(revision) }
            try PostgresRows.advanceHead(to: revision, statementRunner)
        }

        private var statementRunner: RunStatement {
            { sql, binds in _ = try connection.run(sql, binds, logger: logger) }
        }
    }

    /// The NOTIFY channel that wakes followers after each commit (the payload is a hint).
    static let channel = "roster_head"

    // MARK: Reads

    func user(directoryID: String, id: String) async throws -> StoredUser? {
        try await read(
            "SELECT \(PostgresRows.userColumns) FROM users WHERE id = $1 AND directory_id = $2 AND state <> 'deleted'", id, directoryID
        ).first.map(PostgresRows.decodeUser)
    }

    func group(directoryID: String, id: String) async throws -> StoredGroup? {
        try await read("SELECT \(PostgresRows.groupColumns) FROM groups WHERE id = $1 AND directory_id = $2", id, directoryID)
            .first.map(PostgresRows.decodeGroup)
    }

    func users(directoryID: String, offset: Int, limit: Int) async throws -> [StoredUser] {
        try await read(
            "SELECT \(PostgresRows.userColumns) FROM users WHERE directory_id = $1 AND state <> 'deleted' ORDER BY key LIMIT \(limit) OFFSET \(offset)",
            directoryID
        ).map(PostgresRows.decodeUser)
    }

    func groups(directoryID: String, offset: Int, limit: Int) async throws -> [StoredGroup] {
        try await read(
            "SELECT \(PostgresRows.groupColumns) FROM groups WHERE directory_id = $1 ORDER BY key LIMIT \(limit) OFFSET \(offset)",
            directoryID
        ).map(PostgresRows.decodeGroup)
    }

    /// Keyset pages of 1,000 rows, so a scan holds no transaction and no more than a page.
    func scanUsers(directoryID: String, _ body: (StoredUser) throws -> Bool) async throws {
        var after: Int64 = -1
        while true {
            let rows = try await read(
                "SELECT \(PostgresRows.userColumns) FROM users WHERE directory_id = $1 AND state <> 'deleted' AND key > \(after) ORDER BY key LIMIT 1000",
                directoryID)
            // Decoding and the caller's body (rendering, filtering) run off the concurrency pool.
            var stopped = false
            try await ScanThreads.run {
                for row in rows {
                    let user = try PostgresRows.decodeUser(row)
                    if try !body(user) { stopped = true; return }
                    after = Int64(user.record.key)
                }
            }
            if stopped || rows.count < 1000 { return }
        }
    }

    func scanGroups(directoryID: String, _ body: (StoredGroup) throws -> Bool) async throws {
        var after: Int64 = -1
        while true {
            let rows = try await read(
                "SELECT \(PostgresRows.groupColumns) FROM groups WHERE directory_id = $1 AND key > \(after) ORDER BY key LIMIT 1000",
                directoryID)
            // Decoding and the caller's body (rendering, filtering) run off the concurrency pool.
            var stopped = false
            try await ScanThreads.run {
                for row in rows {
                    let group = try PostgresRows.decodeGroup(row)
                    if try !body(group) { stopped = true; return }
                    after = Int64(group.record.key)
                }
            }
            if stopped || rows.count < 1000 { return }
        }
    }

    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event] {
        let columns = "revision, seq, directory_id, kind, user_id, group_id, cause, time"
        let scope = directoryID == nil ? "" : "AND directory_id = $1"
        let arguments = directoryID.map { [$0] } ?? []
        var events = try await read(
            "SELECT \(columns) FROM events WHERE revision > \(Int64(clamping: revision)) \(scope) ORDER BY revision, seq LIMIT \(max(1, limit))",
            arguments
        ).map(PostgresRows.decodeEvent)
        if events.count >= limit, let last = events.last {
            events += try await read(
                "SELECT \(columns) FROM events WHERE revision = \(Int64(last.revision)) AND seq > \(last.seq) \(scope) ORDER BY seq",
                arguments
            ).map(PostgresRows.decodeEvent)
        }
        return events
    }

    func oldestEventRevision() async throws -> UInt64 {
        UInt64(try await read("SELECT coalesce(min(revision), 0) FROM events").first?.decode(Int64.self) ?? 0)
    }

    func audit(directoryID: String?, since: Int64, limit: Int) async throws -> [AuditEntry] {
        let filter = directoryID == nil ? "" : "AND directory_id = $1"
        let rows = try await read(
            """
            SELECT revision, time, directory_id, provider, method, path, status, outcome, detail, duration_us
            FROM audit WHERE time >= \(since) \(filter) ORDER BY id DESC LIMIT \(limit)
            """, directoryID.map { [$0] } ?? [])
        return try rows.reversed().map { row in
            let (revision, time, directory, provider, method, path, status, outcome, detail, duration) = try row.decode(
                (Int64?, Int64, String?, String?, String, String, Int32, String, String, Int64).self)
            return AuditEntry(
                revision: revision.map { UInt64($0) }, time: time, directoryID: directory, provider: provider, method: method,
                path: path, status: Int(status), outcome: outcome, detail: detail, durationMicroseconds: duration)
        }
    }

    /// One query on a pooled connection, all rows collected; text parameters bound as $1…
    func read(_ sql: String, _ arguments: String...) async throws -> [PostgresRow] {
        try await read(sql, arguments)
    }

    func read(_ sql: String, _ arguments: [String]) async throws -> [PostgresRow] {
        var binds = PostgresBindings()
        for argument in arguments { binds.append(argument) }
        do {
            var rows: [PostgresRow] = []
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
                rows.append(row)
            }
            return rows
        } catch let error as PSQLError {
            throw StoreError(.unavailable, "PostgreSQL did not answer a read: \(Self.describe(error))")
        }
    }

    // MARK: Maintenance

    func deleteEvents(throughRevision revision: Int64, olderThan time: Int64) throws -> Int {
        try connectWriter().run("DELETE FROM events WHERE revision <= \(revision) AND time < \(time)", logger: logger)
            .count
    }

    func eventRevision(keepingNewest count: Int) throws -> Int64? {
        try connectWriter().run(
            "SELECT revision FROM events ORDER BY revision DESC, seq DESC LIMIT 1 OFFSET \(count)", logger: logger
        ).first?.decode(Int64.self)
    }

    func pruneChangeLog(throughRevision revision: Int64, olderThan time: Int64) throws -> Int {
        try connectWriter().run(
            "DELETE FROM roster_changelog WHERE revision <= \(revision) AND committed_at < \(time) RETURNING revision",
            logger: logger
        ).count
    }

    func appendAudit(_ entries: [AuditEntry]) throws {
        let connection = try connectWriter()
        try PostgresRows.insertAudits(entries) { sql, binds in _ = try connection.run(sql, binds, logger: logger) }
    }

    func pruneAudit(olderThan time: Int64, limit: Int) throws -> Int {
        let rows = try connectWriter().run(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < \(time) ORDER BY id LIMIT \(limit)) RETURNING id",
            logger: logger)
        return rows.count
    }

    func backup(to path: String) throws {
        throw StoreError(
            .configuration,
            "rosterd does not back up a PostgreSQL store: use the database's own tools (pg_dump \(settings.database), or your provider's snapshots)")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// Where a row callback (run on the connection's event loop, one row after the other, while the
/// writer's thread waits for the query to end) accumulates what it reads.
private final class Sink<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// SQL of the rows in PostgreSQL.
enum PostgresRows {
    static let userColumns =
        "key, id, directory_id, user_name, external_id, display_name, state, version, created_at, modified_at, resource"
    static let groupColumns = "key, id, directory_id, display_name, external_id, version, created_at, modified_at, resource"

    static func decodeUser(_ row: PostgresRow) throws -> StoredUser {
        let (key, id, directoryID, userName, external, display, state, version, created, modified, resource) = try row.decode(
            (Int64, String, String, String, String?, String?, String, Int64, Int64, Int64, String).self)
        let record = UserRecord(
            key: UInt32(truncatingIfNeeded: key), id: id, directoryID: directoryID, userName: userName, externalID: external,
            displayName: display, state: UserState(rawValue: state) ?? .suspended, version: UInt64(version))
        return StoredUser(record: record, resource: try StoredResource.parse(resource), created: created, lastModified: modified)
    }

    static func decodeGroup(_ row: PostgresRow) throws -> StoredGroup {
        let (key, id, directoryID, name, external, version, created, modified, resource) = try row.decode(
            (Int64, String, String, String, String?, Int64, Int64, Int64, String).self)
        let record = GroupRecord(
            key: UInt32(truncatingIfNeeded: key), id: id, directoryID: directoryID, displayName: name, externalID: external,
            version: UInt64(version))
        return StoredGroup(record: record, resource: try StoredResource.parse(resource), created: created, lastModified: modified)
    }

    static func decodeEvent(_ row: PostgresRow) throws -> Event {
        let (revision, seq, directoryID, kind, userID, groupID, cause, time) = try row.decode(
            (Int64, Int32, String, String, String?, String?, String, Int64).self)
        return Event(
            revision: UInt64(revision), seq: UInt32(truncatingIfNeeded: seq), directoryID: directoryID,
            kind: Event.Kind(rawValue: kind) ?? .userUpdated, userID: userID, groupID: groupID,
            cause: Event.Cause(rawValue: cause) ?? .request, time: time)
    }

    /// One revision's rows, change by change (a batch written one request at a time).
    static func persist(_ changes: [StoreChange], events: [Event], now: Int64, _ run: RunStatement) throws {
        for change in changes {
            switch change {
            case .putDirectory(let directory): try putDirectory(directory, run)
            case .deleteDirectory(let id): try deleteDirectories([id], run)
            case .putUser(let user, let resource?): try upsertUsers([(user, resource, now)], run)
            case .putUser(let user, nil): try updateUserStates([(user, now)], run)
            case .putGroup(let group, let resource?): try upsertGroups([(group, resource, now)], run)
            case .putGroup(let group, nil): try updateGroupVersions([(group, now)], run)
            case .deleteGroup(let id): try deleteGroups([id], run)
            case .addMember(let groupKey, let userKey): try addMembers([(groupKey, userKey)], run)
            case .removeMember(let groupKey, let userKey): try removeMembers([(groupKey, userKey)], run)
            }
        }
        try insertEvents(events, run)
    }
}

extension PostgresConnection {
    /// Runs one statement and waits for every row. Only for threads that are not event loops:
    /// the store's writer queue.
    ///
    /// The wait is bounded: a connection that answers nothing for `clientTimeout` (a peer gone
    /// without a word, a session the server ended while this process was frozen) is closed, which
    /// fails the statement, so the writer's queue — and with it every write and the follower of
    /// this instance — can never hang on it.
    @discardableResult
    func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings(), logger: Logger) throws -> [PostgresRow] {
        try waitBounded(query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)).rows
    }

    /// How long a statement may go unanswered before its connection is closed (beyond the
    /// server's own statement_timeout, which a dead peer never sends).
    static let clientTimeout: Duration = .seconds(20)

    func waitBounded<Value: Sendable>(_ future: EventLoopFuture<Value>) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { _ in done.signal() }
        if done.wait(timeout: .now() + .milliseconds(Int(Self.clientTimeout.milliseconds))) == .timedOut {
            let closing: EventLoopFuture<Void> = close()
            closing.whenComplete { _ in }
            _ = done.wait(timeout: .now() + .seconds(5))
            throw StoreError(
                .unavailable,
                "PostgreSQL did not answer within \(Self.clientTimeout.milliseconds / 1000) s; the connection was closed and will be opened anew")
        }
        return try future.wait()
    }
}

// MARK: Fleet view

/// One instance of a fleet as its heartbeat row shows it.
public struct FleetInstance: Sendable, Hashable {
    public var name: String
    public var pid: Int
    public var appliedRevision: UInt64
    public var lastSeenUnixMs: Int64
}

/// The fleet as the database sees it: the head and every instance seen recently.
public struct FleetStatus: Sendable, Hashable {
    public var headRevision: UInt64
    public var instances: [FleetInstance]
}

extension PostgresEngine {
    /// Writes this instance's heartbeat (name, pid, applied revision, time).
    func heartbeat(name: String, pid: Int, appliedRevision: UInt64, startedAt: Int64) async throws {
        var binds = PostgresBindings()
        binds.append(name)
        binds.append(Int32(truncatingIfNeeded: pid))
        binds.append(Int64(clamping: appliedRevision))
        binds.append(Int64(Date().timeIntervalSince1970 * 1000))
        binds.append(startedAt)
        do {
            try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO roster_instances (name, pid, applied_revision, seen_at, started_at) VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, applied_revision = excluded.applied_revision,
                            seen_at = excluded.seen_at, started_at = excluded.started_at
                        """, binds: binds), logger: logger)
        } catch let error as PSQLError {
            throw StoreError(.unavailable, "cannot write this instance's heartbeat: \(Self.describe(error))")
        }
    }

    /// The head and the instances whose heartbeat is younger than `liveWithin`.
    func fleetStatus(liveWithin: Duration) async throws -> FleetStatus {
        let since = Int64(Date().timeIntervalSince1970 * 1000) - liveWithin.milliseconds
        let head = UInt64(try await read("SELECT revision FROM roster_head WHERE id = 1").first?.decode(Int64.self) ?? 0)
        let rows = try await read(
            "SELECT name, pid, applied_revision, seen_at FROM roster_instances WHERE seen_at >= \(since) ORDER BY name")
        let instances = try rows.map { row in
            let (name, pid, applied, seen) = try row.decode((String, Int32, Int64, Int64).self)
            return FleetInstance(name: name, pid: Int(pid), appliedRevision: UInt64(applied), lastSeenUnixMs: seen)
        }
        return FleetStatus(headRevision: head, instances: instances)
    }
}
