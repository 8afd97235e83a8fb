import NIOCore

/// The limits of the SCIM listener's connections.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `maxConnections` | 1024 (rosterd derives it from the descriptor limit) | open connections; at the limit a new one evicts the connection that has waited longest for a request, or is closed at once |
/// | `headerTimeout` | 10 s | from the connection's start (or the first byte of a kept-alive connection's next request) to a complete request head |
/// | `bodyTimeout` | 30 s | from a request's head to the end of its body |
/// | `idleTimeout` | 60 s | a kept-alive connection with no request in progress |
public struct SCIMConnectionLimits: Sendable, Hashable {
    public var maxConnections: Int
    public var headerTimeout: Duration
    public var bodyTimeout: Duration
    public var idleTimeout: Duration

    public init(
        maxConnections: Int = 1024, headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30),
        idleTimeout: Duration = .seconds(60)
    ) {
        self.maxConnections = max(1, maxConnections)
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }
}

extension SCIMConnectionHandler {
    /// The deadlines of one HTTP/1.1 connection, as a pure value: the handler passes the time
    /// and the events in and carries out what comes back.
    ///
    /// Hummingbird's own idle timeout starts over at every parsed request part, so a body sent a
    /// byte at a time never times out, and a partial request head is timed like an idle
    /// connection; and after answering a request whose body it did not read (a 413), Hummingbird
    /// reads and drops the rest of that body, however long. Here each phase has its own
    /// deadline that the client cannot push back, and a response that ends before its request
    /// was read closes the connection.
    struct StateMachine {
        enum Phase: Equatable {
            /// No request in progress. `partial`: bytes of the next request head have arrived.
            case waitingForHead(partial: Bool)
            /// A request head was read; its body has not ended.
            case readingBody
            /// Every request read is being answered.
            case responding
        }

        /// Why a connection was closed by a deadline.
        enum Expiry: String, Equatable {
            case header = "header_timeout"
            case body = "body_timeout"
            case idle = "idle_timeout"
        }

        let limits: SCIMConnectionLimits
        private(set) var phase: Phase = .waitingForHead(partial: false)
        /// When the current phase must end; nil while responding.
        private(set) var deadline: NIODeadline?
        /// Since when the connection has been waiting for a request head (nil otherwise): what
        /// eviction at the connection limit orders by.
        private(set) var waitingSince: NIODeadline?
        /// The kind of deadline `deadline` is.
        private var expiry: Expiry = .header
        private var headsRead = 0
        private var endsRead = 0
        private var responsesEnded = 0

        init(limits: SCIMConnectionLimits, now: NIODeadline) {
            self.limits = limits
            // A new connection owes a request head, like one whose next request has begun.
            deadline = now + TimeAmount(limits.headerTimeout)
            waitingSince = now
        }

        /// Bytes arrived from the client (before any HTTP parsing).
        mutating func bytesArrived(now: NIODeadline) {
            guard phase == .waitingForHead(partial: false) else { return }
            phase = .waitingForHead(partial: true)
            if expiry == .idle {
                // A kept-alive connection started its next request: it owes the head now.
                expiry = .header
                deadline = now + TimeAmount(limits.headerTimeout)
            }
        }

        mutating func headRead(now: NIODeadline) {
            headsRead += 1
            phase = .readingBody
            expiry = .body
            deadline = now + TimeAmount(limits.bodyTimeout)
            waitingSince = nil
        }

        mutating func endRead() {
            endsRead += 1
            if endsRead == headsRead {
                phase = .responding
                deadline = nil
            }
        }

        /// A response head is about to be written: whether it must say `Connection: close`
        /// (its request has not been read to the end, so the connection cannot be reused).
        func responseHeadNeedsClose() -> Bool {
            endsRead < responsesEnded + 1
        }

        /// A response ended. Returns true when the connection must close: the request it
        /// answered was not read to the end, and what is left of it is never read.
        mutating func responseEnded(now: NIODeadline) -> Bool {
            responsesEnded += 1
            if endsRead < responsesEnded { return true }
            if responsesEnded == headsRead, phase == .responding {
                phase = .waitingForHead(partial: false)
                expiry = .idle
                deadline = now + TimeAmount(limits.idleTimeout)
                waitingSince = now
            }
            return false
        }

        /// Whether the connection's deadline has passed at `now`, and which.
        func expired(now: NIODeadline) -> Expiry? {
            guard let deadline, now >= deadline else { return nil }
            return expiry
        }
    }
}
