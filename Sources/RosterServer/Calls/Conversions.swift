import RosterCore
import RosterProtocol

// Wire ⇄ model conversions, pure.

extension UserReference {
    /// The reference a request names; a `UserRef` with no member set is INVALID_ARGUMENT.
    init(_ ref: Roster_V1_UserRef, field: String) throws(RosterStatus) {
        switch ref.ref {
        case .id(let value): self = .id(value)
        case .userName(let value): self = .userName(value)
        case .externalID(let value): self = .externalID(value)
        case nil:
            throw RosterStatus(.invalidArgument, "\(field) must set one of id, user_name or external_id")
        }
    }
}

extension GroupReference {
    /// The reference a request names; a `GroupRef` with no member set is INVALID_ARGUMENT.
    init(_ ref: Roster_V1_GroupRef, field: String) throws(RosterStatus) {
        switch ref.ref {
        case .id(let value): self = .id(value)
        case .externalID(let value): self = .externalID(value)
        case .displayName(let value): self = .displayName(value)
        case nil:
            throw RosterStatus(.invalidArgument, "\(field) must set one of id, external_id or display_name")
        }
    }
}

extension Roster_V1_Reason {
    init(_ reason: CheckReason) {
        switch reason {
        case .member: self = .member
        case .notMember: self = .notMember
        case .userSuspended: self = .userSuspended
        case .userDeleted: self = .userDeleted
        case .userUnknown: self = .userUnknown
        case .groupUnknown: self = .groupUnknown
        }
    }
}

extension Roster_V1_UserState {
    init(_ state: RosterCore.UserState) {
        switch state {
        case .active: self = .active
        case .suspended: self = .suspended
        case .deleted: self = .deleted
        }
    }
}

extension Roster_V1_Directory {
    init(_ stats: DirectoryStats) {
        self.init()
        id = stats.directory.id
        name = stats.directory.name
        provider = stats.directory.provider.rawValue
        policy = stats.directory.policy.rawValue
        createdUnixMs = stats.directory.createdAt
        users = UInt64(max(0, stats.users))
        groups = UInt64(max(0, stats.groups))
        memberships = UInt64(max(0, stats.memberships))
    }

    init(_ directory: Directory) {
        self.init(DirectoryStats(directory: directory, users: 0, activeUsers: 0, groups: 0, memberships: 0))
    }
}

extension Roster_V1_WatchEvent {
    init(_ event: Event) {
        self.init()
        revision = event.revision
        seq = event.seq
        directoryID = event.directoryID
        kind = event.kind.rawValue
        userID = event.userID ?? ""
        groupID = event.groupID ?? ""
        cause = event.cause.rawValue
        timeUnixMs = event.time
    }
}

extension Roster_V1_AuditRecord {
    init(_ entry: AuditEntry) {
        self.init()
        revision = entry.revision
        timeUnixMs = entry.time
        directoryID = entry.directoryID
        method = entry.method
        path = entry.path
        httpStatus = UInt32(clamping: entry.httpStatus)
        outcome = entry.outcome
        detail = entry.detail
        durationUs = entry.durationMicroseconds
    }
}

extension Roster_V1_RequestFrame.OneOf_Method {
    /// The request's `min_revision`, or 0 for methods that have none.
    var minRevision: UInt64 {
        switch self {
        case .check(let request): request.minRevision
        case .batchCheck(let request): request.minRevision
        case .listUserGroups(let request): request.minRevision
        case .listGroupMembers(let request): request.minRevision
        case .getUser(let request): request.minRevision
        case .getGroup(let request): request.minRevision
        default: 0
        }
    }

    /// The largest revision a store can hold: revisions are signed 64-bit integers in SQL.
    static let maxRevision = UInt64(Int64.max)

    /// INVALID_ARGUMENT for a revision field beyond any revision a store can reach (the wire
    /// type is unsigned 64-bit; the stores' is signed), nil when the request is in range.
    /// Checked where a request enters, so nothing behind it converts such a value.
    func outOfRangeRevision() -> RosterStatus? {
        let (field, value): (String, UInt64) =
            switch self {
            case .watch(let request): ("from_revision", request.fromRevision)
            default: ("min_revision", minRevision)
            }
        guard value > Self.maxRevision else { return nil }
        return RosterStatus(
            .invalidArgument,
            "\(field) \(value) is beyond any revision (the largest is \(Self.maxRevision)); send a revision this daemon returned")
    }
}

/// Opaque page tokens: the cursor bound to the query it came from, so a token cannot be
/// replayed against another user or group. Hex of `kind NUL id NUL cursor`.
enum PageToken {
    static func make(kind: String, id: String, cursor: String) -> String {
        Hex.encode(Array(kind.utf8) + [0] + Array(id.utf8) + [0] + Array(cursor.utf8))
    }

    /// The cursor in `token` (nil for an empty token: the first page).
    ///
    /// `isValidCursor` says whether a decoded cursor is one this kind of listing could have made:
    /// the index reads a cursor it cannot interpret as "from the start", so a tampered token that
    /// still decoded used to restart the listing at page one, silently repeating items.
    /// - Throws: INVALID_ARGUMENT when the token is malformed, belongs to another query, or holds
    ///   a cursor the listing could not have produced.
    static func cursor(
        _ token: String, kind: String, id: String, isValidCursor: (String) -> Bool
    ) throws(RosterStatus) -> String? {
        if token.isEmpty { return nil }
        let invalid = RosterStatus(
            .invalidArgument, "page_token is not a next_page_token of this query; start again with an empty token")
        guard token.utf8.count <= 8192, let bytes = Hex.decode(token) else { throw invalid }
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3,
            String(decoding: parts[0], as: UTF8.self) == kind,
            String(decoding: parts[1], as: UTF8.self) == id
        else { throw invalid }
        let cursor = String(decoding: parts[2], as: UTF8.self)
        // Invalid UTF-8 decodes with replacement characters: then the bytes differ.
        guard cursor.utf8.elementsEqual(parts[2]), isValidCursor(cursor) else { throw invalid }
        return cursor
    }

    /// A group-members cursor: a user's key, in canonical decimal (no sign, no leading zero).
    static func isMemberKeyCursor(_ cursor: String) -> Bool {
        guard let key = UInt32(cursor) else { return false }
        return String(key) == cursor
    }

    /// A user-groups cursor: the id of the last group listed (never empty).
    static func isGroupIDCursor(_ cursor: String) -> Bool { !cursor.isEmpty }
}
