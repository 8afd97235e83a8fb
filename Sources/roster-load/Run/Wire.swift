import NIOCore

/// The few protobuf wire operations the load loop needs, over raw bytes.
///
/// Only what a ResponseFrame to a Check or BatchCheck can hold is interpreted; every other
/// field is skipped by wire type, as a protobuf parser would. A frame the scanner cannot walk
/// is reported as malformed and counted as an error, never as an answer.
enum Wire {
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        return bits == 0 ? 1 : (bits + 6) / 7
    }

    @inline(__always)
    static func writeVarint(_ value: UInt64, into buffer: inout ByteBuffer) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    /// Reads a varint at `position`, advancing it; nil when truncated or longer than 10 bytes.
    @inline(__always)
    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    /// Skips a field's value of wire type `wireType`; false when the bytes are malformed.
    @inline(__always)
    static func skip(_ wireType: UInt64, _ bytes: UnsafeRawBufferPointer, _ position: inout Int, end: Int) -> Bool {
        switch wireType {
        case 0:
            guard readVarint(bytes, &position) != nil else { return false }
        case 1:
            position += 8
        case 2:
            guard let length = readVarint(bytes, &position), length <= UInt64(end - position) else { return false }
            position += Int(length)
        case 5:
            position += 4
        default:
            return false
        }
        return position <= end
    }

    /// What a ResponseFrame says, without building the message.
    struct Response {
        var callID: UInt64 = 0
        /// `Status.code`; 0 when the status is absent (OK).
        var statusCode: UInt64 = 0
        /// Range of the `Status` message, for reporting the text of an error.
        var statusRange: Range<Int> = 0..<0
        /// Field number of the result member that was set (3 = check, 4 = batch_check), 0 if none.
        var resultField: UInt64 = 0
        var resultRange: Range<Int> = 0..<0
    }

    /// Scans a ResponseFrame payload; nil when it is not valid protobuf.
    static func scanResponse(_ bytes: UnsafeRawBufferPointer) -> Response? {
        var response = Response()
        var position = 0
        let end = bytes.count
        while position < end {
            guard let key = readVarint(bytes, &position) else { return nil }
            let field = key >> 3
            let wireType = key & 7
            switch (field, wireType) {
            case (1, 0):
                guard let value = readVarint(bytes, &position) else { return nil }
                response.callID = value
            case (2, 2), (3, 2), (4, 2):
                guard let length = readVarint(bytes, &position), length <= UInt64(end - position) else { return nil }
                let range = position..<(position + Int(length))
                position = range.upperBound
                if field == 2 {
                    response.statusRange = range
                    response.statusCode = statusCode(bytes, range) ?? UInt64.max
                } else {
                    response.resultField = field
                    response.resultRange = range
                }
            default:
                guard skip(wireType, bytes, &position, end: end) else { return nil }
            }
        }
        return response
    }

    /// `Status.code` (field 1) inside `range`; nil when malformed.
    static func statusCode(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        var position = range.lowerBound
        var code: UInt64 = 0
        while position < range.upperBound {
            guard let key = readVarint(bytes, &position) else { return nil }
            if key == 0x08 {
                guard let value = readVarint(bytes, &position) else { return nil }
                code = value
            } else {
                guard skip(key & 7, bytes, &position, end: range.upperBound) else { return nil }
            }
        }
        return code
    }

    /// `Status.message` (field 2) inside `range`, for error reports.
    static func statusMessage(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        var position = range.lowerBound
        while position < range.upperBound {
            guard let key = readVarint(bytes, &position) else { return "" }
            if key == 0x12 {
                guard let length = readVarint(bytes, &position), length <= UInt64(range.upperBound - position) else {
                    return ""
                }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))]), as: UTF8.self)
            }
            guard skip(key & 7, bytes, &position, end: range.upperBound) else { return "" }
        }
        return ""
    }

    /// `allowed` (field 1) of a CheckResponse or CheckResult, and whether the item carries an
    /// `error` (CheckResult field 3). Nil when malformed.
    @inline(__always)
    static func allowed(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> (allowed: Bool, itemError: Bool)? {
        var position = range.lowerBound
        var allowed = false
        var itemError = false
        while position < range.upperBound {
            guard let key = readVarint(bytes, &position) else { return nil }
            switch key {
            case 0x08:
                guard let value = readVarint(bytes, &position) else { return nil }
                allowed = value != 0
            case 0x1a:
                itemError = true
                guard skip(2, bytes, &position, end: range.upperBound) else { return nil }
            default:
                guard skip(key & 7, bytes, &position, end: range.upperBound) else { return nil }
            }
        }
        return (allowed, itemError)
    }

    /// Calls `body` with each CheckResult range of a BatchCheckResponse (field 1, repeated),
    /// in order. False when malformed.
    @inline(__always)
    static func forEachBatchResult(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void
    ) -> Bool {
        var position = range.lowerBound
        while position < range.upperBound {
            guard let key = readVarint(bytes, &position) else { return false }
            if key == 0x0a {
                guard let length = readVarint(bytes, &position), length <= UInt64(range.upperBound - position) else {
                    return false
                }
                body(position..<(position + Int(length)))
                position += Int(length)
            } else {
                guard skip(key & 7, bytes, &position, end: range.upperBound) else { return false }
            }
        }
        return true
    }
}
