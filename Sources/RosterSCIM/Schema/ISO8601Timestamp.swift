import Foundation

/// An instant parsed from, or formatted as, an ISO 8601 / RFC 3339 date-time (SCIM `dateTime`).
///
/// Hand-written rather than `ISO8601DateFormatter` so that parsing is pure, allocation-light and
/// accepts the variants providers send: fractional seconds of any length, `Z`, `+01:00` or
/// `+0100`, and (leniently) no zone (read as UTC) or a date alone (midnight UTC).
public struct ISO8601Timestamp: Hashable, Sendable, Comparable {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    public var seconds: Int64
    /// Nanoseconds within the second, 0..<1_000_000_000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(_ date: Date) {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 1e15 else {
            self.init(seconds: 0)
            return
        }
        let whole = interval.rounded(.down)
        var nanos = Int32(((interval - whole) * 1e9).rounded())
        var seconds = Int64(whole)
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000
            seconds += 1
        }
        self.init(seconds: seconds, nanoseconds: nanos)
    }

    /// Parses the text; nil when it is not a date-time.
    public init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    public var date: Date {
        Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }

    public static func < (lhs: ISO8601Timestamp, rhs: ISO8601Timestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    func compare(_ other: ISO8601Timestamp) -> Int {
        self == other ? 0 : (self < other ? -1 : 1)
    }

    /// `2024-05-01T12:00:00.123Z`: UTC, millisecond precision; instants outside the years
    /// 0001...9999 are clamped to them (ISO 8601's four-digit years).
    public var formatted: String {
        let seconds = min(max(self.seconds, -62_135_596_800), 253_402_300_799)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        let milliseconds = Int(min(max(nanoseconds, 0), 999_999_999) / 1_000_000)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(abs(value))
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(Int64(milliseconds), 3))Z"
    }

    // MARK: Parsing

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ISO8601Timestamp? {
        var index = 0
        func digits(_ count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for offset in 0..<count {
                let byte = bytes[index + offset]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ character: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == character else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
            let day = digits(2), (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        var secondOfDay: Int64 = 0
        var nanoseconds: Int64 = 0
        var offsetSeconds: Int64 = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: "t") || bytes[index] == UInt8(ascii: " ")
            else { return nil }
            index += 1
            guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), hour < 24, minute < 60 else { return nil }
            var second: Int64 = 0
            if expect(UInt8(ascii: ":")) {
                guard let parsed = digits(2), parsed <= 60 else { return nil }  // 60: leap second
                second = min(parsed, 59)
                if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
                    var scale: Int64 = 100_000_000
                    let start = index
                    while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                        nanoseconds += Int64(bytes[index] - 0x30) * scale
                        scale /= 10
                        index += 1
                    }
                    guard index > start else { return nil }
                }
            }
            secondOfDay = hour * 3600 + minute * 60 + second
            if index < bytes.count {
                let zone = bytes[index]
                index += 1
                if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
                    offsetSeconds = 0
                } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
                    guard let zoneHours = digits(2), zoneHours < 24 else { return nil }
                    _ = expect(UInt8(ascii: ":"))
                    guard let zoneMinutes = digits(2), zoneMinutes < 60 else { return nil }
                    offsetSeconds = (zoneHours * 3600 + zoneMinutes * 60) * (zone == UInt8(ascii: "-") ? -1 : 1)
                } else {
                    return nil
                }
            }
            guard index == bytes.count else { return nil }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ISO8601Timestamp(seconds: days * 86_400 + secondOfDay - offsetSeconds, nanoseconds: Int32(nanoseconds))
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
