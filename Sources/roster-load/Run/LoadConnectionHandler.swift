import Histogram
import NIOCore
import RosterProtocol

/// When a run starts, when it begins to count and when it stops sending (monotonic ns).
struct LoadSchedule: Sendable {
    var start: UInt64
    /// Answers received before this moment are checked but not counted (warm-up).
    var recordFrom: UInt64
    /// No new call is sent from this moment; answers received later are checked, not counted.
    var stopAt: UInt64
    /// When set, each connection sends this many calls and then stops (request-count mode).
    var callsPerConnection: Int?
    /// How long to wait for outstanding answers after the stop before calling them errors.
    var drainNanoseconds: UInt64
}

/// Sent through the pipeline to make every connection start at the same moment.
struct LoadStartEvent: Sendable {
    var schedule: LoadSchedule
}

/// What one connection measured.
struct ConnectionStats: Sendable {
    var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    /// Calls and checks answered inside the measurement window.
    var calls = 0
    var checks = 0
    /// Every answer is checked, also during warm-up and drain.
    var answeredCalls = 0
    var answeredChecks = 0
    var allowAnswers = 0
    var errors = 0
    var wrong = 0
    var firstErrors: [String] = []
    /// First and last answer time (request-count mode computes its rate from them).
    var firstAnswer: UInt64 = 0
    var lastAnswer: UInt64 = 0

    mutating func note(_ error: String) {
        errors += 1
        if firstErrors.count < 5 { firstErrors.append(error) }
    }
}

/// Drives one connection: keeps `pipeline` calls in flight, matches answers by call id, checks
/// each against the expected decision, records latency, and sends the next call in the freed
/// slot. Requests produced while handling one read burst go out in one write and one flush.
///
/// The bookkeeping is in ``State``; this handler only feeds it events and writes its output.
/// Lives on its channel's event loop only.
final class LoadConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var state: State
    private let done: EventLoopPromise<ConnectionStats>
    private var context: ChannelHandlerContext?
    private var drainTimer: Scheduled<Void>?
    private var stopTimer: Scheduled<Void>?
    private var reported = false

    /// - Parameter firstUnit: where in the plan this connection starts (connections start at
    ///   different places so they do not all ask the same question at once).
    init(plan: LoadPlan, pipeline: Int, firstUnit: Int, maxFrameSize: Int, done: EventLoopPromise<ConnectionStats>) {
        self.done = done
        let capacity = min(plan.maxFrameBytes * pipeline, 256 * 1024)
        self.state = State(
            plan: plan, pipeline: pipeline, firstUnit: firstUnit, maxFrameSize: maxFrameSize,
            output: ByteBufferAllocator().buffer(capacity: capacity))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? LoadStartEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let now = MonotonicClock.nanoseconds()
        let over = state.start(start.schedule, now: now)
        flushOutput(context: context)
        if over {
            report()
            return
        }
        if start.schedule.callsPerConnection == nil {
            let delay = TimeAmount.nanoseconds(Int64(start.schedule.stopAt &- min(now, start.schedule.stopAt)))
            stopTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in self.stop() }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ok = state.receive(unwrapInboundIn(data), now: MonotonicClock.nanoseconds())
        if !ok {
            report()
            context.close(promise: nil)
        } else if state.finished {
            report()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        report()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.failed("connection error: \(error)")
        report()
        context.close(promise: nil)
    }

    private func flushOutput(context: ChannelHandlerContext) {
        guard state.output.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(state.output), promise: nil)
        // The socket usually takes the bytes at once and NIO drops its reference, so clearing
        // reuses the same storage; if not, clear() allocates fresh storage.
        state.output.clear()
    }

    private func stop() {
        stopTimer = nil
        if state.stop() {
            report()
            return
        }
        guard let context, let schedule = state.schedule else { return }
        drainTimer = context.eventLoop.assumeIsolated().scheduleTask(
            in: .nanoseconds(Int64(schedule.drainNanoseconds))
        ) { [self] in
            self.drainTimer = nil
            self.state.drainExpired()
            self.report()
        }
    }

    /// Hands the statistics over once the connection is done.
    private func report() {
        guard state.finished, !reported else { return }
        reported = true
        stopTimer?.cancel()
        drainTimer?.cancel()
        done.succeed(state.stats)
    }
}

@available(*, unavailable)
extension LoadConnectionHandler: Sendable {}
