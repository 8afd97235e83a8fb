import RosterCore

/// What a write request sees while it is prepared inside the writer's transaction: the index
/// and the stored resources exactly as the previous request in the same batch left them.
/// Reading here and writing in the same transaction is what makes a PATCH atomic.
public struct WriteContext {
    /// The index before this request.
    public let index: MembershipIndex
    /// The time this batch is written, in milliseconds since the Unix epoch.
    public let now: Int64
    let transaction: any StoreTransaction

    /// A live (not deleted) user of the directory, or nil.
    public func user(directoryID: String, id: String) throws -> StoredUser? {
        try transaction.user(directoryID: directoryID, id: id)
    }

    public func group(directoryID: String, id: String) throws -> StoredGroup? {
        try transaction.group(directoryID: directoryID, id: id)
    }
}

/// A write for the single writer: a closure that turns the request into a `Mutation` given the
/// current state, plus what the audit trail should record.
public struct WriteRequest: Sendable {
    public var directoryID: String?
    public var audit: AuditInfo
    public var prepare: @Sendable (WriteContext) throws -> Mutation
    /// Token hashes the write changes (admin calls), written and replicated with its revision.
    var tokens: [TokenChange] = []

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
