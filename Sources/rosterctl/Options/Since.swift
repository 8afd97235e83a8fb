import ArgumentParser
import Foundation

/// A point in time for `audit --since`: an ISO 8601 timestamp, a duration back from now
/// (`90s`, `15m`, `2h`, `7d`, `1w`), or Unix epoch milliseconds.
struct Since: ExpressibleByArgument, Sendable, Equatable {
    enum Value: Sendable, Equatable {
        case unixMs(Int64)
        case ago(seconds: Int64)
    }

    var value: Value

    init?(argument: String) {
        guard let value = Self.parse(argument) else { return nil }
        self.value = value
    }

    static var defaultCompletionKind: CompletionKind { .default }

    /// The lower bound in Unix ms, given the current time.
    func unixMs(now: Date = Date()) -> Int64 {
        switch value {
        case .unixMs(let ms): return ms
        case .ago(let seconds): return max(0, Int64(now.timeIntervalSince1970 * 1000) - seconds * 1000)
        }
    }

    static func parse(_ text: String) -> Value? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if text.allSatisfy(\.isASCIIDigit) { return Int64(text).map { .unixMs($0) } }
        if let unit = text.last, let count = Int64(text.dropLast()), count >= 0, text.dropLast().allSatisfy(\.isASCIIDigit) {
            let seconds: Int64? =
                switch unit {
                case "s": 1
                case "m": 60
                case "h": 3600
                case "d": 86_400
                case "w": 604_800
                default: nil
                }
            if let seconds {
                let (total, overflow) = count.multipliedReportingOverflow(by: seconds)
                return overflow ? nil : .ago(seconds: total)
            }
        }
        return iso8601(text).map { .unixMs(Int64(($0.timeIntervalSince1970 * 1000).rounded())) }
    }

    /// `2025-06-01T12:00:00Z`, with fractional seconds, an offset instead of Z, a space instead of
    /// T, or a date alone (midnight UTC).
    private static func iso8601(_ text: String) -> Date? {
        var text = text
        if text.count > 10, let index = text.index(text.startIndex, offsetBy: 10, limitedBy: text.endIndex),
            text[index] == " "
        {
            text.replaceSubrange(index...index, with: "T")
        }
        let variants: [ISO8601DateFormatter.Options] = [
            [.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate],
        ]
        for options in variants {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
