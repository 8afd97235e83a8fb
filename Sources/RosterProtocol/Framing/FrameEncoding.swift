import NIOCore
import SwiftProtobuf

extension ByteBuffer {
    /// Appends one frame: `message`'s length as a 4-byte big-endian integer, then its bytes.
    /// - Parameters:
    ///   - message: the RequestFrame or ResponseFrame to send.
    ///   - maxFrameSize: refuse to produce a frame the peer would reject (default 4 MiB).
    /// - Returns: the number of bytes written (4 + payload).
    /// - Throws: ``RosterProtocolError/Code/frameTooLarge`` (nothing is written), or
    ///   SwiftProtobuf's encoding error.
    @discardableResult
    public mutating func writeRosterFrame(
        _ message: some SwiftProtobuf.Message, maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize
    ) throws -> Int {
        let payload: [UInt8] = try message.serializedBytes()
        return try writeRosterFrame(payloadBytes: payload, maxFrameSize: maxFrameSize)
    }

    /// Appends one frame around already-serialized payload bytes.
    /// - Throws: ``RosterProtocolError/Code/frameTooLarge`` (nothing is written).
    @discardableResult
    public mutating func writeRosterFrame(
        payloadBytes payload: some Collection<UInt8>, maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize
    ) throws(RosterProtocolError) -> Int {
        let count = payload.count
        guard count <= maxFrameSize, count <= Int(UInt32.max) else {
            throw RosterProtocolError.frameTooLarge(length: count, maximum: min(maxFrameSize, Int(UInt32.max)))
        }
        reserveCapacity(minimumWritableBytes: FrameDecoder.headerSize + count)
        writeInteger(UInt32(count))
        writeBytes(payload)
        return FrameDecoder.headerSize + count
    }
}

/// Adds the 4-byte length prefix to outbound payloads (`ByteBuffer` in, framed bytes out).
///
/// For code that keeps protobuf encoding and framing in separate pipeline steps; most callers
/// write whole frames with `ByteBuffer.writeRosterFrame(_:)` instead.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer

    public let maxFrameSize: Int

    public init(maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes <= maxFrameSize else {
            throw RosterProtocolError.frameTooLarge(length: data.readableBytes, maximum: maxFrameSize)
        }
        out.writeInteger(UInt32(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}

extension Roster_V1_RequestFrame {
    /// Decodes a frame's payload.
    /// - Throws: ``RosterProtocolError/Code/invalidMessage`` with a message like
    ///   `frame 6 bytes is not a RequestFrame: <reason>`.
    public init(framePayload payload: ByteBuffer) throws(RosterProtocolError) {
        do {
            self = try Roster_V1_RequestFrame(serializedBytes: payload.readableBytesSpan)
        } catch {
            throw .invalidMessage(length: payload.readableBytes, typeName: "RequestFrame", cause: error)
        }
    }
}

extension Roster_V1_ResponseFrame {
    /// Decodes a frame's payload.
    /// - Throws: ``RosterProtocolError/Code/invalidMessage``.
    public init(framePayload payload: ByteBuffer) throws(RosterProtocolError) {
        do {
            self = try Roster_V1_ResponseFrame(serializedBytes: payload.readableBytesSpan)
        } catch {
            throw .invalidMessage(length: payload.readableBytes, typeName: "ResponseFrame", cause: error)
        }
    }
}

extension Roster_V1_RequestFrame {
    /// Whether the frame carried fields this build does not know: with no `method` set, the
    /// sign of a newer client's method.
    public var hasUnknownFields: Bool { !unknownFields.data.isEmpty }
}
