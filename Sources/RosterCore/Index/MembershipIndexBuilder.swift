import HashTreeCollections

/// Builds a `MembershipIndex` from stored rows in one pass, without replaying the rules: used at
/// startup recovery and by `verify`. Rows are trusted to be what the rules produced; call
/// `invariantViolations()` on the result to check that.
public struct MembershipIndexBuilder {
    private var index = MembershipIndex()
    private var users: [String: UserEntry] = [:]
    private var userIDByKey: [UInt32: String] = [:]
    private var groups: [String: GroupEntry] = [:]
    private var groupIDByKey: [UInt32: String] = [:]
    /// Memberships by integer key: keys are dense from 1, so arrays indexed by key beat
    /// dictionaries for the 10M appends of a large recovery.
    private var userGroups: [[UInt32]] = []
    private var groupMembers: [[UInt32]] = []
    private var problems: [String] = []

    public init(revision: UInt64, expectedUsers: Int = 0, expectedGroups: Int = 0) {
        index.revision = revision
        users.reserveCapacity(expectedUsers)
        userIDByKey.reserveCapacity(expectedUsers)
        groups.reserveCapacity(expectedGroups)
        groupIDByKey.reserveCapacity(expectedGroups)
    }

    public mutating func add(_ directory: Directory) {
        let key = index.nextDirectoryKey
        index.nextDirectoryKey += 1
        index.directories[directory.id] = DirectoryEntry(
            key: key, directory: directory, userCount: 0, activeUserCount: 0, groupCount: 0, membershipCount: 0)
    }

    public mutating func add(_ user: UserRecord) {
        guard var directory = index.directories[user.directoryID] else {
            problems.append("user '\(user.id)' belongs to unknown directory '\(user.directoryID)'")
            return
        }
        users[user.id] = UserEntry(key: user.key, directoryKey: directory.key, record: user, groups: [])
        userIDByKey[user.key] = user.id
        index.nextUserKey = max(index.nextUserKey, user.key &+ 1)
        if user.state != .deleted { directory.userCount += 1 }
        if user.state == .active { directory.activeUserCount += 1 }
        index.directories[user.directoryID] = directory
    }

    public mutating func add(_ group: GroupRecord) {
        guard var directory = index.directories[group.directoryID] else {
            problems.append("group '\(group.id)' belongs to unknown directory '\(group.directoryID)'")
            return
        }
        groups[group.id] = GroupEntry(key: group.key, directoryKey: directory.key, record: group, members: [])
        groupIDByKey[group.key] = group.id
        index.nextGroupKey = max(index.nextGroupKey, group.key &+ 1)
        directory.groupCount += 1
        index.directories[group.directoryID] = directory
    }

    public mutating func addMembership(groupKey: UInt32, userKey: UInt32) {
        let u = Int(userKey)
        let g = Int(groupKey)
        if u >= userGroups.count { userGroups.append(contentsOf: repeatElement([], count: max(u + 1, userGroups.count * 2) - userGroups.count)) }
        if g >= groupMembers.count { groupMembers.append(contentsOf: repeatElement([], count: max(g + 1, groupMembers.count * 2) - groupMembers.count)) }
        userGroups[u].append(groupKey)
        groupMembers[g].append(userKey)
    }

    /// Rows that could not be placed (for example a user of a missing directory).
    public var rejectedRows: [String] { problems }

    private static func isNewer(_ entry: UserEntry, than other: UserEntry?) -> Bool {
        guard let other else { return true }
        return entry.record.version > other.record.version
    }

    public consuming func build() -> MembershipIndex {
        var membershipCount = 0
        for (offset, groupKeys) in userGroups.enumerated() where !groupKeys.isEmpty {
            let userKey = UInt32(offset)
            guard let id = userIDByKey[userKey], var entry = users[id] else {
                problems.append("membership names missing user key \(userKey)")
                continue
            }
            entry.groups = groupKeys.sorted()
            users[id] = entry
            membershipCount += groupKeys.count
            if var directory = index.directories[entry.record.directoryID] {
                directory.membershipCount += groupKeys.count
                index.directories[entry.record.directoryID] = directory
            }
        }
        for (offset, userKeys) in groupMembers.enumerated() where !userKeys.isEmpty {
            guard let id = groupIDByKey[UInt32(offset)], var entry = groups[id] else { continue }
            entry.members = TreeSet(userKeys)
            groups[id] = entry
        }
        var liveNames: [ScopedName: String] = [:]
        var liveExternal: [ScopedName: String] = [:]
        var deletedNames: [ScopedName: String] = [:]
        var deletedExternal: [ScopedName: String] = [:]
        liveNames.reserveCapacity(users.count)
        for (id, entry) in users {
            let name = ScopedName(directory: entry.directoryKey, name: entry.record.userName.lowercased())
            let external = entry.record.externalID.map { ScopedName(directory: entry.directoryKey, name: $0) }
            if entry.record.state == .deleted {
                // Keep the most recent tombstone (highest version) for each name, as apply does.
                if Self.isNewer(entry, than: deletedNames[name].flatMap { users[$0] }) { deletedNames[name] = id }
                if let external, Self.isNewer(entry, than: deletedExternal[external].flatMap { users[$0] }) {
                    deletedExternal[external] = id
                }
            } else {
                liveNames[name] = id
                if let external { liveExternal[external] = id }
            }
        }
        var groupExternal: [ScopedName: String] = [:]
        var groupNames: [ScopedName: [String]] = [:]
        for (id, entry) in groups {
            groupNames[ScopedName(directory: entry.directoryKey, name: entry.record.displayName.lowercased()), default: []]
                .append(id)
            if let external = entry.record.externalID {
                groupExternal[ScopedName(directory: entry.directoryKey, name: external)] = id
            }
        }
        var userHot: [UUIDKey: UserHot] = [:]
        var userRecords: [UInt32: UserRecord] = [:]
        userHot.reserveCapacity(users.count)
        userRecords.reserveCapacity(users.count)
        for (id, entry) in users {
            userHot[UUIDKey(id)] = UserHot(
                key: entry.key, directoryKey: entry.directoryKey, state: entry.record.state, groups: entry.groups)
            userRecords[entry.key] = entry.record
        }
        users = [:]
        var groupHot: [UUIDKey: GroupHot] = [:]
        var groupEntries: [UInt32: GroupEntry] = [:]
        for (id, entry) in groups {
            groupHot[UUIDKey(id)] = GroupHot(key: entry.key, directoryKey: entry.directoryKey)
            groupEntries[entry.key] = entry
        }
        index.users = UserTable(hot: userHot, records: userRecords)
        index.groups = GroupTable(hot: groupHot, entries: groupEntries)
        index.liveUserNames = LayeredMap(liveNames)
        index.liveUserExternalIDs = LayeredMap(liveExternal)
        index.deletedUserNames = LayeredMap(deletedNames)
        index.deletedUserExternalIDs = LayeredMap(deletedExternal)
        index.groupExternalIDs = LayeredMap(groupExternal)
        index.groupNames = LayeredMap(groupNames)
        index.membershipCount = membershipCount
        return index
    }
}
