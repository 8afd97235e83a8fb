#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import RosterCore
import RosterProtocol
import ServiceLifecycle
import Synchronization

/// The lookup API server: length-prefixed protobuf frames on a Unix domain socket, many calls
/// in flight per connection, answered from the published `MembershipIndex`.
///
/// Run it as a `Service` in the daemon's `ServiceGroup`, after the store it reads from:
///
/// ```swift
/// let server = RosterServer(configuration: .init(socketPath: "/run/roster/roster.sock"),
///                           backend: backend, logger: logger)
/// let group = ServiceGroup(services: [store, server, http], logger: logger)
/// try await group.run()
/// ```
///
/// `run()` prepares the socket path (a stale socket file is removed; a live daemon or a file
/// that is not a socket stops startup), binds, sets the file mode, and serves until graceful
/// shutdown: then it stops accepting, ends Watch streams with UNAVAILABLE, lets unary calls
/// finish (at most `shutdownGracePeriod`), closes every connection, removes the socket file and
/// returns. Cancelling `run()` closes everything at once.
public final class RosterServer: Service, Sendable {
    public let configuration: Configuration
    private let server: ServerContext
    private let group: any EventLoopGroup
    private let logger: Logger
    private let readiness = Mutex(Readiness.starting([]))

    private enum Readiness {
        case starting([CheckedContinuation<Void, any Error>])
        case listening
        case failed(any Error)
    }

    /// - Parameters:
    ///   - configuration: socket path, permissions and limits.
    ///   - backend: the index, event log and admin operations.
    ///   - eventLoopGroup: where connections run (default: NIO's shared multi-threaded group).
    ///   - logger: the server logs with a `roster.connection.id` on every connection's records.
    public init(
        configuration: Configuration, backend: any RosterBackend,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "roster.server")
    ) {
        self.configuration = configuration
        self.server = ServerContext(backend: backend, configuration: configuration, logger: logger)
        self.group = eventLoopGroup
        self.logger = logger
    }

    /// Open connections right now.
    public var connectionCount: Int { server.connections.count }

    /// Connections the check lanes passed to the event loops so far (each once, on its first
    /// frame that is not a plain Check); refused connections are not counted.
    public var checkLaneHandovers: UInt64 { server.laneHandovers.load(ordering: .relaxed) }

    /// Returns once the socket accepts connections; throws if `run()` failed to bind.
    public func waitUntilListening() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Void, any Error>? = readiness.withLock { state in
                switch state {
                case .starting(var waiters):
                    waiters.append(continuation)
                    state = .starting(waiters)
                    return nil
                case .listening:
                    return .success(())
                case .failed(let error):
                    return .failure(error)
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    private func setReadiness(_ outcome: Result<Void, any Error>) {
        let waiters: [CheckedContinuation<Void, any Error>] = readiness.withLock { state in
            guard case .starting(let waiters) = state else { return [] }
            switch outcome {
            case .success: state = .listening
            case .failure(let error): state = .failed(error)
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(with: outcome) }
    }

    public func run() async throws {
        let path = configuration.socketPath
        let started: (acceptor: Acceptor, identity: SocketFile.Identity?)
        do {
            if try SocketFile.prepare(path: path) == .removedStale {
                logger.notice("removed stale socket file", metadata: ["roster.socket.path": "\(path)"])
            }
            started = configuration.checkLanes > 0 ? try startCheckLanes(path: path) : try await startNIO(path: path)
        } catch {
            setReadiness(.failure(error))
            throw error
        }
        logListening()
        setReadiness(.success(()))
        try await serve(started.acceptor, path: path, identity: started.identity)
    }

    /// Binds a NIO server channel to `path`: it accepts and serves every connection.
    private func startNIO(path: String) async throws -> (acceptor: Acceptor, identity: SocketFile.Identity?) {
        let serverChannel = try await bind(path: path)
        let identity = SocketFile.identity(path: path)
        do {
            try SocketFile.chmod(path: path, mode: configuration.socketMode)
        } catch {
            try? await serverChannel.close()
            SocketFile.remove(path: path, ifIdentity: identity)
            throw error
        }
        let acceptor = Acceptor(
            untilStopped: { try? await serverChannel.closeFuture.get() },
            stopAccepting: { serverChannel.close(promise: nil) },
            closeNow: { serverChannel.close(promise: nil) },
            afterwards: {},
            failure: "the listening socket \(path) closed unexpectedly")
        return (acceptor, identity)
    }

    /// What accepts the connections (the NIO server channel, or the check lanes), as
    /// `serve` drives it through shutdown.
    private struct Acceptor: Sendable {
        /// Returns when accepting has stopped, asked to or not.
        var untilStopped: @Sendable () async -> Void
        /// Graceful shutdown: accept no more; let open connections finish.
        var stopAccepting: @Sendable () -> Void
        /// Cancellation, or the acceptor failed: close everything now.
        var closeNow: @Sendable () -> Void
        /// Runs after every connection is gone, before the socket file is removed.
        var afterwards: @Sendable () async -> Void
        /// The error when accepting stopped without a shutdown being asked for.
        var failure: String
    }

    /// Serves until graceful shutdown (quiesce, then wait for every connection), cancellation
    /// (close everything) or the acceptor stopping on its own (close everything, then throw).
    private func serve(_ acceptor: Acceptor, path: String, identity: SocketFile.Identity?) async throws {
        let connections = server.connections
        let shutdownRequested = Atomic<Bool>(false)
        let logger = self.logger
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await acceptor.untilStopped()
            } onGracefulShutdown: {
                shutdownRequested.store(true, ordering: .relaxed)
                logger.info("lookup server shutting down")
                let channels = connections.beginShutdown()
                acceptor.stopAccepting()
                for channel in channels {
                    channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                }
            }
            if !shutdownRequested.load(ordering: .relaxed) {
                // Accepting failed on its own: take the connections down with it.
                acceptor.closeNow()
                for channel in connections.beginShutdown(closingNow: true) { channel.close(promise: nil) }
            }
            await connections.waitUntilEmpty()
        } onCancel: {
            shutdownRequested.store(true, ordering: .relaxed)
            let channels = connections.beginShutdown(closingNow: true)
            acceptor.closeNow()
            for channel in channels { channel.close(promise: nil) }
        }
        await acceptor.afterwards()
        SocketFile.remove(path: path, ifIdentity: identity)
        logger.info("lookup server stopped", metadata: ["roster.socket.path": "\(path)"])
        if !shutdownRequested.load(ordering: .relaxed) {
            throw RosterServerError(.unexpectedClose, acceptor.failure)
        }
    }

    private func logListening() {
        logger.info(
            "lookup server listening",
            metadata: [
                "roster.socket.path": "\(configuration.socketPath)",
                "roster.socket.mode": "\(String(configuration.socketMode, radix: 8))",
                "roster.check_lanes": "\(configuration.checkLanes)",
            ])
    }

    /// Listens on `path` with the check lanes accepting and serving plain Checks (see
    /// `CheckLane`); every connection that needs more is adopted by a NIO channel on `group`.
    private func startCheckLanes(path: String) throws -> (acceptor: Acceptor, identity: SocketFile.Identity?) {
        let laneCount = configuration.checkLanes
        let fd: Int32
        do {
            fd = try LaneSockets.listen(path: path, backlog: 1024)
        } catch {
            throw RosterServerError(.socketSetup, "cannot listen on \(path)", cause: error)
        }
        let identity = SocketFile.identity(path: path)
        let listener = CheckLane.SharedListener(fd: fd, laneCount: laneCount)
        var created: [CheckLane] = []
        do {
            try SocketFile.chmod(path: path, mode: configuration.socketMode)
            let server = self.server
            let group = self.group
            for number in 0..<laneCount {
                created.append(
                    try CheckLane(number: number, server: server, listener: listener) { ticket in
                        Self.adopt(ticket, server: server, group: group)
                    })
            }
        } catch {
            // Lanes that exist hold the listener; the ones never created release it here.
            for _ in created.count..<laneCount { listener.release() }
            for lane in created { lane.discard() }
            SocketFile.remove(path: path, ifIdentity: identity)
            throw error is RosterServerError
                ? error : RosterServerError(.socketSetup, "cannot start the check lanes for \(path)", cause: error)
        }
        let lanes = created
        let threads = NIOThreadPool(numberOfThreads: laneCount)
        threads.start()
        let finished = LaneCompletion(count: laneCount)
        for lane in lanes {
            threads.submit { _ in
                lane.run()
                finished.laneEnded()
            }
        }
        let acceptor = Acceptor(
            untilStopped: { await finished.waitForFirst() },
            stopAccepting: { for lane in lanes { lane.post(.quiesce) } },
            closeNow: { for lane in lanes { lane.post(.closeAll) } },
            afterwards: {
                await finished.waitForAll()
                try? await threads.shutdownGracefully()
            },
            failure: "a check lane on \(path) stopped unexpectedly")
        return (acceptor, identity)
    }

    /// Makes a connection the check lane let go of into a NIO channel: a refused one gets its
    /// error frame; a served one continues in a `RosterConnectionHandler` from the lane's bytes.
    private static func adopt(_ ticket: CheckLane.Ticket, server: ServerContext, group: any EventLoopGroup) {
        let configuration = server.configuration
        let counted = Atomic<Bool>(false)
        // No bootstrap channel options: NIO applies those before the initializer and closes the
        // socket if one fails, and `whenFailure` below must know whether the fd is still ours.
        ClientBootstrap(group: group)
            .channelInitializer { channel in
                // The channel is counted before the lane's count is dropped: never zero between.
                let (_, shutdown) = server.connections.add(channel)
                server.connections.removeLaneConnection()
                counted.store(true, ordering: .relaxed)
                let logger = server.logger
                // A served connection brings the uid slot the lane took for it; a refused one has none.
                let heldUID = ticket.refusal == nil ? ticket.peer?.uid : nil
                channel.closeFuture.whenComplete { _ in
                    server.connections.remove(channel)
                    if let heldUID { server.connections.releasePeer(uid: heldUID) }
                    logger.debug("connection closed", metadata: ["roster.connection.id": "\(ticket.connectionID)"])
                }
                return channel.eventLoop.makeCompletedFuture {
                    let options = channel.syncOptions!
                    try options.setOption(.writeBufferWaterMark, value: configuration.writeBufferWaterMark)
                    try options.setOption(.maxMessagesPerRead, value: Configuration.maxMessagesPerRead)
                    try options.setOption(.allowRemoteHalfClosure, value: true)
                    if shutdown == .closingNow {
                        // Cancelled while the lane handed it over: close, as every other connection.
                        channel.close(promise: nil)
                        return
                    }
                    if let refusal = ticket.refusal {
                        try channel.pipeline.syncOperations.addHandler(ConnectionRejectionHandler(refusal))
                        return
                    }
                    server.laneHandovers.add(1, ordering: .relaxed)
                    var handover = ticket.handover
                    handover.quiesce = handover.quiesce || shutdown == .quiescing
                    try channel.pipeline.syncOperations.addHandler(
                        RosterConnectionHandler(
                            server: server, peer: ticket.peer, connectionID: ticket.connectionID, handover: handover))
                }
            }
            .withConnectedSocket(ticket.fd)
            .whenFailure { error in
                server.logger.warning(
                    "a connection from the check lane could not be adopted",
                    metadata: ["roster.connection.id": "\(ticket.connectionID)", "roster.error": "\(error)"])
                // Before the initializer ran, only creating the channel can have failed, which
                // leaves the fd open; after it, NIO closed the socket and the channel is counted.
                if !counted.load(ordering: .relaxed) {
                    close(ticket.fd)
                    server.connections.removeLaneConnection()
                    if ticket.refusal == nil, let uid = ticket.peer?.uid { server.connections.releasePeer(uid: uid) }
                }
            }
    }

    private func bind(path: String) async throws -> any Channel {
        let server = self.server
        let configuration = self.configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.writeBufferWaterMark, value: configuration.writeBufferWaterMark)
            .childChannelOption(.maxMessagesPerRead, value: Configuration.maxMessagesPerRead)
            // A client that half-closes still gets its answers (RosterConnectionHandler.inputEnded).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                Self.initializeConnection(channel, server: server)
            }
        do {
            return try await bootstrap.bind(unixDomainSocketPath: path).get()
        } catch {
            throw RosterServerError(.socketSetup, "cannot listen on \(path)", cause: error)
        }
    }

    /// Sets up an accepted connection: counts it, checks the limits and the peer's uid, then
    /// installs the connection handler (or a handler that rejects it).
    static func initializeConnection(_ channel: any Channel, server: ServerContext) -> EventLoopFuture<Void> {
        let connectionID = server.nextConnectionID.add(1, ordering: .relaxed).newValue
        let (count, shutdown) = server.connections.add(channel)
        let logger = server.logger
        channel.closeFuture.whenComplete { _ in
            server.connections.remove(channel)
            logger.debug("connection closed", metadata: ["roster.connection.id": "\(connectionID)"])
        }
        if let refusal = refusal(server: server, connectionID: connectionID, count: count, shuttingDown: shutdown != .no) {
            return reject(channel, refusal)
        }
        return PeerCredentials.read(from: channel).flatMap { peer in
            if let refusal = refusal(server: server, connectionID: connectionID, peer: peer) {
                return reject(channel, refusal)
            }
            logger.debug(
                "connection opened",
                metadata: ["roster.connection.id": "\(connectionID)", "roster.peer.uid": "\(peer.map { "\($0.uid)" } ?? "unknown")"])
            if let uid = peer?.uid {
                // Runs at once if the channel closed meanwhile: the slot is never kept by a closed one.
                channel.closeFuture.whenComplete { _ in server.connections.releasePeer(uid: uid) }
            }
            return channel.eventLoop.makeCompletedFuture {
                // The handler splits frames itself (one hop and no slice per frame).
                try channel.pipeline.syncOperations.addHandler(
                    RosterConnectionHandler(server: server, peer: peer, connectionID: connectionID))
            }
        }
    }

    /// Why a new connection is refused before its peer is known: shutdown, or the limit (`count`
    /// includes it). Nil to go on.
    static func refusal(server: ServerContext, connectionID: UInt64, count: Int, shuttingDown: Bool) -> RosterStatus? {
        let configuration = server.configuration
        if shuttingDown {
            return RosterStatus(.unavailable, "server shutting down")
        }
        if count > configuration.maxConnections {
            logRefusal(server, "connection limit reached", level: .warning, connectionID: connectionID, reason: "connection_limit")
            return RosterStatus(
                .resourceExhausted,
                "too many connections: the server allows \(configuration.maxConnections); closing the connection")
        }
        return nil
    }

    /// Why a connection is refused for who its peer is (SO_PEERCRED): unknown on Linux, a uid
    /// outside the allow-list, or a uid that already holds its share of connections
    /// (`connectionsPerUID`). Nil to go on, with one of the peer uid's slots taken: whoever serves
    /// the connection gives it back when it closes (`releasePeer`); a handed-over connection
    /// keeps it.
    static func refusal(server: ServerContext, connectionID: UInt64, peer: PeerCredentials?) -> RosterStatus? {
        #if os(Linux)
        guard peer != nil else {
            logRefusal(server, "connection refused: no peer credentials", level: .notice, connectionID: connectionID, reason: "no_credentials")
            return RosterStatus(.unauthenticated, "cannot read the peer's credentials (SO_PEERCRED); closing the connection")
        }
        #endif
        if let allowed = server.configuration.allowedPeerUIDs, !(peer.map { allowed.contains($0.uid) } ?? false) {
            let who = peer.map { "uid \($0.uid)" } ?? "a peer of unknown uid"
            logRefusal(server, "connection refused by peer allow-list", level: .notice, connectionID: connectionID, reason: "peer_not_allowed", uid: peer?.uid)
            return RosterStatus(.permissionDenied, "\(who) is not allowed to connect; closing the connection")
        }
        if let uid = peer?.uid {
            let share = server.configuration.connectionsPerUID
            if let held = server.connections.admitPeer(uid: uid, limit: share) {
                logRefusal(
                    server, "connection refused: the uid holds its share of connections", level: .warning,
                    connectionID: connectionID, reason: "uid_share", uid: uid)
                return RosterStatus(
                    .resourceExhausted,
                    "uid \(uid) already holds \(held) connections, the most one uid may open (--max-connections-per-uid \(share)); close idle connections or pool them; closing the connection"
                )
            }
        }
        return nil
    }

    /// Logs a refused connection, at most once per `ServerContext.refusalLog` interval with the
    /// count of refusals since the previous line (both acceptors refuse through here).
    private static func logRefusal(
        _ server: ServerContext, _ message: Logger.Message, level: Logger.Level, connectionID: UInt64, reason: String,
        uid: UInt32? = nil
    ) {
        guard let summary = server.refusalLog.withLock({ $0.record(now: ContinuousClock.now) }) else { return }
        var metadata: Logger.Metadata = [
            "roster.connection.id": "\(connectionID)", "roster.refused": "\(summary.count)",
            "roster.since_seconds": "\(summary.seconds)", "roster.reason": "\(reason)",
            "roster.limit": "\(reason == "uid_share" ? server.configuration.connectionsPerUID : server.configuration.maxConnections)",
        ]
        if let uid { metadata["roster.peer.uid"] = "\(uid)" }
        server.logger.log(level: level, message, metadata: metadata)
    }

    /// The connection-level error for a frame that did not arrive whole within `frameTimeout`
    /// (both acceptors send it).
    static func frameTimeoutStatus(_ configuration: Configuration) -> RosterStatus {
        let parts = configuration.frameTimeout.components
        let seconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        let shown = seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
        return RosterStatus(
            .deadlineExceeded,
            "a request frame began \(shown) s ago and has not arrived whole (--frame-timeout \(shown)); send each frame in one go; closing the connection"
        )
    }

    /// Logs a connection closed for an incomplete frame, once per episode (see `logRefusal`).
    static func logFrameTimeout(_ server: ServerContext, connectionID: UInt64, pending: Int) {
        guard let summary = server.frameTimeoutLog.withLock({ $0.record(now: ContinuousClock.now) }) else { return }
        server.logger.warning(
            "connection closed: a request frame stayed incomplete past the frame timeout",
            metadata: [
                "roster.connection.id": "\(connectionID)", "roster.closed": "\(summary.count)",
                "roster.since_seconds": "\(summary.seconds)", "roster.frame.bytes_received": "\(pending)",
            ])
    }

    private static func reject(_ channel: any Channel, _ status: RosterStatus) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionRejectionHandler(status))
        }
    }
}
