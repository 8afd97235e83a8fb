import HashTreeCollections

extension MembershipIndex {
    /// Every way this snapshot breaks the model's invariants (empty when it is sound):
    /// memberships agree in both directions, only active users have memberships under `revoke`,
    /// deleted users have none under any policy, lookups point at the right records, counts add up.
    ///
    /// Runs at every startup over the whole index, so it reads each user and group once, makes
    /// no lookup by String id, and checks the two directions of the membership relation by
    /// counting instead of probing both: every (group, user) pair a group lists must be in the
    /// user's sorted keys, and both sides must hold the same number of pairs; with both sides
    /// free of duplicates that makes them equal. Only when the counts differ does a second pass
    /// look for the user-side pairs that the groups do not list, to name them.
    ///
    /// The pass over users and the pass over memberships are independent and run on two threads.
    public func invariantViolations(limit: Int = 100) -> [String] {
        let (userProblems, membershipProblems) = inParallel(
            { userViolations(limit: limit) }, { membershipViolations(limit: limit) })
        return Array((userProblems + membershipProblems).prefix(limit))
    }

    /// Each user against its hot entry, its directory's policy and its userName lookup.
    private func userViolations(limit: Int) -> [String] {
        var problems: [String] = []
        func report(_ message: String) { if problems.count < limit { problems.append(message) } }
        var directoriesByKey: [UInt32: DirectoryEntry] = [:]
        for (_, entry) in directories { directoriesByKey[entry.key] = entry }
        var liveUsers = 0
        users.records.forEach { key, record in
            let id = record.id
            if record.key != key { report("user '\(id)' is stored under key \(key) but holds key \(record.key)") }
            if key >= nextUserKey { report("user '\(id)': key \(key) is not below the next key \(nextUserKey)") }
            guard let hot = users.hot[UUIDKey(id)], hot.key == key else {
                report("user '\(id)': key \(key) does not map back to it")
                return
            }
            guard let directory = directoriesByKey[hot.directoryKey], directory.directory.id == record.directoryID else {
                report("user '\(id)' belongs to missing directory '\(record.directoryID)'")
                return
            }
            if hot.state != record.state { report("user '\(id)': state \(hot.state) in the check table, \(record.state) in the record") }
            let groupKeys = hot.groupKeys
            if !MemberSet.isStrictlyAscending(groupKeys) {
                report("user '\(id)': group keys are not sorted and unique")
            }
            if !groupKeys.isEmpty {
                if record.state == .deleted {
                    report("deleted user '\(id)' still has \(groupKeys.count) memberships")
                } else if record.state == .suspended && directory.directory.policy == .revoke {
                    report("suspended user '\(id)' still has \(groupKeys.count) memberships under policy revoke")
                }
            }
            if record.state != .deleted {
                liveUsers += 1
                let name = ScopedName(directory: hot.directoryKey, name: record.userName.lowercasedIfNeeded())
                if liveUserNames[name] != id {
                    report("userName '\(record.userName)' does not resolve to live user '\(id)'")
                }
            }
        }
        if users.hot.count != users.records.count {
            report("\(users.hot.count) users in the check table but \(users.records.count) records")
        }
        if liveUserNames.count != liveUsers {
            report("\(liveUserNames.count) live userNames but \(liveUsers) live users")
        }
        return problems
    }

    /// The two directions of the membership relation agree, and the count matches.
    private func membershipViolations(limit: Int) -> [String] {
        var problems: [String] = []
        func report(_ message: String) { if problems.count < limit { problems.append(message) } }
        // Each user's group keys, by user key (one sequential scan of the hot table; the keys
        // are copied as they are stored, inline or spilled, so nothing is allocated per user).
        var groupsByUserKey = [GroupKeys?](repeating: nil, count: Int(nextUserKey) + 1)
        var userSidePairs = 0
        users.hot.forEach { _, hot in
            if Int(hot.key) < groupsByUserKey.count { groupsByUserKey[Int(hot.key)] = hot.groupKeys }
            userSidePairs += hot.groupKeys.count
        }
        var groupSidePairs = 0
        var groupIDByKey: [UInt32: String] = [:]
        groups.entries.forEach { key, group in
            let id = group.record.id
            guard group.key == key, let hot = groups.hot[UUIDKey(id)], hot.key == key else {
                report("group '\(id)': key \(group.key) does not map back to it")
                return
            }
            groupIDByKey[key] = id
            group.members.forEach { memberKey in
                groupSidePairs += 1
                let index = Int(memberKey)
                guard index < groupsByUserKey.count, let userGroups = groupsByUserKey[index] else {
                    report("group '\(id)' lists missing user key \(memberKey)")
                    return
                }
                if !userGroups.containsSorted(key) {
                    report("group '\(id)' lists user key \(memberKey) ('\(users.id(forKey: memberKey) ?? "?")') but the user does not list the group")
                }
            }
        }
        if groups.hot.count != groups.entries.count {
            report("\(groups.hot.count) groups in the check table but \(groups.entries.count) entries")
        }
        if userSidePairs != groupSidePairs {
            // Name the pairs only the users list (rare: this pass probes every user-side pair).
            for (userKey, userGroups) in groupsByUserKey.enumerated() {
                guard let userGroups else { continue }
                for groupKey in userGroups {
                    guard let groupID = groupIDByKey[groupKey], let group = groups.entry(forKey: groupKey) else {
                        report("user key \(userKey) ('\(users.id(forKey: UInt32(userKey)) ?? "?")') is in missing group key \(groupKey)")
                        continue
                    }
                    if !group.members.contains(UInt32(userKey)) {
                        report("user key \(userKey) ('\(users.id(forKey: UInt32(userKey)) ?? "?")') lists group '\(groupID)' but the group does not list the user")
                    }
                }
            }
        }
        if userSidePairs != membershipCount {
            report("membership count is \(membershipCount) but users hold \(userSidePairs)")
        }
        return problems
    }

    /// Every difference between two snapshots' content (ignoring internal keys): used to check
    /// that the live index equals one rebuilt from the store.
    public func differences(from other: MembershipIndex, limit: Int = 100) -> [String] {
        var problems: [String] = []
        func report(_ message: String) { if problems.count < limit { problems.append(message) } }
        if revision != other.revision { report("revision \(revision) ≠ \(other.revision)") }
        for (id, entry) in directories where other.directories[id]?.directory != entry.directory {
            report("directory '\(id)' differs or is missing")
        }
        for (id, _) in other.directories where directories[id] == nil { report("directory '\(id)' is extra") }
        users.forEach { id, user in
            guard let theirs = other.users[id] else { return report("user '\(id)' is missing") }
            if theirs.record != user.record { report("user '\(id)' differs: \(user.record) ≠ \(theirs.record)") }
            let mine = Set(groupIDs(ofUser: id))
            let their = Set(other.groupIDs(ofUser: id))
            if mine != their {
                report("user '\(id)' groups differ: only here \(mine.subtracting(their).sorted()), only there \(their.subtracting(mine).sorted())")
            }
        }
        other.users.forEach { id, _ in if users[id] == nil { report("user '\(id)' is extra") } }
        groups.forEach { id, group in
            guard let theirs = other.groups[id] else { return report("group '\(id)' is missing") }
            if theirs.record != group.record { report("group '\(id)' differs: \(group.record) ≠ \(theirs.record)") }
            if theirs.members.count != group.members.count {
                report("group '\(id)' has \(group.members.count) members here, \(theirs.members.count) there")
            }
        }
        other.groups.forEach { id, _ in if groups[id] == nil { report("group '\(id)' is extra") } }
        if membershipCount != other.membershipCount {
            report("membership count \(membershipCount) ≠ \(other.membershipCount)")
        }
        return problems
    }
}
