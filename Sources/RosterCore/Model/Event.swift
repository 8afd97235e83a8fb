/// A normalized change, the same whatever provider caused it. Every accepted write produces one
/// revision and zero or more events; `seq` orders the events of one revision.
public struct Event: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case directoryCreated = "directory.created"
        case directoryDeleted = "directory.deleted"
        case userCreated = "user.created"
        case userUpdated = "user.updated"
        case userSuspended = "user.suspended"
        case userReactivated = "user.reactivated"
        case userDeleted = "user.deleted"
        case groupCreated = "group.created"
        case groupUpdated = "group.updated"
        case groupDeleted = "group.deleted"
        case groupUserAdded = "group.user_added"
        case groupUserRemoved = "group.user_removed"
    }

    /// Why a membership changed (or, for other events, what kind of request caused it).
    public enum Cause: String, Sendable, Hashable, CaseIterable {
        /// The provider asked for it (PATCH, PUT or POST on a group, or a user's `groups`).
        case request = "request"
        /// The user was suspended, so the rule removed every membership.
        case userSuspended = "user_suspended"
        /// The user was deleted, so the rule removed every membership.
        case userDeleted = "user_deleted"
        /// The group was deleted, so every membership went with it.
        case groupDeleted = "group_deleted"
        /// An operator's admin call.
        case admin = "admin"
    }

    public var revision: UInt64
    public var seq: UInt32
    public var directoryID: String
    public var kind: Kind
    public var userID: String?
    public var groupID: String?
    public var cause: Cause
    /// Milliseconds since the Unix epoch.
    public var time: Int64

    public init(
        revision: UInt64, seq: UInt32, directoryID: String, kind: Kind, userID: String?, groupID: String?,
        cause: Cause, time: Int64
    ) {
        self.revision = revision
        self.seq = seq
        self.directoryID = directoryID
        self.kind = kind
        self.userID = userID
        self.groupID = groupID
        self.cause = cause
        self.time = time
    }
}
