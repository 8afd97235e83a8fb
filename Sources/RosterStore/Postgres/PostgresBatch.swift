import Foundation
import Logging
import NIOCore
import PostgresNIO
import RosterCore

/// The rows of one write batch, held until the batch's requests are all prepared and then written
/// in a handful of statements.
///
/// Every statement on the writer's connection is a network round trip taken while this instance
/// holds the fleet's head lock, so the lock's hold time — and with it the fleet's write rate — is
/// set by how many statements a batch runs. Written one request at a time, a user create took
/// seven (savepoint, row, events, change log, release, audit, read back); held here, a batch of
/// any size takes about ten in all: each table gets one multi-row statement.
///
/// The rules already decided everything against the index, which is current under the lock, so
/// the rows are final; what the batch must keep is what a reader inside it sees (`user`/`group`
/// answer from here before the database) and the net effect of several changes to one row.
/// Written together, rows can still collide on a unique index mid-statement where one request at
/// a time would not (a user renamed and another created with the old name in the same batch):
/// the engine then rolls back and writes the batch again one request at a time
/// (`PostgresEngine.writeBatch`).
final class PendingBatch {
    private struct UserRow {
        var record: UserRecord
        /// nil: only state and version changed (`putUser(_, resource: nil)`).
        var resource: JSONObject?
        /// Known when the user was created in this batch or read from the database in it.
        var created: Int64?
        var modified: Int64
    }

    private struct GroupRow {
        var record: GroupRecord
        var resource: JSONObject?
        var created: Int64?
        var modified: Int64
    }

    private struct MemberPair: Hashable {
        var group: UInt32
        var user: UInt32
    }

    /// What the batch persisted, in order: the source of everything below (rebuilt from it when
    /// a savepoint is undone).
    private var entries: [(entry: ChangeLogEntry, events: [Event], now: Int64)] = []
    private var audits: [AuditEntry] = []
    private(set) var revision: UInt64?

    // Net effect of `entries`, per row.
    private var directories: [String: Directory] = [:]
    private var directoryOrder: [String] = []
    private var deletedDirectories: [String] = []
    private var tokens: [TokenChange] = []
    private var users: [UInt32: UserRow] = [:]
    private var userKeys: [String: UInt32] = [:]
    private var groups: [UInt32: GroupRow] = [:]
    private var groupKeys: [String: UInt32] = [:]
    private var deletedGroups: [String] = []
    /// Per pair: whether it existed before the batch (its first change tells: an add means it did
    /// not), and whether it exists after.
    private var members: [MemberPair: (before: Bool, after: Bool)] = [:]
    private var memberOrder: [MemberPair] = []

    /// Rows read from the database during the batch (nil: not there, or deleted): nothing is
    /// written to it before the end, so they stay what the batch started from.
    private var fetchedUsers: [String: StoredUser?] = [:]
    private var fetchedGroups: [String: StoredGroup?] = [:]

    var isEmpty: Bool { entries.isEmpty && audits.isEmpty && revision == nil }

    private static func name(_ directoryID: String, _ id: String) -> String { directoryID + "\u{0}" + id }

    // MARK: Collecting

    func persist(_ entry: ChangeLogEntry, events: [Event], now: Int64) {
        entries.append((entry, events, now))
        apply(entry, events: events, now: now)
    }

    func insertAudit(_ entry: AuditEntry) { audits.append(entry) }

    func setRevision(_ revision: UInt64) { self.revision = revision }

    /// Runs `body`; when it throws, everything it persisted or audited is forgotten (the
    /// contract of `StoreTransaction.inSavepoint`).
    func inSavepoint(_ body: () throws -> Void) throws {
        let mark = (entries: entries.count, audits: audits.count, revision: revision)
        do {
            try body()
        } catch {
            if entries.count != mark.entries {
                entries.removeSubrange(mark.entries...)
                rebuild()
            }
            audits.removeSubrange(mark.audits...)
            revision = mark.revision
            throw error
        }
    }

    private func rebuild() {
        directories = [:]
        directoryOrder = []
        deletedDirectories = []
        tokens = []
        users = [:]
        userKeys = [:]
        groups = [:]
        groupKeys = [:]
        deletedGroups = []
        members = [:]
        memberOrder = []
        for (entry, events, now) in entries { apply(entry, events: events, now: now) }
    }

    private func apply(_ entry: ChangeLogEntry, events: [Event], now: Int64) {
        for change in entry.changes {
            switch change {
            case .putDirectory(let directory):
                if directories.updateValue(directory, forKey: directory.id) == nil { directoryOrder.append(directory.id) }
            case .deleteDirectory(let id):
                deletedDirectories.append(id)
            case .putUser(let record, let resource):
                let name = Self.name(record.directoryID, record.id)
                let createdHere = events.contains { $0.kind == .userCreated && $0.userID == record.id }
                var row = users[record.key] ?? UserRow(
                    record: record, resource: nil,
                    created: createdHere ? now : (fetchedUsers[name] ?? nil)?.created, modified: now)
                row.record = record
                row.modified = now
                if let resource { row.resource = resource }
                users[record.key] = row
                userKeys[name] = record.key
            case .putGroup(let record, let resource):
                let name = Self.name(record.directoryID, record.id)
                let createdHere = events.contains { $0.kind == .groupCreated && $0.groupID == record.id }
                var row = groups[record.key] ?? GroupRow(
                    record: record, resource: nil,
                    created: createdHere ? now : (fetchedGroups[name] ?? nil)?.created, modified: now)
                row.record = record
                row.modified = now
                if let resource { row.resource = resource }
                groups[record.key] = row
                groupKeys[name] = record.key
            case .deleteGroup(let id):
                deletedGroups.append(id)
                // A group created and deleted within the batch is never written, nor its members
                // (which would then name a group that is not there); one that existed is deleted
                // at the end, and its memberships with it.
                if let key = groups.first(where: { $0.value.record.id == id })?.key, let row = groups[key] {
                    groupKeys[Self.name(row.record.directoryID, id)] = nil
                    groups[key] = nil
                    memberOrder.removeAll { $0.group == key }
                    for pair in members.keys where pair.group == key { members[pair] = nil }
                }
            case .addMember(let groupKey, let userKey):
                setMember(MemberPair(group: groupKey, user: userKey), present: true)
            case .removeMember(let groupKey, let userKey):
                setMember(MemberPair(group: groupKey, user: userKey), present: false)
            }
        }
        tokens += entry.tokens
    }

    private func setMember(_ pair: MemberPair, present: Bool) {
        if let known = members[pair] {
            members[pair] = (known.before, present)
        } else {
            members[pair] = (!present, present)
            memberOrder.append(pair)
        }
    }

    // MARK: Reading inside the batch

    /// The live user as the batch leaves it; `fetch` reads the database (what the batch started from).
    func user(directoryID: String, id: String, fetch: () throws -> StoredUser?) throws -> StoredUser? {
        let name = Self.name(directoryID, id)
        if deletedDirectories.contains(directoryID) { return nil }
        guard let key = userKeys[name], let row = users[key] else { return try fetched(name, fetch) }
        if row.record.state == .deleted { return nil }
        var base: StoredUser?
        if row.resource == nil || row.created == nil { base = try fetched(name, fetch) }
        return StoredUser(
            record: row.record, resource: row.resource ?? base?.resource ?? [:],
            created: row.created ?? base?.created ?? row.modified, lastModified: row.modified)
    }

    func group(directoryID: String, id: String, fetch: () throws -> StoredGroup?) throws -> StoredGroup? {
        let name = Self.name(directoryID, id)
        if deletedDirectories.contains(directoryID) || deletedGroups.contains(id) { return nil }
        guard let key = groupKeys[name], let row = groups[key] else { return try fetchedGroup(name, fetch) }
        var base: StoredGroup?
        if row.resource == nil || row.created == nil { base = try fetchedGroup(name, fetch) }
        return StoredGroup(
            record: row.record, resource: row.resource ?? base?.resource ?? [:],
            created: row.created ?? base?.created ?? row.modified, lastModified: row.modified)
    }

    private func fetched(_ name: String, _ fetch: () throws -> StoredUser?) throws -> StoredUser? {
        if let known = fetchedUsers[name] { return known }
        let user = try fetch()
        fetchedUsers[name] = .some(user)
        return user
    }

    private func fetchedGroup(_ name: String, _ fetch: () throws -> StoredGroup?) throws -> StoredGroup? {
        if let known = fetchedGroups[name] { return known }
        let group = try fetch()
        fetchedGroups[name] = .some(group)
        return group
    }

    // MARK: Writing

    /// Writes everything, in an order the foreign keys accept: directories and tokens, users and
    /// groups, memberships, then deletions (which cascade), events, change log, audit, the head.
    func flush(_ connection: PostgresConnection, logger: Logger) throws {
        let run = { (sql: String, binds: PostgresBindings) throws in _ = try connection.run(sql, binds, logger: logger) }
        for id in directoryOrder {
            if let directory = directories[id] { try PostgresRows.putDirectory(directory, run) }
        }
        for token in tokens { try PostgresRows.apply(token, run) }

        let userRows = users.values.sorted { $0.record.key < $1.record.key }
        try PostgresRows.updateUserStates(
            userRows.filter { $0.resource == nil }.map { ($0.record, $0.modified) }, run)
        try PostgresRows.upsertUsers(
            userRows.compactMap { row in row.resource.map { (row.record, $0, row.modified) } }, run)
        let groupRows = groups.values.sorted { $0.record.key < $1.record.key }
        try PostgresRows.updateGroupVersions(
            groupRows.filter { $0.resource == nil }.map { ($0.record, $0.modified) }, run)
        try PostgresRows.upsertGroups(
            groupRows.compactMap { row in row.resource.map { (row.record, $0, row.modified) } }, run)

        var removed: [(UInt32, UInt32)] = []
        var added: [(UInt32, UInt32)] = []
        for pair in memberOrder {
            guard let state = members[pair], state.before != state.after else { continue }
            if state.after { added.append((pair.group, pair.user)) } else { removed.append((pair.group, pair.user)) }
        }
        try PostgresRows.removeMembers(removed, run)
        try PostgresRows.addMembers(added, run)
        try PostgresRows.deleteGroups(deletedGroups, run)
        try PostgresRows.deleteDirectories(deletedDirectories, run)

        try PostgresRows.insertEvents(entries.flatMap(\.events), run)
        try PostgresRows.insertChangeLog(entries.map(\.entry), run)
        try PostgresRows.insertAudits(audits, run)
        if let revision { try PostgresRows.advanceHead(to: revision, run) }
    }
}

/// Runs one statement on the writer's connection.
typealias RunStatement = (String, PostgresBindings) throws -> Void

/// The rows' SQL, each for any number of rows (one statement per chunk), used by batches written
/// together (`PendingBatch`) and one request at a time (`PostgresRows.persist`) alike.
extension PostgresRows {
    /// Rows per statement: PostgreSQL takes at most 65,535 parameters in one.
    private static func chunks<T>(_ rows: [T], parameters: Int) -> [ArraySlice<T>] {
        let size = max(1, 60_000 / max(1, parameters))
        return stride(from: 0, to: rows.count, by: size).map { rows[$0..<min($0 + size, rows.count)] }
    }

    /// "($1, $2, …), (…)" for `count` rows of `columns` parameters each: `template` is one row
    /// with its own parameters numbered from $1, renumbered for each row in one pass.
    static func values(rows count: Int, columns: Int, template: String) -> String {
        var text = ""
        text.reserveCapacity(count * (template.utf8.count + 8))
        for row in 0..<count {
            if row > 0 { text += ", " }
            var scanner = template.unicodeScalars[...]
            while let scalar = scanner.popFirst() {
                guard scalar == "$" else {
                    text.unicodeScalars.append(scalar)
                    continue
                }
                var number = 0
                while let digit = scanner.first, ("0"..."9").contains(digit) {
                    number = number * 10 + Int(digit.value - 48)
                    scanner.removeFirst()
                }
                text += "$\(row * columns + number)"
            }
        }
        return text
    }

    static func putDirectory(_ d: Directory, _ run: RunStatement) throws {
        var binds = PostgresBindings()
        binds.append(d.id)
        binds.append(d.name)
        binds.append(d.provider.rawValue)
        binds.append(d.policy.rawValue)
        binds.append(d.createdAt)
        try run(
            """
            INSERT INTO directories (id, name, provider, policy, created_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider, policy = excluded.policy
            """, binds)
    }

    static func apply(_ token: TokenChange, _ run: RunStatement) throws {
        var binds = PostgresBindings()
        switch token {
        case .set(let directoryID, let hash):
            binds.append(ByteBuffer(bytes: hash))
            binds.append(directoryID)
            try run("UPDATE directories SET token_hash = $1 WHERE id = $2", binds)
        case .rotate(let directoryID, let hash):
            binds.append(ByteBuffer(bytes: hash))
            binds.append(directoryID)
            try run("UPDATE directories SET previous_token_hash = token_hash, token_hash = $1 WHERE id = $2", binds)
        }
    }

    static func upsertUsers(_ rows: [(UserRecord, JSONObject, Int64)], _ run: RunStatement) throws {
        for chunk in chunks(rows, parameters: 11) {
            var binds = PostgresBindings(capacity: chunk.count * 11)
            for (u, resource, now) in chunk {
                binds.append(Int64(u.key))
                binds.append(u.id)
                binds.append(u.directoryID)
                binds.append(u.userName)
                binds.append(u.userName.lowercased())
                binds.append(u.externalID)
                binds.append(u.displayName)
                binds.append(u.state.rawValue)
                binds.append(Int64(u.version))
                binds.append(now)
                binds.append(JSONSerializer.serializeToString(.object(resource)))
            }
            try run(
                """
                INSERT INTO users (key, id, directory_id, user_name, user_name_lower, external_id, display_name,
                                   state, version, created_at, modified_at, resource)
                VALUES \(values(rows: chunk.count, columns: 11, template: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)"))
                ON CONFLICT (key) DO UPDATE SET user_name = excluded.user_name,
                    user_name_lower = excluded.user_name_lower, external_id = excluded.external_id,
                    display_name = excluded.display_name, state = excluded.state, version = excluded.version,
                    modified_at = excluded.modified_at, resource = excluded.resource
                """, binds)
        }
    }

    static func updateUserStates(_ rows: [(UserRecord, Int64)], _ run: RunStatement) throws {
        for chunk in chunks(rows, parameters: 4) {
            var binds = PostgresBindings(capacity: chunk.count * 4)
            for (u, now) in chunk {
                binds.append(Int64(u.key))
                binds.append(u.state.rawValue)
                binds.append(Int64(u.version))
                binds.append(now)
            }
            try run(
                """
                UPDATE users SET state = v.state, version = v.version, modified_at = v.modified_at
                FROM (VALUES \(values(rows: chunk.count, columns: 4, template: "($1::bigint, $2::text, $3::bigint, $4::bigint)")))
                    AS v (key, state, version, modified_at)
                WHERE users.key = v.key
                """, binds)
        }
    }

    static func upsertGroups(_ rows: [(GroupRecord, JSONObject, Int64)], _ run: RunStatement) throws {
        for chunk in chunks(rows, parameters: 9) {
            var binds = PostgresBindings(capacity: chunk.count * 9)
            for (g, resource, now) in chunk {
                binds.append(Int64(g.key))
                binds.append(g.id)
                binds.append(g.directoryID)
                binds.append(g.displayName)
                binds.append(g.displayName.lowercased())
                binds.append(g.externalID)
                binds.append(Int64(g.version))
                binds.append(now)
                binds.append(JSONSerializer.serializeToString(.object(resource)))
            }
            try run(
                """
                INSERT INTO groups (key, id, directory_id, display_name, display_name_lower, external_id,
                                    version, created_at, modified_at, resource)
                VALUES \(values(rows: chunk.count, columns: 9, template: "($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"))
                ON CONFLICT (key) DO UPDATE SET display_name = excluded.display_name,
                    display_name_lower = excluded.display_name_lower, external_id = excluded.external_id,
                    version = excluded.version, modified_at = excluded.modified_at, resource = excluded.resource
                """, binds)
        }
    }

    static func updateGroupVersions(_ rows: [(GroupRecord, Int64)], _ run: RunStatement) throws {
        for chunk in chunks(rows, parameters: 3) {
            var binds = PostgresBindings(capacity: chunk.count * 3)
            for (g, now) in chunk {
                binds.append(Int64(g.key))
                binds.append(Int64(g.version))
                binds.append(now)
            }
            try run(
                """
                UPDATE groups SET version = v.version, modified_at = v.modified_at
                FROM (VALUES \(values(rows: chunk.count, columns: 3, template: "($1::bigint, $2::bigint, $3::bigint)")))
                    AS v (key, version, modified_at)
                WHERE groups.key = v.key
                """, binds)
        }
    }

    /// Keys are integers the index assigned: written inline, 5,000 pairs a statement.
    static func addMembers(_ pairs: [(UInt32, UInt32)], _ run: RunStatement) throws {
        for chunk in chunks(pairs, parameters: 12) {
            try run(
                "INSERT INTO memberships (group_key, user_key) VALUES " + chunk.map { "(\($0.0), \($0.1))" }.joined(separator: ", "),
                PostgresBindings())
        }
    }

    static func removeMembers(_ pairs: [(UInt32, UInt32)], _ run: RunStatement) throws {
        for chunk in chunks(pairs, parameters: 12) {
            try run(
                "DELETE FROM memberships WHERE (group_key, user_key) IN (VALUES "
                    + chunk.map { "(\($0.0)::bigint, \($0.1)::bigint)" }.joined(separator: ", ") + ")",
                PostgresBindings())
        }
    }

    static func deleteGroups(_ ids: [String], _ run: RunStatement) throws {
        guard !ids.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(ids)
        try run("DELETE FROM groups WHERE id = ANY($1)", binds)
    }

    static func deleteDirectories(_ ids: [String], _ run: RunStatement) throws {
        guard !ids.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(ids)
        try run("DELETE FROM directories WHERE id = ANY($1)", binds)
    }

    /// Events in as few statements as the parameter limit allows (a group's replacement can emit
    /// thousands in one revision).
    static func insertEvents(_ events: [Event], _ run: RunStatement) throws {
        for chunk in chunks(events, parameters: 8) {
            var binds = PostgresBindings(capacity: chunk.count * 8)
            for event in chunk {
                binds.append(Int64(event.revision))
                binds.append(Int32(truncatingIfNeeded: event.seq))
                binds.append(event.directoryID)
                binds.append(event.kind.rawValue)
                binds.append(event.userID)
                binds.append(event.groupID)
                binds.append(event.cause.rawValue)
                binds.append(event.time)
            }
            try run(
                "INSERT INTO events (revision, seq, directory_id, kind, user_id, group_id, cause, time) VALUES "
                    + values(rows: chunk.count, columns: 8, template: "($1, $2, $3, $4, $5, $6, $7, $8)"), binds)
        }
    }

    /// Change-log entries, stamped with the server's clock (close to the COMMIT that follows;
    /// followers measure commit-to-applied against it: one clock for the whole fleet).
    static func insertChangeLog(_ entries: [ChangeLogEntry], _ run: RunStatement) throws {
        for chunk in chunks(entries, parameters: 2) {
            var binds = PostgresBindings(capacity: chunk.count * 2)
            for entry in chunk {
                binds.append(Int64(entry.revision))
                binds.append(ChangeLogCodec.encode(entry))
            }
            try run(
                "INSERT INTO roster_changelog (revision, payload, committed_at) VALUES "
                    + values(
                        rows: chunk.count, columns: 2,
                        template: "($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"), binds)
        }
    }

    static func insertAudits(_ entries: [AuditEntry], _ run: RunStatement) throws {
        for chunk in chunks(entries, parameters: 10) {
            var binds = PostgresBindings(capacity: chunk.count * 10)
            for entry in chunk {
                let e = entry.bounded()
                binds.append(e.revision.map { Int64($0) })
                binds.append(e.time)
                binds.append(e.directoryID)
                binds.append(e.provider)
                binds.append(e.method)
                binds.append(e.path)
                binds.append(Int32(clamping: e.status))
                binds.append(e.outcome)
                binds.append(e.detail)
                binds.append(e.durationMicroseconds)
            }
            try run(
                """
                INSERT INTO audit (revision, time, directory_id, provider, method, path, status, outcome, detail, duration_us)
                VALUES \(values(rows: chunk.count, columns: 10, template: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                """, binds)
        }
    }

    /// Advances the head and wakes every follower (the NOTIFY is delivered at COMMIT), in one
    /// statement.
    static func advanceHead(to revision: UInt64, _ run: RunStatement) throws {
        try run(
            """
            WITH head AS (UPDATE roster_head SET revision = \(Int64(revision)) WHERE id = 1 RETURNING revision)
            SELECT pg_notify('\(PostgresEngine.channel)', revision::text) FROM head
            """, PostgresBindings())
    }
}
