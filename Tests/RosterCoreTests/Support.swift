@testable import RosterCore

/// A tiny driver over `MembershipIndex.apply` that keeps the clock and names readable in tests.
struct Harness {
    var index = MembershipIndex()
    var now: Int64 = 1_700_000_000_000
    var events: [Event] = []

    init(directory: String = "d1", provider: ProviderKind = .generic, policy: MembershipPolicy = .revoke) throws {
        try apply(.createDirectory(Directory(id: directory, name: directory, provider: provider, policy: policy, createdAt: now)))
    }

    @discardableResult
    mutating func apply(_ mutation: Mutation) throws(RosterError) -> Applied {
        now += 1
        let applied = try index.apply(mutation, now: now)
        events.append(contentsOf: applied.events)
        return applied
    }

    @discardableResult
    mutating func createUser(_ id: String, _ userName: String, externalID: String? = nil, active: Bool = true, in dir: String = "d1")
        throws(RosterError) -> Applied
    {
        try apply(.createUser(directoryID: dir, id: id, UserDraft(userName: userName, externalID: externalID, active: active)))
    }

    @discardableResult
    mutating func setActive(_ id: String, _ active: Bool, in dir: String = "d1") throws(RosterError) -> Applied {
        let record = index.user(directoryID: dir, .id(id))!
        return try apply(
            .replaceUser(
                directoryID: dir, id: id,
                UserDraft(userName: record.userName, externalID: record.externalID, displayName: record.displayName, active: active),
                previous: [:]))
    }

    @discardableResult
    mutating func createGroup(_ id: String, _ name: String, members: [String] = [], externalID: String? = nil, in dir: String = "d1")
        throws(RosterError) -> Applied
    {
        try apply(.createGroup(directoryID: dir, id: id, GroupDraft(displayName: name, externalID: externalID), members: members))
    }

    @discardableResult
    mutating func members(_ group: String, _ ops: [MemberOp], in dir: String = "d1") throws(RosterError) -> Applied {
        try apply(.updateGroup(directoryID: dir, id: group, draft: nil, previous: nil, memberOps: ops, cause: .request))
    }

    func check(_ user: String, _ group: String, in dir: String = "d1") throws(RosterError) -> CheckResult {
        try index.check(directoryID: dir, user: .id(user), group: .id(group))
    }
}
