import OrderedCollections

/// The fields of a user resource as the SCIM layer extracted them, plus the resource to store.
public struct UserDraft: Sendable, Hashable {
    public var userName: String
    public var externalID: String?
    public var displayName: String?
    public var active: Bool
    /// The full SCIM resource as it will be stored (without `password`, `id` or `meta`).
    public var resource: JSONObject
    /// Group ids from a user's `groups` attribute on create or replace (some providers send them).
    /// They only add memberships; a user's `groups` never removes one.
    public var groupIDs: [String]

    public init(
        userName: String, externalID: String? = nil, displayName: String? = nil, active: Bool = true,
        resource: JSONObject = [:], groupIDs: [String] = []
    ) {
        self.userName = userName
        self.externalID = externalID
        self.displayName = displayName
        self.active = active
        self.resource = resource
        self.groupIDs = groupIDs
    }
}

/// The fields of a group resource (never its members: those travel as `MemberOp`s).
public struct GroupDraft: Sendable, Hashable {
    public var displayName: String
    public var externalID: String?
    /// The SCIM resource as it will be stored, without `members`, `id` or `meta`.
    public var resource: JSONObject

    public init(displayName: String, externalID: String? = nil, resource: JSONObject = [:]) {
        self.displayName = displayName
        self.externalID = externalID
        self.resource = resource
    }
}

/// One step of a membership change, applied in order.
public enum MemberOp: Sendable, Hashable {
    case add([String])
    case remove([String])
    case removeAll
    /// Makes the members exactly these users: removes the others and adds the missing ones,
    /// with an event for each change only (SCIM PUT, or PATCH `replace` of `members`).
    case replaceAll([String])
}

/// A normalized write. The SCIM layer turns every provider dialect into one of these; the core
/// applies the rules. Ids and timestamps are chosen by the caller so that `apply` stays pure.
public enum Mutation: Sendable, Hashable {
    case createDirectory(Directory)
    /// Removes the directory with all its users, groups and memberships.
    case deleteDirectory(id: String)
    case createUser(directoryID: String, id: String, UserDraft)
    /// Full replacement (SCIM PUT, or the result of a PATCH): state changes trigger the rules.
    /// `previous` is the stored resource it replaces, so that a retried write that changes
    /// nothing emits no event (nil: treat the resource as changed).
    case replaceUser(directoryID: String, id: String, UserDraft, previous: JSONObject?)
    case deleteUser(directoryID: String, id: String)
    case createGroup(directoryID: String, id: String, GroupDraft, members: [String])
    /// Changes a group's attributes (if `draft` is set; `previous` as for `replaceUser`) and
    /// applies `memberOps` in order.
    case updateGroup(
        directoryID: String, id: String, draft: GroupDraft?, previous: JSONObject?, memberOps: [MemberOp],
        cause: Event.Cause)
    case deleteGroup(directoryID: String, id: String, cause: Event.Cause)
    /// Accepted and recorded, but changes nothing (an audit-only revision, e.g. a failed request log).
    case none(directoryID: String)
}

/// A row-level change for the durable store, in the order the core decided it.
public enum StoreChange: Sendable, Hashable {
    case putDirectory(Directory)
    case deleteDirectory(id: String)
    /// Insert or update the user row. `resource` is nil when only state/version changed.
    case putUser(UserRecord, resource: JSONObject?)
    case putGroup(GroupRecord, resource: JSONObject?)
    case deleteGroup(id: String)
    /// Keys are the records' `key`s, so the store can write integer pairs.
    case addMember(groupKey: UInt32, userKey: UInt32)
    case removeMember(groupKey: UInt32, userKey: UInt32)
}

/// What an accepted mutation did.
public struct Applied: Sendable {
    public var revision: UInt64
    public var events: [Event]
    public var changes: [StoreChange]
    /// Things the rules ignored on purpose, for the audit log (e.g. a member add for a suspended user).
    public var notes: [String]
    /// The user or group the request was about, after the change (nil after a delete).
    public var user: UserRecord?
    public var group: GroupRecord?
}
