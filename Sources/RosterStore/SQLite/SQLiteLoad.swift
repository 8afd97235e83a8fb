import Dispatch
import Foundation
import GRDB
import RosterCore
import Synchronization

/// Startup recovery: every stored row into a new `MembershipIndex`.
extension SQLiteEngine {
    /// The directories, users and groups in a builder, and the directories' token hashes.
    struct Records: Sendable {
        var revision: Int64
        var builder: MembershipIndexBuilder
        var tokens: [String: [[UInt8]]]
    }

    private static func revision(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? 0
    }

    /// Reads every row into a new index (one pass per table; memberships as integer pairs).
    static func load(_ pool: DatabasePool, path: String) throws(StoreError) -> LoadedState {
        do {
            let clock = ContinuousClock()
            let start = clock.now
            // The records and the memberships are read at the same time, in two read
            // transactions on two connections (reading is single-threaded work, a quarter of the
            // load). Nothing writes while a load runs (at startup the writer does not exist yet;
            // verify runs on the writer's queue; the data-directory lock keeps other daemons
            // out), and every write moves the stored revision, so equal revisions prove both
            // transactions saw the same state. SQLite's snapshot API, which would pin one WAL
            // snapshot for both, is not compiled into the system library.
            let records = Mutex<Result<Records, any Error>?>(nil)
            let memberships = Mutex<Result<(revision: Int64, pairs: [UInt64]), any Error>?>(nil)
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                if part == 0 {
                    let result = Result { try pool.read { db in try readRecords(db) } }
                    records.withLock { $0 = result }
                } else {
                    let result = Result { try pool.read { db in (revision: try revision(db), pairs: try readMemberships(db)) } }
                    memberships.withLock { $0 = result }
                }
            }
            // concurrentPerform returns only after both parts ran.
            guard let recordsResult = records.withLock({ $0 }), let membershipsResult = memberships.withLock({ $0 })
            else { throw StoreError(.io, "recovery of \(path) did not complete") }
            var loaded = try recordsResult.get()
            let read = try membershipsResult.get()
            if read.revision == loaded.revision {
                loaded.builder.addMemberships(read.pairs)
            } else {
                // A write slipped in between: read everything again in one transaction.
                loaded = try pool.read { db in
                    var records = try readRecords(db)
                    records.builder.addMemberships(try readMemberships(db))
                    return records
                }
            }
            let rejectedEarly = loaded.builder.rejectedRows
            if !rejectedEarly.isEmpty {
                throw StoreError(.corrupt, "\(path) holds rows that reference missing parents: \(rejectedEarly.prefix(5).joined(separator: "; "))")
            }
            let built = clock.now
            let (index, rejected) = loaded.builder.buildReportingRejections()
            if !rejected.isEmpty {
                throw StoreError(.corrupt, "\(path) holds rows that reference missing parents: \(rejected.prefix(5).joined(separator: "; "))")
            }
            return LoadedState(index: index, tokens: loaded.tokens, readTime: built - start, buildTime: clock.now - built)
        } catch let error as StoreError {
            throw error
        } catch {
            throw openError(error, path: path)
        }
    }

    private static func readRecords(_ db: Database) throws -> Records {
        try readRecords(db, revision: try revision(db))
    }

    /// The directories (with their token hashes), users and groups of a database with this
    /// schema's tables and columns: the store's own, and a fleet instance's checkpoint.
    static func readRecords(_ db: Database, revision: Int64) throws -> Records {
        let userCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM users") ?? 0
        let groupCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM groups") ?? 0
        var builder = MembershipIndexBuilder(
            revision: UInt64(revision), expectedUsers: userCount, expectedGroups: groupCount)
        var tokens: [String: [[UInt8]]] = [:]
        let directories = try Row.fetchCursor(
            db,
            sql: "SELECT id, name, provider, policy, created_at, token_hash, previous_token_hash FROM directories ORDER BY created_at, id")
        while let row = try directories.next() {
            guard let provider = ProviderKind(rawValue: row[2]), let policy = MembershipPolicy(rawValue: row[3])
            else { throw StoreError(.corrupt, "directory \(row[0] as String) has an unknown provider or policy") }
            builder.add(Directory(id: row[0], name: row[1], provider: provider, policy: policy, createdAt: row[4]))
            tokens[row[0]] = [row[5] as Data?, row[6] as Data?].compactMap { $0.map { Array($0) } }
        }
        let users = try Row.fetchCursor(
            db, sql: "SELECT key, id, directory_id, user_name, external_id, display_name, state, version FROM users")
        while let row = try users.next() {
            guard let state = UserState(rawValue: row[6]) else {
                throw StoreError(.corrupt, "user \(row[1] as String) has an unknown state")
            }
            builder.add(
                UserRecord(
                    key: UInt32(truncatingIfNeeded: row[0] as Int64), id: row[1], directoryID: row[2],
                    userName: row[3], externalID: row[4], displayName: row[5], state: state,
                    version: UInt64(row[7] as Int64)))
        }
        let groups = try Row.fetchCursor(
            db, sql: "SELECT key, id, directory_id, display_name, external_id, version FROM groups")
        while let row = try groups.next() {
            builder.add(
                GroupRecord(
                    key: UInt32(truncatingIfNeeded: row[0] as Int64), id: row[1], directoryID: row[2],
                    displayName: row[3], externalID: row[4], version: UInt64(row[5] as Int64)))
        }
        return Records(revision: revision, builder: builder, tokens: tokens)
    }

    /// Every membership as `group_key << 32 | user_key`: one integer per row, which GRDB's
    /// single-column cursor reads straight from SQLite without a `Row` per membership.
    static func readMemberships(_ db: Database) throws -> [UInt64] {
        var pairs: [UInt64] = []
        let cursor = try Int64.fetchCursor(db, sql: "SELECT (group_key << 32) | user_key FROM memberships")
        while let pair = try cursor.next() { pairs.append(UInt64(bitPattern: pair)) }
        return pairs
    }
}
