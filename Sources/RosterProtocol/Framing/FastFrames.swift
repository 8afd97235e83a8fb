import NIOCore

/// Hand-written encoders and peeks for the hottest frames, byte-identical to SwiftProtobuf's
/// output (the tests compare them with it and with the shared vectors).
///
/// A Check answer is the bulk of a busy server's output; writing it directly into the outbound
/// buffer saves the message boxes and the intermediate byte array a generic encode needs.
public enum FastFrames {
    /// Appends a complete frame: `ResponseFrame { call_id, check { allowed, reason, revision } }`.
    ///
    /// Default values are omitted, as proto3 requires (an unset `allowed`, a zero revision).
    @inlinable
    public static func writeCheckResponse(
        callID: UInt64, allowed: Bool, reason: Roster_V1_Reason, revision: UInt64, into buffer: inout ByteBuffer
    ) {
        let reasonValue = UInt64(truncatingIfNeeded: reason.rawValue)
        // CheckResponse body: 08 <bool> 10 <reason> 18 <revision>
        var body = 0
        if allowed { body += 2 }
        if reasonValue != 0 { body += 1 + varintSize(reasonValue) }
        if revision != 0 { body += 1 + varintSize(revision) }
        // ResponseFrame: 08 <call_id> 1a <len> <body>
        var payload = 1 + varintSize(UInt64(body)) + body
        if callID != 0 { payload += 1 + varintSize(callID) }

        // One bounds check and one index move for the whole frame, instead of one per byte.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4 + payload) { out -> Int in
            var writer = RawWriter(out)
            writer.bigEndian(UInt32(payload))
            if callID != 0 {
                writer.byte(0x08)
                writer.varint(callID)
            }
            writer.byte(0x1a)
            writer.varint(UInt64(body))
            if allowed {
                writer.byte(0x08)
                writer.byte(0x01)
            }
            if reasonValue != 0 {
                writer.byte(0x10)
                writer.varint(reasonValue)
            }
            if revision != 0 {
                writer.byte(0x18)
                writer.varint(revision)
            }
            return writer.count
        }
    }

    /// Writes into memory already reserved for the whole frame.
    @usableFromInline
    struct RawWriter {
        @usableFromInline let base: UnsafeMutableRawBufferPointer
        @usableFromInline var count = 0

        @inlinable init(_ base: UnsafeMutableRawBufferPointer) { self.base = base }

        @inlinable mutating func byte(_ value: UInt8) {
            base[count] = value
            count += 1
        }

        @inlinable mutating func bigEndian(_ value: UInt32) {
            byte(UInt8(truncatingIfNeeded: value >> 24))
            byte(UInt8(truncatingIfNeeded: value >> 16))
            byte(UInt8(truncatingIfNeeded: value >> 8))
            byte(UInt8(truncatingIfNeeded: value))
        }

        @inlinable mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                byte(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            byte(UInt8(truncatingIfNeeded: v))
        }
    }

    /// Reads `call_id` (field 1) from a RequestFrame or ResponseFrame payload without decoding
    /// the rest. Returns 0 when the field is absent, nil when the bytes before it are malformed.
    ///
    /// For load generators and proxies that only route frames.
    public static func peekCallID(_ payload: ByteBuffer) -> UInt64? {
        var view = payload
        while view.readableBytes > 0 {
            guard let key = readVarint(&view) else { return nil }
            let field = key >> 3
            switch key & 7 {
            case 0:
                guard let value = readVarint(&view) else { return nil }
                if field == 1 { return value }
            case 1:
                guard view.readableBytes >= 8 else { return nil }
                view.moveReaderIndex(forwardBy: 8)
            case 2:
                guard let length = readVarint(&view), length <= UInt64(view.readableBytes) else { return nil }
                view.moveReaderIndex(forwardBy: Int(length))
            case 5:
                guard view.readableBytes >= 4 else { return nil }
                view.moveReaderIndex(forwardBy: 4)
            default:
                return nil
            }
        }
        return 0
    }

    @inlinable
    static func varintSize(_ value: UInt64) -> Int {
        // 7 payload bits per byte; zero takes one byte.
        let bits = 64 - value.leadingZeroBitCount
        return bits == 0 ? 1 : (bits + 6) / 7
    }

    static func readVarint(_ buffer: inout ByteBuffer) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            guard let byte = buffer.readInteger(as: UInt8.self) else { return nil }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
}
