import RosterCore
import RosterProtocol
import RosterServer
import Synchronization

/// An in-memory back end over a real `MembershipIndex`: mutations go through the core's
/// `apply`, events are kept in an array (the "durable log"), and the new snapshot is
/// published after each write. Only the store is fake.
final class FakeBackend: RosterBackend {
    let publisher: IndexPublisher

    private struct State {
        var index = MembershipIndex()
        var log: [Event] = []
        var now: Int64 = 1_767_225_600_000
        var tokens: [String: Int] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    /// How many times `events(after:...)` was called.
    let eventsCalls = Atomic<Int>(0)
    /// How long admin and resource calls take (to test calls in flight).
    let delayMilliseconds = Atomic<Int>(0)
    /// Admin and resource calls that have started.
    let slowCallsStarted = Atomic<Int>(0)
    /// When set, `events` serves an endless synthetic log (one event per revision) instead of
    /// the real one: a firehose for back-pressure tests.
    let endlessLog = Atomic<Bool>(false)

    init() {
        publisher = IndexPublisher(MembershipIndex())
    }

    var revision: UInt64 { publisher.revision }

    // MARK: Writes

    /// Applies a mutation, appends its events and publishes. Returns the new revision.
    @discardableResult
    func apply(_ mutation: Mutation) throws -> UInt64 {
        let index: MembershipIndex = try state.withLock { (state: inout State) throws -> MembershipIndex in
            state.now += 1
            let applied = try state.index.apply(mutation, now: state.now)
            state.log.append(contentsOf: applied.events)
            return state.index
        }
        publisher.publish(index)
        return index.revision
    }

    /// Applies a mutation to the log and index but does not publish yet (the commit-then-publish gap).
    @discardableResult
    func applyWithoutPublishing(_ mutation: Mutation) throws -> MembershipIndex {
        try state.withLock { (state: inout State) throws -> MembershipIndex in
            state.now += 1
            let applied = try state.index.apply(mutation, now: state.now)
            state.log.append(contentsOf: applied.events)
            return state.index
        }
    }

    func createDirectory(_ id: String, provider: ProviderKind = .okta) throws {
        try apply(.createDirectory(Directory(id: id, name: id, provider: provider, createdAt: 1_767_225_600_000)))
    }

    @discardableResult
    func createUser(_ id: String, _ userName: String, externalID: String? = nil, active: Bool = true, in directory: String)
        throws -> UInt64
    {
        try apply(
            .createUser(
                directoryID: directory, id: id,
                UserDraft(userName: userName, externalID: externalID, displayName: userName, active: active)))
    }

    @discardableResult
    func setActive(_ id: String, _ active: Bool, in directory: String) throws -> UInt64 {
        let record = publisher.current.user(directoryID: directory, .id(id))!
        return try apply(
            .replaceUser(
                directoryID: directory, id: id,
                UserDraft(
                    userName: record.userName, externalID: record.externalID, displayName: record.displayName,
                    active: active),
                previous: nil))
    }

    @discardableResult
    func createGroup(_ id: String, _ name: String, members: [String] = [], externalID: String? = nil, in directory: String)
        throws -> UInt64
    {
        try apply(
            .createGroup(
                directoryID: directory, id: id, GroupDraft(displayName: name, externalID: externalID), members: members))
    }

    @discardableResult
    func addMembers(_ users: [String], to group: String, in directory: String) throws -> UInt64 {
        try apply(
            .updateGroup(
                directoryID: directory, id: group, draft: nil, previous: nil, memberOps: [.add(users)], cause: .request))
    }

    var log: [Event] { state.withLock { $0.log } }

    // MARK: RosterBackend

    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event] {
        eventsCalls.add(1, ordering: .relaxed)
        if endlessLog.load(ordering: .relaxed) {
            return (1...UInt64(limit)).map { offset in
                Event(
                    revision: revision + offset, seq: 0, directoryID: "firehose", kind: .userUpdated,
                    userID: "usr_\(revision + offset)", groupID: nil, cause: .request, time: 0)
            }
        }
        let log = state.withLock { $0.log }
        var page: [Event] = []
        for event in log where event.revision > revision && (directoryID.map { $0 == event.directoryID } ?? true) {
            // Whole revisions only: go past `limit` to finish the last one.
            if page.count >= limit, let last = page.last, last.revision != event.revision { break }
            page.append(event)
        }
        return page
    }

    func userResourceJSON(directoryID: String, userID: String) async throws -> String? {
        try await delay()
        guard let user = publisher.current.user(directoryID: directoryID, .id(userID)) else { return nil }
        return #"{"id":"\#(user.id)","userName":"\#(user.userName)"}"#
    }

    func groupResourceJSON(directoryID: String, groupID: String) async throws -> String? {
        try await delay()
        guard let group = try publisher.current.group(directoryID: directoryID, .id(groupID)) else { return nil }
        return #"{"id":"\#(group.id)","displayName":"\#(group.displayName)"}"#
    }

    func createDirectory(name: String, provider: ProviderKind, policy: MembershipPolicy) async throws
        -> CreatedDirectory
    {
        try await delay()
        let id = state.withLock { state -> String in
            state.nextID += 1
            return "dir_\(state.nextID)"
        }
        let directory = Directory(id: id, name: name, provider: provider, policy: policy, createdAt: 1_767_225_600_000)
        try apply(.createDirectory(directory))
        state.withLock { $0.tokens[id] = 1 }
        return CreatedDirectory(
            directory: directory, scimBaseURL: "http://127.0.0.1:8080/scim/v2/\(id)", token: "token-\(id)-1")
    }

    func rotateToken(directoryID: String) async throws -> RotatedToken {
        try await delay()
        guard publisher.current.directory(directoryID) != nil else {
            throw RosterError(.directoryNotFound, "no directory with id '\(directoryID)'")
        }
        let count = state.withLock { state -> Int in
            state.tokens[directoryID, default: 1] += 1
            return state.tokens[directoryID]!
        }
        return RotatedToken(token: "token-\(directoryID)-\(count)", liveTokens: 2)
    }

    func deleteDirectory(id: String) async throws -> UInt64 {
        try await delay()
        return try apply(.deleteDirectory(id: id))
    }

    func deleteGroup(directoryID: String, groupID: String) async throws -> DeletedGroup {
        try await delay()
        let members = publisher.current.memberCount(ofGroup: groupID)
        let revision = try apply(.deleteGroup(directoryID: directoryID, id: groupID, cause: .admin))
        return DeletedGroup(revision: revision, membershipsRemoved: members)
    }

    func verify() async throws -> VerifyReport {
        try await delay()
        let index = publisher.current
        return VerifyReport(
            ok: true, differences: [], usersChecked: index.userCount, groupsChecked: index.groupCount,
            membershipsChecked: index.membershipCount, revision: index.revision)
    }

    func backup(to path: String) async throws -> BackupResult {
        try await delay()
        if path.hasSuffix("exists") { throw RosterStatus(.alreadyExists, "\(path) already exists") }
        return BackupResult(path: path, bytes: 4096, revision: publisher.revision)
    }

    func audit(directoryID: String?, sinceUnixMs: Int64, limit: Int) async throws -> [AuditEntry] {
        try await delay()
        return (0..<min(limit, 3)).map { n in
            AuditEntry(
                revision: UInt64(n), time: sinceUnixMs + Int64(n), directoryID: directoryID ?? "dir_acme",
                method: "PATCH", path: "/Groups/g\(n)", httpStatus: 200, outcome: "applied", detail: "",
                durationMicroseconds: 100)
        }
    }

    private func delay() async throws {
        slowCallsStarted.add(1, ordering: .relaxed)
        let ms = delayMilliseconds.load(ordering: .relaxed)
        if ms > 0 { try await Task.sleep(for: .milliseconds(ms)) }
    }
}
