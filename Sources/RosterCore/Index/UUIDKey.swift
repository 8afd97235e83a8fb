/// A SCIM id as 128 bits. Roster assigns every id as a UUID, so ids parse to their 16 bytes and
/// the index compares two integers in place, instead of 36-byte strings stored out of line (a
/// cache miss per comparison on a cold index).
///
/// Any other string (ids in tests, a caller's typo) maps to a 128-bit hash of it; a hash can in
/// principle equal another id's key, so lookups by such strings confirm the stored id
/// (`MembershipIndex.resolveUser`). UUID strings are exact, in either letter case.
struct UUIDKey: FlatHashable {
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
    static func parse(_ text: String) -> UUIDKey? {
        guard text.utf8.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        var offset = 0
        for byte in text.utf8 {
            defer { offset += 1 }
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(nibble) } else { low = low << 4 | UInt64(nibble) }
            digits += 1
        }
        return UUIDKey(high: high, low: low)
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
}
