import GRDB
import RosterCore

/// What a write request sees while it is prepared inside the writer's transaction: the index
/// and the stored resources exactly as the previous request in the same batch left them.
/// Reading here and writing in the same transaction is what makes a PATCH atomic.
public struct WriteContext {
    /// The index before this request.
    public let index: MembershipIndex
    /// The time this batch is written, in milliseconds since the Unix epoch.
    public let now: Int64
    let db: Database

    /// A live (not deleted) user of the directory, or nil.
    public func user(directoryID: String, id: String) throws -> StoredUser? {
        try StoreReads.user(db, directoryID: directoryID, id: id)
    }

    public func group(directoryID: String, id: String) throws -> StoredGroup? {
        try StoreReads.group(db, directoryID: directoryID, id: id)
    }
}

/// A write for the single writer: a closure that turns the request into a `Mutation` given the
/// current state, plus what the audit trail should record.
public struct WriteRequest: Sendable {
    public var directoryID: String?
    public var audit: AuditInfo
    public var prepare: @Sendable (WriteContext) throws -> Mutation
    /// Extra rows written in the same savepoint (token hashes for admin calls).
    var persistExtra: (@Sendable (Database, Applied) throws -> Void)?
    /// Runs after the commit, before the caller is answered (in-memory caches).
    var afterCommit: (@Sendable (Applied) -> Void)?

    public init(
        directoryID: String?, audit: AuditInfo, prepare: @escaping @Sendable (WriteContext) throws -> Mutation
    ) {
        self.directoryID = directoryID
        self.audit = audit
        self.prepare = prepare
    }
}

/// What a committed write did, and the resource it produced (for the HTTP response).
public struct WriteOutcome: Sendable {
    public var applied: Applied
    public var revision: UInt64 { applied.revision }
    public var user: StoredUser?
    public var group: StoredGroup?
}

/// SQL reads shared by the writer (inside its transaction) and readers.
enum StoreReads {
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
        return StoredUser(record: record, resource: try parseResource(row[10]), created: row[8], lastModified: row[9])
    }

    static func decodeGroup(_ row: Row) throws -> StoredGroup {
        let record = GroupRecord(
            key: UInt32(truncatingIfNeeded: row[0] as Int64), id: row[1], directoryID: row[2], displayName: row[3],
            externalID: row[4], version: UInt64(row[5] as Int64))
        return StoredGroup(record: record, resource: try parseResource(row[8]), created: row[6], lastModified: row[7])
    }

    static func parseResource(_ text: String) throws -> JSONObject {
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
