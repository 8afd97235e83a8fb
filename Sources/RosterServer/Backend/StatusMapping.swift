import RosterCore
import RosterProtocol

/// The one place where errors become wire statuses (see `RosterBackend` for the table).
enum StatusMapping {
    static func status(for error: any Error) -> RosterStatus {
        switch error {
        case let status as RosterStatus:
            return status
        case let error as RosterError:
            return status(for: error)
        case is CancellationError:
            return RosterStatus(.cancelled, "the call was cancelled")
        default:
            return RosterStatus(.internal, "internal error: \(error)")
        }
    }

    static func status(for error: RosterError) -> RosterStatus {
        let code: Roster_V1_Code
        switch error.code {
        case .directoryNotFound, .userNotFound, .groupNotFound: code = .notFound
        case .directoryExists, .uniqueness: code = .alreadyExists
        case .invalidValue: code = .invalidArgument
        case .ambiguousReference, .unknownMember: code = .failedPrecondition
        default: code = .internal
        }
        return RosterStatus(code, error.message)
    }
}
