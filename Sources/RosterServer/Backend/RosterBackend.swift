import RosterCore

/// What the lookup server needs from the daemon: the published index, the durable event log
/// and the admin operations. The daemon implements it over its store; the server never touches
/// SQLite itself, and tests implement it in memory over a real `MembershipIndex`.
///
/// Lookups that the index can answer (Check, BatchCheck, listings, Health, Stats) are answered
/// on the event loop from `publisher.current` and never call the back end. Everything else is
/// awaited in a task, off the event loop.
///
/// ## Errors
/// Throw whatever fits; the server maps errors to status codes in one place:
/// - `RosterStatus`: sent as is (choose the code yourself, e.g. `ALREADY_EXISTS` for a backup
///   path that exists).
/// - `RosterError` (RosterCore): `directoryNotFound`, `userNotFound`, `groupNotFound` →
///   `NOT_FOUND`; `directoryExists`, `uniqueness` → `ALREADY_EXISTS`; `invalidValue` →
///   `INVALID_ARGUMENT`; `ambiguousReference`, `unknownMember` → `FAILED_PRECONDITION`.
/// - `CancellationError` → `CANCELLED`.
/// - Anything else → `INTERNAL`, with the error's description as the message.
public protocol RosterBackend: Sendable {
    /// The index snapshots readers answer from; the writer publishes after each commit.
    var publisher: IndexPublisher { get }

    /// The durable event log, the source of Watch.
    ///
    /// Returns events with `revision > revision` (and of `directoryID` when it is set), ordered
    /// by (revision, seq). Returns at most `limit` events, except that it never splits a
    /// revision: when the last revision of a page has more events than fit, return all of them
    /// (a page may then be longer than `limit`). An empty array means there are no such events
    /// yet. Events of a revision must be readable before that revision is published.
    ///
    /// The server also defends against a back end that splits revisions: when a page is full
    /// (`count >= limit`) and holds more than one revision, it holds back the last revision's
    /// events and asks for them again in the next page.
    func events(after revision: UInt64, directoryID: String?, limit: Int) async throws -> [Event]

    /// The stored SCIM resource of a user (including tombstones), serialized as JSON; nil if none.
    func userResourceJSON(directoryID: String, userID: String) async throws -> String?
    /// The stored SCIM resource of a group, without its members, serialized as JSON; nil if none.
    func groupResourceJSON(directoryID: String, groupID: String) async throws -> String?

    // MARK: Admin (the server checks the peer's uid before calling these)

    /// Registers a directory and issues its first SCIM token.
    func createDirectory(name: String, provider: ProviderKind, policy: MembershipPolicy) async throws
        -> CreatedDirectory
    /// Issues a new SCIM token for the directory; the previous one stays live until the next rotation.
    func rotateToken(directoryID: String) async throws -> RotatedToken
    /// Deletes a directory with everything in it. Returns the revision of the deletion.
    func deleteDirectory(id: String) async throws -> UInt64
    /// Deletes a group (already resolved to its id) and its memberships, as a SCIM DELETE would.
    func deleteGroup(directoryID: String, groupID: String) async throws -> DeletedGroup
    /// Recomputes the index from the store, compares, and checks the invariants.
    func verify() async throws -> VerifyReport
    /// Writes a consistent copy of the database to `path` (which must not exist).
    func backup(to path: String) async throws -> BackupResult
    /// The SCIM request audit log, newest first; `directoryID` nil means all directories,
    /// `sinceUnixMs` 0 means no lower bound. `limit` is already clamped by the server.
    func audit(directoryID: String?, sinceUnixMs: Int64, limit: Int) async throws -> [AuditEntry]

    // MARK: Fleet mode

    /// The shared database's head and the live instances; nil when the daemon is not in a fleet.
    func fleetStatus() async throws -> FleetView?
    /// Seconds since the shared database last answered (0 when the daemon is not in a fleet).
    var stalenessSeconds: Double { get }
}

extension RosterBackend {
    public func fleetStatus() async throws -> FleetView? { nil }
    public var stalenessSeconds: Double { 0 }
}

/// The result of `RosterBackend.fleetStatus`.
public struct FleetView: Sendable, Hashable {
    public struct Instance: Sendable, Hashable {
        public var name: String
        public var pid: Int
        public var appliedRevision: UInt64
        public var lastSeenUnixMs: Int64

        public init(name: String, pid: Int, appliedRevision: UInt64, lastSeenUnixMs: Int64) {
            self.name = name
            self.pid = pid
            self.appliedRevision = appliedRevision
            self.lastSeenUnixMs = lastSeenUnixMs
        }
    }

    public var headRevision: UInt64
    public var instances: [Instance]

    public init(headRevision: UInt64, instances: [Instance]) {
        self.headRevision = headRevision
        self.instances = instances
    }
}

/// The result of `RosterBackend.createDirectory`.
public struct CreatedDirectory: Sendable, Hashable {
    public var directory: Directory
    /// The base URL to configure in the identity provider.
    public var scimBaseURL: String
    /// The SCIM bearer token, shown once.
    public var token: String

    public init(directory: Directory, scimBaseURL: String, token: String) {
        self.directory = directory
        self.scimBaseURL = scimBaseURL
        self.token = token
    }
}

/// The result of `RosterBackend.rotateToken`.
public struct RotatedToken: Sendable, Hashable {
    /// The new token, shown once.
    public var token: String
    /// Tokens now accepted for the directory (1 or 2).
    public var liveTokens: Int

    public init(token: String, liveTokens: Int) {
        self.token = token
        self.liveTokens = liveTokens
    }
}

/// The result of `RosterBackend.deleteGroup`.
public struct DeletedGroup: Sendable, Hashable {
    public var revision: UInt64
    public var membershipsRemoved: Int

    public init(revision: UInt64, membershipsRemoved: Int) {
        self.revision = revision
        self.membershipsRemoved = membershipsRemoved
    }
}

/// The result of `RosterBackend.verify`.
public struct VerifyReport: Sendable, Hashable {
    public var ok: Bool
    /// One human-readable line per difference; empty when `ok`.
    public var differences: [String]
    public var usersChecked: Int
    public var groupsChecked: Int
    public var membershipsChecked: Int
    /// The revision that was verified.
    public var revision: UInt64

    public init(
        ok: Bool, differences: [String], usersChecked: Int, groupsChecked: Int, membershipsChecked: Int,
        revision: UInt64
    ) {
        self.ok = ok
        self.differences = differences
        self.usersChecked = usersChecked
        self.groupsChecked = groupsChecked
        self.membershipsChecked = membershipsChecked
        self.revision = revision
    }
}

/// The result of `RosterBackend.backup`.
public struct BackupResult: Sendable, Hashable {
    public var path: String
    public var bytes: UInt64
    /// The revision contained in the backup.
    public var revision: UInt64

    public init(path: String, bytes: UInt64, revision: UInt64) {
        self.path = path
        self.bytes = bytes
        self.revision = revision
    }
}

/// One record of the SCIM request audit log.
public struct AuditEntry: Sendable, Hashable {
    /// The revision the request produced; 0 if it changed nothing.
    public var revision: UInt64
    /// Milliseconds since the Unix epoch.
    public var time: Int64
    public var directoryID: String
    /// HTTP method and path of the SCIM request.
    public var method: String
    public var path: String
    public var httpStatus: Int
    /// A short word such as "applied", "ignored" or "rejected".
    public var outcome: String
    public var detail: String
    public var durationMicroseconds: UInt64

    public init(
        revision: UInt64, time: Int64, directoryID: String, method: String, path: String, httpStatus: Int,
        outcome: String, detail: String, durationMicroseconds: UInt64
    ) {
        self.revision = revision
        self.time = time
        self.directoryID = directoryID
        self.method = method
        self.path = path
        self.httpStatus = httpStatus
        self.outcome = outcome
        self.detail = detail
        self.durationMicroseconds = durationMicroseconds
    }
}
