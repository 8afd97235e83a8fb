import HashTreeCollections

/// An immutable snapshot of every directory's users, groups and memberships: the answer to
/// "is user U in group G, and active?" in a few hash probes and no locks.
///
/// The writer derives the next snapshot from this one with `apply(_:now:)`; persistent maps
/// (`LayeredMap`, `TreeSet`) share everything the change did not touch, so a snapshot can be
/// published after every write while readers keep using the one they loaded.
public struct MembershipIndex: Sendable {
    /// The revision of the last accepted write this snapshot reflects.
    public internal(set) var revision: UInt64

    var directories: TreeDictionary<String, DirectoryEntry>
    var users: UserTable
    var groups: GroupTable
    /// Lowercased userName → id, live (active or suspended) users only: uniqueness is among them.
    var liveUserNames: LayeredMap<ScopedName, String>
    var liveUserExternalIDs: LayeredMap<ScopedName, String>
    /// The most recently deleted user with that name or externalId, to answer USER_DELETED.
    var deletedUserNames: LayeredMap<ScopedName, String>
    var deletedUserExternalIDs: LayeredMap<ScopedName, String>
    var groupExternalIDs: LayeredMap<ScopedName, String>
    /// Lowercased displayName → ids of the groups with that name (more than one is ambiguous).
    var groupNames: LayeredMap<ScopedName, [String]>
    var nextDirectoryKey: UInt32
    var nextUserKey: UInt32
    var nextGroupKey: UInt32
    public internal(set) var membershipCount: Int

    /// An empty index at revision 0.
    public init() {
        revision = 0
        directories = [:]
        users = .init()
        groups = .init()
        liveUserNames = .init()
        liveUserExternalIDs = .init()
        deletedUserNames = .init()
        deletedUserExternalIDs = .init()
        groupExternalIDs = .init()
        groupNames = .init()
        nextDirectoryKey = 1
        nextUserKey = 1
        nextGroupKey = 1
        membershipCount = 0
    }
}

/// A name scoped to one directory (directories are interned to a small integer).
struct ScopedName: FlatHashable {
    var directory: UInt32
    var name: String

    var flatHash: UInt64 { UInt64(bitPattern: Int64(hashValue)) }
    static var emptySlot: ScopedName { ScopedName(directory: .max, name: "") }
}

struct DirectoryEntry: Sendable {
    var key: UInt32
    var directory: Directory
    var userCount: Int
    var activeUserCount: Int
    var groupCount: Int
    var membershipCount: Int
}

struct UserEntry: Sendable {
    var key: UInt32
    var directoryKey: UInt32
    var record: UserRecord
    /// Keys of the groups this user is in, sorted ascending (users sit in few groups; a sorted
    /// array is smaller and faster to search than a set).
    var groups: [UInt32]
}

struct GroupEntry: Sendable {
    var key: UInt32
    var directoryKey: UInt32
    var record: GroupRecord
    var members: MemberSet

    var memberKeys: [UInt32] { members.sorted() }
}

// MARK: - Reads

/// Why a check answered as it did.
public enum CheckReason: String, Sendable, Hashable, CaseIterable {
    case member = "MEMBER"
    case notMember = "NOT_MEMBER"
    case userSuspended = "USER_SUSPENDED"
    case userDeleted = "USER_DELETED"
    case userUnknown = "USER_UNKNOWN"
    case groupUnknown = "GROUP_UNKNOWN"
}

/// The answer to "may this user act as a member of this group?".
public struct CheckResult: Sendable, Hashable {
    public var allowed: Bool
    public var reason: CheckReason
}

/// Counts for one directory.
public struct DirectoryStats: Sendable, Hashable {
    public var directory: Directory
    public var users: Int
    public var activeUsers: Int
    public var groups: Int
    public var memberships: Int

    public init(directory: Directory, users: Int, activeUsers: Int, groups: Int, memberships: Int) {
        self.directory = directory
        self.users = users
        self.activeUsers = activeUsers
        self.groups = groups
        self.memberships = memberships
    }
}

/// One page of a listing, with the cursor for the next page (nil at the end).
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    public var nextCursor: String?
    public var total: Int
}

extension MembershipIndex {
    public var directoryCount: Int { directories.count }
    public var userCount: Int { directories.values.reduce(0) { $0 + $1.userCount } }
    public var activeUserCount: Int { directories.values.reduce(0) { $0 + $1.activeUserCount } }
    public var groupCount: Int { groups.count }

    public func directory(_ id: String) -> Directory? { directories[id]?.directory }

    public func directoryStats(_ id: String) -> DirectoryStats? {
        guard let entry = directories[id] else { return nil }
        return DirectoryStats(
            directory: entry.directory, users: entry.userCount, activeUsers: entry.activeUserCount,
            groups: entry.groupCount, memberships: entry.membershipCount)
    }

    /// Every directory, ordered by creation time then id.
    public var allDirectories: [DirectoryStats] {
        directories.values
            .map {
                DirectoryStats(
                    directory: $0.directory, users: $0.userCount, activeUsers: $0.activeUserCount,
                    groups: $0.groupCount, memberships: $0.membershipCount)
            }
            .sorted { ($0.directory.createdAt, $0.directory.id) < ($1.directory.createdAt, $1.directory.id) }
    }

    /// Answers whether `user` is an active member of `group` in `directoryID`.
    /// - Throws: `directoryNotFound` for an unknown directory, `ambiguousReference` when a display
    ///   name matches several groups. Unknown users and groups are answers, not errors.
    public func check(directoryID: String, user: UserReference, group: GroupReference) throws(RosterError)
        -> CheckResult
    {
        guard let directory = directories[directoryID] else {
            throw RosterError(.directoryNotFound, "no directory with id '\(directoryID)'")
        }
        // Only the small hot values are read here: no record, no string but the references.
        guard let userHot = resolveUserHot(user, in: directory.key) else {
            return CheckResult(allowed: false, reason: .userUnknown)
        }
        if userHot.state == .deleted {
            return CheckResult(allowed: false, reason: .userDeleted)
        }
        // Resolved only for a live user: an ambiguous display name does not hide a deletion.
        return Self.decide(user: userHot, group: try resolveGroupHot(group, in: directory.key))
    }

    /// The user a reference names, including deleted tombstones (nil if none).
    public func user(directoryID: String, _ reference: UserReference) -> UserRecord? {
        guard let directory = directories[directoryID] else { return nil }
        return resolveUser(reference, in: directory.key)?.record
    }

    /// The group a reference names (nil if none).
    /// - Throws: `ambiguousReference` when a display name matches several groups.
    public func group(directoryID: String, _ reference: GroupReference) throws(RosterError) -> GroupRecord? {
        guard let directory = directories[directoryID] else { return nil }
        return try resolveGroup(reference, in: directory.key)?.record
    }

    /// The ids of the groups a user is in (empty for unknown users).
    public func groupIDs(ofUser userID: String) -> [String] {
        guard let hot = users.hot(userID) else { return [] }
        return hot.groupKeys.compactMap { groups.id(forKey: $0) }
    }

    public func memberCount(ofGroup groupID: String) -> Int {
        groups[groupID]?.members.count ?? 0
    }

    public func isMember(userID: String, groupID: String) -> Bool {
        guard let user = users.hot(userID), let group = groups.hot(groupID) else { return false }
        return user.groupKeys.containsSorted(group.key)
    }

    /// A user's groups, ordered by group id, `limit` at a time after the opaque `cursor`.
    public func userGroups(userID: String, after cursor: String?, limit: Int) -> Page<GroupRecord> {
        guard let entry = users.hot(userID) else { return Page(items: [], nextCursor: nil, total: 0) }
        let all = entry.groups.compactMap { groups.id(forKey: $0) }.sorted()
        let start = cursor.map { c in all.firstIndex { $0 > c } ?? all.count } ?? 0
        let slice = all[start...].prefix(Swift.max(0, limit))
        let items = slice.compactMap { groups[$0]?.record }
        let next = start + slice.count < all.count ? slice.last : nil
        return Page(items: items, nextCursor: next, total: all.count)
    }

    /// A group's members in a stable order (by internal key, i.e. the order users were first
    /// seen), `limit` at a time after the opaque `cursor` (a decimal key).
    public func groupMembers(groupID: String, after cursor: String?, limit: Int) -> Page<UserRecord> {
        guard let entry = groups[groupID] else { return Page(items: [], nextCursor: nil, total: 0) }
        let keys = entry.members.sorted()
        let after = cursor.flatMap { UInt32($0) }
        let start = after.map { a in Self.lowerBound(keys, a &+ 1, startingAbove: a) } ?? 0
        let slice = keys[start...].prefix(Swift.max(0, limit))
        let items = slice.compactMap { users.record(forKey: $0) }
        let next = start + slice.count < keys.count ? slice.last.map { String($0) } : nil
        return Page(items: items, nextCursor: next, total: keys.count)
    }

    /// The ids of a group's members, unordered (for SCIM reads, which sort them).
    public func memberIDs(ofGroup groupID: String) -> [String] {
        guard let entry = groups[groupID] else { return [] }
        return entry.members.compactMap { users.id(forKey: $0) }
    }

    func resolveUser(_ reference: UserReference, in directoryKey: UInt32) -> UserEntry? {
        guard let id = resolveUserID(reference, in: directoryKey), let entry = users[id],
            entry.directoryKey == directoryKey
        else { return nil }
        return entry
    }

    @inline(__always)
    func resolveUserHot(_ reference: UserReference, in directoryKey: UInt32) -> UserHot? {
        guard let id = resolveUserID(reference, in: directoryKey), let hot = users.hot(id),
            hot.directoryKey == directoryKey
        else { return nil }
        return hot
    }

    @inline(__always)
    func resolveGroupHot(_ reference: GroupReference, in directoryKey: UInt32) throws(RosterError) -> GroupHot? {
        guard let id = try resolveGroupID(reference, in: directoryKey), let hot = groups.hot(id),
            hot.directoryKey == directoryKey
        else { return nil }
        return hot
    }

    @inline(__always)
    func resolveUserID(_ reference: UserReference, in directoryKey: UInt32) -> String? {
        let id: String?
        switch reference {
        case .id(let value):
            id = value
        case .userName(let name):
            let scoped = ScopedName(directory: directoryKey, name: name.lowercasedIfNeeded())
            id = liveUserNames[scoped] ?? deletedUserNames[scoped]
        case .externalID(let external):
            let scoped = ScopedName(directory: directoryKey, name: external)
            id = liveUserExternalIDs[scoped] ?? deletedUserExternalIDs[scoped]
        }
        return id
    }

    func resolveGroup(_ reference: GroupReference, in directoryKey: UInt32) throws(RosterError) -> GroupEntry? {
        guard let id = try resolveGroupID(reference, in: directoryKey), let entry = groups[id],
            entry.directoryKey == directoryKey
        else { return nil }
        return entry
    }

    @inline(__always)
    func resolveGroupID(_ reference: GroupReference, in directoryKey: UInt32) throws(RosterError) -> String? {
        let id: String?
        switch reference {
        case .id(let value):
            id = value
        case .externalID(let external):
            id = groupExternalIDs[ScopedName(directory: directoryKey, name: external)]
        case .displayName(let name):
            let ids = groupNames[ScopedName(directory: directoryKey, name: name.lowercasedIfNeeded())] ?? []
            if ids.count > 1 {
                throw RosterError(
                    .ambiguousReference,
                    "display name '\(name)' matches \(ids.count) groups (\(ids.sorted().joined(separator: ", "))); refer to the group by id or externalId"
                )
            }
            id = ids.first
        }
        return id
    }

    static func sortedContains(_ keys: [UInt32], _ key: UInt32) -> Bool {
        let index = lowerBound(keys, key, startingAbove: nil)
        return index < keys.count && keys[index] == key
    }

    /// The first index whose key is ≥ `key`.
    static func lowerBound(_ keys: [UInt32], _ key: UInt32, startingAbove floor: UInt32?) -> Int {
        if let floor, floor == UInt32.max { return keys.count }
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

// MARK: - Whole-index iteration (copies of the index: a fleet instance's local checkpoint)

extension MembershipIndex {
    /// Calls `body` with every user record, tombstones included, in no particular order.
    public func forEachUserRecord(_ body: (UserRecord) throws -> Void) rethrows {
        try users.forEach { _, entry in try body(entry.record) }
    }

    /// Calls `body` with every group record and its members' keys (ascending).
    public func forEachGroupRecord(_ body: (GroupRecord, [UInt32]) throws -> Void) rethrows {
        try groups.forEach { _, entry in try body(entry.record, entry.memberKeys) }
    }
}
