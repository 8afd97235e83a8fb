/// What a check needs of a user, kept apart from the record so that a check reads one slot of
/// the check table instead of a record full of strings. Small enough (64 bytes, fields ordered
/// for it) that a slot with its key is 80 bytes.
struct UserHot: Sendable {
    /// Keys of the user's groups, sorted ascending; inline for up to ten groups.
    var groupKeys: GroupKeys
    var state: UserState
    var key: UInt32
    var directoryKey: UInt32

    init(key: UInt32, directoryKey: UInt32, state: UserState, groups: [UInt32]) {
        self.groupKeys = GroupKeys(groups)
        self.state = state
        self.key = key
        self.directoryKey = directoryKey
    }

    /// The group keys as an array (write and verify paths; a check uses `groupKeys`).
    var groups: [UInt32] { groupKeys.array }
}

/// What a check needs of a group.
struct GroupHot: Sendable {
    var key: UInt32
    var directoryKey: UInt32
}

/// Users by SCIM id: the hot part by `UUIDKey`, the record by integer key.
struct UserTable: Sendable {
    private(set) var hot = LayeredMap<UUIDKey, UserHot>()
    private(set) var records = LayeredMap<UInt32, UserRecord>()

    init() {}

    init(hot: LayeredMap<UUIDKey, UserHot>, records: LayeredMap<UInt32, UserRecord>) {
        self.hot = hot
        self.records = records
    }

    var count: Int { records.count }

    /// The hot part of a user, for the check path.
    @inline(__always)
    func hot(_ id: String) -> UserHot? {
        if let exact = UUIDKey.parse(id) { return hot[exact] }
        // A non-UUID id is hashed: confirm it is really this user's id.
        guard let hot = hot[UUIDKey(id)], records[hot.key]?.id == id else { return nil }
        return hot
    }

    subscript(id: String) -> UserEntry? {
        get {
            guard let hot = hot(id), let record = records[hot.key] else { return nil }
            return UserEntry(key: hot.key, directoryKey: hot.directoryKey, record: record, groups: hot.groups)
        }
        set {
            let key = UUIDKey(id)
            if let entry = newValue {
                hot[key] = UserHot(
                    key: entry.key, directoryKey: entry.directoryKey, state: entry.record.state, groups: entry.groups)
                records[entry.key] = entry.record
            } else if let existing = hot[key] {
                hot[key] = nil
                records[existing.key] = nil
            }
        }
    }

    func id(forKey key: UInt32) -> String? { records[key]?.id }

    func record(forKey key: UInt32) -> UserRecord? { records[key] }

    func forEach(_ body: (String, UserEntry) throws -> Void) rethrows {
        try records.forEach { key, record in
            guard let hot = hot[UUIDKey(record.id)] else { return }
            try body(record.id, UserEntry(key: key, directoryKey: hot.directoryKey, record: record, groups: hot.groups))
        }
    }
}

/// Groups by SCIM id: the hot part by `UUIDKey`, the entry (record and members) by integer key.
struct GroupTable: Sendable {
    private(set) var hot = LayeredMap<UUIDKey, GroupHot>()
    private(set) var entries = LayeredMap<UInt32, GroupEntry>()

    init() {}

    init(hot: LayeredMap<UUIDKey, GroupHot>, entries: LayeredMap<UInt32, GroupEntry>) {
        self.hot = hot
        self.entries = entries
    }

    var count: Int { entries.count }

    @inline(__always)
    func hot(_ id: String) -> GroupHot? {
        if let exact = UUIDKey.parse(id) { return hot[exact] }
        guard let hot = hot[UUIDKey(id)], entries[hot.key]?.record.id == id else { return nil }
        return hot
    }

    subscript(id: String) -> GroupEntry? {
        get {
            guard let hot = hot(id) else { return nil }
            return entries[hot.key]
        }
        set {
            let key = UUIDKey(id)
            if let entry = newValue {
                hot[key] = GroupHot(key: entry.key, directoryKey: entry.directoryKey)
                entries[entry.key] = entry
            } else if let existing = hot[key] {
                hot[key] = nil
                entries[existing.key] = nil
            }
        }
    }

    func id(forKey key: UInt32) -> String? { entries[key]?.record.id }

    func entry(forKey key: UInt32) -> GroupEntry? { entries[key] }

    func forEach(_ body: (String, GroupEntry) throws -> Void) rethrows {
        try entries.forEach { _, entry in try body(entry.record.id, entry) }
    }
}

// Folding every layer, for `MembershipIndex.compacted()`.

extension UserTable {
    mutating func foldAll() {
        hot.fold()
        records.fold()
    }
}

extension GroupTable {
    mutating func foldAll() {
        hot.fold()
        entries.fold()
    }
}
