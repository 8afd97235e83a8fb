import Dispatch
import Foundation
import GRDB
import Logging
import RosterCore

/// A fleet instance's local copy of the index, in `<data-dir>/fleet-checkpoint.sqlite`: what it
/// needs to start — and serve lookups — while PostgreSQL is unreachable, and to start warm
/// (load locally, then fetch only the revisions after it) when it is reachable.
///
/// It holds the index's fields only (records, memberships, token hashes), not SCIM resources:
/// SCIM reads go to PostgreSQL. It follows the instance's published index: a full copy after
/// every snapshot load, then every revision's row effects (`ChangeLogEntry`), applied on a queue
/// of its own so the writer never waits for it. It may lag the published index by the revisions
/// in that queue; whatever it holds is whole revisions, in order, at the revision it records.
/// `generation` ties it to one database: a checkpoint of another database (recreated, or a
/// different URL) is never loaded.
final class FleetCheckpoint: Sendable {
    let path: String
    private let queue: DatabaseQueue
    private let work = DispatchQueue(label: "roster.fleet.checkpoint")
    private let logger: Logger

    init(path: String, logger: Logger) throws(StoreError) {
        self.path = path
        self.logger = logger
        do {
            var configuration = Configuration()
            // A cache of the database: losing its last writes to a power cut only means fetching
            // them again at the next start.
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try Self.migrator.migrate(queue)
        } catch {
            throw StoreError(.unwritable, "cannot open the fleet checkpoint \(path): \(error); check the data directory")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("checkpoint-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE directories (
                        id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, provider TEXT NOT NULL, policy TEXT NOT NULL,
                        created_at INTEGER NOT NULL, token_hash BLOB, previous_token_hash BLOB);
                    CREATE TABLE users (
                        key INTEGER PRIMARY KEY NOT NULL, id TEXT NOT NULL, directory_id TEXT NOT NULL, user_name TEXT NOT NULL,
                        external_id TEXT, display_name TEXT, state TEXT NOT NULL, version INTEGER NOT NULL);
                    CREATE TABLE groups (
                        key INTEGER PRIMARY KEY NOT NULL, id TEXT NOT NULL, directory_id TEXT NOT NULL,
                        display_name TEXT NOT NULL, external_id TEXT, version INTEGER NOT NULL);
                    CREATE TABLE memberships (
                        group_key INTEGER NOT NULL, user_key INTEGER NOT NULL, PRIMARY KEY (group_key, user_key)) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    // MARK: Reading

    /// What the checkpoint holds: the state, its revision and its database's generation; nil when
    /// it holds nothing yet.
    func load() throws(StoreError) -> (state: LoadedState, generation: String)? {
        do {
            return try queue.read { db -> (state: LoadedState, generation: String)? in
                guard let generation = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'generation'"),
                    let revisionText = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'"),
                    let revision = UInt64(revisionText)
                else { return nil }
                let clock = ContinuousClock()
                let start = clock.now
                // The same tables and columns as the embedded store's: read the same way.
                var records = try SQLiteEngine.readRecords(db, revision: Int64(clamping: revision))
                records.builder.addMemberships(try SQLiteEngine.readMemberships(db))
                let builder = records.builder
                let tokens = records.tokens
                let read = clock.now
                let (index, rejected) = builder.buildReportingRejections()
                if !rejected.isEmpty {
                    throw StoreError(.corrupt, "the fleet checkpoint \(path) is inconsistent: \(rejected.prefix(3).joined(separator: "; "))")
                }
                return (LoadedState(index: index, tokens: tokens, readTime: read - start, buildTime: clock.now - read), generation)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.corrupt, "cannot read the fleet checkpoint \(path): \(error)")
        }
    }

    // MARK: Following the published index

    /// Replaces the whole checkpoint with `index` (after a snapshot of the database was loaded).
    func replace(with index: MembershipIndex, tokens: [String: [[UInt8]]], generation: String) {
        work.async { [self] in
            do {
                try queue.write { db in
                    for table in ["meta", "directories", "users", "groups", "memberships"] {
                        try db.execute(sql: "DELETE FROM \(table)")
                    }
                    for entry in index.allDirectories {
                        let hashes = tokens[entry.directory.id] ?? []
                        try Self.put(entry.directory, db)
                        try db.execute(
                            sql: "UPDATE directories SET token_hash = ?, previous_token_hash = ? WHERE id = ?",
                            arguments: [hashes.first.map { Data($0) }, hashes.dropFirst().first.map { Data($0) }, entry.directory.id])
                    }
                    let insertUser = try db.makeStatement(sql: Self.upsertUser)
                    try index.forEachUserRecord { record in try insertUser.execute(arguments: Self.arguments(record)) }
                    let insertGroup = try db.makeStatement(sql: Self.upsertGroup)
                    let insertMember = try db.makeStatement(sql: "INSERT OR IGNORE INTO memberships (group_key, user_key) VALUES (?, ?)")
                    try index.forEachGroupRecord { record, members in
                        try insertGroup.execute(arguments: Self.arguments(record))
                        for member in members {
                            try insertMember.execute(arguments: [Int64(record.key), Int64(member)])
                        }
                    }
                    try Self.setMeta(revision: index.revision, generation: generation, db)
                }
            } catch {
                logger.warning("fleet checkpoint: writing a full copy failed", metadata: ["fleet.error": "\(error)"])
            }
        }
    }

    /// Applies revisions' row effects (in order; ones at or below the checkpoint's are skipped).
    func apply(_ entries: [ChangeLogEntry]) {
        guard !entries.isEmpty else { return }
        work.async { [self] in
            do {
                try queue.write { db in
                    let current = UInt64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? "") ?? 0
                    var revision = current
                    for entry in entries where entry.revision > current {
                        try Self.apply(entry, db)
                        revision = entry.revision
                    }
                    if revision != current {
                        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'revision'", arguments: [String(revision)])
                    }
                }
            } catch {
                logger.warning("fleet checkpoint: applying revisions failed", metadata: ["fleet.error": "\(error)"])
            }
        }
    }

    /// Waits until every copy and revision handed over so far is written (tests, shutdown).
    func flush() {
        work.sync {}
    }

    private static func apply(_ entry: ChangeLogEntry, _ db: Database) throws {
        for change in entry.changes {
            switch change {
            case .putDirectory(let directory):
                try put(directory, db)
            case .deleteDirectory(let id):
                try db.execute(
                    sql: "DELETE FROM memberships WHERE group_key IN (SELECT key FROM groups WHERE directory_id = ?)", arguments: [id])
                for table in ["users", "groups"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE directory_id = ?", arguments: [id])
                }
                try db.execute(sql: "DELETE FROM directories WHERE id = ?", arguments: [id])
            case .putUser(let record, _):
                try db.execute(sql: upsertUser, arguments: arguments(record))
            case .putGroup(let record, _):
                try db.execute(sql: upsertGroup, arguments: arguments(record))
            case .deleteGroup(let id):
                try db.execute(
                    sql: "DELETE FROM memberships WHERE group_key IN (SELECT key FROM groups WHERE id = ?)", arguments: [id])
                try db.execute(sql: "DELETE FROM groups WHERE id = ?", arguments: [id])
            case .addMember(let groupKey, let userKey):
                try db.execute(
                    sql: "INSERT OR IGNORE INTO memberships (group_key, user_key) VALUES (?, ?)",
                    arguments: [Int64(groupKey), Int64(userKey)])
            case .removeMember(let groupKey, let userKey):
                try db.execute(
                    sql: "DELETE FROM memberships WHERE group_key = ? AND user_key = ?", arguments: [Int64(groupKey), Int64(userKey)])
            }
        }
        for token in entry.tokens {
            switch token {
            case .set(let id, let hash):
                try db.execute(sql: "UPDATE directories SET token_hash = ? WHERE id = ?", arguments: [Data(hash), id])
            case .rotate(let id, let hash):
                try db.execute(
                    sql: "UPDATE directories SET previous_token_hash = token_hash, token_hash = ? WHERE id = ?",
                    arguments: [Data(hash), id])
            }
        }
    }

    private static func put(_ directory: Directory, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO directories (id, name, provider, policy, created_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, policy = excluded.policy
                """,
            arguments: [directory.id, directory.name, directory.provider.rawValue, directory.policy.rawValue, directory.createdAt])
    }

    private static let upsertUser = """
        INSERT OR REPLACE INTO users (key, id, directory_id, user_name, external_id, display_name, state, version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """
    private static let upsertGroup = """
        INSERT OR REPLACE INTO groups (key, id, directory_id, display_name, external_id, version) VALUES (?, ?, ?, ?, ?, ?)
        """

    private static func arguments(_ u: UserRecord) -> StatementArguments {
        [Int64(u.key), u.id, u.directoryID, u.userName, u.externalID, u.displayName, u.state.rawValue, Int64(u.version)]
    }

    private static func arguments(_ g: GroupRecord) -> StatementArguments {
        [Int64(g.key), g.id, g.directoryID, g.displayName, g.externalID, Int64(g.version)]
    }

    private static func setMeta(revision: UInt64, generation: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('revision', ?), ('generation', ?)",
            arguments: [String(revision), generation])
    }
}
