import OrderedCollections
import HashTreeCollections

/// Accumulates what one mutation did while the rules run.
struct ApplyContext {
    let revision: UInt64
    let now: Int64
    var events: [Event] = []
    var changes: [StoreChange] = []
    var notes: [String] = []
    /// Groups and users whose memberships changed: their versions move (a user's `groups` is part
    /// of its representation, so its ETag must change too) and the store must record that.
    var touchedGroups: [String] = []
    var touchedUsers: [String] = []

    mutating func emit(
        _ kind: Event.Kind, directoryID: String, userID: String? = nil, groupID: String? = nil,
        cause: Event.Cause = .request
    ) {
        events.append(
            Event(
                revision: revision, seq: UInt32(truncatingIfNeeded: events.count), directoryID: directoryID,
                kind: kind, userID: userID, groupID: groupID, cause: cause, time: now))
    }
}

extension MembershipIndex {
    /// Applies one mutation under the normalization rules and returns what it did.
    ///
    /// Every accepted mutation advances `revision` by one, whether or not it changed anything
    /// (a retried PATCH changes nothing and emits no event, but is still an acknowledged write).
    /// - Parameters:
    ///   - mutation: the normalized write.
    ///   - now: the wall-clock time in milliseconds since the Unix epoch, recorded in events.
    /// - Throws: `RosterError` when a rule refuses the write; `self` is then unchanged.
    public mutating func apply(_ mutation: Mutation, now: Int64) throws(RosterError) -> Applied {
        var next = self
        var context = ApplyContext(revision: revision &+ 1, now: now)
        var user: UserRecord?
        var group: GroupRecord?
        switch mutation {
        case .createDirectory(let directory):
            try next.createDirectory(directory, &context)
        case .deleteDirectory(let id):
            try next.deleteDirectory(id, &context)
        case .createUser(let directoryID, let id, let draft):
            user = try next.createUser(directoryID: directoryID, id: id, draft, &context)
        case .replaceUser(let directoryID, let id, let draft, let previous):
            user = try next.replaceUser(directoryID: directoryID, id: id, draft, previous: previous, &context)
        case .deleteUser(let directoryID, let id):
            try next.deleteUser(directoryID: directoryID, id: id, &context)
        case .createGroup(let directoryID, let id, let draft, let members):
            group = try next.createGroup(directoryID: directoryID, id: id, draft, members: members, &context)
        case .updateGroup(let directoryID, let id, let draft, let previous, let memberOps, let cause):
            group = try next.updateGroup(
                directoryID: directoryID, id: id, draft: draft, previous: previous, memberOps: memberOps, cause: cause,
                &context)
        case .deleteGroup(let directoryID, let id, let cause):
            try next.deleteGroup(directoryID: directoryID, id: id, cause: cause, &context)
        case .none(let directoryID):
            _ = try next.directoryEntry(directoryID)
        }
        // A membership change moves the group's version: make sure the store row follows.
        let written = Set(context.changes.compactMap { change -> String? in
            if case .putGroup(let g, _) = change { return g.id }
            if case .deleteGroup(let id) = change { return id }
            return nil
        })
        var seen = Set<String>()
        for groupID in context.touchedGroups where !written.contains(groupID) && seen.insert(groupID).inserted {
            if let record = next.groups[groupID]?.record { context.changes.append(.putGroup(record, resource: nil)) }
        }
        let writtenUsers = Set(context.changes.compactMap { change -> String? in
            if case .putUser(let u, _) = change, u.version == context.revision { return u.id }
            return nil
        })
        for userID in context.touchedUsers where !writtenUsers.contains(userID) && seen.insert("u:" + userID).inserted {
            guard var entry = next.users[userID] else { continue }
            if entry.record.version != context.revision {
                entry.record.version = context.revision
                next.users[userID] = entry
            }
            context.changes.append(.putUser(entry.record, resource: nil))
        }
        next.revision = context.revision
        self = next
        return Applied(
            revision: context.revision, events: context.events, changes: context.changes, notes: context.notes,
            user: user, group: group)
    }

    // MARK: Directories

    func directoryEntry(_ id: String) throws(RosterError) -> DirectoryEntry {
        guard let entry = directories[id] else {
            throw RosterError(.directoryNotFound, "no directory with id '\(id)'")
        }
        return entry
    }

    private mutating func createDirectory(_ directory: Directory, _ context: inout ApplyContext) throws(RosterError) {
        guard !directory.id.isEmpty else { throw RosterError(.invalidValue, "a directory id must not be empty") }
        guard directories[directory.id] == nil else {
            throw RosterError(.directoryExists, "a directory with id '\(directory.id)' already exists")
        }
        try Self.validate(text: directory.name, field: "directory name")
        if let existing = directories.values.first(where: { $0.directory.name == directory.name }) {
            throw RosterError(
                .directoryExists,
                "a directory named '\(directory.name)' already exists (id \(existing.directory.id)); choose another name")
        }
        let key = nextDirectoryKey
        nextDirectoryKey += 1
        directories[directory.id] = DirectoryEntry(
            key: key, directory: directory, userCount: 0, activeUserCount: 0, groupCount: 0, membershipCount: 0)
        context.changes.append(.putDirectory(directory))
        context.emit(.directoryCreated, directoryID: directory.id, cause: .admin)
    }

    mutating func deleteDirectory(_ id: String, _ context: inout ApplyContext) throws(RosterError) {
        let entry = try directoryEntry(id)
        var groupIDs: [String] = []
        groups.forEach { groupID, group in if group.directoryKey == entry.key { groupIDs.append(groupID) } }
        var userIDs: [String] = []
        users.forEach { userID, user in if user.directoryKey == entry.key { userIDs.append(userID) } }
        for groupID in groupIDs.sorted() {
            if let group = groups[groupID] {
                for memberKey in group.members {
                    if let userID = users.id(forKey: memberKey) { removeMembershipRows(userID: userID, groupID: groupID) }
                }
                membershipCount -= group.members.count
                removeGroupLookups(group)
                groups[groupID] = nil
            }
        }
        for userID in userIDs {
            if let user = users[userID] {
                removeUserLookups(user, keepTombstone: false)
                users[userID] = nil
            }
        }
        directories[id] = nil
        context.changes.append(.deleteDirectory(id: id))
        context.emit(.directoryDeleted, directoryID: id, cause: .admin)
    }

    /// Removes one membership from both sides without events (used when the whole directory goes).
    private mutating func removeMembershipRows(userID: String, groupID: String) {
        guard var user = users[userID], let groupKey = groups[groupID]?.key else { return }
        user.groups.removeAll { $0 == groupKey }
        users[userID] = user
    }

    // MARK: Users

    private mutating func createUser(
        directoryID: String, id: String, _ draft: UserDraft, _ context: inout ApplyContext
    ) throws(RosterError) -> UserRecord {
        var directory = try directoryEntry(directoryID)
        try Self.validate(userDraft: draft)
        guard !id.isEmpty else { throw RosterError(.invalidValue, "a user id must not be empty") }
        guard users[id] == nil else { throw RosterError(.uniqueness, "a user with id '\(id)' already exists") }
        try checkUserUniqueness(draft, directoryKey: directory.key, excluding: nil)
        guard nextUserKey < UInt32.max else {
            throw RosterError(.invalidValue, "the index holds the maximum number of users")
        }
        let key = nextUserKey
        nextUserKey += 1
        let state: UserState = draft.active ? .active : .suspended
        // The directory's own id String: every record of the directory shares one storage.
        let record = UserRecord(
            key: key, id: id, directoryID: directory.directory.id, userName: draft.userName, externalID: draft.externalID,
            displayName: draft.displayName, state: state, version: context.revision)
        let entry = UserEntry(key: key, directoryKey: directory.key, record: record, groups: [])
        users[id] = entry
        addUserLookups(entry)
        directory.userCount += 1
        if state == .active { directory.activeUserCount += 1 }
        directories[directoryID] = directory
        context.changes.append(.putUser(record, resource: draft.resource))
        context.emit(.userCreated, directoryID: directoryID, userID: id)
        if state == .suspended { context.emit(.userSuspended, directoryID: directoryID, userID: id) }
        try addGroupsFromUserBody(draft.groupIDs, userID: id, directoryID: directoryID, &context)
        return users[id]?.record ?? record
    }

    private mutating func replaceUser(
        directoryID: String, id: String, _ draft: UserDraft, previous: JSONObject?, _ context: inout ApplyContext
    ) throws(RosterError) -> UserRecord {
        let directory = try directoryEntry(directoryID)
        try Self.validate(userDraft: draft)
        guard var entry = users[id], entry.directoryKey == directory.key, entry.record.state != .deleted else {
            throw RosterError(.userNotFound, "no user with id '\(id)' in directory '\(directoryID)'")
        }
        try checkUserUniqueness(draft, directoryKey: directory.key, excluding: id)
        let oldState = entry.record.state
        let newState: UserState = draft.active ? .active : .suspended
        let fieldsChanged =
            entry.record.userName != draft.userName || entry.record.externalID != draft.externalID
            || entry.record.displayName != draft.displayName
        // `active` is reported through user.suspended / user.reactivated, so it does not count here.
        let attributesChanged = previous.map { Self.withoutActive($0) != Self.withoutActive(draft.resource) } ?? true
        guard fieldsChanged || attributesChanged || oldState != newState else {
            // A retried or empty write: acknowledged, nothing changed, no event (idempotence).
            try addGroupsFromUserBody(draft.groupIDs, userID: id, directoryID: directoryID, &context)
            return users[id]?.record ?? entry.record
        }
        removeUserLookups(entry, keepTombstone: false)
        entry.record.userName = draft.userName
        entry.record.externalID = draft.externalID
        entry.record.displayName = draft.displayName
        entry.record.version = context.revision
        users[id] = entry
        addUserLookups(entry)
        if fieldsChanged || attributesChanged {
            context.emit(.userUpdated, directoryID: directoryID, userID: id)
        }
        if oldState != newState {
            setUserState(id: id, to: newState, directoryID: directoryID, &context)
        }
        let record = users[id]?.record ?? entry.record
        context.changes.append(.putUser(record, resource: draft.resource))
        try addGroupsFromUserBody(draft.groupIDs, userID: id, directoryID: directoryID, &context)
        return users[id]?.record ?? record
    }

    static func withoutActive(_ resource: JSONObject) -> JSONObject {
        var copy = resource
        if let key = copy.storedKey(caseInsensitive: "active") { copy.removeValue(forKey: key) }
        return copy
    }

    private mutating func deleteUser(directoryID: String, id: String, _ context: inout ApplyContext) throws(RosterError) {
        let directory = try directoryEntry(directoryID)
        guard let entry = users[id], entry.directoryKey == directory.key, entry.record.state != .deleted else {
            throw RosterError(.userNotFound, "no user with id '\(id)' in directory '\(directoryID)'")
        }
        setUserState(id: id, to: .deleted, directoryID: directoryID, &context)
        if let record = users[id]?.record { context.changes.append(.putUser(record, resource: nil)) }
    }

    /// Moves a user between states and applies the membership rules:
    /// - suspension under `revoke`, and deletion always, remove every membership (one event each);
    /// - reactivation restores nothing (under `retain` the kept memberships become live again).
    private mutating func setUserState(
        id: String, to newState: UserState, directoryID: String, _ context: inout ApplyContext
    ) {
        guard var entry = users[id], var directory = directories[directoryID] else { return }
        let oldState = entry.record.state
        guard oldState != newState else { return }
        let revokes = newState == .deleted || (newState == .suspended && directory.directory.policy == .revoke)
        if revokes && !entry.groups.isEmpty {
            let cause: Event.Cause = newState == .deleted ? .userDeleted : .userSuspended
            for groupKey in entry.groups {
                guard let groupID = groups.id(forKey: groupKey), var group = groups[groupID] else { continue }
                group.members.remove(entry.key)
                group.record.version = context.revision
                groups[groupID] = group
                context.changes.append(.removeMember(groupKey: group.key, userKey: entry.key))
                context.touchedGroups.append(groupID)
                context.emit(.groupUserRemoved, directoryID: directoryID, userID: id, groupID: groupID, cause: cause)
            }
            membershipCount -= entry.groups.count
            directory.membershipCount -= entry.groups.count
            entry.groups = []
        }
        if newState == .deleted {
            removeUserLookups(entry, keepTombstone: true)
            directory.userCount -= 1
        }
        if oldState == .active { directory.activeUserCount -= 1 }
        if newState == .active { directory.activeUserCount += 1 }
        entry.record.state = newState
        entry.record.version = context.revision
        users[id] = entry
        directories[directoryID] = directory
        switch newState {
        case .active: context.emit(.userReactivated, directoryID: directoryID, userID: id)
        case .suspended: context.emit(.userSuspended, directoryID: directoryID, userID: id)
        case .deleted: context.emit(.userDeleted, directoryID: directoryID, userID: id)
        }
    }

    /// A user's `groups` on create or replace: adds only, unknown groups noted and skipped.
    private mutating func addGroupsFromUserBody(
        _ groupIDs: [String], userID: String, directoryID: String, _ context: inout ApplyContext
    ) throws(RosterError) {
        for groupID in groupIDs {
            guard let group = groups[groupID], group.record.directoryID == directoryID else {
                context.notes.append("user \(userID): group '\(groupID)' in the user's groups does not exist; skipped")
                continue
            }
            _ = try addMember(userID: userID, groupID: group.record.id, directoryID: directoryID, &context)
        }
    }

    /// Identifiers are kept in indexed columns and compared as text; a U+0000 inside one would be
    /// cut by C string APIs downstream, so it is refused with a clear error instead.
    static func validate(text: String?, field: String) throws(RosterError) {
        if let text, text.utf8.contains(0) {
            throw RosterError(.invalidValue, "\(field) must not contain the character U+0000")
        }
    }

    static func validate(userDraft draft: UserDraft) throws(RosterError) {
        if draft.userName.isBlank {
            throw RosterError(.invalidValue, "userName is required and must not be empty")
        }
        try validate(text: draft.userName, field: "userName")
        try validate(text: draft.externalID, field: "externalId")
        try validate(text: draft.displayName, field: "displayName")
        if let external = draft.externalID, external.isEmpty {
            throw RosterError(.invalidValue, "externalId must not be an empty string (omit it instead)")
        }
    }

    private func checkUserUniqueness(_ draft: UserDraft, directoryKey: UInt32, excluding id: String?) throws(RosterError) {
        if let holder = liveUserNames[ScopedName(directory: directoryKey, name: draft.userName.lowercasedIfNeeded())],
            holder != id
        {
            throw RosterError(.uniqueness, "userName '\(draft.userName)' is already taken by user '\(holder)'")
        }
        if let external = draft.externalID,
            let holder = liveUserExternalIDs[ScopedName(directory: directoryKey, name: external)], holder != id
        {
            throw RosterError(.uniqueness, "externalId '\(external)' is already taken by user '\(holder)'")
        }
    }

    mutating func addUserLookups(_ entry: UserEntry) {
        let name = ScopedName(directory: entry.directoryKey, name: entry.record.userName.lowercasedIfNeeded())
        liveUserNames[name] = entry.record.id
        if let external = entry.record.externalID {
            liveUserExternalIDs[ScopedName(directory: entry.directoryKey, name: external)] = entry.record.id
        }
    }

    /// Drops a user's live lookups; a deleted user keeps tombstone lookups for USER_DELETED answers.
    mutating func removeUserLookups(_ entry: UserEntry, keepTombstone: Bool) {
        let name = ScopedName(directory: entry.directoryKey, name: entry.record.userName.lowercasedIfNeeded())
        if liveUserNames[name] == entry.record.id { liveUserNames[name] = nil }
        if keepTombstone { deletedUserNames[name] = entry.record.id }
        if let external = entry.record.externalID {
            let scoped = ScopedName(directory: entry.directoryKey, name: external)
            if liveUserExternalIDs[scoped] == entry.record.id { liveUserExternalIDs[scoped] = nil }
            if keepTombstone { deletedUserExternalIDs[scoped] = entry.record.id }
        }
        if !keepTombstone {
            if deletedUserNames[name] == entry.record.id { deletedUserNames[name] = nil }
            if let external = entry.record.externalID {
                let scoped = ScopedName(directory: entry.directoryKey, name: external)
                if deletedUserExternalIDs[scoped] == entry.record.id { deletedUserExternalIDs[scoped] = nil }
            }
        }
    }

    // MARK: Memberships

    /// Adds a membership if the rules allow it. Returns whether anything changed.
    /// An add for a suspended user (under `revoke`) or a deleted one is acknowledged and ignored.
    private mutating func addMember(
        userID: String, groupID: String, directoryID: String, _ context: inout ApplyContext
    ) throws(RosterError) -> Bool {
        guard var user = users[userID], user.record.directoryID == directoryID else {
            throw RosterError(
                .unknownMember,
                "member '\(userID)' is not a user of directory '\(directoryID)'; create the user before adding it to a group")
        }
        guard var directory = directories[directoryID], var group = groups[groupID] else { return false }
        switch user.record.state {
        case .deleted:
            context.notes.append("add of deleted user '\(userID)' to group '\(groupID)' ignored")
            return false
        case .suspended where directory.directory.policy == .revoke:
            context.notes.append("add of suspended user '\(userID)' to group '\(groupID)' ignored (policy revoke)")
            return false
        default:
            break
        }
        let index = Self.lowerBound(user.groups, group.key, startingAbove: nil)
        if index < user.groups.count && user.groups[index] == group.key { return false }
        user.groups.insert(group.key, at: index)
        users[userID] = user
        group.members.insert(user.key)
        group.record.version = context.revision
        groups[groupID] = group
        membershipCount += 1
        directory.membershipCount += 1
        directories[directoryID] = directory
        context.changes.append(.addMember(groupKey: group.key, userKey: user.key))
        context.touchedGroups.append(groupID)
        context.touchedUsers.append(userID)
        context.emit(.groupUserAdded, directoryID: directoryID, userID: userID, groupID: groupID)
        return true
    }

    /// Removes a membership if present. Returns whether anything changed.
    private mutating func removeMember(
        userID: String, groupID: String, directoryID: String, cause: Event.Cause, _ context: inout ApplyContext
    ) -> Bool {
        guard var user = users[userID], var group = groups[groupID], var directory = directories[directoryID] else {
            return false
        }
        let index = Self.lowerBound(user.groups, group.key, startingAbove: nil)
        guard index < user.groups.count && user.groups[index] == group.key else { return false }
        user.groups.remove(at: index)
        users[userID] = user
        group.members.remove(user.key)
        group.record.version = context.revision
        groups[groupID] = group
        membershipCount -= 1
        directory.membershipCount -= 1
        directories[directoryID] = directory
        context.changes.append(.removeMember(groupKey: group.key, userKey: user.key))
        context.touchedGroups.append(groupID)
        context.touchedUsers.append(userID)
        context.emit(.groupUserRemoved, directoryID: directoryID, userID: userID, groupID: groupID, cause: cause)
        return true
    }

    private mutating func apply(
        memberOps: [MemberOp], groupID: String, directoryID: String, cause: Event.Cause, _ context: inout ApplyContext
    ) throws(RosterError) {
        for op in memberOps {
            switch op {
            case .add(let ids):
                for userID in ids { _ = try addMember(userID: userID, groupID: groupID, directoryID: directoryID, &context) }
            case .remove(let ids):
                for userID in ids {
                    _ = removeMember(userID: userID, groupID: groupID, directoryID: directoryID, cause: cause, &context)
                }
            case .removeAll:
                for userID in memberIDs(ofGroup: groupID).sorted() {
                    _ = removeMember(userID: userID, groupID: groupID, directoryID: directoryID, cause: cause, &context)
                }
            case .replaceAll(let ids):
                let wanted = Set(ids)
                for userID in memberIDs(ofGroup: groupID).sorted() where !wanted.contains(userID) {
                    _ = removeMember(userID: userID, groupID: groupID, directoryID: directoryID, cause: cause, &context)
                }
                for userID in ids { _ = try addMember(userID: userID, groupID: groupID, directoryID: directoryID, &context) }
            }
        }
    }

    // MARK: Groups

    private mutating func createGroup(
        directoryID: String, id: String, _ draft: GroupDraft, members: [String], _ context: inout ApplyContext
    ) throws(RosterError) -> GroupRecord {
        var directory = try directoryEntry(directoryID)
        try Self.validate(groupDraft: draft)
        guard !id.isEmpty else { throw RosterError(.invalidValue, "a group id must not be empty") }
        guard groups[id] == nil else { throw RosterError(.uniqueness, "a group with id '\(id)' already exists") }
        try checkGroupUniqueness(draft, directoryKey: directory.key, excluding: nil)
        guard nextGroupKey < UInt32.max else {
            throw RosterError(.invalidValue, "the index holds the maximum number of groups")
        }
        let key = nextGroupKey
        nextGroupKey += 1
        let record = GroupRecord(
            key: key, id: id, directoryID: directory.directory.id, displayName: draft.displayName, externalID: draft.externalID,
            version: context.revision)
        let entry = GroupEntry(key: key, directoryKey: directory.key, record: record, members: MemberSet())
        groups[id] = entry
        addGroupLookups(entry)
        directory.groupCount += 1
        directories[directoryID] = directory
        context.changes.append(.putGroup(record, resource: draft.resource))
        context.emit(.groupCreated, directoryID: directoryID, groupID: id)
        try apply(memberOps: [.add(members)], groupID: id, directoryID: directoryID, cause: .request, &context)
        return groups[id]?.record ?? record
    }

    private mutating func updateGroup(
        directoryID: String, id: String, draft: GroupDraft?, previous: JSONObject?, memberOps: [MemberOp],
        cause: Event.Cause, _ context: inout ApplyContext
    ) throws(RosterError) -> GroupRecord {
        let directory = try directoryEntry(directoryID)
        guard var entry = groups[id], entry.directoryKey == directory.key else {
            throw RosterError(.groupNotFound, "no group with id '\(id)' in directory '\(directoryID)'")
        }
        if let draft {
            try Self.validate(groupDraft: draft)
            try checkGroupUniqueness(draft, directoryKey: directory.key, excluding: id)
            let fieldsChanged = entry.record.displayName != draft.displayName || entry.record.externalID != draft.externalID
            let attributesChanged = previous.map { $0 != draft.resource } ?? true
            if fieldsChanged || attributesChanged {
                removeGroupLookups(entry)
                entry.record.displayName = draft.displayName
                entry.record.externalID = draft.externalID
                entry.record.version = context.revision
                groups[id] = entry
                addGroupLookups(entry)
                context.changes.append(.putGroup(entry.record, resource: draft.resource))
                context.emit(.groupUpdated, directoryID: directoryID, groupID: id)
            }
        }
        try apply(memberOps: memberOps, groupID: id, directoryID: directoryID, cause: cause, &context)
        let record = groups[id]?.record ?? entry.record
        return record
    }

    private mutating func deleteGroup(
        directoryID: String, id: String, cause: Event.Cause, _ context: inout ApplyContext
    ) throws(RosterError) {
        var directory = try directoryEntry(directoryID)
        guard let entry = groups[id], entry.directoryKey == directory.key else {
            throw RosterError(.groupNotFound, "no group with id '\(id)' in directory '\(directoryID)'")
        }
        for userID in memberIDs(ofGroup: id).sorted() {
            _ = removeMember(userID: userID, groupID: id, directoryID: directoryID, cause: .groupDeleted, &context)
        }
        directory = directories[directoryID] ?? directory
        removeGroupLookups(entry)
        groups[id] = nil
        directory.groupCount -= 1
        directories[directoryID] = directory
        context.changes.append(.deleteGroup(id: id))
        context.emit(.groupDeleted, directoryID: directoryID, groupID: id, cause: cause)
    }

    static func validate(groupDraft draft: GroupDraft) throws(RosterError) {
        if draft.displayName.isBlank {
            throw RosterError(.invalidValue, "displayName is required and must not be empty")
        }
        try validate(text: draft.displayName, field: "displayName")
        try validate(text: draft.externalID, field: "externalId")
        if let external = draft.externalID, external.isEmpty {
            throw RosterError(.invalidValue, "externalId must not be an empty string (omit it instead)")
        }
    }

    private func checkGroupUniqueness(_ draft: GroupDraft, directoryKey: UInt32, excluding id: String?) throws(RosterError) {
        if let external = draft.externalID,
            let holder = groupExternalIDs[ScopedName(directory: directoryKey, name: external)], holder != id
        {
            throw RosterError(.uniqueness, "externalId '\(external)' is already taken by group '\(holder)'")
        }
    }

    mutating func addGroupLookups(_ entry: GroupEntry) {
        let name = ScopedName(directory: entry.directoryKey, name: entry.record.displayName.lowercasedIfNeeded())
        var ids = groupNames[name] ?? []
        if !ids.contains(entry.record.id) { ids.append(entry.record.id) }
        groupNames[name] = ids
        if let external = entry.record.externalID {
            groupExternalIDs[ScopedName(directory: entry.directoryKey, name: external)] = entry.record.id
        }
    }

    mutating func removeGroupLookups(_ entry: GroupEntry) {
        let name = ScopedName(directory: entry.directoryKey, name: entry.record.displayName.lowercasedIfNeeded())
        if var ids = groupNames[name] {
            ids.removeAll { $0 == entry.record.id }
            groupNames[name] = ids.isEmpty ? nil : ids
        }
        if let external = entry.record.externalID {
            let scoped = ScopedName(directory: entry.directoryKey, name: external)
            if groupExternalIDs[scoped] == entry.record.id { groupExternalIDs[scoped] = nil }
        }
    }
}

extension String {
    var isBlank: Bool { allSatisfy(\.isWhitespace) }
}
