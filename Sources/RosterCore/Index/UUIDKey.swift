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

    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> UUIDKey? {
        guard bytes.count == 36, let base = bytes.baseAddress,
            bytes[8] == 0x2D, bytes[13] == 0x2D, bytes[18] == 0x2D, bytes[23] == 0x2D
        else { return nil }
        // 8-4-4-4-12 hex digits: four groups of eight, each decoded eight bytes at a time (this
        // runs twice per check; a digit-by-digit loop was 5% of a loaded server's profile).
        let raw = UnsafeRawPointer(base)
        func load8(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        func load4(_ offset: Int) -> UInt64 {
            UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        guard let g0 = hex8(load8(0)), let g1 = hex8(load4(9) | load4(14) << 32),
            let g2 = hex8(load4(19) | load4(24) << 32), let g3 = hex8(load8(28))
        else { return nil }
        let high = g0 << 32 | g1
        let low = g2 << 32 | g3
        if high == 0 && low == 0 { return nil }
        return UUIDKey(high: high, low: low)
    }

    /// Eight ASCII hex digits (either case), first digit in the lowest byte, as a 32-bit value;
    /// nil if any byte is not a hex digit. SWAR: every byte is tested and converted at once.
    @inline(__always)
    static func hex8(_ x: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        /// 0x80 in each byte of `v` (all < 0x80) that lies in lo...hi.
        func inRange(_ v: UInt64, _ lo: UInt64, _ hi: UInt64) -> UInt64 {
            (v &+ (0x80 - lo) &* ones) & ~(v &+ (0x7F - hi) &* ones) & highBits
        }
        guard x & highBits == 0 else { return nil }
        let digits = inRange(x, 0x30, 0x39)
        // Folding case maps only 'A'...'F' (and 'a'...'f') into 'a'...'f'.
        let letters = inRange(x | 0x2020_2020_2020_2020, 0x61, 0x66)
        guard digits | letters == highBits else { return nil }
        // A digit's value is its low nibble; a letter's is its low nibble + 9.
        var v = (x & 0x0F0F_0F0F_0F0F_0F0F) &+ (letters >> 7) &* 9
        // The first digit is the most significant: reverse the bytes, then pack the nibbles.
        v = v.byteSwapped
        v = (v >> 4 | v) & 0x00FF_00FF_00FF_00FF
        v = (v >> 8 | v) & 0x0000_FFFF_0000_FFFF
        v = (v >> 16 | v) & 0x0000_0000_FFFF_FFFF
        return v
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
