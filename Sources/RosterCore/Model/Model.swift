/// The identity provider a directory is connected to. It selects how tolerant input parsing is
/// labelled in metrics and audit; the normalized model and the rules are the same for all.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable, Codable {
    case okta, entra, onelogin, jumpcloud, generic
}

/// What happens to a user's memberships while the user is not active.
public enum MembershipPolicy: String, Sendable, Hashable, CaseIterable, Codable {
    /// Suspension removes every membership; reactivation restores none (the default, and the secure rule).
    case revoke
    /// Memberships are kept but inert while the user is suspended, and live again on reactivation.
    /// Deletion still removes them. Checks always deny an inactive user.
    case retain
}

/// A tenant: one identity provider pushing to one SCIM base URL.
public struct Directory: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var provider: ProviderKind
    public var policy: MembershipPolicy
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    public init(id: String, name: String, provider: ProviderKind, policy: MembershipPolicy = .revoke, createdAt: Int64) {
        self.id = id
        self.name = name
        self.provider = provider
        self.policy = policy
        self.createdAt = createdAt
    }
}

/// A user's lifecycle state. SCIM `active: false` is `suspended`; SCIM DELETE is `deleted`
/// (kept as a tombstone for audit and for `USER_DELETED` answers; invisible to SCIM reads).
public enum UserState: String, Sendable, Hashable, CaseIterable, Codable {
    case active, suspended, deleted

    public var isActive: Bool { self == .active }
}

/// The fields of a user that the rules and the index need. The full SCIM resource lives in the store.
public struct UserRecord: Sendable, Hashable {
    /// A small integer the index assigns, stable for the life of the user; the store keeps it as
    /// the row key so that memberships are stored and reloaded as integer pairs.
    public var key: UInt32
    public var id: String
    public var directoryID: String
    public var userName: String
    public var externalID: String?
    public var displayName: String?
    public var state: UserState
    /// The revision that last changed this user (SCIM `meta.version`).
    public var version: UInt64

    public init(
        key: UInt32, id: String, directoryID: String, userName: String, externalID: String?, displayName: String?,
        state: UserState, version: UInt64
    ) {
        self.key = key
        self.id = id
        self.directoryID = directoryID
        self.userName = userName
        self.externalID = externalID
        self.displayName = displayName
        self.state = state
        self.version = version
    }
}

/// The fields of a group that the rules and the index need.
public struct GroupRecord: Sendable, Hashable {
    /// As `UserRecord.key`, for groups.
    public var key: UInt32
    public var id: String
    public var directoryID: String
    public var displayName: String
    public var externalID: String?
    /// The revision that last changed this group or its members (SCIM `meta.version`).
    public var version: UInt64

    public init(key: UInt32, id: String, directoryID: String, displayName: String, externalID: String?, version: UInt64) {
        self.key = key
        self.id = id
        self.directoryID = directoryID
        self.displayName = displayName
        self.externalID = externalID
        self.version = version
    }
}

/// How a lookup names a user.
public enum UserReference: Sendable, Hashable {
    case id(String)
    /// Compared without letter case, as SCIM `userName` is.
    case userName(String)
    case externalID(String)
}

/// How a lookup names a group. A display name that two groups share is an error, not a guess.
public enum GroupReference: Sendable, Hashable {
    case id(String)
    case externalID(String)
    case displayName(String)
}
