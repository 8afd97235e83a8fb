import HashTreeCollections

/// Builds a `MembershipIndex` from stored rows in one pass, without replaying the rules: used at
/// startup recovery and by `verify`. Rows are trusted to be what the rules produced; call
/// `invariantViolations()` on the result to check that.
///
/// Built for a million users and ten million memberships (the recovery benchmark): records are
/// appended to arrays, memberships to one flat array of integer pairs, and `build()` makes the
/// index's flat tables straight from those arrays. No `Dictionary` keyed by String sits in
/// between (the first version spent most of recovery hashing ids and copying records between
/// dictionaries), and no array per user grows one append at a time.
public struct MembershipIndexBuilder: Sendable {
    private var index = MembershipIndex()
    private var users: [UserRecord] = []
    private var userDirectoryKeys: [UInt32] = []
    private var groups: [GroupRecord] = []
    private var groupDirectoryKeys: [UInt32] = []
    /// `groupKey << 32 | userKey`, in the order added.
    private var memberships: [UInt64] = []
    /// The directory of the previous row: rows are read in key order, in which a directory's
    /// users mostly come in runs, so most rows resolve their directory with one String
    /// comparison instead of a map lookup.
    private var lastDirectory: (id: String, key: UInt32)?
    private var problems: [String] = []

    public init(revision: UInt64, expectedUsers: Int = 0, expectedGroups: Int = 0, expectedMemberships: Int = 0) {
        index.revision = revision
        users.reserveCapacity(expectedUsers)
        userDirectoryKeys.reserveCapacity(expectedUsers)
        groups.reserveCapacity(expectedGroups)
        groupDirectoryKeys.reserveCapacity(expectedGroups)
        memberships.reserveCapacity(expectedMemberships)
    }

    public mutating func add(_ directory: Directory) {
        let key = index.nextDirectoryKey
        index.nextDirectoryKey += 1
        index.directories[directory.id] = DirectoryEntry(
            key: key, directory: directory, userCount: 0, activeUserCount: 0, groupCount: 0, membershipCount: 0)
        lastDirectory = nil
    }

    /// The directory's key and its own id String (records share that one storage instead of
    /// each holding a copy read from its row: 80 bytes per user at a million users).
    private mutating func directory(_ id: String) -> (id: String, key: UInt32)? {
        if let last = lastDirectory, last.id == id { return last }
        guard let entry = index.directories[id] else { return nil }
        lastDirectory = (entry.directory.id, entry.key)
        return lastDirectory
    }

    public mutating func add(_ user: UserRecord) {
        guard let directory = directory(user.directoryID) else {
            problems.append("user '\(user.id)' belongs to unknown directory '\(user.directoryID)'")
            return
        }
        var record = user
        record.directoryID = directory.id
        users.append(record)
        userDirectoryKeys.append(directory.key)
        index.nextUserKey = max(index.nextUserKey, user.key &+ 1)
    }

    public mutating func add(_ group: GroupRecord) {
        guard let directory = directory(group.directoryID) else {
            problems.append("group '\(group.id)' belongs to unknown directory '\(group.directoryID)'")
            return
        }
        var record = group
        record.directoryID = directory.id
        groups.append(record)
        groupDirectoryKeys.append(directory.key)
        index.nextGroupKey = max(index.nextGroupKey, group.key &+ 1)
    }

    public mutating func addMembership(groupKey: UInt32, userKey: UInt32) {
        memberships.append(UInt64(groupKey) << 32 | UInt64(userKey))
    }

    /// Many memberships at once, each `groupKey << 32 | userKey` (the form the store reads them
    /// in). The first batch is taken over without a copy.
    public mutating func addMemberships(_ pairs: consuming [UInt64]) {
        if memberships.isEmpty {
            memberships = pairs
        } else {
            memberships.append(contentsOf: pairs)
        }
    }

    /// Rows that could not be placed (for example a user of a missing directory). Memberships
    /// that name a missing user or group are found by `build()`, which adds them here.
    public var rejectedRows: [String] { problems }

    private static func isNewer(_ record: UserRecord, than other: UserRecord?) -> Bool {
        guard let other else { return true }
        return record.version > other.version
    }

    public consuming func build() -> MembershipIndex {
        buildReportingRejections().index
    }

    /// The index, and every row that could not be placed: `rejectedRows` plus memberships that
    /// name a missing user or group (found only while building).
    public consuming func buildReportingRejections() -> (index: MembershipIndex, rejected: [String]) {
        let userSlots = KeySlots(users.lazy.map(\.key), count: users.count)
        let groupSlots = KeySlots(groups.lazy.map(\.key), count: groups.count)

        // Memberships by user and by group (two counting sorts over the flat pairs): `userGroups`
        // holds every user's group keys, user after user; `userOffsets[i] ..< userOffsets[i + 1]`
        // is the range of the user at slot i. The same for groups.
        var userOffsets = [Int](repeating: 0, count: users.count + 1)
        var groupOffsets = [Int](repeating: 0, count: groups.count + 1)
        var placed = 0
        for pair in memberships {
            let g = UInt32(truncatingIfNeeded: pair >> 32)
            let u = UInt32(truncatingIfNeeded: pair)
            guard let us = userSlots[u] else {
                problems.append("membership of group key \(g) names missing user key \(u)")
                continue
            }
            guard let gs = groupSlots[g] else {
                problems.append("membership of user key \(u) names missing group key \(g)")
                continue
            }
            userOffsets[us + 1] += 1
            groupOffsets[gs + 1] += 1
            placed += 1
        }
        for i in 0..<users.count { userOffsets[i + 1] += userOffsets[i] }
        for i in 0..<groups.count { groupOffsets[i + 1] += groupOffsets[i] }
        var userGroups = [UInt32](repeating: 0, count: placed)
        var groupUsers = [UInt32](repeating: 0, count: placed)
        do {
            var userFill = userOffsets
            var groupFill = groupOffsets
            for pair in memberships {
                let g = UInt32(truncatingIfNeeded: pair >> 32)
                let u = UInt32(truncatingIfNeeded: pair)
                guard let us = userSlots[u], let gs = groupSlots[g] else { continue }
                userGroups[userFill[us]] = g
                userFill[us] += 1
                groupUsers[groupFill[gs]] = u
                groupFill[gs] += 1
            }
        }
        memberships = []

        // Per-directory counts, by directory key.
        let directoryCount = Int(index.nextDirectoryKey)
        var userCounts = [Int](repeating: 0, count: directoryCount)
        var activeCounts = [Int](repeating: 0, count: directoryCount)
        var groupCounts = [Int](repeating: 0, count: directoryCount)
        var membershipCounts = [Int](repeating: 0, count: directoryCount)

        // Users: the sorted group keys per user, then the hot table, the records and the lookups.
        var hotGroups: [[UInt32]] = []
        hotGroups.reserveCapacity(users.count)
        var membershipCount = 0
        for slot in users.indices {
            var keys = Array(userGroups[userOffsets[slot]..<userOffsets[slot + 1]])
            if !MemberSet.isStrictlyAscending(keys) {
                keys.sort()
                keys = Self.deduplicated(keys)
            }
            let directoryKey = Int(userDirectoryKeys[slot])
            let state = users[slot].state
            if state != .deleted { userCounts[directoryKey] += 1 }
            if state == .active { activeCounts[directoryKey] += 1 }
            membershipCounts[directoryKey] += keys.count
            membershipCount += keys.count
            hotGroups.append(keys)
        }
        userGroups = []
        let users = self.users
        let userDirectoryKeys = self.userDirectoryKeys
        self.users = []
        let groupKeysBySlot = hotGroups
        hotGroups = []

        // Tombstone lookups (few), and how many live ones there will be.
        var liveNameCount = 0
        var liveExternalCount = 0
        var deletedNames: [ScopedName: UserRecord] = [:]
        var deletedExternal: [ScopedName: UserRecord] = [:]
        for (slot, record) in users.enumerated() {
            if record.state == .deleted {
                // Keep the most recent tombstone (highest version) for each name, as apply does.
                let directoryKey = userDirectoryKeys[slot]
                let name = ScopedName(directory: directoryKey, name: record.userName.lowercasedIfNeeded())
                if Self.isNewer(record, than: deletedNames[name]) { deletedNames[name] = record }
                if let external = record.externalID.map({ ScopedName(directory: directoryKey, name: $0) }),
                    Self.isNewer(record, than: deletedExternal[external])
                {
                    deletedExternal[external] = record
                }
            } else {
                liveNameCount += 1
                if record.externalID != nil { liveExternalCount += 1 }
            }
        }

        // The four large tables are independent: the check table and the name lookups on one
        // thread, the records on the other (each is a pass of cache misses over its own memory).
        let (nameCount, externalCount) = (liveNameCount, liveExternalCount)
        let ((userHot, liveNames, liveExternal), userRecords) = inParallel(
            {
                let hot = FlatTable(
                    users.indices.lazy.map { slot in
                        let record = users[slot]
                        return (
                            UUIDKey(record.id),
                            UserHot(
                                key: record.key, directoryKey: userDirectoryKeys[slot], state: record.state,
                                groups: groupKeysBySlot[slot])
                        )
                    }, count: users.count)
                // userName keys share the record's String when it is already lowercase.
                let live = users.indices.lazy.filter { users[$0].state != .deleted }
                let names = FlatTable(
                    live.map { slot in
                        (
                            ScopedName(directory: userDirectoryKeys[slot], name: users[slot].userName.lowercasedIfNeeded()),
                            users[slot].id
                        )
                    }, count: nameCount)
                let external = FlatTable(
                    live.lazy.filter { users[$0].externalID != nil }.map { slot in
                        (ScopedName(directory: userDirectoryKeys[slot], name: users[slot].externalID ?? ""), users[slot].id)
                    }, count: externalCount)
                return (hot, names, external)
            },
            { FlatTable(users.lazy.map { ($0.key, $0) }, count: users.count) })

        // Groups.
        var groupEntries: [GroupEntry] = []
        groupEntries.reserveCapacity(groups.count)
        var groupNames: [ScopedName: [String]] = [:]
        var groupExternal: [ScopedName: String] = [:]
        for (slot, record) in groups.enumerated() {
            let directoryKey = groupDirectoryKeys[slot]
            let members = Array(groupUsers[groupOffsets[slot]..<groupOffsets[slot + 1]])
            let memberSet =
                MemberSet.isStrictlyAscending(members) ? MemberSet(sortedUnique: members) : MemberSet(members)
            groupEntries.append(GroupEntry(key: record.key, directoryKey: directoryKey, record: record, members: memberSet))
            groupCounts[Int(directoryKey)] += 1
            groupNames[ScopedName(directory: directoryKey, name: record.displayName.lowercasedIfNeeded()), default: []]
                .append(record.id)
            if let external = record.externalID {
                groupExternal[ScopedName(directory: directoryKey, name: external)] = record.id
            }
        }
        groupUsers = []
        let groupHot = FlatTable(
            groupEntries.lazy.map { (UUIDKey($0.record.id), GroupHot(key: $0.key, directoryKey: $0.directoryKey)) },
            count: groupEntries.count)
        let groupTable = FlatTable(groupEntries.lazy.map { ($0.key, $0) }, count: groupEntries.count)

        for (id, entry) in index.directories {
            var entry = entry
            let k = Int(entry.key)
            entry.userCount = userCounts[k]
            entry.activeUserCount = activeCounts[k]
            entry.groupCount = groupCounts[k]
            entry.membershipCount = membershipCounts[k]
            index.directories[id] = entry
        }
        index.users = UserTable(hot: LayeredMap(base: userHot), records: LayeredMap(base: userRecords))
        index.groups = GroupTable(hot: LayeredMap(base: groupHot), entries: LayeredMap(base: groupTable))
        index.liveUserNames = LayeredMap(base: liveNames)
        index.liveUserExternalIDs = LayeredMap(base: liveExternal)
        index.deletedUserNames = LayeredMap(deletedNames.mapValues(\.id))
        index.deletedUserExternalIDs = LayeredMap(deletedExternal.mapValues(\.id))
        index.groupExternalIDs = LayeredMap(groupExternal)
        index.groupNames = LayeredMap(groupNames)
        index.membershipCount = membershipCount
        return (index, problems)
    }

    private static func deduplicated(_ sorted: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(sorted.count)
        for key in sorted where out.last != key { out.append(key) }
        return out
    }
}

/// Integer key → position in the builder's record array. Keys are assigned densely from 1, so
/// this is a plain array indexed by key; a store whose keys are far sparser than its row count
/// (which the rules never produce) falls back to a dictionary rather than a huge array.
private struct KeySlots {
    private var dense: [Int32] = []
    private var sparse: [UInt32: Int] = [:]
    private var isDense = true

    init(_ keys: some Sequence<UInt32>, count: Int) {
        let maxKey = keys.max() ?? 0
        if Int(maxKey) <= max(4 * count, 1 << 16) {
            dense = [Int32](repeating: -1, count: Int(maxKey) + 1)
            for (slot, key) in keys.enumerated() { dense[Int(key)] = Int32(slot) }
        } else {
            isDense = false
            sparse.reserveCapacity(count)
            for (slot, key) in keys.enumerated() { sparse[key] = slot }
        }
    }

    @inline(__always)
    subscript(key: UInt32) -> Int? {
        if isDense {
            let k = Int(key)
            guard k < dense.count else { return nil }
            let slot = dense[k]
            return slot < 0 ? nil : Int(slot)
        }
        return sparse[key]
    }
}
