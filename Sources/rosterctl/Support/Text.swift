import Foundation
import RosterProtocol

/// Human output helpers: aligned columns, `key  value` blocks, times and enum names.
enum Text {
    /// Rows under a header, each column as wide as its widest cell, two spaces apart; the last
    /// column is not padded.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let all = [headers] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }

    /// `key  value` lines with the values aligned.
    static func fields(_ pairs: [(String, String)]) -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { key, value in
            (key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value).trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }

    /// A cell for an optional string: `-` when empty.
    static func cell(_ value: String) -> String { value.isEmpty ? "-" : value }

    /// UTC, millisecond precision: `2025-06-01T12:00:00.123Z`.
    static func time(unixMs: Int64) -> String {
        guard unixMs != 0 else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(unixMs) / 1000))
    }

    /// `1.2 MiB` style sizes.
    static func bytes(_ count: UInt64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) bytes" : String(format: "%.1f", value) + " \(units[unit]) (\(count) bytes)"
    }

    /// `3d 4h 5m 6s` from seconds.
    static func duration(seconds: Double) -> String {
        var rest = Int(seconds.rounded(.down))
        let days = rest / 86_400
        rest %= 86_400
        let hours = rest / 3600
        rest %= 3600
        let minutes = rest / 60
        let secs = rest % 60
        var parts: [String] = []
        if days > 0 { parts.append("\(days)d") }
        if hours > 0 || !parts.isEmpty { parts.append("\(hours)h") }
        if minutes > 0 || !parts.isEmpty { parts.append("\(minutes)m") }
        parts.append("\(secs)s")
        return parts.joined(separator: " ")
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

extension Roster_V1_Reason {
    /// The proto name: `MEMBER`, `NOT_MEMBER`, `USER_SUSPENDED`, ...
    var name: String {
        switch self {
        case .unspecified: "REASON_UNSPECIFIED"
        case .member: "MEMBER"
        case .notMember: "NOT_MEMBER"
        case .userSuspended: "USER_SUSPENDED"
        case .userDeleted: "USER_DELETED"
        case .userUnknown: "USER_UNKNOWN"
        case .groupUnknown: "GROUP_UNKNOWN"
        case .UNRECOGNIZED(let value): "REASON_\(value)"
        }
    }

    /// One line for operators: what the reason means.
    var explanation: String {
        switch self {
        case .member: "the user is active and a member of the group"
        case .notMember: "the user is active but not a member of the group"
        case .userSuspended: "the user is suspended (SCIM active=false); suspended users have no memberships"
        case .userDeleted: "the user was deleted"
        case .userUnknown: "no user matches the reference in this directory"
        case .groupUnknown: "no group matches the reference in this directory"
        case .unspecified, .UNRECOGNIZED: "a reason this rosterctl does not know; treat it as denied"
        }
    }
}

extension Roster_V1_UserState {
    /// The proto name: `ACTIVE`, `SUSPENDED`, `DELETED`.
    var name: String {
        switch self {
        case .unspecified: "USER_STATE_UNSPECIFIED"
        case .active: "ACTIVE"
        case .suspended: "SUSPENDED"
        case .deleted: "DELETED"
        case .UNRECOGNIZED(let value): "USER_STATE_\(value)"
        }
    }
}
