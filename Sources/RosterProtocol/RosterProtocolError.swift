/// An error from the Roster wire codec: a frame that breaks the framing rules or does not
/// decode as the expected message.
///
/// Equality and hashing consider only ``code``, so tests can compare against a freshly made
/// error (`#expect(throws: RosterProtocolError.frameTooLarge(length: 0, maximum: 0))`), while
/// ``message`` names the offending values and the limit.
public struct RosterProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. New codes may be added: switch over it with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case frameTooLarge, truncatedFrame, invalidMessage
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A frame's length prefix (or an outgoing payload) exceeds the configured maximum.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// The stream ended inside a frame (in the length prefix or the payload).
        public static let truncatedFrame = Code(.truncatedFrame)
        /// A complete frame's payload is not a valid protobuf message of the expected type.
        public static let invalidMessage = Code(.invalidMessage)

        public var description: String { wrapped.rawValue }
    }

    /// The kind of error.
    public let code: Code
    /// A human-readable explanation that states the limit and the actual value where there is one.
    public let message: String
    /// The error that caused this one (for example SwiftProtobuf's decoding error), if any.
    public let cause: (any Error & Sendable)?
    /// Where the error was made.
    public let file: String
    public let line: Int

    public init(
        code: Code, message: String, cause: (any Error & Sendable)? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.file = file
        self.line = line
    }

    public var description: String { "RosterProtocolError.\(code): \(message)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

extension RosterProtocolError {
    /// A frame whose length is above the limit. The message reads
    /// `frame length 4194305 exceeds the maximum 4194304`.
    public static func frameTooLarge(length: Int, maximum: Int, file: String = #fileID, line: Int = #line) -> Self {
        Self(
            code: .frameTooLarge, message: "frame length \(length) exceeds the maximum \(maximum)", file: file,
            line: line)
    }

    /// The stream ended after `received` of `expected` bytes of the current frame's `part`.
    public static func truncatedFrame(
        received: Int, expected: Int, part: String, file: String = #fileID, line: Int = #line
    ) -> Self {
        Self(
            code: .truncatedFrame, message: "stream ended inside a frame after \(received) of \(expected) \(part) bytes",
            file: file, line: line)
    }

    /// A payload of `length` bytes that does not decode as `typeName`.
    public static func invalidMessage(
        length: Int, typeName: String, cause: any Error & Sendable, file: String = #fileID, line: Int = #line
    ) -> Self {
        Self(
            code: .invalidMessage, message: "frame \(length) bytes is not a \(typeName): \(cause)", cause: cause,
            file: file, line: line)
    }
}
