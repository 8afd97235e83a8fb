/// The outcome of a call as it travels on the wire: a gRPC-style code and a human message.
///
/// `RosterStatus` is also an `Error`, so server back ends and handlers can `throw` the exact
/// status a call should end with (`throw RosterStatus(.alreadyExists, "backup file exists")`),
/// and clients receive the same value back. Equality compares code and message.
public struct RosterStatus: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Roster_V1_Code
    /// Human-readable, actionable, English; not meant to be parsed.
    public var message: String

    public init(_ code: Roster_V1_Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ proto: Roster_V1_Status) {
        self.init(proto.code, proto.message)
    }

    public static let ok = RosterStatus(.ok, "")

    public var isOK: Bool { code == .ok }

    /// The wire form (an OK response frame leaves its status unset instead).
    public var proto: Roster_V1_Status {
        var status = Roster_V1_Status()
        status.code = code
        status.message = message
        return status
    }

    public var description: String { message.isEmpty ? code.name : "\(code.name): \(message)" }
}

extension Roster_V1_Code {
    /// The code's name as the proto spells it, e.g. `NOT_FOUND`.
    public var name: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        case .UNRECOGNIZED(let value): "CODE_\(value)"
        }
    }
}

extension Roster_V1_ResponseFrame {
    /// The call's status: OK when the frame carries none.
    public var rosterStatus: RosterStatus {
        hasStatus ? RosterStatus(status) : .ok
    }

    /// A frame that ends call `callID` with a non-OK `status` (and, for a stream, `endOfStream`).
    public static func failure(callID: UInt64, _ status: RosterStatus, endOfStream: Bool = false) -> Self {
        var frame = Roster_V1_ResponseFrame()
        frame.callID = callID
        frame.status = status.proto
        frame.endOfStream = endOfStream
        return frame
    }
}

extension Roster_V1_RequestFrame.OneOf_Method {

    /// Whether the method needs the peer's uid in the admin allow-list.
    public var isAdmin: Bool {
        switch self {
        case .createDirectory, .listDirectories, .rotateToken, .deleteDirectory, .deleteGroup, .verify, .backup,
            .audit:
            true
        // FleetStatus shows instance names, pids and revisions: no more than Health and Stats.
        case .check, .batchCheck, .listUserGroups, .listGroupMembers, .getUser, .getGroup, .watch, .cancel, .health,
            .stats, .fleetStatus:
            false
        }
    }
}
