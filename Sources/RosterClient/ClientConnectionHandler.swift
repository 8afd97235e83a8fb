import NIOCore
import RosterProtocol

/// The client side of one connection: matches response frames to calls by call id.
///
/// Pending calls live in a dictionary on the event loop. Writes are not flushed one by one:
/// the first write of an event-loop tick schedules a flush after the tick's other queued
/// writes, so many concurrent callers share a flush.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Pending {
        case unary(CheckedContinuation<Roster_V1_ResponseFrame, any Error>, timer: Scheduled<Void>?)
        case stream(AsyncThrowingStream<Roster_V1_WatchEvent, any Error>.Continuation)
    }

    private var pending: [UInt64: Pending] = [:]
    /// Calls cancelled before their start reached the event loop.
    private var cancelledEarly: Set<UInt64> = []
    private var context: ChannelHandlerContext?
    private var flushScheduled = false
    /// Set once the connection is unusable; later calls fail with it.
    private var closedError: RosterClientError?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if closedError == nil { closedError = .connectionClosed("the connection was closed") }
        failAll(closedError!)
        self.context = nil
    }

    // MARK: Calls (on the event loop)

    /// Registers a call and writes its pre-encoded frame.
    func start(_ callID: UInt64, frame: ByteBuffer, _ call: Pending, localTimeout: TimeAmount?) {
        if cancelledEarly.remove(callID) != nil {
            finish(call, with: .failure(CancellationError()))
            return
        }
        guard let context, closedError == nil else {
            finish(call, with: .failure(closedError ?? .connectionClosed("the connection is closed")))
            return
        }
        var call = call
        if case .unary(let continuation, _) = call, let localTimeout {
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: localTimeout) { [self] in
                self.localDeadline(callID)
            }
            call = .unary(continuation, timer: timer)
        }
        pending[callID] = call
        context.write(wrapOutboundOut(frame), promise: nil)
        scheduleFlush()
    }

    /// The caller gave up (task cancelled, stream dropped): end the call here and tell the server.
    func cancel(_ callID: UInt64) {
        guard let call = pending.removeValue(forKey: callID) else {
            if cancelledEarly.count > 10_000 { cancelledEarly.removeAll() }
            cancelledEarly.insert(callID)
            return
        }
        finish(call, with: .failure(CancellationError()))
        sendCancel(callID)
    }

    /// Writes frames that the caller encoded itself (the raw API shares this path).
    func writeRaw(_ frames: ByteBuffer) {
        guard let context, closedError == nil else { return }
        context.write(wrapOutboundOut(frames), promise: nil)
        scheduleFlush()
    }

    private func localDeadline(_ callID: UInt64) {
        guard let call = pending.removeValue(forKey: callID) else { return }
        finish(
            call,
            with: .failure(
                RosterClientError(
                    .deadlineExceeded, RosterStatus(.deadlineExceeded, "no answer before the call's deadline"),
                    callID: callID)))
        sendCancel(callID)
    }

    private func sendCancel(_ callID: UInt64) {
        guard let context, closedError == nil, context.channel.isActive else { return }
        var frame = Roster_V1_RequestFrame()
        // Cancel frames use the target's id with the top bit set, a range `RosterClient`
        // never hands out, so they cannot collide with a call in flight.
        frame.callID = callID | (1 << 63)
        frame.cancel.targetCallID = callID
        var buffer = context.channel.allocator.buffer(capacity: 32)
        guard (try? buffer.writeRosterFrame(frame)) != nil else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        let frame: Roster_V1_ResponseFrame
        do {
            frame = try Roster_V1_ResponseFrame(framePayload: payload)
        } catch {
            fatal(RosterClientError(.protocolViolation, RosterStatus(.internal, error.message)), context: context)
            return
        }
        if frame.callID == 0 {
            // A connection-level error: the server closes the connection after it.
            let status = frame.hasStatus ? RosterStatus(frame.status) : RosterStatus(.unknown, "connection error")
            fatal(RosterClientError(.connectionClosed, status), context: context)
            return
        }
        guard let call = pending[frame.callID] else {
            // A late answer to a call that timed out or was cancelled, or a Cancel's own answer.
            return
        }
        switch call {
        case .unary:
            pending[frame.callID] = nil
            finish(call, with: .success(frame))
        case .stream(let continuation):
            if case .event(let event) = frame.result {
                continuation.yield(event)
            }
            if frame.endOfStream || (frame.hasStatus && frame.status.code != .ok) {
                pending[frame.callID] = nil
                if frame.hasStatus, frame.status.code != .ok {
                    continuation.finish(
                        throwing: RosterClientError(.callFailed, RosterStatus(frame.status), callID: frame.callID))
                } else {
                    continuation.finish()
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if closedError == nil { closedError = .connectionClosed("the server closed the connection") }
        failAll(closedError!)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let clientError: RosterClientError
        if let error = error as? RosterProtocolError {
            clientError = RosterClientError(.protocolViolation, RosterStatus(.internal, error.message))
        } else {
            clientError = .connectionClosed("connection error: \(error)")
        }
        fatal(clientError, context: context)
    }

    private func fatal(_ error: RosterClientError, context: ChannelHandlerContext) {
        if closedError == nil { closedError = error }
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RosterClientError) {
        let calls = pending
        pending = [:]
        for (callID, call) in calls.sorted(by: { $0.key < $1.key }) {
            finish(call, with: .failure(RosterClientError(error.code, error.status, callID: callID)))
        }
    }

    private func finish(_ call: Pending, with outcome: Result<Roster_V1_ResponseFrame, any Error>) {
        switch call {
        case .unary(let continuation, let timer):
            timer?.cancel()
            continuation.resume(with: outcome)
        case .stream(let continuation):
            switch outcome {
            case .success: continuation.finish()
            case .failure(let error): continuation.finish(throwing: error)
            }
        }
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
