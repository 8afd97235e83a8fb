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
    let checks: [CheckReason: Counter]
    let checkErrors: Counter
    let durations: [String: Metrics.Timer]
    let otherDuration: Metrics.Timer
    let errors: [Int: Counter]
    let connections: Gauge

    static let methodNames = [
        "Check", "BatchCheck", "ListUserGroups", "ListGroupMembers", "GetUser", "GetGroup", "Watch", "Cancel",
        "Health", "Stats", "CreateDirectory", "ListDirectories", "RotateToken", "DeleteDirectory", "DeleteGroup",
        "Verify", "Backup", "Audit",
    ]

    init() {
        var checks: [CheckReason: Counter] = [:]
        for reason in CheckReason.allCases {
            checks[reason] = Counter(label: "roster_lookup_checks_total", dimensions: [("reason", reason.rawValue)])
        }
        self.checks = checks
        checkErrors = Counter(label: "roster_lookup_checks_total", dimensions: [("reason", "ERROR")])
        var durations: [String: Metrics.Timer] = [:]
        for name in Self.methodNames {
            durations[name] = Metrics.Timer(
                label: "roster_lookup_call_duration_seconds", dimensions: [("method", name)],
                preferredDisplayUnit: .seconds)
        }
        self.durations = durations
        otherDuration = Metrics.Timer(
            label: "roster_lookup_call_duration_seconds", dimensions: [("method", "other")],
            preferredDisplayUnit: .seconds)
        var errors: [Int: Counter] = [:]
        for raw in 1...16 {
            let code = Roster_V1_Code(rawValue: raw) ?? .unknown
            errors[raw] = Counter(label: "roster_lookup_call_errors_total", dimensions: [("code", code.name)])
        }
        self.errors = errors
        connections = Gauge(label: "roster_lookup_connections")
    }

    func recordCheck(_ reason: CheckReason) {
        checks[reason]?.increment()
    }

    func recordCheckError() {
        checkErrors.increment()
    }

    func recordConnections(_ count: Int) {
        connections.record(count)
    }

    func recordDuration(method: String, nanoseconds: Int64) {
        (durations[method] ?? otherDuration).recordNanoseconds(nanoseconds)
    }

    func recordError(_ code: Roster_V1_Code) {
        errors[code.rawValue]?.increment()
    }
}
