import RosterCore

/// A user as stored: the indexed fields, the SCIM resource, and its timestamps.
public struct StoredUser: Sendable, Hashable {
    public var record: UserRecord
    /// The SCIM attributes as provided (no `id`, `meta` or `password`).
    public var resource: JSONObject
    /// Milliseconds since the Unix epoch.
    public var created: Int64
    public var lastModified: Int64
}

/// A group as stored (members are in the index, not here).
public struct StoredGroup: Sendable, Hashable {
    public var record: GroupRecord
    public var resource: JSONObject
    public var created: Int64
    public var lastModified: Int64
}

/// Who asked for a write, for the audit trail. Never holds tokens or passwords.
public struct AuditInfo: Sendable {
    public var method: String
    public var path: String
    public var provider: String?
    /// The HTTP status a successful write answers with (201, 200, 204).
    public var successStatus: Int
    /// The HTTP status a failure answers with (the SCIM layer's mapping).
    public var failureStatus: @Sendable (any Error) -> Int
    public var startedAt: ContinuousClock.Instant

    public init(
        method: String, path: String, provider: String? = nil, successStatus: Int = 200,
        failureStatus: @escaping @Sendable (any Error) -> Int = { _ in 400 },
        startedAt: ContinuousClock.Instant = .now
    ) {
        self.method = method
        self.path = path
        self.provider = provider
        self.successStatus = successStatus
        self.failureStatus = failureStatus
        self.startedAt = startedAt
    }
}

/// One row of the audit trail.
public struct AuditEntry: Sendable, Hashable {
    public var revision: UInt64?
    public var time: Int64
    public var directoryID: String?
    public var provider: String?
    public var method: String
    public var path: String
    public var status: Int
    public var outcome: String
    public var detail: String
    public var durationMicroseconds: Int64

    public init(
        revision: UInt64?, time: Int64, directoryID: String?, provider: String?, method: String, path: String,
        status: Int, outcome: String, detail: String, durationMicroseconds: Int64
    ) {
        self.revision = revision
        self.time = time
        self.directoryID = directoryID
        self.provider = provider
        self.method = method
        self.path = path
        self.status = status
        self.outcome = outcome
        self.detail = detail
        self.durationMicroseconds = durationMicroseconds
    }
}

/// What `verify` found.
public struct VerifyReport: Sendable {
    public var revision: UInt64
    public var users: Int
    public var groups: Int
    public var memberships: Int
    /// Differences between the live index and one rebuilt from the database, then invariant
    /// violations of the stored rows. Empty means sound.
    public var differences: [String]
    public var ok: Bool { differences.isEmpty }
}

/// What `backup` wrote.
public struct BackupResult: Sendable {
    public var path: String
    public var bytes: UInt64
    public var revision: UInt64
}
