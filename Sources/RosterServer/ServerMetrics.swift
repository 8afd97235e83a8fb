import CoreMetrics
import Metrics
import RosterCore
import RosterProtocol

/// The server's metrics, created once with bounded dimensions (reasons, method names).
///
/// - `roster_lookup_checks_total{reason}`: Check and BatchCheck items by answer reason
///   (`MEMBER`, ..., or `ERROR` for items that were not answered).
/// - `roster_lookup_call_duration_seconds{method}`: from frame read to the call's last frame.
/// - `roster_lookup_call_errors_total{code}`: calls that ended with a non-OK status.
/// - `roster_lookup_connections`: open connections.
final class ServerMetrics: Sendable {
    /// Indexed like `CheckReason.allCases`.
    let checks: [Counter]
    let checkErrors: Counter
    /// Indexed by `MethodLabel.rawValue`.
    let durations: [Metrics.Timer]
    let errors: [Int: Counter]
    let connections: Gauge

    init() {
        checks = CheckReason.allCases.map { reason in
            Counter(label: "roster_lookup_checks_total", dimensions: [("reason", reason.rawValue)])
        }
        checkErrors = Counter(label: "roster_lookup_checks_total", dimensions: [("reason", "ERROR")])
        durations = MethodLabel.allCases.map { method in
            Metrics.Timer(
                label: "roster_lookup_call_duration_seconds", dimensions: [("method", method.name)],
                preferredDisplayUnit: .seconds)
        }
        var errors: [Int: Counter] = [:]
        for raw in 1...16 {
            let code = Roster_V1_Code(rawValue: raw) ?? .unknown
            errors[raw] = Counter(label: "roster_lookup_call_errors_total", dimensions: [("code", code.name)])
        }
        self.errors = errors
        connections = Gauge(label: "roster_lookup_connections")
    }

    func recordCheck(_ reason: CheckReason) {
        checks[Self.reasonIndex(reason)].increment()
    }

    static func reasonIndex(_ reason: CheckReason) -> Int {
        switch reason {
        case .member: 0
        case .notMember: 1
        case .userSuspended: 2
        case .userDeleted: 3
        case .userUnknown: 4
        case .groupUnknown: 5
        }
    }

    func recordCheckError() {
        checkErrors.increment()
    }

    func recordConnections(_ count: Int) {
        connections.record(count)
    }

    func recordDuration(method: MethodLabel, nanoseconds: Int64) {
        durations[method.rawValue].recordNanoseconds(nanoseconds)
    }

    func recordError(_ code: Roster_V1_Code) {
        errors[code.rawValue]?.increment()
    }
}

/// A call's method as a small integer: the metric label and log name, without hashing strings
/// on the hot path.
enum MethodLabel: Int, CaseIterable, Sendable {
    case check, batchCheck, listUserGroups, listGroupMembers, getUser, getGroup, watch, cancel, health, stats
    case createDirectory, listDirectories, rotateToken, deleteDirectory, deleteGroup, verify, backup, audit
    case fleetStatus
    /// A frame without a (known) method.
    case other

    init(_ method: Roster_V1_RequestFrame.OneOf_Method?) {
        switch method {
        case .check: self = .check
        case .batchCheck: self = .batchCheck
        case .listUserGroups: self = .listUserGroups
        case .listGroupMembers: self = .listGroupMembers
        case .getUser: self = .getUser
        case .getGroup: self = .getGroup
        case .watch: self = .watch
        case .cancel: self = .cancel
        case .health: self = .health
        case .stats: self = .stats
        case .createDirectory: self = .createDirectory
        case .listDirectories: self = .listDirectories
        case .rotateToken: self = .rotateToken
        case .deleteDirectory: self = .deleteDirectory
        case .deleteGroup: self = .deleteGroup
        case .verify: self = .verify
        case .backup: self = .backup
        case .audit: self = .audit
        case .fleetStatus: self = .fleetStatus
        case nil: self = .other
        }
    }

    /// The name in the proto's service block, e.g. `ListUserGroups`.
    var name: String {
        switch self {
        case .check: "Check"
        case .batchCheck: "BatchCheck"
        case .listUserGroups: "ListUserGroups"
        case .listGroupMembers: "ListGroupMembers"
        case .getUser: "GetUser"
        case .getGroup: "GetGroup"
        case .watch: "Watch"
        case .cancel: "Cancel"
        case .health: "Health"
        case .stats: "Stats"
        case .createDirectory: "CreateDirectory"
        case .listDirectories: "ListDirectories"
        case .rotateToken: "RotateToken"
        case .deleteDirectory: "DeleteDirectory"
        case .deleteGroup: "DeleteGroup"
        case .verify: "Verify"
        case .backup: "Backup"
        case .audit: "Audit"
        case .fleetStatus: "FleetStatus"
        case .other: "other"
        }
    }

    var isAdmin: Bool {
        switch self {
        case .createDirectory, .listDirectories, .rotateToken, .deleteDirectory, .deleteGroup, .verify, .backup, .audit:
            true
        default:
            false
        }
    }
}
