import RosterProtocol

extension RosterClient {
    /// Names a user of a directory.
    public enum UserRef: Sendable, Hashable {
        /// The SCIM `id` the daemon assigned.
        case id(String)
        /// SCIM `userName`, compared case-insensitively.
        case userName(String)
        /// The identity provider's `externalId`.
        case externalID(String)

        public var proto: Roster_V1_UserRef {
            var ref = Roster_V1_UserRef()
            switch self {
            case .id(let value): ref.id = value
            case .userName(let value): ref.userName = value
            case .externalID(let value): ref.externalID = value
            }
            return ref
        }
    }

    /// Names a group of a directory. A display name shared by several groups is an error
    /// (FAILED_PRECONDITION), not a guess.
    public enum GroupRef: Sendable, Hashable {
        case id(String)
        case externalID(String)
        case displayName(String)

        public var proto: Roster_V1_GroupRef {
            var ref = Roster_V1_GroupRef()
            switch self {
            case .id(let value): ref.id = value
            case .externalID(let value): ref.externalID = value
            case .displayName(let value): ref.displayName = value
            }
            return ref
        }
    }

    /// The answer to a Check.
    public struct CheckAnswer: Sendable, Hashable {
        public var allowed: Bool
        public var reason: Roster_V1_Reason
        /// The index revision the answer was computed at.
        public var revision: UInt64

        public init(allowed: Bool, reason: Roster_V1_Reason, revision: UInt64) {
            self.allowed = allowed
            self.reason = reason
            self.revision = revision
        }
    }
}
