import NIOCore
import RosterCore
import RosterProtocol

extension RosterConnectionHandler {
    /// One call that outlives the frame that started it: waiting for a revision, awaiting the
    /// back end, or streaming (Watch). Holds the handles to release when it ends.
    struct Call {
        /// Distinguishes this call from a later one that reuses its id.
        var serial: UInt64 = 0
        var method: MethodLabel
        var received: NIODeadline
        var timeoutMs: UInt32
        var isWatch: Bool = false
        /// The request waiting for `min_revision` (nil once it runs).
        var pending: Roster_V1_RequestFrame.OneOf_Method?
        var minRevision: UInt64 = 0
        var timer: Scheduled<Void>?
        var waiter: IndexPublisher.WaiterToken?
        var task: Task<Void, Never>?
        var watch: WatchState?
    }

    /// The cursor of a Watch stream.
    struct WatchState {
        enum Phase: Equatable {
            /// Ready to read the next page.
            case idle
            /// A page is being read from the back end.
            case fetching
            /// Caught up: waiting for a newer revision to be published.
            case waiting
            /// The channel is not writable: resumes when it is.
            case paused
        }
        /// The last revision whose events were all sent (what a client resumes from).
        var cursor: UInt64
        /// Every event up to this revision has been read (at least `cursor`).
        var scanned: UInt64
        var directoryID: String?
        var phase: Phase = .idle
    }

    /// Bookkeeping and admission rules of one connection, free of I/O: which calls are in
    /// flight, whether a new frame may start a call, and when the connection may close.
    struct StateMachine {
        enum Lifecycle: Equatable {
            case active
            /// Graceful shutdown: no new calls, Watch streams ended, unary calls finishing.
            case quiescing
            /// Closing or closed: nothing more is written.
            case closed
        }

        enum ReceiveAction: Equatable {
            /// Answer with call_id 0 and close the connection.
            case connectionError(RosterStatus)
            /// Answer this call with the status; the connection stays open.
            case reject(RosterStatus)
            /// A Cancel for `target`.
            case cancel(target: UInt64)
            /// Run the call.
            case dispatch
        }

        let maxInFlight: Int
        private(set) var lifecycle: Lifecycle = .active
        private(set) var calls: [UInt64: Call] = [:]
        private var nextSerial: UInt64 = 0

        init(maxInFlight: Int) {
            self.maxInFlight = max(1, maxInFlight)
        }

        static let shuttingDown = RosterStatus(.unavailable, "server shutting down")

        /// Decides what a decoded request frame does.
        /// - Parameter hasUnknownFields: the frame carried fields this server does not know; with no
        ///   method set, that is a newer client's method (UNIMPLEMENTED) rather than a malformed
        ///   request (INVALID_ARGUMENT).
        func receive(
            callID: UInt64, method: Roster_V1_RequestFrame.OneOf_Method?, peerIsAdmin: Bool, peer: String,
            hasUnknownFields: Bool = false
        ) -> ReceiveAction {
            if callID == 0 {
                return .connectionError(
                    RosterStatus(
                        .invalidArgument,
                        "call_id 0 is reserved for connection errors; number calls from 1; closing the connection"))
            }
            guard lifecycle == .active else { return .reject(Self.shuttingDown) }
            guard let method else {
                if hasUnknownFields {
                    return .reject(
                        RosterStatus(
                            .unimplemented, "call \(callID) asks for a method this server does not know; upgrade rosterd"))
                }
                return .reject(RosterStatus(.invalidArgument, "request frame of call \(callID) has no method"))
            }
            if method.isAdmin && !peerIsAdmin {
                return .reject(
                    RosterStatus(
                        .permissionDenied,
                        "\(MethodLabel(method).name) is an admin method and \(peer) is not in the daemon's admin allow-list"))
            }
            if case .cancel(let request) = method {
                return .cancel(target: request.targetCallID)
            }
            if !calls.isEmpty, calls[callID] != nil {
                return .reject(
                    RosterStatus(.invalidArgument, "call_id \(callID) is already in flight on this connection"))
            }
            if let status = method.outOfRangeRevision() { return .reject(status) }
            return .dispatch
        }

        /// Starts tracking a call that stays in flight. Returns its serial, or the status to
        /// answer with when the connection already has the maximum in flight.
        mutating func register(callID: UInt64, _ call: Call) -> Result<UInt64, RosterStatus> {
            guard calls.count < maxInFlight else {
                return .failure(
                    RosterStatus(
                        .resourceExhausted,
                        "\(calls.count) calls in flight on this connection, the maximum is \(maxInFlight); wait for answers before sending more"
                    ))
            }
            nextSerial += 1
            var call = call
            call.serial = nextSerial
            calls[callID] = call
            return .success(nextSerial)
        }

        /// The call if `serial` still names the call in flight under `callID`.
        func call(_ callID: UInt64, serial: UInt64) -> Call? {
            guard let call = calls[callID], call.serial == serial else { return nil }
            return call
        }

        /// Changes a live call; false if it already ended.
        @discardableResult
        mutating func update(_ callID: UInt64, serial: UInt64, _ body: (inout Call) -> Void) -> Bool {
            guard var call = calls[callID], call.serial == serial else { return false }
            body(&call)
            calls[callID] = call
            return true
        }

        /// Ends a call: returns it (to release its handles) if it was still in flight.
        mutating func finish(_ callID: UInt64, serial: UInt64) -> Call? {
            guard let call = calls[callID], call.serial == serial else { return nil }
            calls[callID] = nil
            return call
        }

        /// Ends a call on the client's request; nil if unknown or already finished.
        mutating func cancel(_ callID: UInt64) -> Call? {
            calls.removeValue(forKey: callID)
        }

        /// Whether the connection should close now: quiescing with nothing left in flight.
        var shouldClose: Bool { lifecycle == .quiescing && calls.isEmpty }

        /// Graceful shutdown starts: returns the Watch streams to end now.
        mutating func quiesce() -> [(callID: UInt64, call: Call)] {
            guard lifecycle == .active else { return [] }
            lifecycle = .quiescing
            let watches = calls.filter { $0.value.isWatch }.map { (callID: $0.key, call: $0.value) }
            for watch in watches { calls[watch.callID] = nil }
            return watches.sorted { $0.callID < $1.callID }
        }

        /// The connection is closing: returns every call still in flight, to release.
        mutating func close() -> [(callID: UInt64, call: Call)] {
            lifecycle = .closed
            let remaining = calls.map { (callID: $0.key, call: $0.value) }.sorted { $0.callID < $1.callID }
            calls = [:]
            return remaining
        }
    }
}
