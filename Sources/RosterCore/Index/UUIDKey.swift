/// A SCIM id as 128 bits. Roster assigns every id as a UUID, so ids parse to their 16 bytes and
/// the index compares two integers in place, instead of 36-byte strings stored out of line (a
/// cache miss per comparison on a cold index).
///
/// Any other string (ids in tests, a caller's typo) maps to a 128-bit hash of it; a hash can in
/// principle equal another id's key, so lookups by such strings confirm the stored id
/// (`MembershipIndex.resolveUser`). UUID strings are exact, in either letter case.
public struct UUIDKey: FlatHashable {
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ text: String) {
        self = Self.parse(text) ?? Self.hashed(text)
    }

    /// The key of a UUID string, or nil when `text` is not one.
    @inline(__always)
    static func parse(_ text: String) -> UUIDKey? {
        guard text.utf8.count == 36 else { return nil }
        if let parsed = text.utf8.withContiguousStorageIfAvailable({ parse(bytes: $0) }) { return parsed }
        return Array(text.utf8).withUnsafeBufferPointer { parse(bytes: $0) }
    }

    /// Hex digit values by ASCII code (0xFF: not a hex digit). A table keeps the 32-digit loop
    /// branch-light: this runs twice per check.
    private static let nibbles: [UInt8] = (0..<256).map { code -> UInt8 in
        switch code {
        case 48...57: return UInt8(code - 48)
        case 65...70: return UInt8(code - 55)
        case 97...102: return UInt8(code - 87)
        default: return 0xFF
        }
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> UUIDKey? {
        guard bytes.count == 36, bytes[8] == 0x2D, bytes[13] == 0x2D, bytes[18] == 0x2D, bytes[23] == 0x2D else {
            return nil
        }
        return nibbles.withUnsafeBufferPointer { table -> UUIDKey? in
            var high: UInt64 = 0
            var low: UInt64 = 0
            var invalid: UInt8 = 0
            var digits = 0
            for offset in 0..<36 where offset != 8 && offset != 13 && offset != 18 && offset != 23 {
                let nibble = table[Int(bytes[offset])]
                invalid |= nibble & 0xF0
                if digits < 16 { high = high << 4 | UInt64(nibble & 0x0F) } else { low = low << 4 | UInt64(nibble & 0x0F) }
                digits += 1
            }
            if invalid != 0 || (high == 0 && low == 0) { return nil }
            return UUIDKey(high: high, low: low)
        }
    }

    private static func hashed(_ text: String) -> UUIDKey {
        var a = Hasher()
        a.combine(0x5EED_0001 as UInt64)
        a.combine(text)
        var b = Hasher()
        b.combine(0x5EED_0002 as UInt64)
        b.combine(text)
        return UUIDKey(high: UInt64(bitPattern: Int64(a.finalize())), low: UInt64(bitPattern: Int64(b.finalize())))
    }

    var flatHash: UInt64 { mix64(low ^ (high &* 0x9E37_79B9_7F4A_7C15)) }

    /// The nil UUID marks empty slots; the nil UUID string itself is hashed like a non-UUID.
    static var emptySlot: UUIDKey { UUIDKey(high: 0, low: 0) }
}
