import RosterProtocol

/// Why a call through `RosterClient` failed.
///
/// Every error carries a `status` with a gRPC-style code, as gRPC clients do: the server's own
/// status for `callFailed`; for local failures an equivalent one (`DEADLINE_EXCEEDED` when the
/// local timer fires, `UNAVAILABLE` when the connection cannot be made or drops, `INTERNAL`
/// when the server's bytes break the protocol). So callers can switch on `statusCode` alone.
///
/// Equality compares `code` and `statusCode`, not the message. Task cancellation surfaces as
/// Swift's `CancellationError`.
public struct RosterClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// New codes may be added: switch over it with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case callFailed, deadlineExceeded, connectionFailed, connectionClosed, protocolViolation, invalidRequest
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The server ended the call with a non-OK status (see `status`).
        public static let callFailed = Code(.callFailed)
        /// The call's deadline passed before an answer arrived (the local timer).
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The socket could not be connected.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed (or the server sent a connection-level error) with the call in flight.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server sent bytes that are not valid frames.
        public static let protocolViolation = Code(.protocolViolation)
        /// The request could not be sent (for example, it is larger than the maximum frame size).
        public static let invalidRequest = Code(.invalidRequest)

        public var description: String { wrapped.rawValue }
    }

    public let code: Code
    /// The status: the server's, or the local equivalent.
    public let status: RosterStatus
    /// The call this error ended, when there was one.
    public let callID: UInt64?

    public init(_ code: Code, _ status: RosterStatus, callID: UInt64? = nil) {
        self.code = code
        self.status = status
        self.callID = callID
    }

    /// The status code, e.g. `.notFound`.
    public var statusCode: Roster_V1_Code { status.code }
    /// The status code's name, e.g. `NOT_FOUND`.
    public var codeName: String { status.code.name }
    public var message: String { status.message }

    public var description: String { "\(status.code.name): \(status.message)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.status.code == rhs.status.code }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(status.code)
    }

    static func connectionClosed(_ detail: String) -> Self {
        Self(.connectionClosed, RosterStatus(.unavailable, detail))
    }
}
