import CRosterLinux
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import RosterCore
import RosterProtocol
import Synchronization

/// The check lane: one thread, one epoll set, serving the lookup socket's connections for as
/// long as they send plain Checks, and handing each connection to SwiftNIO the moment it sends
/// anything else.
///
/// Why it exists: at one call in flight per connection (50×1 in `docs/BENCHMARKS.md`), every
/// answer is its own wake-up, read and write, and SwiftNIO's per-event channel machinery
/// (selector, pipeline, retains of the channel and its buffers) cost about as much as the system
/// calls, so rosterd fell short of Redis there. The lane does per event only what the floor
/// server does: `read` into a reused buffer, answer in place, one `send`.
///
/// What it serves, and what it does not:
/// - Every frame is split by `FrameDecoder` and offered to `InPlaceChecks`, the same code the NIO
///   handler runs first. A frame it takes is answered here.
/// - Any other frame (another method, an unusual encoding, a `min_revision` not yet visible, a
///   malformed or oversized frame), and a frame that announces more than `maxLaneFrame` bytes,
///   hands the connection over: the lane stops watching it and passes the socket, its unwritten
///   answers and its unprocessed bytes to `RosterServer`, which adopts it into a NIO channel
///   with a `RosterConnectionHandler`. That handler continues from the same bytes, so every
///   error, limit and method behaves exactly as on the NIO path. The handover is one-way.
/// - A connection the server refuses (limit, peer allow-list, no credentials) is handed over at
///   once, so its error frame is written by the same code as before.
/// - Backpressure: while an answer is not fully written, the lane stops reading from that
///   connection (it watches for `EPOLLOUT` only), so a client that does not read cannot grow
///   server memory. At most one read's worth of answers is ever held.
///
/// Threading: `run()` owns all mutable state on the lane's thread; other threads talk to it only
/// through `post(_:)` (a locked queue and an eventfd wake-up).
final class CheckLane: @unchecked Sendable {
    /// What a handed-over connection brings with it.
    struct Handover: Sendable {
        /// Answers the lane produced but could not write yet.
        var output: ByteBuffer?
        /// Bytes read but not processed: the frame the lane declined and everything after it.
        var input: ByteBuffer?
        /// The server is shutting down: the handler quiesces as soon as it has caught up. Set by
        /// `RosterServer.adopt` from the registry (a lane never hands over while it quiesces:
        /// it stops reading then).
        var quiesce = false
    }

    /// A connection leaving the lane for SwiftNIO.
    struct Ticket: Sendable {
        var fd: Int32
        var connectionID: UInt64
        var peer: PeerCredentials?
        /// Set when the server refuses the connection: NIO writes this error and closes.
        var refusal: RosterStatus?
        var handover: Handover
    }

    enum Command: Sendable {
        /// Graceful shutdown: stop accepting, close every connection once its answers are
        /// written (at most `shutdownGracePeriod` later), then end `run()`.
        case quiesce
        /// Close everything now and end `run()`.
        case closeAll
    }

    /// Frames announcing more than this are never plain Checks worth buffering here: the
    /// connection goes to NIO, which reads them with its own limits.
    static let maxLaneFrame = 64 * 1024
    private static let readBufferSize = 64 * 1024
    private static let eventCapacity = 256
    private static let acceptPause = TimeAmount.milliseconds(100)

    private let server: ServerContext
    private let listener: SharedListener
    private let handOver: @Sendable (Ticket) -> Void
    private let epoll: Int32
    private let wake: Int32
    /// Commands for the lane's thread, and whether `wake` is still open to signal them (once
    /// the lane has ended, its descriptor number may belong to another file).
    private let commands = Mutex<(pending: [Command], wakeOpen: Bool)>(([], true))
    private let logger: Logger
    private let threadName: String

    // Lane-thread state.
    private var connections: [Connection?] = []
    private var connectionCount = 0
    private var listening = false
    private var acceptResumesAt: NIODeadline?
    /// Accepting failed for lack of resources and has not succeeded since.
    private var acceptFailing = false
    private var quiesceDeadline: NIODeadline?
    /// When to look for connections whose begun frame is older than `frameTimeout` (nil: no
    /// connection held a partial frame at the last look).
    private var frameSweepAt: NIODeadline?
    private var stopped = false
    private var readBuffer: ByteBuffer?
    private var output: ByteBuffer

    /// One lookup connection while the lane serves it.
    private final class Connection {
        let fd: Int32
        let id: UInt64
        let peer: PeerCredentials?
        /// The start of a frame that has not fully arrived (at most `maxLaneFrame` + 4 bytes).
        var partial: ByteBuffer?
        /// When the read that began `partial`'s frame happened (the frame timeout counts from it).
        var partialSince: NIODeadline?
        /// Answers not yet written; while set, the lane waits for `EPOLLOUT` and does not read.
        var unwritten: ByteBuffer?
        var closeWhenWritten = false
        var checks = InPlaceChecks()

        init(fd: Int32, id: UInt64, peer: PeerCredentials?) {
            self.fd = fd
            self.id = id
            self.peer = peer
        }
    }

    /// - Parameter number: the lane's position, for its thread name (`roster-lane-N`).
    init(
        number: Int, server: ServerContext, listener: SharedListener, handOver: @escaping @Sendable (Ticket) -> Void
    ) throws {
        self.threadName = "roster-lane-\(number)"
        self.server = server
        self.listener = listener
        self.handOver = handOver
        self.logger = server.logger
        self.epoll = try LaneSockets.epollCreate()
        do {
            self.wake = try LaneSockets.eventFD()
        } catch {
            close(epoll)
            throw error
        }
        let allocator = ByteBufferAllocator()
        self.readBuffer = allocator.buffer(capacity: Self.readBufferSize)
        self.output = allocator.buffer(capacity: Self.readBufferSize)
        guard LaneSockets.control(epoll, LaneSockets.add, wake, events: LaneSockets.readable),
            LaneSockets.control(epoll, LaneSockets.add, listener.fd, events: listenerEvents)
        else {
            let error = IOError(errnoCode: errno, reason: "epoll_ctl")
            close(wake)
            close(epoll)
            throw error
        }
        listening = true
    }

    /// Asks the lane's thread to do `command`.
    /// Does nothing once the lane has ended.
    func post(_ command: Command) {
        commands.withLock { state in
            guard state.wakeOpen else { return }
            state.pending.append(command)
            var one: UInt64 = 1
            _ = write(wake, &one, MemoryLayout<UInt64>.size)
        }
    }

    /// Releases what `init` opened, for a lane whose `run()` will never be called.
    func discard() {
        stopListening()
        closeDescriptors()
    }

    private func closeDescriptors() {
        commands.withLock { state in
            state.wakeOpen = false
            close(wake)
        }
        close(epoll)
    }

    /// Serves until `quiesce` has drained every connection or `closeAll`. Blocks its thread.
    func run() {
        // Named for ps, top and perf (at most 15 bytes on Linux).
        c_roster_name_thread(threadName)
        let fds = UnsafeMutablePointer<Int32>.allocate(capacity: Self.eventCapacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: Self.eventCapacity)
        defer {
            fds.deallocate()
            events.deallocate()
            stopListening()
            closeDescriptors()
        }
        while !stopped {
            let ready = c_roster_epoll_wait(epoll, fds, events, Int32(Self.eventCapacity), waitTimeout())
            if ready < 0 {
                if errno == EINTR { continue }
                logger.critical(
                    "check lane stopped: epoll_wait failed", metadata: ["roster.error": "\(IOError(errnoCode: errno, reason: "epoll_wait"))"])
                closeAll()
                return
            }
            for position in 0..<Int(ready) {
                let fd = fds[position]
                if fd == wake {
                    runCommands()
                } else if listening, fd == listener.fd {
                    acceptOne()
                } else if let connection = connection(fd) {
                    if events[position] & LaneSockets.writable != 0 || connection.unwritten != nil {
                        writable(connection)
                    } else {
                        readable(connection)
                    }
                }
            }
            timersFired()
        }
    }

    // MARK: Accepting

    /// With several lanes on one listening socket, the kernel wakes one of them per connection.
    private var listenerEvents: UInt32 {
        LaneSockets.readable | (listener.laneCount > 1 ? LaneSockets.exclusive : 0)
    }

    private func stopListening() {
        guard listening else { return }
        listening = false
        LaneSockets.control(epoll, LaneSockets.remove, listener.fd, events: 0)
        listener.release()
    }

    /// Accepts one connection per wake-up, so that several lanes share a burst of connections.
    private func acceptOne() {
        guard listening else { return }
        let fd = LaneSockets.accept(listener.fd)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO:
                return
            default:
                // Out of descriptors or memory: the listening socket stays readable, so pause
                // accepting instead of spinning on it; one warning per episode, not per retry.
                if !acceptFailing {
                    acceptFailing = true
                    logger.warning(
                        "accept failed; retrying every 100 ms until it succeeds",
                        metadata: ["roster.error": "\(IOError(errnoCode: code, reason: "accept4"))"])
                }
                LaneSockets.control(epoll, LaneSockets.remove, listener.fd, events: 0)
                acceptResumesAt = .now() + Self.acceptPause
                return
            }
        }
        if acceptFailing {
            acceptFailing = false
            logger.notice("accepting connections again")
        }
        admit(fd)
    }

    private func admit(_ fd: Int32) {
        let connectionID = server.nextConnectionID.add(1, ordering: .relaxed).newValue
        let (count, shutdown) = server.connections.addLaneConnection()
        let peer = LaneSockets.peerCredentials(fd)
        let refusal =
            RosterServer.refusal(server: server, connectionID: connectionID, count: count, shuttingDown: shutdown != .no)
            ?? RosterServer.refusal(server: server, connectionID: connectionID, peer: peer)
        if let refusal {
            handOver(Ticket(fd: fd, connectionID: connectionID, peer: peer, refusal: refusal, handover: Handover()))
            return
        }
        guard LaneSockets.control(epoll, LaneSockets.add, fd, events: LaneSockets.readable) else {
            logger.warning(
                "connection not served: epoll_ctl failed",
                metadata: ["roster.connection.id": "\(connectionID)", "roster.error": "\(IOError(errnoCode: errno, reason: "epoll_ctl"))"])
            close(fd)
            server.connections.removeLaneConnection()
            return
        }
        let connection = Connection(fd: fd, id: connectionID, peer: peer)
        let slot = Int(fd)
        if slot >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: slot - connections.count + 64))
        }
        connections[slot] = connection
        connectionCount += 1
        logger.debug(
            "connection opened",
            metadata: ["roster.connection.id": "\(connectionID)", "roster.peer.uid": "\(peer.map { "\($0.uid)" } ?? "unknown")"])
    }

    private func connection(_ fd: Int32) -> Connection? {
        let slot = Int(fd)
        return slot >= 0 && slot < connections.count ? connections[slot] : nil
    }

    // MARK: Serving

    private func readable(_ connection: Connection) {
        var input: ByteBuffer
        let usesReadBuffer: Bool
        if let partial = connection.partial {
            connection.partial = nil
            input = partial
            usesReadBuffer = false
        } else {
            input = readBuffer.take()!
            input.clear()
            usesReadBuffer = true
        }
        var failure: Int32 = 0
        let count = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { space -> Int in
            let result = recv(connection.fd, space.baseAddress, space.count, 0)
            if result < 0 { failure = errno }
            return max(result, 0)
        }
        if count == 0 {
            if failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR {
                // Nothing to read after all: keep the frame begun earlier.
                if usesReadBuffer { restoreReadBuffer(&input) } else { connection.partial = input }
                return
            }
            if failure == 0, !usesReadBuffer, input.readableBytes > 0 {
                logger.debug(
                    "connection closed inside a frame",
                    metadata: [
                        "roster.connection.id": "\(connection.id)",
                        "roster.error": "\(FrameDecoder.truncationError(input).message)",
                    ])
            }
            if usesReadBuffer { restoreReadBuffer(&input) }
            closeConnection(connection)
            return
        }
        let received = NIODeadline.now()
        // Loaded after the read, so a Check sent after a write was acknowledged sees that write.
        // The index is borrowed from the snapshot, never bound to a local: a copy of the struct
        // would retain (and later release) each of its tables, per read.
        let snapshot = server.publisher.currentSnapshot
        let startedInside = input.readerIndex
        while true {
            let frameStart = input.readerIndex
            let payload: ByteBuffer?
            do {
                payload = try FrameDecoder.decodeFrame(from: &input, maxFrameSize: server.configuration.maxFrameSize)
            } catch {
                // NIO answers the malformed frame exactly as it would have on its own path.
                input.moveReaderIndex(to: frameStart)
                handOverConnection(connection, input: &input, received: received)
                return
            }
            guard let payload else { break }
            if !connection.checks.answer(payload, index: snapshot.index, into: &output) {
                input.moveReaderIndex(to: frameStart)
                handOverConnection(connection, input: &input, received: received)
                return
            }
        }
        if input.readableBytes >= 4,
            let announced = input.getInteger(at: input.readerIndex, as: UInt32.self), announced > Self.maxLaneFrame
        {
            handOverConnection(connection, input: &input, received: received)
            return
        }
        if input.readableBytes > 0 {
            // The frame timeout runs from the read that began this frame: a new one if a frame
            // ended in this read, else the one held before.
            if connection.partialSince == nil || input.readerIndex != startedInside {
                connection.partialSince = received
                if frameSweepAt == nil { frameSweepAt = received + frameTimeout }
            }
            // Keep the start of the next frame; the shared read buffer goes back for the next read.
            if usesReadBuffer {
                var partial = ByteBufferAllocator().buffer(capacity: input.readableBytes)
                partial.writeImmutableBuffer(input)
                connection.partial = partial
                restoreReadBuffer(&input)
            } else {
                input.discardReadBytes()
                connection.partial = input
            }
        } else {
            connection.partialSince = nil
            restoreReadBuffer(&input)
        }
        flush(connection)
        connection.checks.endBurst(into: server, burstNanoseconds: (NIODeadline.now() - received).nanoseconds)
    }

    /// Gives the shared read buffer back if `input` is it (the lane holds it only between reads).
    private func restoreReadBuffer(_ input: inout ByteBuffer) {
        guard readBuffer == nil else { return }
        input.clear()
        readBuffer = input
        input = ByteBuffer()
    }

    /// Writes the answers of one read; what the socket does not take waits for `EPOLLOUT`.
    private func flush(_ connection: Connection) {
        guard output.readableBytes > 0 else { return }
        let failure = send(&output, to: connection.fd)
        if let failure {
            output.clear()
            logger.debug(
                "connection error", metadata: ["roster.connection.id": "\(connection.id)", "roster.error": "\(failure)"])
            closeConnection(connection)
            return
        }
        if output.readableBytes > 0 {
            var unwritten = ByteBufferAllocator().buffer(capacity: output.readableBytes)
            unwritten.writeBuffer(&output)
            connection.unwritten = unwritten
            LaneSockets.control(epoll, LaneSockets.modify, connection.fd, events: LaneSockets.writable)
        }
        output.clear()
    }

    private func writable(_ connection: Connection) {
        guard var unwritten = connection.unwritten else {
            LaneSockets.control(epoll, LaneSockets.modify, connection.fd, events: LaneSockets.readable)
            return
        }
        connection.unwritten = nil
        if let failure = send(&unwritten, to: connection.fd) {
            logger.debug(
                "connection error", metadata: ["roster.connection.id": "\(connection.id)", "roster.error": "\(failure)"])
            closeConnection(connection)
            return
        }
        if unwritten.readableBytes > 0 {
            connection.unwritten = unwritten
            return
        }
        if connection.closeWhenWritten {
            closeConnection(connection)
        } else {
            LaneSockets.control(epoll, LaneSockets.modify, connection.fd, events: LaneSockets.readable)
        }
    }

    /// Sends as much of `buffer` as the socket takes, moving its reader index; an error other
    /// than a full socket buffer is returned.
    private func send(_ buffer: inout ByteBuffer, to fd: Int32) -> IOError? {
        let sent = buffer.withUnsafeReadableBytes { c_roster_send_available(fd, $0.baseAddress, $0.count) }
        guard sent >= 0 else { return IOError(errnoCode: errno, reason: "send") }
        buffer.moveReaderIndex(forwardBy: sent)
        return nil
    }

    // MARK: Leaving the lane

    private func handOverConnection(_ connection: Connection, input: inout ByteBuffer, received: NIODeadline) {
        forget(connection)
        var unprocessed: ByteBuffer?
        if input.readableBytes > 0 {
            var copy = ByteBufferAllocator().buffer(capacity: input.readableBytes)
            copy.writeImmutableBuffer(input)
            unprocessed = copy
        }
        restoreReadBuffer(&input)
        var answers: ByteBuffer?
        if output.readableBytes > 0 {
            var copy = ByteBufferAllocator().buffer(capacity: output.readableBytes)
            copy.writeBuffer(&output)
            answers = copy
        }
        output.clear()
        connection.checks.endBurst(into: server, burstNanoseconds: (NIODeadline.now() - received).nanoseconds)
        logger.debug("connection handed to the NIO path", metadata: ["roster.connection.id": "\(connection.id)"])
        handOver(
            Ticket(
                fd: connection.fd, connectionID: connection.id, peer: connection.peer, refusal: nil,
                handover: Handover(output: answers, input: unprocessed)))
    }

    /// Stops watching a connection without closing its socket.
    private func forget(_ connection: Connection) {
        LaneSockets.control(epoll, LaneSockets.remove, connection.fd, events: 0)
        connections[Int(connection.fd)] = nil
        connectionCount -= 1
    }

    private func closeConnection(_ connection: Connection) {
        forget(connection)
        close(connection.fd)
        server.connections.removeLaneConnection()
        if let uid = connection.peer?.uid { server.connections.releasePeer(uid: uid) }
        logger.debug("connection closed", metadata: ["roster.connection.id": "\(connection.id)"])
        if quiesceDeadline != nil, connectionCount == 0 { stopped = true }
    }

    // MARK: Commands and timers

    private func runCommands() {
        var counter: UInt64 = 0
        _ = read(wake, &counter, MemoryLayout<UInt64>.size)
        let pending = commands.withLock { state -> [Command] in
            defer { state.pending.removeAll() }
            return state.pending
        }
        for command in pending {
            switch command {
            case .quiesce: quiesce()
            case .closeAll: closeAll()
            }
        }
    }

    private func quiesce() {
        guard quiesceDeadline == nil else { return }
        stopListening()
        acceptResumesAt = nil
        quiesceDeadline = .now() + TimeAmount(server.configuration.shutdownGracePeriod)
        // No lane call is ever in flight: a connection is done once its answers are written.
        for case let connection? in connections {
            if connection.unwritten == nil {
                closeConnection(connection)
            } else {
                connection.closeWhenWritten = true
            }
        }
        if connectionCount == 0 { stopped = true }
    }

    private var frameTimeout: TimeAmount { TimeAmount(server.configuration.frameTimeout) }

    /// Closes, with an error frame, every connection whose begun frame is older than the frame
    /// timeout, and plans the next look for the oldest one left. A connection the lane is not
    /// reading (its answers wait for the client to read) is not the client's delay: its clock
    /// restarts.
    private func closeIncompleteFrames() {
        let now = NIODeadline.now()
        var oldest: NIODeadline?
        for case let connection? in connections {
            guard var since = connection.partialSince else { continue }
            if connection.unwritten != nil {
                since = now
                connection.partialSince = now
            } else if since + frameTimeout <= now {
                frameTimedOut(connection, since: since, now: now)
                continue
            }
            oldest = min(oldest ?? since, since)
        }
        frameSweepAt = oldest.map { $0 + frameTimeout }
    }

    /// Writes the connection-level error (the socket's buffer is empty: nothing is unwritten)
    /// and closes; logged once per episode, as refusals are.
    private func frameTimedOut(_ connection: Connection, since: NIODeadline, now: NIODeadline) {
        var frame = ByteBufferAllocator().buffer(capacity: 256)
        _ = try? frame.writeRosterFrame(
            Roster_V1_ResponseFrame.failure(callID: 0, RosterServer.frameTimeoutStatus(server.configuration)))
        _ = send(&frame, to: connection.fd)
        RosterServer.logFrameTimeout(server, connectionID: connection.id, pending: connection.partial?.readableBytes ?? 0)
        closeConnection(connection)
    }

    private func closeAll() {
        stopListening()
        for case let connection? in connections { closeConnection(connection) }
        stopped = true
    }

    private func waitTimeout() -> Int32 {
        let deadlines = [acceptResumesAt, quiesceDeadline, frameSweepAt]
        guard let next = deadlines.compactMap({ $0 }).min() else { return -1 }
        let remaining = (next - .now()).nanoseconds
        return remaining <= 0 ? 0 : Int32(min((remaining + 999_999) / 1_000_000, 60_000))
    }

    private func timersFired() {
        guard acceptResumesAt != nil || quiesceDeadline != nil || frameSweepAt != nil else { return }
        if let sweep = frameSweepAt, sweep <= .now() { closeIncompleteFrames() }
        if let resume = acceptResumesAt, resume <= .now() {
            acceptResumesAt = nil
            if listening, !LaneSockets.control(epoll, LaneSockets.add, listener.fd, events: listenerEvents) {
                logger.error(
                    "check lane stopped accepting: epoll_ctl failed",
                    metadata: ["roster.error": "\(IOError(errnoCode: errno, reason: "epoll_ctl"))"])
                stopListening()
            }
        }
        if let deadline = quiesceDeadline, deadline <= .now(), connectionCount > 0 {
            logger.notice("shutdown grace period ended with answers unwritten")
            closeAll()
        }
    }
}

extension CheckLane {
    /// The listening socket the lanes share. Closed by the last lane to stop listening, so no
    /// lane can call `accept` on a descriptor number that was closed and reused.
    final class SharedListener: Sendable {
        let fd: Int32
        let laneCount: Int
        private let users: Atomic<Int>

        init(fd: Int32, laneCount: Int) {
            self.fd = fd
            self.laneCount = laneCount
            self.users = Atomic(laneCount)
        }

        /// A lane stopped listening; the last one closes the socket.
        func release() {
            if users.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                close(fd)
            }
        }
    }
}
