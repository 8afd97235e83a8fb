/// A `RequestFrame` carrying a `Check`, read in place from its payload bytes: the call's numbers
/// and the byte ranges of its strings, with no message boxes, no `String`s and no allocation.
///
/// It is the lookup server's fast path for its most frequent frame. It accepts only the plain
/// shape every client sends — each field at most once, known fields only, the wire types the
/// schema declares, each reference naming exactly one member — and returns nil for anything
/// else, which the caller then decodes with SwiftProtobuf. So a nil is not an error, and every
/// error (malformed bytes, invalid UTF-8, an empty reference) keeps SwiftProtobuf's behaviour
/// and message. Strings are not validated here: the caller validates what it turns into a
/// `String`, and falls back when validation fails.
public struct CheckRequestView: Sendable, Equatable {
    /// Which member of a `UserRef` / `GroupRef` oneof is set: its field number.
    public struct Member: RawRepresentable, Sendable, Equatable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// `UserRef.id` and `GroupRef.id`.
        public static let id = Member(rawValue: 1)
        /// `UserRef.user_name`.
        public static let userName = Member(rawValue: 2)
        /// `UserRef.external_id`.
        public static let userExternalID = Member(rawValue: 3)
        /// `GroupRef.external_id`.
        public static let groupExternalID = Member(rawValue: 2)
        /// `GroupRef.display_name`.
        public static let displayName = Member(rawValue: 3)
    }

    public var callID: UInt64 = 0
    public var timeoutMs: UInt32 = 0
    public var minRevision: UInt64 = 0
    /// Offsets into the payload.
    public var directoryID: Range<Int> = 0..<0
    public var userMember = Member.id
    public var user: Range<Int> = 0..<0
    public var groupMember = Member.id
    public var group: Range<Int> = 0..<0

    public init() {}

    /// Reads `payload` (one frame's payload); nil when it is not a plain Check request.
    public init?(payload: UnsafeRawBufferPointer) {
        var reader = Reader(bytes: payload, position: 0, end: payload.count)
        var seen: UInt8 = 0
        var check: Range<Int>?
        while reader.position < reader.end {
            guard let key = reader.varint() else { return nil }
            switch key {
            case 0x08:  // call_id
                guard seen & 1 == 0, let value = reader.varint() else { return nil }
                callID = value
                seen |= 1
            case 0x10:  // timeout_ms
                guard seen & 2 == 0, let value = reader.varint(), let narrow = UInt32(exactly: value) else { return nil }
                timeoutMs = narrow
                seen |= 2
            case 0x1a:  // check
                guard seen & 4 == 0, let range = reader.lengthDelimited() else { return nil }
                check = range
                seen |= 4
            default:
                return nil
            }
        }
        guard let check, readCheck(payload, check) else { return nil }
    }

    private mutating func readCheck(_ payload: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var reader = Reader(bytes: payload, position: range.lowerBound, end: range.upperBound)
        var seen: UInt8 = 0
        while reader.position < reader.end {
            guard let key = reader.varint() else { return false }
            switch key {
            case 0x0a:  // directory_id
                guard seen & 1 == 0, let value = reader.lengthDelimited() else { return false }
                directoryID = value
                seen |= 1
            case 0x12:  // user
                guard seen & 2 == 0, let value = reader.lengthDelimited(),
                    let (member, bytes) = Self.readReference(payload, value)
                else { return false }
                (userMember, user) = (member, bytes)
                seen |= 2
            case 0x1a:  // group
                guard seen & 4 == 0, let value = reader.lengthDelimited(),
                    let (member, bytes) = Self.readReference(payload, value)
                else { return false }
                (groupMember, group) = (member, bytes)
                seen |= 4
            case 0x20:  // min_revision
                guard seen & 8 == 0, let value = reader.varint() else { return false }
                minRevision = value
                seen |= 8
            default:
                return false
            }
        }
        // Missing parts are errors the generic path words precisely.
        return seen & 7 == 7 && !directoryID.isEmpty
    }

    /// A `UserRef` or `GroupRef` with exactly one of fields 1–3 (all strings).
    private static func readReference(_ payload: UnsafeRawBufferPointer, _ range: Range<Int>) -> (Member, Range<Int>)? {
        var reader = Reader(bytes: payload, position: range.lowerBound, end: range.upperBound)
        guard let key = reader.varint(), key == 0x0a || key == 0x12 || key == 0x1a,
            let value = reader.lengthDelimited(), reader.position == reader.end
        else { return nil }
        return (Member(rawValue: UInt8(key >> 3)), value)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        /// A base-128 varint of at most 10 bytes (the 10th carrying only the top bit).
        @inline(__always)
        mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while position < end {
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 { return nil }
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }

        /// The range of a length-delimited field's bytes, which must lie within this message.
        @inline(__always)
        mutating func lengthDelimited() -> Range<Int>? {
            guard let length = varint(), length <= UInt64(end - position) else { return nil }
            let start = position
            position += Int(length)
            return start..<position
        }
    }
}
