import Foundation
import GRDB
import RosterCore

/// Startup recovery: every stored row into a new `MembershipIndex`.
extension RosterStore {
    /// How long each phase of a load took (logged at startup).
    struct LoadTiming: Sendable {
        var read: Duration = .zero
        var build: Duration = .zero
    }

    /// Reads every row into a new index (one pass per table; memberships as integer pairs).
    static func load(_ pool: DatabasePool, path: String) throws(StoreError) -> (MembershipIndex, [String: [[UInt8]]]) {
        let (index, tokens, _) = try loadTimed(pool, path: path)
        return (index, tokens)
    }

    static func loadTimed(_ pool: DatabasePool, path: String) throws(StoreError)
        -> (MembershipIndex, [String: [[UInt8]]], LoadTiming)
    {
        do {
            return try pool.read { db in
                let clock = ContinuousClock()
                let start = clock.now
                var timing = LoadTiming()
                let revision = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? 0
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
                // One integer per row (group key in the high half): GRDB's single-column cursor
                // reads it straight from SQLite, without a Row per membership.
                let memberships = try Int64.fetchCursor(db, sql: "SELECT (group_key << 32) | user_key FROM memberships")
                while let pair = try memberships.next() {
                    builder.addMembership(
                        groupKey: UInt32(truncatingIfNeeded: pair >> 32), userKey: UInt32(truncatingIfNeeded: pair))
                }
                let rejectedEarly = builder.rejectedRows
                if !rejectedEarly.isEmpty {
                    throw StoreError(.corrupt, "\(path) holds rows that reference missing parents: \(rejectedEarly.prefix(5).joined(separator: "; "))")
                }
                let built = clock.now
                timing.read = built - start
                let (index, rejected) = builder.buildReportingRejections()
                if !rejected.isEmpty {
                    throw StoreError(.corrupt, "\(path) holds rows that reference missing parents: \(rejected.prefix(5).joined(separator: "; "))")
                }
                timing.build = clock.now - built
                return (index, tokens, timing)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw openError(error, path: path)
        }
    }
}
