import DequeModule
import HTTPTypes
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import RosterCore
import Synchronization

/// Enforces `SCIMConnectionLimits` on one SCIM connection: the header, body and idle deadlines
/// of its `StateMachine`, closing after a response whose request was not read to the end, and
/// (through `SCIMConnectionRegistry`) the listener's connection limit.
///
/// It sits after Hummingbird's HTTP decoder, where it sees request and response parts; on being
/// added it puts a small observer at the front of the pipeline, which tells it when raw bytes
/// arrive, so that a partial request head is told apart from an idle connection.
final class SCIMConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: SCIMConnectionRegistry
    private var machine: StateMachine
    private var scheduled: (deadline: NIODeadline, task: Scheduled<Void>)?
    private var registered = false
    private var closing = false

    init(registry: SCIMConnectionRegistry) {
        self.registry = registry
        machine = StateMachine(limits: registry.limits, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let observer = InboundBytesObserver(owner: self)
        try? context.pipeline.syncOperations.addHandler(observer, position: .first)
        machine = StateMachine(limits: registry.limits, now: .now())
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.task.cancel()
        scheduled = nil
        if registered { registry.remove(ObjectIdentifier(self)) }
        registered = false
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.task.cancel()
        scheduled = nil
        if registered { registry.remove(ObjectIdentifier(self)) }
        registered = false
        context.fireChannelInactive()
    }

    private func admit(context: ChannelHandlerContext) {
        guard !registered else { return }
        registered = true
        guard registry.admit(ObjectIdentifier(self), channel: context.channel, waitingSince: machine.waitingSince) else {
            // At the limit with no connection to evict: this one goes, before it costs more.
            registry.closed(.limit)
            closing = true
            context.close(promise: nil)
            return
        }
        reschedule(context: context)
    }

    /// Raw bytes arrived (called by the observer at the front of the pipeline).
    fileprivate func bytesArrived(context: ChannelHandlerContext) {
        machine.bytesArrived(now: .now())
        reschedule(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            machine.headRead(now: .now())
            registry.update(ObjectIdentifier(self), waitingSince: nil)
        case .body:
            break
        case .end:
            machine.endRead()
        }
        reschedule(context: context)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where machine.responseHeadNeedsClose():
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            let mustClose = machine.responseEnded(now: .now())
            if mustClose {
                // What is left of the request is never read: flush the answer, then close.
                registry.closed(.unreadRequest)
                closing = true
                context.writeAndFlush(data).assumeIsolated().whenComplete { result in
                    promise?.completeWith(result)
                    context.close(promise: nil)
                }
                return
            }
            registry.update(ObjectIdentifier(self), waitingSince: machine.waitingSince)
            reschedule(context: context)
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Keeps one timer at the machine's deadline: a later deadline waits for the timer to fire
    /// and re-arm, an earlier one replaces it.
    private func reschedule(context: ChannelHandlerContext) {
        guard !closing, let deadline = machine.deadline else { return }
        if let scheduled, scheduled.deadline <= deadline { return }
        scheduled?.task.cancel()
        let task = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.scheduled = nil
            self.timerFired(context: context)
        }
        scheduled = (deadline, task)
    }

    private func timerFired(context: ChannelHandlerContext) {
        guard !closing else { return }
        if let expiry = machine.expired(now: .now()) {
            registry.closed(.init(expiry))
            closing = true
            context.close(promise: nil)
            return
        }
        reschedule(context: context)
    }
}

@available(*, unavailable)
extension SCIMConnectionHandler: Sendable {}

/// Tells its `SCIMConnectionHandler` that bytes arrived, before TLS and HTTP decoding.
private final class InboundBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private weak var owner: SCIMConnectionHandler?
    private var ownerContext: ChannelHandlerContext?

    init(owner: SCIMConnectionHandler) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let owner, let ownerContext = ownerContext ?? (try? context.pipeline.syncOperations.context(handler: owner)) {
            self.ownerContext = ownerContext
            owner.bytesArrived(context: ownerContext)
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension InboundBytesObserver: Sendable {}

/// The SCIM listener's open connections, across event loops: admits a new connection while
/// under the limit; at the limit evicts the connection that has waited longest for a request
/// (idle, or dribbling a request head), so that a flood of silent connections cannot lock out
/// a client with a request to make; refuses the new one only when every connection is busy.
/// Counts closes by reason and logs them once per episode.
final class SCIMConnectionRegistry: Sendable {
    enum CloseReason: String, CaseIterable {
        case limit = "connection_limit"
        case evicted = "evicted_for_new_connection"
        case headerTimeout = "header_timeout"
        case bodyTimeout = "body_timeout"
        case idleTimeout = "idle_timeout"
        case unreadRequest = "unread_request"

        init(_ expiry: SCIMConnectionHandler.StateMachine.Expiry) {
            switch expiry {
            case .header: self = .headerTimeout
            case .body: self = .bodyTimeout
            case .idle: self = .idleTimeout
            }
        }
    }

    struct Entry {
        var channel: any Channel
        var waitingSince: NIODeadline?
    }

    struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        /// Connections in the order they began waiting for a request; an element is current only
        /// while its entry still has that `waitingSince` (older ones are skipped, and pruned).
        var waiting = Deque<(id: ObjectIdentifier, since: NIODeadline)>()
    }

    let limits: SCIMConnectionLimits
    private let logger: Logger
    private let state = Mutex(State())
    private let refusalLog = Mutex(RefusalLog(interval: .seconds(10)))
    private let closedCounters: [CloseReason: Counter]
    private let openGauge = Gauge(label: "roster_scim_connections")

    init(limits: SCIMConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
        closedCounters = Dictionary(
            uniqueKeysWithValues: CloseReason.allCases.map {
                ($0, Counter(label: "roster_scim_connections_closed_total", dimensions: [("reason", $0.rawValue)]))
            })
    }

    /// Admits a connection; false when it must be closed (the limit is reached and no open
    /// connection is waiting for a request).
    func admit(_ id: ObjectIdentifier, channel: any Channel, waitingSince: NIODeadline?) -> Bool {
        let (admitted, evicted, count): (Bool, (any Channel)?, Int) = state.withLock { state in
            var evicted: (any Channel)?
            if state.entries.count >= limits.maxConnections {
                while let oldest = state.waiting.popFirst() {
                    guard let entry = state.entries[oldest.id], entry.waitingSince == oldest.since else { continue }
                    state.entries[oldest.id] = nil
                    evicted = entry.channel
                    break
                }
                guard evicted != nil else { return (false, nil, state.entries.count) }
            }
            state.entries[id] = Entry(channel: channel, waitingSince: waitingSince)
            if let waitingSince { Self.appendWaiting(&state, id, waitingSince) }
            return (true, evicted, state.entries.count)
        }
        openGauge.record(count)
        if let evicted {
            closed(.evicted)
            evicted.close(promise: nil)
        }
        return admitted
    }

    func update(_ id: ObjectIdentifier, waitingSince: NIODeadline?) {
        state.withLock { state in
            guard state.entries[id] != nil else { return }
            state.entries[id]?.waitingSince = waitingSince
            if let waitingSince { Self.appendWaiting(&state, id, waitingSince) }
        }
    }

    func remove(_ id: ObjectIdentifier) {
        let count = state.withLock { state in
            state.entries[id] = nil
            return state.entries.count
        }
        openGauge.record(count)
    }

    private static func appendWaiting(_ state: inout State, _ id: ObjectIdentifier, _ since: NIODeadline) {
        state.waiting.append((id, since))
        // Keep-alive connections append once per request; drop the stale elements before the
        // queue outgrows the connections it describes.
        if state.waiting.count > 2 * state.entries.count + 64 {
            state.waiting = Deque(state.waiting.filter { state.entries[$0.id]?.waitingSince == $0.since })
        }
    }

    /// Counts a connection closed by a limit, and logs once per episode.
    func closed(_ reason: CloseReason) {
        closedCounters[reason]?.increment()
        if let summary = refusalLog.withLock({ $0.record(now: ContinuousClock.now) }) {
            logger.warning(
                "scim connections closed by a limit",
                metadata: [
                    "scim.closed": "\(summary.count)", "scim.since_seconds": "\(summary.seconds)",
                    "scim.reason": "\(reason.rawValue)", "scim.max_connections": "\(limits.maxConnections)",
                ])
        }
    }
}
