/// Why the lookup server could not start or stopped with an error.
///
/// Equality and hashing consider only ``code``; ``message`` names the socket path and the cause.
public struct RosterServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// New codes may be added: switch over it with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case addressInUse, notASocket, socketSetup, unexpectedClose
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A live daemon already answers on the socket path.
        public static let addressInUse = Code(.addressInUse)
        /// Something other than a socket exists at the socket path; it is left alone.
        public static let notASocket = Code(.notASocket)
        /// Inspecting, binding or chmod-ing the socket failed.
        public static let socketSetup = Code(.socketSetup)
        /// The listening socket closed without a shutdown being asked for.
        public static let unexpectedClose = Code(.unexpectedClose)

        public var description: String { wrapped.rawValue }
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?
    public let file: String
    public let line: Int

    public init(
        _ code: Code, _ message: String, cause: (any Error & Sendable)? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.file = file
        self.line = line
    }

    public var description: String {
        if let cause { return "RosterServerError.\(code): \(message) (\(cause))" }
        return "RosterServerError.\(code): \(message)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
