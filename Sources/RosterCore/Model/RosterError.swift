/// A write that breaks a rule, or a lookup that cannot be answered. The state is unchanged.
///
/// Equality compares the code only, so callers can match on `RosterError.Code` while the
/// message stays free to name the offending values.
public struct RosterError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: String, Sendable, Hashable {
            case directoryNotFound, directoryExists, userNotFound, groupNotFound, uniqueness
            case unknownMember, invalidValue, ambiguousReference
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        public static let directoryNotFound = Code(.directoryNotFound)
        public static let directoryExists = Code(.directoryExists)
        public static let userNotFound = Code(.userNotFound)
        public static let groupNotFound = Code(.groupNotFound)
        /// A live user or group already holds this userName/externalId (SCIM 409 `uniqueness`).
        public static let uniqueness = Code(.uniqueness)
        /// A membership names a user that does not exist in this directory.
        public static let unknownMember = Code(.unknownMember)
        /// A value is empty, malformed or out of range.
        public static let invalidValue = Code(.invalidValue)
        /// A display name matches more than one group.
        public static let ambiguousReference = Code(.ambiguousReference)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: RosterError, rhs: RosterError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
