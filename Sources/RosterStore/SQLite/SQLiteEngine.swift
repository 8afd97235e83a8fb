import Foundation
import GRDB
import Logging
import RosterCore

/// The embedded engine: one SQLite database (WAL) in the data directory, written by this process
/// alone (the data-directory lock keeps other daemons out), so a batch never meets another
/// writer's revisions.
final class SQLiteEngine: StoreEngine {
    let path: String
    let pool: DatabasePool
    /// Runs WAL checkpoints beside the writer instead of inside its COMMITs (nil: SQLite's own).
    let checkpointer: WALCheckpointer?

    var location: String { path }

    /// Opens (creating if needed) and migrates the database.
    /// - Throws: `.unwritable`, `.corrupt`, `.schemaTooNew`, `.locked`, `.io`, naming the file.
    init(_ configuration: StoreConfiguration, logger: Logger) throws(StoreError) {
        path = configuration.path
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
            let migrator = SQLiteSchema.migrator
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
        if configuration.walCheckpoint == .background {
            do {
                checkpointer = try WALCheckpointer(
                    pool: pool, path: configuration.path,
                    synchronous: configuration.synchronous == .full ? "FULL" : "NORMAL",
                    thresholds: configuration.walThresholds, logger: logger)
            } catch {
                throw Self.openError(error, path: configuration.path)
            }
        } else {
            checkpointer = nil
        }
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

    func load() throws(StoreError) -> LoadedState {
        try Self.load(pool, path: path)
    }

    /// Nothing to do: the pool's connections close with its last reference, which may still be
    /// held by a delayed audit flush or the WAL checkpointer (closing under them would crash).
    func close() {}

    // MARK: Writing

    func writeBatch(after localRevision: UInt64, _ body: (any StoreTransaction, [ChangeLogEntry]) throws -> Void) throws {
        try pool.write { db in try body(Transaction(db: db), []) }
    }

    func failsBatch(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode.primaryResultCode != .SQLITE_CONSTRAINT
    }

    func commitError(_ error: any Error) -> StoreError {
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

    func afterBatch() {
        checkpointer?.betweenBatches()
    }

    func committed(after revision: UInt64, limit: Int) throws -> [ChangeLogEntry] { [] }

    /// One SQLite write transaction.
    struct Transaction: StoreTransaction {
        let db: Database

        func user(directoryID: String, id: String) throws -> StoredUser? {
            try SQLiteRows.user(db, directoryID: directoryID, id: id)
        }

        func group(directoryID: String, id: String) throws -> StoredGroup? {
            try SQLiteRows.group(db, directoryID: directoryID, id: id)
        }

        func inSavepoint(_ body: () throws -> Void) throws {
            try db.inSavepoint {
                try body()
                return .commit
            }
        }

        func persist(_ entry: ChangeLogEntry, events: [Event], now: Int64) throws {
            try SQLiteRows.persist(entry.changes, events: events, now: now, db)
            for token in entry.tokens {
                switch token {
                case .set(let directoryID, let hash):
                    try db.execute(
                        sql: "UPDATE directories SET token_hash = ? WHERE id = ?", arguments: [Data(hash), directoryID])
                case .rotate(let directoryID, let hash):
                    try db.execute(
                        sql: "UPDATE directories SET previous_token_hash = token_hash, token_hash = ? WHERE id = ?",
                        arguments: [Data(hash), directoryID])
                }
            }
        }

        func insertAudit(_ entry: AuditEntry) throws {
            try SQLiteRows.insertAudit(entry, db)
        }

        func setRevision(_ revision: UInt64) throws {
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'revision'", arguments: [Int64(revision)])
        }
    }

    // MARK: Reads

    /// A read on one of the pool's connections, called synchronously (as the store always has):
    /// scans hand each row to a caller's closure, which must not have to be Sendable.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    func user(directoryID: String, id: String) async throws -> StoredUser? {
        try read { db in try SQLiteRows.user(db, directoryID: directoryID, id: id) }
    }

    func group(directoryID: String, id: String) async throws -> StoredGroup? {
        try read { db in try SQLiteRows.group(db, directoryID: directoryID, id: id) }
    }

    func users(directoryID: String, offset: Int, limit: Int) async throws -> [StoredUser] {
        try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(SQLiteRows.userColumns) FROM users WHERE directory_id = ? AND state <> 'deleted' ORDER BY key LIMIT ? OFFSET ?"),
                arguments: [directoryID, limit, offset]
            ).map(SQLiteRows.decodeUser)
        }
    }

    func groups(directoryID: String, offset: Int, limit: Int) async throws -> [StoredGroup] {
        try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(SQLiteRows.groupColumns) FROM groups WHERE directory_id = ? ORDER BY key LIMIT ? OFFSET ?"),
                arguments: [directoryID, limit, offset]
            ).map(SQLiteRows.decodeGroup)
        }
    }

    func scanUsers(directoryID: String, _ body: (StoredUser) throws -> Bool) async throws {
        try await ScanThreads.run { try scanUsersNow(directoryID: directoryID, body) }
    }

    func scanGroups(directoryID: String, _ body: (StoredGroup) throws -> Bool) async throws {
        try await ScanThreads.run { try scanGroupsNow(directoryID: directoryID, body) }
    }

    private func scanUsersNow(directoryID: String, _ body: (StoredUser) throws -> Bool) throws {
        try read { db in
            let cursor = try Row.fetchCursor(
                db,
                sql: "SELECT \(SQLiteRows.userColumns) FROM users WHERE directory_id = ? AND state <> 'deleted' ORDER BY key",
                arguments: [directoryID])
            while let row = try cursor.next() {
                if try !body(SQLiteRows.decodeUser(row)) { return }
            }
        }
    }

    private func scanGroupsNow(directoryID: String, _ body: (StoredGroup) throws -> Bool) throws {
        try read { db in
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT \(SQLiteRows.groupColumns) FROM groups WHERE directory_id = ? ORDER BY key",
                arguments: [directoryID])
            while let row = try cursor.next() {
                if try !body(SQLiteRows.decodeGroup(row)) { return }
            }
        }
    }

    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event] {
        try read { db in
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

    func oldestEventRevision() async throws -> UInt64 {
        try read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT min(revision) FROM events") ?? 0) }
    }

    func audit(directoryID: String?, since: Int64, limit: Int) async throws -> [AuditEntry] {
        try read { db in
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

    // MARK: Maintenance

    func deleteEvents(throughRevision revision: Int64, olderThan time: Int64) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM events WHERE revision <= ? AND time < ?", arguments: [revision, time])
            return db.changesCount
        }
    }

    func eventRevision(keepingNewest count: Int) throws -> Int64? {
        try pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT revision FROM events ORDER BY revision DESC, seq DESC LIMIT 1 OFFSET ?",
                arguments: [count])
        }
    }

    /// The embedded store keeps no change log (no other instance follows it).
    func pruneChangeLog(throughRevision revision: Int64, olderThan time: Int64) throws -> Int { 0 }

    func appendAudit(_ entries: [AuditEntry]) throws {
        try pool.write { db in
            for entry in entries { try SQLiteRows.insertAudit(entry, db) }
        }
    }

    func pruneAudit(olderThan time: Int64, limit: Int) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? ORDER BY id LIMIT ?)",
                arguments: [time, limit])
            return db.changesCount
        }
    }

    func backup(to path: String) throws {
        do {
            let destination = try DatabaseQueue(path: path)
            try pool.backup(to: destination)
            try destination.close()
        } catch {
            throw StoreError(.io, "backup to \(path) failed: \(error)")
        }
    }
}

/// SQL of the rows, shared by the writer (inside its transaction) and readers.
enum SQLiteRows {
    static let userColumns =
        "key, id, directory_id, user_name, external_id, display_name, state, version, created_at, modified_at, resource"
    static let groupColumns =
        "key, id, directory_id, display_name, external_id, version, created_at, modified_at, resource"

    static func user(_ db: Database, directoryID: String, id: String) throws -> StoredUser? {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT \(userColumns) FROM users WHERE id = ? AND directory_id = ? AND state <> 'deleted'"),
            arguments: [id, directoryID])
        return try row.map(decodeUser)
    }

    static func group(_ db: Database, directoryID: String, id: String) throws -> StoredGroup? {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(groupColumns) FROM groups WHERE id = ? AND directory_id = ?"),
            arguments: [id, directoryID])
        return try row.map(decodeGroup)
    }

    static func decodeUser(_ row: Row) throws -> StoredUser {
        let state = UserState(rawValue: row[6]) ?? .suspended
        let record = UserRecord(
            key: UInt32(truncatingIfNeeded: row[0] as Int64), id: row[1], directoryID: row[2], userName: row[3],
            externalID: row[4], displayName: row[5], state: state, version: UInt64(row[7] as Int64))
        return StoredUser(record: record, resource: try StoredResource.parse(row[10]), created: row[8], lastModified: row[9])
    }

    static func decodeGroup(_ row: Row) throws -> StoredGroup {
        let record = GroupRecord(
            key: UInt32(truncatingIfNeeded: row[0] as Int64), id: row[1], directoryID: row[2], displayName: row[3],
            externalID: row[4], version: UInt64(row[5] as Int64))
        return StoredGroup(record: record, resource: try StoredResource.parse(row[8]), created: row[6], lastModified: row[7])
    }

    /// Writes the row-level changes and events of one revision.
    static func persist(_ changes: [StoreChange], events: [Event], now: Int64, _ db: Database) throws {
        for change in changes {
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
        for event in events {
            try insertEvent.execute(arguments: [
                Int64(event.revision), Int64(event.seq), event.directoryID, event.kind.rawValue, event.userID,
                event.groupID, event.cause.rawValue, event.time,
            ])
        }
    }

    /// The one INSERT of an audit row, for writes (in their savepoint) and for buffered refusals.
    static func insertAudit(_ e: AuditEntry, _ db: Database) throws {
        let e = e.bounded()
        try db.cachedStatement(
            sql: """
                INSERT INTO audit (revision, time, directory_id, provider, method, path, status, outcome, detail, duration_us)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            e.revision.map { Int64($0) }, e.time, e.directoryID, e.provider, e.method, e.path, e.status, e.outcome,
            e.detail, e.durationMicroseconds,
        ])
    }
}

/// The stored SCIM resource text, as both engines keep it.
enum StoredResource {
    static func parse(_ text: String) throws -> JSONObject {
        do {
            guard case .object(let object) = try JSONParser.parse(text) else {
                throw StoreError(.corrupt, "a stored resource is not a JSON object")
            }
            return object
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.corrupt, "a stored resource is not valid JSON: \(error)")
        }
    }
}

extension AuditEntry {
    /// Longest path and detail stored in an audit row, in UTF-8 bytes; longer ones are cut (with
    /// "…"), so a row's size does not depend on what a client sent.
    static let maxPathBytes = 512
    static let maxDetailBytes = 2048

    /// The entry with every client-controlled text cut to its stored bound.
    func bounded() -> AuditEntry {
        var copy = self
        copy.directoryID = directoryID?.truncated(toUTF8Bytes: 64)
        copy.method = method.truncated(toUTF8Bytes: 16)
        copy.path = path.truncated(toUTF8Bytes: Self.maxPathBytes)
        copy.detail = detail.truncated(toUTF8Bytes: Self.maxDetailBytes)
        return copy
    }
}
