import HashTreeCollections

/// The check path for callers that hold request bytes rather than Strings: the lookup server
/// decodes a Check frame in place and asks by 128-bit id keys, so a check by SCIM id creates no
/// String, hashes no String and copies no record.
///
/// A `DirectoryHandle` names a directory within one snapshot. Directory keys are never reused,
/// but a directory may be deleted between snapshots, so a handle is only valid for the revision
/// it was taken at (`MembershipIndex.directoryHandle(_:)` checks that).
public struct DirectoryHandle: Sendable, Equatable {
    let key: UInt32
    /// The revision of the snapshot the handle was resolved in.
    public let revision: UInt64
}

extension UUIDKey {
    /// The key of a UUID given as its 36 UTF-8 bytes (either letter case), or nil when the bytes
    /// are not a UUID. Ids that are not UUIDs must go through the String path, which confirms
    /// the stored id.
    public static func parse(utf8 bytes: UnsafeRawBufferPointer) -> UUIDKey? {
        guard bytes.count == 36 else { return nil }
        return parse(bytes: bytes.assumingMemoryBound(to: UInt8.self))
    }
}

extension MembershipIndex {
    /// The handle of a directory in this snapshot, or nil when there is no such directory.
    public func directoryHandle(_ id: String) -> DirectoryHandle? {
        guard let entry = directories[id] else { return nil }
        return DirectoryHandle(key: entry.key, revision: revision)
    }

    /// `check(directoryID:user:group:)` for references by SCIM id given as UUID keys.
    /// - Precondition: `directory` was resolved in this snapshot (same revision); a stale handle
    ///   answers as if its users and groups were unknown.
    @inline(__always)
    public func check(in directory: DirectoryHandle, userID: UUIDKey, groupID: UUIDKey) -> CheckResult {
        let user = users.hot[userID]
        let group = groups.hot[groupID]
        return Self.decide(
            user: user.flatMap { $0.directoryKey == directory.key ? $0 : nil },
            group: group.flatMap { $0.directoryKey == directory.key ? $0 : nil })
    }

    /// The answer from the resolved parts, shared by every check path: deleted before unknown
    /// group, unknown group before suspended.
    @inline(__always)
    static func decide(user: UserHot?, group: GroupHot?) -> CheckResult {
        guard let user else { return CheckResult(allowed: false, reason: .userUnknown) }
        if user.state == .deleted { return CheckResult(allowed: false, reason: .userDeleted) }
        guard let group else { return CheckResult(allowed: false, reason: .groupUnknown) }
        if user.state != .active { return CheckResult(allowed: false, reason: .userSuspended) }
        if user.groupKeys.containsSorted(group.key) { return CheckResult(allowed: true, reason: .member) }
        return CheckResult(allowed: false, reason: .notMember)
    }
}
