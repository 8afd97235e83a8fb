import NIOCore

/// Splits a byte stream into Roster frames and produces each frame's payload.
///
/// A frame is a 4-byte big-endian unsigned length `N` followed by `N` bytes of one protobuf
/// message:
///
/// ```
/// +----------------+----------------------------+
/// | length (UInt32 | payload: N bytes, one      |
/// | big-endian) N  | RequestFrame/ResponseFrame |
/// +----------------+----------------------------+
///   4 bytes          0 ... maxFrameSize bytes
/// ```
///
/// The length is checked as soon as its four bytes are in: a frame longer than `maxFrameSize`
/// throws ``RosterProtocolError/Code/frameTooLarge`` before any of its payload is buffered, so a
/// peer cannot make the decoder hold more than one maximum-sized frame. A zero length is a valid
/// frame (an empty message). After an error the stream cannot be resynchronised;
/// `ByteToMessageHandler` drops every later byte.
///
/// The produced `ByteBuffer` is a slice of the input (no copy).
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    /// The default limit on a frame's payload: 4 MiB.
    public static let defaultMaxFrameSize = 4 * 1024 * 1024
    /// The length prefix's size in bytes.
    public static let headerSize = 4

    /// Frames with a longer payload are rejected.
    public let maxFrameSize: Int

    /// - Parameter maxFrameSize: the largest accepted payload in bytes (default 4 MiB); values
    ///   outside `0...UInt32.max` are clamped into that range.
    public init(maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = min(max(0, maxFrameSize), Int(UInt32.max))
    }

    /// Takes one complete frame's payload from `buffer`, or returns nil (leaving `buffer` as it
    /// was) if the frame is not complete yet.
    /// - Throws: ``RosterProtocolError/Code/frameTooLarge`` when the length prefix exceeds
    ///   `maxFrameSize`; nothing is consumed.
    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try Self.decodeFrame(from: &buffer, maxFrameSize: maxFrameSize)
    }

    /// As `decode(buffer:)`; at EOF, leftover bytes of an incomplete frame are an error.
    /// - Throws: ``RosterProtocolError/Code/truncatedFrame`` when `seenEOF` and `buffer` holds
    ///   part of a frame.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try decode(buffer: &buffer) { return frame }
        guard seenEOF, buffer.readableBytes > 0 else { return nil }
        throw Self.truncationError(buffer)
    }

    /// The error for a stream that ends with `buffer`'s bytes of an incomplete frame.
    public static func truncationError(_ buffer: ByteBuffer) -> RosterProtocolError {
        if buffer.readableBytes < headerSize {
            return .truncatedFrame(received: buffer.readableBytes, expected: headerSize, part: "length-prefix")
        }
        let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) ?? 0)
        return .truncatedFrame(received: buffer.readableBytes - headerSize, expected: length, part: "payload")
    }

    /// The pure form of the decoder: takes one complete frame's payload from `buffer`.
    ///
    /// - Returns: the payload (a slice of `buffer`), or nil when `buffer` does not hold a whole
    ///   frame yet; `buffer`'s reader index then stays where it was.
    /// - Throws: ``RosterProtocolError/Code/frameTooLarge`` as soon as the length prefix is
    ///   readable and exceeds `maxFrameSize`.
    @inlinable
    public static func decodeFrame(from buffer: inout ByteBuffer, maxFrameSize: Int) throws(RosterProtocolError)
        -> ByteBuffer?
    {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        let size = Int(length)
        guard size <= maxFrameSize else {
            throw RosterProtocolError.frameTooLarge(length: size, maximum: maxFrameSize)
        }
        guard buffer.readableBytes - headerSize >= size else { return nil }
        buffer.moveReaderIndex(forwardBy: headerSize)
        return buffer.readSlice(length: size)
    }
}
