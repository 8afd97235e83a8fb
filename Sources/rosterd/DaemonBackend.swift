import RosterCore
import RosterProtocol
import RosterServer
import RosterStore

/// The lookup API's view of the store: the socket server never touches SQLite itself.
struct DaemonBackend: RosterBackend {
    let store: RosterStore
    /// Fleet mode: what follows the shared database (nil on a single host).
    var follower: FleetFollower?
    /// The SCIM base URL of a directory (known only once the HTTP listener has bound its port).
    let scimBaseURL: @Sendable (String) -> String

    var publisher: IndexPublisher { store.publisher }

    var stalenessSeconds: Double { follower?.stalenessSeconds ?? 0 }

    func fleetStatus() async throws -> FleetView? {
        guard let follower else { return nil }
        let status = try await mapped { try await follower.status() }
        return FleetView(
            headRevision: status.headRevision,
            instances: status.instances.map {
                FleetView.Instance(name: $0.name, pid: $0.pid, appliedRevision: $0.appliedRevision, lastSeenUnixMs: $0.lastSeenUnixMs)
            })
    }

    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event] {
        try await store.events(after: revision, directoryID: directoryID, limit: limit)
    }

    func userResourceJSON(directoryID: String, userID: String) async throws -> String? {
        try await store.user(directoryID: directoryID, id: userID).map { JSONSerializer.serializeToString(.object($0.resource)) }
    }

    func groupResourceJSON(directoryID: String, groupID: String) async throws -> String? {
        try await store.group(directoryID: directoryID, id: groupID).map { JSONSerializer.serializeToString(.object($0.resource)) }
    }

    /// Store errors as lookup-API statuses (the server maps `RosterError` itself).
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            switch error.code {
            case .exists: throw RosterStatus(.alreadyExists, error.message)
            case .notFound: throw RosterStatus(.notFound, error.message)
            case .invalidPath, .configuration: throw RosterStatus(.invalidArgument, error.message)
            case .io, .closed, .locked, .unavailable, .stale: throw RosterStatus(.unavailable, error.message)
            default: throw RosterStatus(.internal, error.message)
            }
        }
    }

    func createDirectory(name: String, provider: ProviderKind, policy: MembershipPolicy) async throws -> CreatedDirectory {
        let (directory, token) = try await mapped { try await store.createDirectory(name: name, provider: provider, policy: policy) }
        return CreatedDirectory(directory: directory, scimBaseURL: scimBaseURL(directory.id), token: token)
    }

    func rotateToken(directoryID: String) async throws -> RotatedToken {
        guard store.publisher.current.directory(directoryID) != nil else {
            throw RosterError(.directoryNotFound, "no directory with id '\(directoryID)'")
        }
        return RotatedToken(token: try await mapped { try await store.rotateToken(directoryID: directoryID) }, liveTokens: 2)
    }

    func deleteDirectory(id: String) async throws -> UInt64 {
        try await mapped { try await store.deleteDirectory(id: id).revision }
    }

    func deleteGroup(directoryID: String, groupID: String) async throws -> DeletedGroup {
        let applied = try await mapped { try await store.deleteGroup(directoryID: directoryID, groupID: groupID) }
        return DeletedGroup(
            revision: applied.revision,
            membershipsRemoved: applied.events.filter { $0.kind == .groupUserRemoved }.count)
    }

    func verify() async throws -> LookupVerifyReport {
        let report = try await mapped { try await store.verify() }
        return LookupVerifyReport(
            ok: report.ok, differences: report.differences, usersChecked: report.users, groupsChecked: report.groups,
            membershipsChecked: report.memberships, revision: report.revision)
    }

    func backup(to path: String) async throws -> LookupBackupResult {
        let result = try await mapped { try await store.backup(to: path) }
        return LookupBackupResult(path: result.path, bytes: result.bytes, revision: result.revision)
    }

    func audit(directoryID: String?, sinceUnixMs: Int64, limit: Int) async throws -> [LookupAuditEntry] {
        try await store.audit(directoryID: directoryID, since: sinceUnixMs, limit: limit).reversed().map { entry in
            LookupAuditEntry(
                revision: entry.revision ?? 0, time: entry.time, directoryID: entry.directoryID ?? "",
                method: entry.method, path: entry.path, httpStatus: entry.status, outcome: entry.outcome,
                detail: entry.detail, durationMicroseconds: UInt64(max(0, entry.durationMicroseconds)))
        }
    }
}
