import HashTreeCollections

extension MembershipIndex {
    /// Every way this snapshot breaks the model's invariants (empty when it is sound):
    /// memberships agree in both directions, only active users have memberships under `revoke`,
    /// deleted users have none under any policy, lookups point at the right records, counts add up.
    public func invariantViolations(limit: Int = 100) -> [String] {
        var problems: [String] = []
        func report(_ message: String) { if problems.count < limit { problems.append(message) } }
        var memberships = 0
        users.forEach { id, user in
            if user.record.id != id { report("user '\(id)' is stored under another id '\(user.record.id)'") }
            if users.id(forKey: user.key) != id { report("user '\(id)': key \(user.key) does not map back to it") }
            guard let directory = directories[user.record.directoryID] else {
                report("user '\(id)' belongs to missing directory '\(user.record.directoryID)'")
                return
            }
            if zip(user.groups, user.groups.dropFirst()).contains(where: { $0 >= $1 }) {
                report("user '\(id)': group keys are not sorted and unique")
            }
            if !user.groups.isEmpty {
                if user.record.state == .deleted {
                    report("deleted user '\(id)' still has \(user.groups.count) memberships")
                } else if user.record.state == .suspended && directory.directory.policy == .revoke {
                    report("suspended user '\(id)' still has \(user.groups.count) memberships under policy revoke")
                }
            }
            for groupKey in user.groups {
                guard let group = groups.entry(forKey: groupKey) else {
                    report("user '\(id)' is in missing group key \(groupKey)")
                    continue
                }
                if !group.members.contains(user.key) {
                    report("user '\(id)' lists group '\(group.record.id)' but the group does not list the user")
                }
            }
            memberships += user.groups.count
            let name = ScopedName(directory: user.directoryKey, name: user.record.userName.lowercased())
            if user.record.state != .deleted && liveUserNames[name] != id {
                report("userName '\(user.record.userName)' does not resolve to live user '\(id)'")
            }
        }
        groups.forEach { id, group in
            if groups.id(forKey: group.key) != id { report("group '\(id)': key \(group.key) does not map back to it") }
            for memberKey in group.members {
                guard let userID = users.id(forKey: memberKey), let user = users[userID] else {
                    report("group '\(id)' lists missing user key \(memberKey)")
                    continue
                }
                if !Self.sortedContains(user.groups, group.key) {
                    report("group '\(id)' lists user '\(userID)' but the user does not list the group")
                }
            }
        }
        if memberships != membershipCount {
            report("membership count is \(membershipCount) but users hold \(memberships)")
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
