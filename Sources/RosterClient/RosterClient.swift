import NIOCore
import NIOPosix
import RosterProtocol
import Synchronization

/// An async client for the Roster lookup API over its Unix domain socket.
///
/// One connection carries every call: each gets a call id, calls from many tasks are pipelined
/// and answered in any order. A client is `Sendable`; share one per process (or a few).
///
/// ```swift
/// let client = try await RosterClient.connect(socketPath: "/run/roster/roster.sock")
/// let answer = try await client.check(directoryID: "dir_acme", user: .userName("alice@example.com"),
///                                     group: .displayName("admins"), timeout: .milliseconds(250))
/// if answer.allowed { ... }
/// await client.close()
/// ```
///
/// Errors are `RosterClientError` (with the server's status code and message, or the local
/// equivalent) and `CancellationError` when the calling task is cancelled (the server is told
/// with a Cancel frame).
public final class RosterClient: Sendable {
    /// Client settings.
    public struct Configuration: Sendable {
        /// Largest frame accepted or sent; match the server's (default 4 MiB).
        public var maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize
        /// How long `connect` may take.
        public var connectTimeout: Duration = .seconds(5)
        /// Used for calls that pass no timeout; nil means no deadline.
        public var defaultTimeout: Duration? = nil
        /// Extra time the local timer waits beyond a call's deadline, so the server's own
        /// DEADLINE_EXCEEDED (which says what it was waiting for) normally arrives first.
        public var localDeadlineGrace: Duration = .milliseconds(200)

        public init() {}
    }

    public let configuration: Configuration
    private let channel: any Channel
    private let handler: NIOLoopBound<ClientConnectionHandler>
    private let nextCallID = Atomic<UInt64>(0)

    private init(channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>, configuration: Configuration) {
        self.channel = channel
        self.handler = handler
        self.configuration = configuration
    }

    /// Connects to the daemon's socket.
    /// - Throws: `RosterClientError` with code `connectionFailed` (status UNAVAILABLE).
    public static func connect(
        socketPath: String, configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RosterClient {
        let maxFrameSize = configuration.maxFrameSize
        // The handler is made in the channel initializer, on the channel's event loop; keep a
        // loop-bound reference to it from there (looking it up in the pipeline later races
        // with a server that closes the connection at once).
        let box = HandlerBox()
        do {
            let channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = ClientConnectionHandler()
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))
                        try channel.pipeline.syncOperations.addHandler(handler)
                        box.handler.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                    }
                }
                .connect(unixDomainSocketPath: socketPath).get()
            guard let handler = box.handler.withLock({ $0 }) else {
                throw RosterClientError.connectionClosed("the connection closed during setup")
            }
            return RosterClient(channel: channel, handler: handler, configuration: configuration)
        } catch {
            throw RosterClientError(
                .connectionFailed, RosterStatus(.unavailable, "cannot connect to \(socketPath): \(error)"))
        }
    }

    /// Closes the connection; calls in flight fail with `connectionClosed`.
    public func close() async {
        try? await channel.close()
    }

    /// The event loop the connection runs on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    // MARK: Generic calls

    /// Sends one unary call and returns its response frame (status OK).
    /// - Parameters:
    ///   - method: the request.
    ///   - timeout: the call's deadline, sent as `timeout_ms` and enforced by a local timer too.
    /// - Throws: `RosterClientError` (`callFailed` with the server's status, or a local error).
    public func call(_ method: Roster_V1_RequestFrame.OneOf_Method, timeout: Duration? = nil) async throws
        -> Roster_V1_ResponseFrame
    {
        let callID = nextCallID.add(1, ordering: .relaxed).newValue
        let timeout = timeout ?? configuration.defaultTimeout
        var frame = Roster_V1_RequestFrame()
        frame.callID = callID
        frame.method = method
        let localTimeout: TimeAmount?
        if let timeout {
            let ms = Self.milliseconds(timeout)
            frame.timeoutMs = ms
            localTimeout = .milliseconds(Int64(ms)) + TimeAmount(configuration.localDeadlineGrace)
        } else {
            localTimeout = nil
        }
        var buffer = channel.allocator.buffer(capacity: 64)
        do {
            try buffer.writeRosterFrame(frame, maxFrameSize: configuration.maxFrameSize)
        } catch {
            throw RosterClientError(.invalidRequest, RosterStatus(.invalidArgument, "\(error)"), callID: callID)
        }
        let encoded = buffer
        let handler = self.handler
        let response = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Roster_V1_ResponseFrame, any Error>) in
                handler.eventLoop.execute {
                    handler.value.start(callID, frame: encoded, .unary(continuation, timer: nil), localTimeout: localTimeout)
                }
            }
        } onCancel: {
            handler.eventLoop.execute { handler.value.cancel(callID) }
        }
        guard !response.hasStatus || response.status.code == .ok else {
            throw RosterClientError(.callFailed, RosterStatus(response.status), callID: callID)
        }
        return response
    }

    /// A Watch stream: change events after `fromRevision`, history first, then live.
    ///
    /// Resume after a disconnect by passing the last revision whose events you have all
    /// processed (events of one revision arrive together, in `seq` order). The stream ends
    /// when the server ends it (with an error unless the status is OK), or when the iterating
    /// task stops: then the client sends Cancel. Events are buffered without bound while the
    /// consumer is slower than the server.
    public func watch(fromRevision: UInt64, directoryID: String? = nil)
        -> AsyncThrowingStream<Roster_V1_WatchEvent, any Error>
    {
        let callID = nextCallID.add(1, ordering: .relaxed).newValue
        var frame = Roster_V1_RequestFrame()
        frame.callID = callID
        frame.watch.fromRevision = fromRevision
        frame.watch.directoryID = directoryID ?? ""
        var buffer = channel.allocator.buffer(capacity: 64)
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Roster_V1_WatchEvent.self, throwing: (any Error).self)
        do {
            try buffer.writeRosterFrame(frame, maxFrameSize: configuration.maxFrameSize)
        } catch {
            continuation.finish(
                throwing: RosterClientError(.invalidRequest, RosterStatus(.invalidArgument, "\(error)"), callID: callID))
            return stream
        }
        let encoded = buffer
        let handler = self.handler
        continuation.onTermination = { termination in
            if case .cancelled = termination {
                handler.eventLoop.execute { handler.value.cancel(callID) }
            }
        }
        handler.eventLoop.execute {
            handler.value.start(callID, frame: encoded, .stream(continuation), localTimeout: nil)
        }
        return stream
    }

    static func milliseconds(_ duration: Duration) -> UInt32 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        guard !ms.overflow else { return UInt32.max }
        let total = ms.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return UInt32(clamping: max(1, total))
    }

    // MARK: Lookups

    /// Is the user an active member of the group?
    /// - Parameter minRevision: answer only once the index has reached this revision (the
    ///   `Roster-Revision` of a SCIM write); 0 = now.
    public func check(
        directoryID: String, user: UserRef, group: GroupRef, minRevision: UInt64 = 0, timeout: Duration? = nil
    ) async throws -> CheckAnswer {
        var request = Roster_V1_CheckRequest()
        request.directoryID = directoryID
        request.user = user.proto
        request.group = group.proto
        request.minRevision = minRevision
        let response = try await call(.check(request), timeout: timeout)
        let check = response.check
        return CheckAnswer(allowed: check.allowed, reason: check.reason, revision: check.revision)
    }

    /// Many checks answered at one revision; per-item errors are in the results.
    public func batchCheck(
        directoryID: String, _ checks: [(user: UserRef, group: GroupRef)], minRevision: UInt64 = 0,
        timeout: Duration? = nil
    ) async throws -> Roster_V1_BatchCheckResponse {
        var request = Roster_V1_BatchCheckRequest()
        request.directoryID = directoryID
        request.minRevision = minRevision
        request.checks = checks.map { item in
            var check = Roster_V1_CheckItem()
            check.user = item.user.proto
            check.group = item.group.proto
            return check
        }
        return try await call(.batchCheck(request), timeout: timeout).batchCheck
    }

    /// One page of the groups a user is in (pass `nextPageToken` back for the next page).
    public func listUserGroups(
        directoryID: String, user: UserRef, pageSize: Int = 0, pageToken: String = "", minRevision: UInt64 = 0,
        timeout: Duration? = nil
    ) async throws -> Roster_V1_ListUserGroupsResponse {
        var request = Roster_V1_ListUserGroupsRequest()
        request.directoryID = directoryID
        request.user = user.proto
        request.pageSize = UInt32(clamping: pageSize)
        request.pageToken = pageToken
        request.minRevision = minRevision
        return try await call(.listUserGroups(request), timeout: timeout).listUserGroups
    }

    /// One page of a group's active members.
    public func listGroupMembers(
        directoryID: String, group: GroupRef, pageSize: Int = 0, pageToken: String = "", minRevision: UInt64 = 0,
        timeout: Duration? = nil
    ) async throws -> Roster_V1_ListGroupMembersResponse {
        var request = Roster_V1_ListGroupMembersRequest()
        request.directoryID = directoryID
        request.group = group.proto
        request.pageSize = UInt32(clamping: pageSize)
        request.pageToken = pageToken
        request.minRevision = minRevision
        return try await call(.listGroupMembers(request), timeout: timeout).listGroupMembers
    }

    public func getUser(directoryID: String, user: UserRef, minRevision: UInt64 = 0, timeout: Duration? = nil)
        async throws -> Roster_V1_GetUserResponse
    {
        var request = Roster_V1_GetUserRequest()
        request.directoryID = directoryID
        request.user = user.proto
        request.minRevision = minRevision
        return try await call(.getUser(request), timeout: timeout).getUser
    }

    public func getGroup(directoryID: String, group: GroupRef, minRevision: UInt64 = 0, timeout: Duration? = nil)
        async throws -> Roster_V1_GetGroupResponse
    {
        var request = Roster_V1_GetGroupRequest()
        request.directoryID = directoryID
        request.group = group.proto
        request.minRevision = minRevision
        return try await call(.getGroup(request), timeout: timeout).getGroup
    }

    public func health(timeout: Duration? = nil) async throws -> Roster_V1_HealthResponse {
        try await call(.health(Roster_V1_HealthRequest()), timeout: timeout).health
    }

    public func stats(timeout: Duration? = nil) async throws -> Roster_V1_StatsResponse {
        try await call(.stats(Roster_V1_StatsRequest()), timeout: timeout).stats
    }

    /// Fleet mode: the shared database's head and every live instance.
    public func fleetStatus(timeout: Duration? = nil) async throws -> Roster_V1_FleetStatusResponse {
        try await call(.fleetStatus(Roster_V1_FleetStatusRequest()), timeout: timeout).fleetStatus
    }

    // MARK: Admin (the peer's uid must be in the daemon's admin allow-list)

    public func createDirectory(name: String, provider: String, policy: String = "", timeout: Duration? = nil)
        async throws -> Roster_V1_CreateDirectoryResponse
    {
        var request = Roster_V1_CreateDirectoryRequest()
        request.name = name
        request.provider = provider
        request.policy = policy
        return try await call(.createDirectory(request), timeout: timeout).createDirectory
    }

    public func listDirectories(timeout: Duration? = nil) async throws -> [Roster_V1_Directory] {
        try await call(.listDirectories(Roster_V1_ListDirectoriesRequest()), timeout: timeout).listDirectories
            .directories
    }

    public func rotateToken(directoryID: String, timeout: Duration? = nil) async throws
        -> Roster_V1_RotateTokenResponse
    {
        var request = Roster_V1_RotateTokenRequest()
        request.directoryID = directoryID
        return try await call(.rotateToken(request), timeout: timeout).rotateToken
    }

    /// Deletes a directory and everything in it; returns the revision of the deletion.
    public func deleteDirectory(directoryID: String, timeout: Duration? = nil) async throws -> UInt64 {
        var request = Roster_V1_DeleteDirectoryRequest()
        request.directoryID = directoryID
        return try await call(.deleteDirectory(request), timeout: timeout).deleteDirectory.revision
    }

    public func deleteGroup(directoryID: String, group: GroupRef, timeout: Duration? = nil) async throws
        -> Roster_V1_DeleteGroupResponse
    {
        var request = Roster_V1_DeleteGroupRequest()
        request.directoryID = directoryID
        request.group = group.proto
        return try await call(.deleteGroup(request), timeout: timeout).deleteGroup
    }

    public func verify(timeout: Duration? = nil) async throws -> Roster_V1_VerifyResponse {
        try await call(.verify(Roster_V1_VerifyRequest()), timeout: timeout).verify
    }

    /// Writes a backup on the daemon's host at the absolute `path` (which must not exist).
    public func backup(path: String, timeout: Duration? = nil) async throws -> Roster_V1_BackupResponse {
        var request = Roster_V1_BackupRequest()
        request.path = path
        return try await call(.backup(request), timeout: timeout).backup
    }

    /// Recent SCIM requests, newest first.
    public func audit(directoryID: String? = nil, sinceUnixMs: Int64 = 0, limit: Int = 0, timeout: Duration? = nil)
        async throws -> [Roster_V1_AuditRecord]
    {
        var request = Roster_V1_AuditRequest()
        request.directoryID = directoryID ?? ""
        request.sinceUnixMs = sinceUnixMs
        request.limit = UInt32(clamping: limit)
        return try await call(.audit(request), timeout: timeout).audit.records
    }
}

private final class HandlerBox: Sendable {
    let handler = Mutex<NIOLoopBound<ClientConnectionHandler>?>(nil)
}
