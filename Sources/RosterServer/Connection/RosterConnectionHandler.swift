import Logging
import NIOCore
import RosterCore
import RosterProtocol
import Synchronization

/// Serves one lookup connection: splits the byte stream into frames, runs many calls at once
/// and writes each answer when it is ready, in any order.
///
/// - The hot path (Check, BatchCheck, listings, Health, Stats) is answered inside `channelRead`
///   from the published snapshot: no lock, no await, no task. Answers accumulate in one buffer
///   that is written and flushed once per read burst (`channelReadComplete`).
/// - A plain Check by SCIM ids is read in place (`CheckRequestView`) and answered without
///   decoding a message, creating a String or entering the call table; its metrics are counted
///   locally and handed over once per burst. Every other frame takes the generic path.
/// - `min_revision` ahead of the index parks the call on `IndexPublisher.whenRevision`; the
///   wake-up hops back to the event loop. The call's deadline is a timer on the event loop;
///   whichever fires first cancels the other.
/// - Calls that need the back end run in a `Task` and write their answer back on the loop.
/// - Watch reads the event log a page at a time, only while the channel is writable, then waits
///   for newer revisions.
/// - Output is bounded for every method, not only for Checks: while the channel is not writable
///   (more than the high water mark of answers unwritten), or `maxRunningBackendCalls` calls
///   are waiting for the back end, the handler stops taking frames — mid-read if need be, keeping
///   the bytes it has not processed — and holds back `read()`, so a client that does not read its
///   answers stops being read from instead of growing server memory. It resumes when the output
///   drains or a back-end call ends.
///
/// Lives on its channel's event loop only.
final class RosterConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Output collected during a read burst is written out when it reaches this size.
    static let outputChunkSize = 64 * 1024

    /// Back-end calls (GetUser, GetGroup, admin) one connection may have running; further frames
    /// wait unread. Each running call holds a task, a store read and, soon, its answer: without
    /// this bound a client pipelining GetUser without reading held `--max-in-flight` of them
    /// (about 8.5 MB per connection). The store has a handful of readers, so more would only queue.
    static let maxRunningBackendCalls = 16

    private let server: ServerContext
    private let configuration: RosterServer.Configuration
    private let publisher: IndexPublisher
    private let peer: PeerCredentials?
    private let peerIsAdmin: Bool
    private let peerDescription: String
    private let connectionID: UInt64
    private var logger: Logger

    private var state: StateMachine
    private var context: ChannelHandlerContext?
    private var loopBound: NIOLoopBound<RosterConnectionHandler>?
    private var output = ByteBuffer()
    private var needsFlush = false
    private var inReadBurst = false
    private var pendingRead = false
    /// Frames stopped being taken because output or back-end calls reached their bound;
    /// `partialFrame` then holds every byte read and not processed (whole frames too).
    private var stalled = false
    /// The connection stalled at least once: its memory is worth a heap trim when it closes.
    private var everStalled = false
    /// Back-end calls running (not Watch pages), against `maxRunningBackendCalls`.
    private var backendRunning = 0
    /// Output went to the channel during this read burst: writability may have changed.
    private var handedOutput = false
    private var graceTimer: Scheduled<Void>?
    /// Bytes of a frame that is not complete yet (at most one frame's worth: the length is
    /// checked against the limit before any payload is kept) or, while `stalled`, every byte
    /// read and not processed yet (at most one read burst's worth: no read happens meanwhile).
    private var partialFrame: ByteBuffer?
    /// When the read that began `partialFrame`'s frame happened: `frameTimeout` counts from it.
    private var partialSince: NIODeadline?
    /// Fires when the oldest possible incomplete frame is due (at most one per connection).
    private var frameTimer: Scheduled<Void>?
    /// Set by the first read of a burst: when its frames were received (one clock read per burst).
    private var burstStart: NIODeadline?
    private var inPlace = InPlaceChecks()
    /// The client half-closed: close once the calls in flight are answered.
    private var inputClosed = false
    /// What the check lane handed over with the connection, processed once it is active.
    private var handover: CheckLane.Handover?

    /// - Parameter handover: set when the check lane passes a connection it will not serve any
    ///   more: its unwritten answers go out first, then its unprocessed bytes are read as if
    ///   they had just arrived.
    init(server: ServerContext, peer: PeerCredentials?, connectionID: UInt64, handover: CheckLane.Handover? = nil) {
        self.handover = handover
        self.connectionID = connectionID
        self.server = server
        self.configuration = server.configuration
        self.publisher = server.publisher
        self.peer = peer
        self.peerIsAdmin = peer.map { server.configuration.adminUIDs.contains($0.uid) } ?? false
        self.peerDescription = peer.map { "uid \($0.uid)" } ?? "a peer of unknown uid"
        self.state = StateMachine(maxInFlight: server.configuration.maxInFlightCallsPerConnection)
        var logger = server.logger
        logger[metadataKey: "roster.connection.id"] = "\(connectionID)"
        if let peer {
            logger[metadataKey: "roster.peer.uid"] = "\(peer.uid)"
            logger[metadataKey: "roster.peer.pid"] = "\(peer.pid)"
        }
        self.logger = logger
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.output = context.channel.allocator.buffer(capacity: 1024)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseAll()
        self.context = nil
        self.loopBound = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if let handover {
            self.handover = nil
            takeOver(handover, context: context)
        }
        context.fireChannelActive()
    }

    /// Continues where the check lane stopped: its answers first, then its unread frames.
    private func takeOver(_ handover: CheckLane.Handover, context: ChannelHandlerContext) {
        if var pending = handover.output, pending.readableBytes > 0 {
            output.writeBuffer(&pending)
            needsFlush = true
        }
        if let input = handover.input, input.readableBytes > 0 {
            channelRead(context: context, data: NIOAny(input))
        }
        inReadBurst = false
        flushOutput()
        endBurst()
        if handover.quiesce { quiesce() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.lifecycle != .closed else { return }
        var bytes = unwrapInboundIn(data)
        if var partial = partialFrame {
            partialFrame = nil
            partial.writeBuffer(&bytes)
            bytes = partial
        }
        if stalled {
            // The rest of a read burst that began before the bound was reached.
            partialFrame = bytes
            return
        }
        inReadBurst = true
        let received: NIODeadline
        if let burstStart { received = burstStart } else {
            received = .now()
            burstStart = received
        }
        // One snapshot per read: the frames of one read are answered at one revision.
        let snapshot = publisher.currentSnapshot
        let startedInside = bytes.readerIndex
        while state.lifecycle != .closed {
            if backendRunning >= Self.maxRunningBackendCalls || (handedOutput && !context.channel.isWritable) {
                stalled = true
                everStalled = true
                partialFrame = bytes
                return
            }
            let payload: ByteBuffer?
            do {
                payload = try FrameDecoder.decodeFrame(from: &bytes, maxFrameSize: configuration.maxFrameSize)
            } catch {
                logger.debug("request frame rejected", metadata: ["roster.error": "\(error.message)"])
                connectionError(RosterStatus(.resourceExhausted, "\(error.message); closing the connection"))
                return
            }
            guard let payload else { break }
            if answerCheckInPlace(payload, index: snapshot.index) { continue }
            let frame: Roster_V1_RequestFrame
            do {
                frame = try Roster_V1_RequestFrame(framePayload: payload)
            } catch {
                logger.debug("request frame rejected", metadata: ["roster.error": "\(error.message)"])
                connectionError(RosterStatus(.invalidArgument, "\(error.message); closing the connection"))
                return
            }
            // Counted before it runs, so a Stats call counts itself and the frames before it.
            server.callsTotal.add(UInt64(inPlace.takeFrameCount() + 1), ordering: .relaxed)
            handle(frame, received: received)
        }
        if bytes.readableBytes > 0, state.lifecycle != .closed {
            partialFrame = bytes
            // A new frame began in this read if one ended in it; else the held one goes on.
            if partialSince == nil || bytes.readerIndex != startedInside {
                partialSince = received
                armFrameTimer()
            }
        } else {
            partialSince = nil
        }
    }

    // MARK: Frame timeout

    private func armFrameTimer() {
        guard frameTimer == nil, let context, let since = partialSince else { return }
        frameTimer = context.eventLoop.assumeIsolated().scheduleTask(
            deadline: since + TimeAmount(configuration.frameTimeout)
        ) { [self] in
            self.frameTimer = nil
            self.frameTimerFired()
        }
    }

    /// Closes the connection with an error frame if its begun frame is older than the timeout;
    /// otherwise waits for the frame held now. While reading is held back (the client is not
    /// reading its answers) the delay is the server's, so the clock restarts.
    private func frameTimerFired() {
        guard state.lifecycle != .closed, partialFrame != nil, let since = partialSince else { return }
        let now = NIODeadline.now()
        if pendingRead || stalled {
            partialSince = now
        } else if since + TimeAmount(configuration.frameTimeout) <= now {
            RosterServer.logFrameTimeout(server, connectionID: connectionID, pending: partialFrame?.readableBytes ?? 0)
            partialFrame = nil
            partialSince = nil
            connectionError(RosterServer.frameTimeoutStatus(configuration))
            return
        }
        armFrameTimer()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        flushOutput()
        endBurst()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if everStalled || !context.channel.isWritable { server.trimHeapSoon() }
        dropPartialFrame()
        endBurst()
        releaseAll()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            resumeIfDrained()
            if pendingRead, !stalled, state.lifecycle != .closed {
                pendingRead = false
                context.read()
            }
            let paused = state.calls.filter { $0.value.watch?.phase == .paused }
            for (callID, call) in paused.sorted(by: { $0.key < $1.key }) {
                pumpWatch(callID, serial: call.serial)
            }
            flushIfIdle()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiesce()
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            inputEnded()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Socket errors only: malformed and oversized frames are answered in `channelRead`, which
    /// splits the stream itself.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["roster.error": "\(error)"])
        releaseAll()
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable, !stalled {
            context.read()
        } else {
            pendingRead = true
        }
    }

    // MARK: Checks answered in place

    /// Answers a plain Check frame straight from its bytes (`InPlaceChecks`). Returns false,
    /// having done nothing, when the frame needs the generic path, including a call id that is
    /// already in flight on this connection.
    private func answerCheckInPlace(_ payload: ByteBuffer, index: MembershipIndex) -> Bool {
        guard state.lifecycle == .active else { return false }
        if !state.calls.isEmpty {
            guard let callID = InPlaceChecks.callID(ifPlainCheck: payload, index: index), state.calls[callID] == nil
            else { return false }
        }
        guard inPlace.answer(payload, index: index, into: &output) else { return false }
        outputWritten()
        return true
    }

    /// Ends a read burst: hands the burst's counts to the metrics, with one duration (read to
    /// flush) for every Check it answered in place.
    private func endBurst() {
        guard let start = burstStart else { return }
        burstStart = nil
        guard !inPlace.burst.isEmpty else { return }
        inPlace.endBurst(into: server, burstNanoseconds: (NIODeadline.now() - start).nanoseconds)
    }

    // MARK: Dispatch

    private func handle(_ frame: Roster_V1_RequestFrame, received: NIODeadline) {
        let callID = frame.callID
        switch state.receive(
            callID: callID, method: frame.method, peerIsAdmin: peerIsAdmin, peer: peerDescription,
            hasUnknownFields: frame.method == nil && frame.hasUnknownFields)
        {
        case .connectionError(let status):
            connectionError(status)
        case .reject(let status):
            let method = MethodLabel(frame.method)
            if status.code == .permissionDenied {
                logger.notice("admin call denied", metadata: ["roster.method": "\(method.name)"])
            }
            // A refused Watch still ends its stream, as every Watch does.
            writeFailure(callID, status, endOfStream: method == .watch)
            record(method: method, received: received, code: status.code)
        case .cancel(let target):
            cancelCall(target, by: callID)
            writeResult(callID, .cancel(Roster_V1_CancelResponse()))
            record(method: .cancel, received: received, code: .ok)
        case .dispatch:
            // `receive` only dispatches frames that have a method.
            guard let method = frame.method else { return }
            if case .watch(let request) = method {
                startWatch(callID, request, timeoutMs: frame.timeoutMs, received: received)
                return
            }
            let minRevision = method.minRevision
            // One reference to the snapshot; the index is read in place, not copied.
            let snapshot = publisher.currentSnapshot
            if minRevision > snapshot.index.revision {
                waitForRevision(callID, method, minRevision: minRevision, timeoutMs: frame.timeoutMs, received: received)
            } else {
                run(callID, method, index: snapshot.index, timeoutMs: frame.timeoutMs, received: received, serial: nil)
            }
        }
        flushIfIdle()
    }

    /// Runs a call whose `min_revision` (if any) is visible. `serial` is set when the call is
    /// already registered (it waited for a revision).
    private func run(
        _ callID: UInt64, _ method: Roster_V1_RequestFrame.OneOf_Method, index: MembershipIndex, timeoutMs: UInt32,
        received: NIODeadline, serial: UInt64?
    ) {
        let name = MethodLabel(method)
        do throws(RosterStatus) {
            switch method {
            case .check(let request):
                let result: CheckResult
                do {
                    result = try Lookups.check(request, in: index)
                } catch {
                    server.metrics.recordCheckError()
                    throw error
                }
                server.metrics.recordCheck(result.reason)
                FastFrames.writeCheckResponse(
                    callID: callID, allowed: result.allowed, reason: Roster_V1_Reason(result.reason),
                    revision: index.revision, into: &output)
                outputWritten()
                finishSync(callID, serial: serial, method: name, received: received)

            case .batchCheck(let request):
                let metrics = server.metrics
                let response = try Lookups.batchCheck(
                    request, in: index, maxBatchSize: configuration.maxBatchSize,
                    record: { reason in
                        if let reason { metrics.recordCheck(reason) } else { metrics.recordCheckError() }
                    })
                writeResult(callID, .batchCheck(response))
                finishSync(callID, serial: serial, method: name, received: received)

            case .listUserGroups(let request):
                let response = try Lookups.listUserGroups(
                    request, in: index, pageSize: configuration.pageSize(requested: request.pageSize))
                writeResult(callID, .listUserGroups(response))
                finishSync(callID, serial: serial, method: name, received: received)

            case .listGroupMembers(let request):
                let response = try Lookups.listGroupMembers(
                    request, in: index, pageSize: configuration.pageSize(requested: request.pageSize))
                writeResult(callID, .listGroupMembers(response))
                finishSync(callID, serial: serial, method: name, received: received)

            case .health:
                var response = Roster_V1_HealthResponse()
                response.status = "SERVING"
                response.revision = index.revision
                response.stalenessSeconds = server.backend.stalenessSeconds
                writeResult(callID, .health(response))
                finishSync(callID, serial: serial, method: name, received: received)

            case .stats:
                writeResult(callID, .stats(stats(index)))
                finishSync(callID, serial: serial, method: name, received: received)

            case .listDirectories:
                writeResult(callID, .listDirectories(Lookups.listDirectories(in: index)))
                finishSync(callID, serial: serial, method: name, received: received)

            case .getUser(let request):
                let (detail, directoryID) = try Lookups.userDetail(request, in: index)
                let revision = index.revision
                startBackendCall(callID, name, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    var detail = detail
                    detail.resourceJson = try await backend.userResourceJSON(
                        directoryID: directoryID, userID: detail.id) ?? ""
                    var response = Roster_V1_GetUserResponse()
                    response.user = detail
                    response.revision = revision
                    return .getUser(response)
                }

            case .getGroup(let request):
                let (detail, directoryID) = try Lookups.groupDetail(request, in: index)
                let revision = index.revision
                startBackendCall(callID, name, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    var detail = detail
                    detail.resourceJson = try await backend.groupResourceJSON(
                        directoryID: directoryID, groupID: detail.id) ?? ""
                    var response = Roster_V1_GetGroupResponse()
                    response.group = detail
                    response.revision = revision
                    return .getGroup(response)
                }

            case .createDirectory(let request):
                let (name, provider, policy) = try AdminRequests.createDirectory(request)
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    let created = try await backend.createDirectory(name: name, provider: provider, policy: policy)
                    var response = Roster_V1_CreateDirectoryResponse()
                    response.directory = Roster_V1_Directory(created.directory)
                    response.scimBaseURL = created.scimBaseURL
                    response.token = created.token
                    return .createDirectory(response)
                }

            case .rotateToken(let request):
                let directoryID = try Lookups.directoryID(request.directoryID)
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    let rotated = try await backend.rotateToken(directoryID: directoryID)
                    var response = Roster_V1_RotateTokenResponse()
                    response.token = rotated.token
                    response.liveTokens = UInt32(clamping: rotated.liveTokens)
                    return .rotateToken(response)
                }

            case .deleteDirectory(let request):
                let directoryID = try Lookups.directoryID(request.directoryID)
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    var response = Roster_V1_DeleteDirectoryResponse()
                    response.revision = try await backend.deleteDirectory(id: directoryID)
                    return .deleteDirectory(response)
                }

            case .deleteGroup(let request):
                let directoryID = try Lookups.directoryID(request.directoryID)
                let group = try Lookups.resolveGroup(
                    request.group, field: "delete_group.group", directoryID, in: index)
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    let deleted = try await backend.deleteGroup(directoryID: directoryID, groupID: group.id)
                    var response = Roster_V1_DeleteGroupResponse()
                    response.revision = deleted.revision
                    response.membershipsRemoved = UInt32(clamping: deleted.membershipsRemoved)
                    return .deleteGroup(response)
                }

            case .verify:
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    let report = try await backend.verify()
                    var response = Roster_V1_VerifyResponse()
                    response.ok = report.ok
                    response.differences = report.differences
                    response.usersChecked = UInt64(max(0, report.usersChecked))
                    response.groupsChecked = UInt64(max(0, report.groupsChecked))
                    response.membershipsChecked = UInt64(max(0, report.membershipsChecked))
                    response.revision = report.revision
                    return .verify(response)
                }

            case .backup(let request):
                let path = try AdminRequests.backupPath(request)
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    let result = try await backend.backup(to: path)
                    var response = Roster_V1_BackupResponse()
                    response.path = result.path
                    response.bytes = result.bytes
                    response.revision = result.revision
                    return .backup(response)
                }

            case .audit(let request):
                let directoryID = request.directoryID.isEmpty ? nil : request.directoryID
                let limit = configuration.pageSize(requested: request.limit)
                let since = request.sinceUnixMs
                adminCall(callID, method, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    var response = Roster_V1_AuditResponse()
                    response.records = try await backend.audit(
                        directoryID: directoryID, sinceUnixMs: since, limit: limit
                    ).map(Roster_V1_AuditRecord.init)
                    return .audit(response)
                }

            case .fleetStatus:
                startBackendCall(callID, name, timeoutMs: timeoutMs, received: received, serial: serial) { backend in
                    guard let view = try await backend.fleetStatus() else {
                        throw RosterStatus(
                            .failedPrecondition,
                            "this rosterd has its own SQLite store (no --database-url), so it is not part of a fleet")
                    }
                    var response = Roster_V1_FleetStatusResponse()
                    response.headRevision = view.headRevision
                    response.instances = view.instances.map { instance in
                        var member = Roster_V1_FleetInstance()
                        member.name = instance.name
                        member.pid = UInt32(clamping: instance.pid)
                        member.appliedRevision = instance.appliedRevision
                        member.lagRevisions = view.headRevision > instance.appliedRevision ? view.headRevision - instance.appliedRevision : 0
                        member.lastSeenUnixMs = instance.lastSeenUnixMs
                        return member
                    }
                    return .fleetStatus(response)
                }

            case .watch, .cancel:
                // Handled before `run`; kept total so no input can trap.
                throw RosterStatus(.internal, "\(name.name) cannot run here")
            }
        } catch {
            fail(callID, serial: serial, method: name, received: received, status: error)
        }
    }

    private func stats(_ index: MembershipIndex) -> Roster_V1_StatsResponse {
        var response = Roster_V1_StatsResponse()
        response.revision = index.revision
        response.directories = UInt64(index.directoryCount)
        response.users = UInt64(max(0, index.userCount))
        response.activeUsers = UInt64(max(0, index.activeUserCount))
        response.groups = UInt64(index.groupCount)
        response.memberships = UInt64(max(0, index.membershipCount))
        response.connections = UInt64(server.connections.count)
        response.callsTotal = server.callsTotal.load(ordering: .relaxed)
        response.uptimeSeconds = server.uptimeSeconds
        response.version = configuration.version
        return response
    }

    // MARK: Waiting for a revision

    private func waitForRevision(
        _ callID: UInt64, _ method: Roster_V1_RequestFrame.OneOf_Method, minRevision: UInt64, timeoutMs: UInt32,
        received: NIODeadline
    ) {
        let call = Call(
            method: MethodLabel(method), received: received, timeoutMs: timeoutMs, pending: method,
            minRevision: minRevision)
        guard let serial = register(callID, call) else { return }
        let bound = loopBound
        let token = publisher.whenRevision(minRevision) {
            guard let bound else { return }
            bound.eventLoop.execute { bound.value.revisionReached(callID, serial: serial) }
        }
        guard let token else {
            // Published between the check and the registration.
            revisionReached(callID, serial: serial)
            return
        }
        state.update(callID, serial: serial) { $0.waiter = token }
    }

    private func revisionReached(_ callID: UInt64, serial: UInt64) {
        guard let call = state.call(callID, serial: serial), let method = call.pending else { return }
        state.update(callID, serial: serial) {
            $0.pending = nil
            $0.waiter = nil
        }
        run(callID, method, index: publisher.current, timeoutMs: call.timeoutMs, received: call.received, serial: serial)
        flushIfIdle()
    }

    // MARK: Back-end calls

    private func adminCall(
        _ callID: UInt64, _ method: Roster_V1_RequestFrame.OneOf_Method, timeoutMs: UInt32, received: NIODeadline,
        serial: UInt64?,
        _ operation: @escaping @Sendable (any RosterBackend) async throws -> Roster_V1_ResponseFrame.OneOf_Result
    ) {
        logger.info("admin call", metadata: ["roster.method": "\(MethodLabel(method).name)", "roster.call.id": "\(callID)"])
        startBackendCall(
            callID, MethodLabel(method), timeoutMs: timeoutMs, received: received, serial: serial, operation)
    }

    private func startBackendCall(
        _ callID: UInt64, _ method: MethodLabel, timeoutMs: UInt32, received: NIODeadline, serial: UInt64?,
        _ operation: @escaping @Sendable (any RosterBackend) async throws -> Roster_V1_ResponseFrame.OneOf_Result
    ) {
        let serial =
            serial ?? register(callID, Call(method: method, received: received, timeoutMs: timeoutMs))
        guard let serial, let bound = loopBound else { return }
        let backend = server.backend
        backendRunning += 1
        let task = Task {
            let outcome: Result<Roster_V1_ResponseFrame.OneOf_Result, RosterStatus>
            do {
                outcome = .success(try await operation(backend))
            } catch {
                outcome = .failure(StatusMapping.status(for: error))
            }
            bound.eventLoop.execute { bound.value.backendCallFinished(callID, serial: serial, outcome) }
        }
        state.update(callID, serial: serial) { $0.task = task }
    }

    private func backendCallFinished(
        _ callID: UInt64, serial: UInt64, _ outcome: Result<Roster_V1_ResponseFrame.OneOf_Result, RosterStatus>
    ) {
        guard let call = state.finish(callID, serial: serial) else { return }
        release(call)
        switch outcome {
        case .success(let result):
            writeResult(callID, result)
            record(method: call.method, received: call.received, code: .ok)
        case .failure(let status):
            if call.method.isAdmin {
                logger.info("admin call failed", metadata: ["roster.method": "\(call.method.name)", "roster.code": "\(status.code.name)"])
            }
            writeFailure(callID, status)
            record(method: call.method, received: call.received, code: status.code)
        }
        afterCallEnded()
        flushIfIdle()
        resumeIfDrained()
    }

    // MARK: Bounded output

    /// Takes frames again after a stall, once the output has drained below the low water mark
    /// and fewer than `maxRunningBackendCalls` back-end calls run: first the bytes kept, then,
    /// if that did not stall again, the socket.
    private func resumeIfDrained() {
        guard stalled, state.lifecycle != .closed, let context, context.channel.isWritable,
            backendRunning < Self.maxRunningBackendCalls
        else { return }
        stalled = false
        let kept = partialFrame ?? context.channel.allocator.buffer(capacity: 0)
        partialFrame = nil
        channelRead(context: context, data: NIOAny(kept))
        inReadBurst = false
        flushOutput()
        endBurst()
        guard !stalled, state.lifecycle != .closed else { return }
        if inputClosed {
            dropPartialFrame()
            if state.calls.isEmpty { closeAfterFlush() }
        } else if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Watch

    private func startWatch(_ callID: UInt64, _ request: Roster_V1_WatchRequest, timeoutMs: UInt32, received: NIODeadline) {
        let watch = WatchState(
            cursor: request.fromRevision, scanned: request.fromRevision,
            directoryID: request.directoryID.isEmpty ? nil : request.directoryID)
        let call = Call(method: .watch, received: received, timeoutMs: timeoutMs, isWatch: true, watch: watch)
        guard let serial = register(callID, call) else { return }
        pumpWatch(callID, serial: serial)
    }

    /// Reads the next page of the event log, if the stream is ready for one and the channel
    /// can take more output.
    private func pumpWatch(_ callID: UInt64, serial: UInt64) {
        guard let context, let bound = loopBound, let call = state.call(callID, serial: serial),
            var watch = call.watch, watch.phase != .fetching
        else { return }
        guard context.channel.isWritable else {
            watch.phase = .paused
            state.update(callID, serial: serial) { $0.watch = watch }
            return
        }
        // Every event of a revision at or below the published one is already committed.
        let horizon = publisher.revision
        let after = max(watch.cursor, watch.scanned)
        let directoryID = watch.directoryID
        let limit = max(1, configuration.watchPageSize)
        let backend = server.backend
        watch.phase = .fetching
        let task = Task {
            let outcome: Result<[Event], RosterStatus>
            do {
                outcome = .success(try await backend.events(after: after, directoryID: directoryID, limit: limit))
            } catch {
                outcome = .failure(StatusMapping.status(for: error))
            }
            bound.eventLoop.execute {
                bound.value.watchPage(callID, serial: serial, horizon: horizon, limit: limit, outcome)
            }
        }
        state.update(callID, serial: serial) {
            $0.watch = watch
            $0.task = task
        }
    }

    private func watchPage(
        _ callID: UInt64, serial: UInt64, horizon: UInt64, limit: Int, _ outcome: Result<[Event], RosterStatus>
    ) {
        guard let call = state.call(callID, serial: serial), var watch = call.watch, watch.phase == .fetching else {
            return
        }
        let events: [Event]
        switch outcome {
        case .failure(let status):
            endWatch(callID, serial: serial, status)
            return
        case .success(let value):
            events = value
        }
        let full = events.count >= limit
        var page = events.filter { event in
            event.revision > watch.cursor && (watch.directoryID.map { $0 == event.directoryID } ?? true)
        }
        // Never end a page in the middle of a revision: hold back the last revision of a full
        // page (unless it is the only one) and read it again next time.
        if full, let first = page.first, let last = page.last, first.revision != last.revision {
            while let tail = page.last, tail.revision == last.revision { page.removeLast() }
        }
        for event in page {
            writeResult(callID, .event(Roster_V1_WatchEvent(event)))
        }
        if let last = page.last {
            watch.cursor = last.revision
        }
        if full && !page.isEmpty {
            watch.phase = .idle
            state.update(callID, serial: serial) {
                $0.watch = watch
                $0.task = nil
            }
            flushIfIdle()
            pumpWatch(callID, serial: serial)
            return
        }
        // Caught up with the log as of `horizon`: wait for a newer revision.
        watch.scanned = max(watch.cursor, horizon)
        watch.phase = .waiting
        let bound = loopBound
        let token = publisher.whenRevision(watch.scanned + 1) {
            guard let bound else { return }
            bound.eventLoop.execute { bound.value.watchWake(callID, serial: serial) }
        }
        if token == nil { watch.phase = .idle }
        state.update(callID, serial: serial) {
            $0.watch = watch
            $0.task = nil
            $0.waiter = token
        }
        flushIfIdle()
        if token == nil, let bound {
            // A newer revision is already visible: read again, after this event loop tick.
            bound.eventLoop.execute { bound.value.pumpWatch(callID, serial: serial) }
        }
    }

    private func watchWake(_ callID: UInt64, serial: UInt64) {
        let woke = state.update(callID, serial: serial) {
            if $0.watch?.phase == .waiting {
                $0.watch?.phase = .idle
                $0.waiter = nil
            }
        }
        if woke { pumpWatch(callID, serial: serial) }
    }

    private func endWatch(_ callID: UInt64, serial: UInt64, _ status: RosterStatus) {
        guard let call = state.finish(callID, serial: serial) else { return }
        release(call)
        writeFailure(callID, status, endOfStream: true)
        record(method: call.method, received: call.received, code: status.code)
        afterCallEnded()
        flushIfIdle()
    }

    // MARK: Ending calls

    private func register(_ callID: UInt64, _ call: Call) -> UInt64? {
        switch state.register(callID: callID, call) {
        case .failure(let status):
            writeFailure(callID, status, endOfStream: call.isWatch)
            record(method: call.method, received: call.received, code: status.code)
            return nil
        case .success(let serial):
            if call.timeoutMs > 0, let context {
                let timer = context.eventLoop.assumeIsolated().scheduleTask(
                    in: .milliseconds(Int64(call.timeoutMs))
                ) { [self] in
                    self.deadlineExpired(callID, serial: serial)
                }
                state.update(callID, serial: serial) { $0.timer = timer }
            }
            return serial
        }
    }

    private func deadlineExpired(_ callID: UInt64, serial: UInt64) {
        guard var call = state.finish(callID, serial: serial) else { return }
        call.timer = nil
        release(call)
        let status: RosterStatus
        if call.pending != nil {
            status = RosterStatus(
                .deadlineExceeded,
                "index at revision \(publisher.revision) did not reach min_revision \(call.minRevision) within \(call.timeoutMs) ms"
            )
        } else if call.isWatch {
            status = RosterStatus(.deadlineExceeded, "watch deadline of \(call.timeoutMs) ms passed")
        } else {
            status = RosterStatus(.deadlineExceeded, "\(call.method.name) did not finish within \(call.timeoutMs) ms")
        }
        writeFailure(callID, status, endOfStream: call.isWatch)
        record(method: call.method, received: call.received, code: status.code)
        afterCallEnded()
        flushIfIdle()
    }

    private func cancelCall(_ target: UInt64, by callID: UInt64) {
        guard let call = state.cancel(target) else { return }
        release(call)
        writeFailure(target, RosterStatus(.cancelled, "cancelled by the client (call \(callID))"), endOfStream: call.isWatch)
        record(method: call.method, received: call.received, code: .cancelled)
        afterCallEnded()
    }

    /// A call answered inline; if it had waited for a revision, it leaves the table.
    private func finishSync(_ callID: UInt64, serial: UInt64?, method: MethodLabel, received: NIODeadline) {
        if let serial, let call = state.finish(callID, serial: serial) {
            release(call)
            afterCallEnded()
        }
        record(method: method, received: received, code: .ok)
    }

    private func fail(_ callID: UInt64, serial: UInt64?, method: MethodLabel, received: NIODeadline, status: RosterStatus) {
        if let serial {
            guard let call = state.finish(callID, serial: serial) else { return }
            release(call)
        }
        writeFailure(callID, status)
        record(method: method, received: received, code: status.code)
        if serial != nil { afterCallEnded() }
    }

    private func release(_ call: Call) {
        if call.task != nil, !call.isWatch { backendRunning -= 1 }
        call.timer?.cancel()
        if let waiter = call.waiter { publisher.cancel(waiter) }
        call.task?.cancel()
    }

    private func releaseAll() {
        for (_, call) in state.close() { release(call) }
        frameTimer?.cancel()
        frameTimer = nil
        graceTimer?.cancel()
        graceTimer = nil
    }

    private func afterCallEnded() {
        if state.shouldClose || (inputClosed && !stalled && state.calls.isEmpty) { closeAfterFlush() }
    }

    /// The client closed its sending side (half-close; the channel allows it): nothing more will
    /// be asked, so the connection closes once the calls in flight have answered and every
    /// answer is written. A client that pipelines and then half-closes gets all its answers.
    private func inputEnded() {
        inputClosed = true
        // Frames kept while stalled are answered first; `resumeIfDrained` closes afterwards.
        if stalled { return }
        dropPartialFrame()
        if state.calls.isEmpty { closeAfterFlush() }
    }

    private func dropPartialFrame() {
        if let partialFrame, partialFrame.readableBytes > 0 {
            logger.debug(
                "connection closed inside a frame",
                metadata: ["roster.error": "\(FrameDecoder.truncationError(partialFrame).message)"])
        }
        partialFrame = nil
        partialSince = nil
    }

    private func record(method: MethodLabel, received: NIODeadline, code: Roster_V1_Code) {
        let elapsed = NIODeadline.now() - received
        server.metrics.recordDuration(method: method, nanoseconds: elapsed.nanoseconds)
        if code != .ok { server.metrics.recordError(code) }
    }

    // MARK: Shutdown

    private func quiesce() {
        guard state.lifecycle == .active else { return }
        logger.debug("connection quiescing")
        for (callID, call) in state.quiesce() {
            release(call)
            writeFailure(callID, StateMachine.shuttingDown, endOfStream: true)
            record(method: call.method, received: call.received, code: .unavailable)
        }
        if state.shouldClose {
            closeAfterFlush()
            return
        }
        flushIfIdle()
        guard let context else { return }
        graceTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: TimeAmount(configuration.shutdownGracePeriod)
        ) { [self] in
            self.graceExpired()
        }
    }

    private func graceExpired() {
        graceTimer = nil
        guard state.lifecycle == .quiescing else { return }
        logger.notice("shutdown grace period ended with calls in flight")
        for (callID, call) in state.close() {
            release(call)
            writeFailure(callID, StateMachine.shuttingDown, endOfStream: call.isWatch)
            record(method: call.method, received: call.received, code: .unavailable)
        }
        closeAfterFlush()
    }

    /// Answers with a connection-level error (call_id 0) and closes.
    private func connectionError(_ status: RosterStatus) {
        guard state.lifecycle != .closed else { return }
        for (_, call) in state.close() { release(call) }
        writeFailure(0, status)
        closeAfterFlush()
    }

    private func closeAfterFlush() {
        guard let context else { return }
        for (_, call) in state.close() { release(call) }
        graceTimer?.cancel()
        graceTimer = nil
        let pending = output
        output = context.channel.allocator.buffer(capacity: 0)
        needsFlush = false
        context.writeAndFlush(wrapOutboundOut(pending)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    // MARK: Output

    private func writeResult(_ callID: UInt64, _ result: Roster_V1_ResponseFrame.OneOf_Result) {
        var frame = Roster_V1_ResponseFrame()
        frame.callID = callID
        frame.result = result
        write(frame)
    }

    private func writeFailure(_ callID: UInt64, _ status: RosterStatus, endOfStream: Bool = false) {
        write(Roster_V1_ResponseFrame.failure(callID: callID, status, endOfStream: endOfStream))
    }

    private func write(_ frame: Roster_V1_ResponseFrame) {
        do {
            // Results obey the frame limit; status-only frames are small and always go out.
            let limit = frame.result == nil ? Int(UInt32.max) : configuration.maxFrameSize
            try output.writeRosterFrame(frame, maxFrameSize: limit)
        } catch let error as RosterProtocolError {
            let status = RosterStatus(
                .resourceExhausted,
                "response \(error.message); ask for a smaller page or batch")
            _ = try? output.writeRosterFrame(
                Roster_V1_ResponseFrame.failure(callID: frame.callID, status, endOfStream: frame.endOfStream),
                maxFrameSize: Int(UInt32.max))
        } catch {
            let status = RosterStatus(.internal, "could not encode the response: \(error)")
            _ = try? output.writeRosterFrame(
                Roster_V1_ResponseFrame.failure(callID: frame.callID, status, endOfStream: frame.endOfStream),
                maxFrameSize: Int(UInt32.max))
        }
        outputWritten()
    }

    /// Hands large output to the channel early (without flushing) so one burst cannot build
    /// an unbounded buffer.
    private func outputWritten() {
        needsFlush = true
        guard output.readableBytes >= Self.outputChunkSize, let context else { return }
        handedOutput = true
        context.write(wrapOutboundOut(output), promise: nil)
        output = context.channel.allocator.buffer(capacity: 1024)
    }

    private func flushIfIdle() {
        if !inReadBurst { flushOutput() }
    }

    private func flushOutput() {
        handedOutput = false
        guard needsFlush, let context else { return }
        needsFlush = false
        if output.readableBytes > 0 {
            context.write(wrapOutboundOut(output), promise: nil)
        }
        context.flush()
        // A flushed write to a Unix socket has usually completed by now, so the buffer's storage
        // is ours alone again: reuse it instead of allocating one per answer (at one call in
        // flight per connection, that was a malloc per call). If the channel still holds it,
        // `clear()` allocates anew; a buffer grown by a large answer is not kept.
        if output.capacity > Self.outputChunkSize {
            output = context.channel.allocator.buffer(capacity: 1024)
        } else {
            output.clear()
        }
    }
}

@available(*, unavailable)
extension RosterConnectionHandler: Sendable {}

/// Validation of admin requests before they reach the back end.
enum AdminRequests {
    static func createDirectory(_ request: Roster_V1_CreateDirectoryRequest) throws(RosterStatus)
        -> (name: String, provider: ProviderKind, policy: MembershipPolicy)
    {
        guard !request.name.isEmpty else { throw RosterStatus(.invalidArgument, "name is required") }
        guard let provider = ProviderKind(rawValue: request.provider) else {
            let known = ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw RosterStatus(.invalidArgument, "provider '\(request.provider)' is not one of \(known)")
        }
        let policy: MembershipPolicy
        if request.policy.isEmpty {
            policy = .revoke
        } else if let parsed = MembershipPolicy(rawValue: request.policy) {
            policy = parsed
        } else {
            throw RosterStatus(.invalidArgument, "policy '\(request.policy)' is not one of revoke, retain")
        }
        return (request.name, provider, policy)
    }

    static func backupPath(_ request: Roster_V1_BackupRequest) throws(RosterStatus) -> String {
        guard request.path.hasPrefix("/") else {
            throw RosterStatus(
                .invalidArgument, "backup path must be absolute (resolved on the daemon's host), got '\(request.path)'")
        }
        return request.path
    }
}
