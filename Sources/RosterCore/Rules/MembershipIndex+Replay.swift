import HashTreeCollections

extension MembershipIndex {
    /// Applies the row effects of one revision that a writer (this process or another instance of a
    /// fleet) already committed, without running the rules again: the follower's half of
    /// `apply(_:now:)`. Replaying every revision's `Applied.changes` in order onto the index of the
    /// revision before gives the writer's index (users, groups, memberships, lookups, tombstones,
    /// counts and the next keys alike); `ReplayTests` checks that on random sequences.
    ///
    /// Row effects rather than mutations, so that an instance running another release of the rules
    /// (a rolling upgrade) still converges on exactly what the writer decided.
    /// - Throws: `RosterError(.invalidValue)` when `revision` does not follow this index's, or a
    ///   change names a directory, user or group that is not there (a gap or a foreign log); the
    ///   index is then unchanged.
    public mutating func replay(_ changes: [StoreChange], revision newRevision: UInt64) throws(RosterError) {
        guard newRevision == revision &+ 1 else {
            throw RosterError(.invalidValue, "revision \(newRevision) does not follow \(revision); revisions must be replayed in order")
        }
        var next = self
        for change in changes {
            switch change {
            case .putDirectory(let directory):
                next.replayPut(directory)
            case .deleteDirectory(let id):
                guard next.directories[id] != nil else { throw Self.replayGap("directory '\(id)'", newRevision) }
                var ignored = ApplyContext(revision: newRevision, now: 0)
                try next.deleteDirectory(id, &ignored)
            case .putUser(let record, _):
                try next.replayPut(record, revision: newRevision)
            case .putGroup(let record, _):
                try next.replayPut(record, revision: newRevision)
            case .deleteGroup(let id):
                try next.replayDeleteGroup(id, revision: newRevision)
            case .addMember(let groupKey, let userKey):
                try next.replayMembership(groupKey: groupKey, userKey: userKey, add: true, revision: newRevision)
            case .removeMember(let groupKey, let userKey):
                try next.replayMembership(groupKey: groupKey, userKey: userKey, add: false, revision: newRevision)
            }
        }
        next.revision = newRevision
        self = next
    }

    private static func replayGap(_ what: String, _ revision: UInt64) -> RosterError {
        RosterError(.invalidValue, "revision \(revision) names \(what), which this index does not hold; the log has a gap or belongs to another database")
    }

    private mutating func replayPut(_ directory: Directory) {
        if var entry = directories[directory.id] {
            entry.directory = directory
            directories[directory.id] = entry
            return
        }
        // Directory keys are not stored: they are handed out in creation order, as the rules do.
        let key = nextDirectoryKey
        nextDirectoryKey += 1
        directories[directory.id] = DirectoryEntry(
            key: key, directory: directory, userCount: 0, activeUserCount: 0, groupCount: 0, membershipCount: 0)
    }

    private mutating func replayPut(_ record: UserRecord, revision: UInt64) throws(RosterError) {
        guard var directory = directories[record.directoryID] else {
            throw Self.replayGap("directory '\(record.directoryID)' of user '\(record.id)'", revision)
        }
        // Every record of a directory shares the directory's id String, as the rules arrange it.
        var record = record
        record.directoryID = directory.directory.id
        guard var entry = users[record.id] else {
            let entry = UserEntry(key: record.key, directoryKey: directory.key, record: record, groups: [])
            users[record.id] = entry
            nextUserKey = Swift.max(nextUserKey, record.key &+ 1)
            if record.state != .deleted {
                addUserLookups(entry)
                directory.userCount += 1
                if record.state == .active { directory.activeUserCount += 1 }
            }
            directories[record.directoryID] = directory
            return
        }
        let old = entry.record
        if old.state != .deleted {
            if record.state == .deleted {
                removeUserLookups(entry, keepTombstone: true)
                directory.userCount -= 1
            } else if old.userName != record.userName || old.externalID != record.externalID {
                removeUserLookups(entry, keepTombstone: false)
                entry.record = record
                addUserLookups(entry)
            }
            if old.state == .active { directory.activeUserCount -= 1 }
            if record.state == .active { directory.activeUserCount += 1 }
        }
        entry.record = record
        users[record.id] = entry
        directories[record.directoryID] = directory
    }

    private mutating func replayPut(_ record: GroupRecord, revision: UInt64) throws(RosterError) {
        guard var directory = directories[record.directoryID] else {
            throw Self.replayGap("directory '\(record.directoryID)' of group '\(record.id)'", revision)
        }
        var record = record
        record.directoryID = directory.directory.id
        guard var entry = groups[record.id] else {
            let entry = GroupEntry(key: record.key, directoryKey: directory.key, record: record, members: MemberSet())
            groups[record.id] = entry
            nextGroupKey = Swift.max(nextGroupKey, record.key &+ 1)
            addGroupLookups(entry)
            directory.groupCount += 1
            directories[record.directoryID] = directory
            return
        }
        if entry.record.displayName != record.displayName || entry.record.externalID != record.externalID {
            removeGroupLookups(entry)
            entry.record = record
            addGroupLookups(entry)
        }
        entry.record = record
        groups[record.id] = entry
    }

    private mutating func replayDeleteGroup(_ id: String, revision: UInt64) throws(RosterError) {
        guard let entry = groups[id] else { throw Self.replayGap("group '\(id)'", revision) }
        // The writer removed the members first (each a change of its own); any left are removed here.
        for userKey in entry.memberKeys {
            try replayMembership(groupKey: entry.key, userKey: userKey, add: false, revision: revision)
        }
        removeGroupLookups(entry)
        groups[id] = nil
        if var directory = directories[entry.record.directoryID] {
            directory.groupCount -= 1
            directories[entry.record.directoryID] = directory
        }
    }

    private mutating func replayMembership(groupKey: UInt32, userKey: UInt32, add: Bool, revision: UInt64)
        throws(RosterError)
    {
        guard let groupID = groups.id(forKey: groupKey), var group = groups[groupID] else {
            throw Self.replayGap("group key \(groupKey)", revision)
        }
        guard let userID = users.id(forKey: userKey), var user = users[userID] else {
            throw Self.replayGap("user key \(userKey)", revision)
        }
        let index = Self.lowerBound(user.groups, groupKey, startingAbove: nil)
        let present = index < user.groups.count && user.groups[index] == groupKey
        guard present != add else { return }
        if add {
            user.groups.insert(groupKey, at: index)
            group.members.insert(userKey)
        } else {
            user.groups.remove(at: index)
            group.members.remove(userKey)
        }
        users[userID] = user
        groups[groupID] = group
        let delta = add ? 1 : -1
        membershipCount += delta
        if var directory = directories[group.record.directoryID] {
            directory.membershipCount += delta
            directories[group.record.directoryID] = directory
        }
    }
}
