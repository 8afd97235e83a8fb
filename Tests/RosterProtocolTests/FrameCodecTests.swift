import NIOCore
import NIOEmbedded
import NIOTestUtils
import RosterProtocol
import Testing

private func hex(_ string: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    var chars = Array(string.utf8)[...]
    while chars.count >= 2 {
        let pair = String(decoding: chars.prefix(2), as: UTF8.self)
        buffer.writeInteger(UInt8(pair, radix: 16)!)
        chars = chars.dropFirst(2)
    }
    return buffer
}

private func hexString(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { byte in
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }.joined()
}

private func frame(payload: [UInt8]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(payload.count))
    buffer.writeBytes(payload)
    return buffer
}

@Suite("Frame decoder")
struct FrameDecoderTests {
    @Test("verifier: drip-fed, coalesced and one-at-a-time input all yield the same payloads")
    func verifier() throws {
        let max = 64
        let payloads: [[UInt8]] = [
            [],  // zero-length frame: an empty message
            [0x08, 0x01],
            Array(repeating: 0xAB, count: max),  // exactly at the limit
            Array(0..<37),
        ]
        let pairs = payloads.map { (frame(payload: $0), [ByteBuffer(bytes: $0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(maxFrameSize: max)
        }
    }

    @Test("an oversized length is rejected from the 4-byte header alone, stating limit and value")
    func oversizedFromHeader() throws {
        var decoder = FrameDecoder()
        var buffer = hex("00400001")  // 4 MiB + 1, no payload yet
        let error = #expect(throws: RosterProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.message == "frame length 4194305 exceeds the maximum 4194304")
        #expect(buffer.readerIndex == 0)
    }

    @Test("a length of 0xFFFFFFFF is too large, not negative")
    func allOnesLength() throws {
        var decoder = FrameDecoder()
        var buffer = hex("ffffffff")
        let error = #expect(throws: RosterProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.message.contains("4294967295") == true)
        // Even with the decoder allowing the full UInt32 range the value fits in Int: no trap.
        var unlimited = FrameDecoder(maxFrameSize: Int.max)
        #expect(unlimited.maxFrameSize == Int(UInt32.max))
        #expect(try unlimited.decode(buffer: &buffer) == nil)
    }

    @Test("the maximum is inclusive: N == max decodes, N == max + 1 does not")
    func boundary() throws {
        var decoder = FrameDecoder(maxFrameSize: 3)
        var atMax = frame(payload: [1, 2, 3])
        #expect(try decoder.decode(buffer: &atMax) == ByteBuffer(bytes: [1, 2, 3]))
        #expect(atMax.readableBytes == 0)
        var overMax = hex("00000004080d5a00")  // vector length_over_configured_max
        #expect(throws: RosterProtocolError(code: .frameTooLarge, message: "")) {
            try decoder.decode(buffer: &overMax)
        }
    }

    @Test("zero-length frames decode to an empty payload, several in a row")
    func zeroLength() throws {
        var decoder = FrameDecoder()
        var buffer = hex("000000000000000000000000")
        for _ in 0..<3 {
            let payload = try decoder.decode(buffer: &buffer)
            #expect(payload?.readableBytes == 0)
        }
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test("partial frames wait for more bytes and leave the reader index alone")
    func partial() throws {
        var decoder = FrameDecoder()
        var buffer = hex("0000000a080112")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == 0)
        #expect(buffer.readableBytes == 7)
    }

    @Test("EOF inside the header or the payload is a truncated-frame error")
    func truncatedAtEOF() throws {
        var decoder = FrameDecoder()
        var header = hex("000000")
        let headerError = #expect(throws: RosterProtocolError.self) {
            try decoder.decodeLast(buffer: &header, seenEOF: true)
        }
        #expect(headerError?.code == .truncatedFrame)
        #expect(headerError?.message == "stream ended inside a frame after 3 of 4 length-prefix bytes")

        var payload = hex("0000000a080112")
        let payloadError = #expect(throws: RosterProtocolError.self) {
            try decoder.decodeLast(buffer: &payload, seenEOF: true)
        }
        #expect(payloadError?.message == "stream ended inside a frame after 3 of 10 payload bytes")

        // Without EOF (the handler is being removed) leftovers are not an error.
        var leftovers = hex("000000")
        #expect(try decoder.decodeLast(buffer: &leftovers, seenEOF: false) == nil)
    }

    @Test("in a pipeline, EOF mid-frame surfaces as an error on the channel")
    func truncatedInPipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        try channel.writeInbound(hex("0000000a0801"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        channel.pipeline.fireChannelInactive()
        #expect(throws: RosterProtocolError(code: .truncatedFrame, message: "")) {
            try channel.throwIfErrorCaught()
        }
        _ = try? channel.finish()
    }

    @Test("after an oversized header the handler drops the rest of the stream")
    func oversizedInPipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: 8)))
        #expect(throws: RosterProtocolError(code: .frameTooLarge, message: "")) {
            try channel.writeInbound(hex("00000009"))
        }
        _ = try? channel.writeInbound(frame(payload: [1]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }
}

@Suite("Frame encoding")
struct FrameEncodingTests {
    @Test("writeRosterFrame produces the shared vectors' bytes")
    func vectors() throws {
        var health = Roster_V1_RequestFrame()
        health.callID = 13
        health.health = .init()
        var buffer = ByteBuffer()
        let written = try buffer.writeRosterFrame(health)
        #expect(written == 8)
        #expect(hexString(buffer) == "00000004080d5a00")

        var empty = ByteBuffer()
        try empty.writeRosterFrame(Roster_V1_ResponseFrame())
        #expect(hexString(empty) == "00000000")
    }

    @Test("writeRosterFrame refuses a payload over the limit and writes nothing")
    func encodeTooLarge() throws {
        var frame = Roster_V1_RequestFrame()
        frame.callID = 1
        frame.health = .init()
        var buffer = ByteBuffer()
        #expect(throws: RosterProtocolError(code: .frameTooLarge, message: "")) {
            try buffer.writeRosterFrame(frame, maxFrameSize: 3)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test("FrameEncoder adds the prefix in a pipeline")
    func frameEncoderHandler() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(FrameEncoder()))
        try channel.writeOutbound(ByteBuffer(bytes: [0x08, 0x0d, 0x5a, 0x00]))
        let out = try channel.readOutbound(as: ByteBuffer.self)
        #expect(out.map(hexString) == "00000004080d5a00")
        _ = try channel.finish()
    }

    @Test("decode helpers name the frame size and type when bytes are not a message")
    func invalidPayloads() throws {
        for bad in ["0f01", "0001"] {  // invalid wire type; field number zero
            let error = #expect(throws: RosterProtocolError.self) {
                try Roster_V1_RequestFrame(framePayload: hex(bad))
            }
            #expect(error?.code == .invalidMessage)
            #expect(error?.message.hasPrefix("frame 2 bytes is not a RequestFrame: ") == true)
        }
        #expect(throws: RosterProtocolError(code: .invalidMessage, message: "")) {
            try Roster_V1_ResponseFrame(framePayload: hex("080a1a05"))
        }
        let decoded = try Roster_V1_RequestFrame(
            framePayload: hex(
                "080110fa011a2b0a086469725f61636d6512131211616c696365406578616d706c652e636f6d1a081a0661646d696e73202a"))
        #expect(decoded.callID == 1)
        #expect(decoded.timeoutMs == 250)
        #expect(decoded.check.user.userName == "alice@example.com")
        #expect(decoded.check.group.displayName == "admins")
        #expect(decoded.check.minRevision == 42)
    }
}

@Suite("Fast frames")
struct FastFramesTests {
    @Test("the hand-written Check answer matches the vectors")
    func checkVectors() {
        var member = ByteBuffer()
        FastFrames.writeCheckResponse(callID: 1, allowed: true, reason: .member, revision: 42, into: &member)
        #expect(hexString(member) == "0000000a08011a0608011001182a")
        var suspended = ByteBuffer()
        FastFrames.writeCheckResponse(callID: 2, allowed: false, reason: .userSuspended, revision: 43, into: &suspended)
        #expect(hexString(suspended) == "0000000808021a041003182b")
    }

    @Test("the hand-written Check answer is byte-identical to SwiftProtobuf's", arguments: [
        UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max,
    ])
    func checkMatchesGenerated(value: UInt64) throws {
        for reason in [Roster_V1_Reason.unspecified, .member, .groupUnknown, .UNRECOGNIZED(-1)] {
            for allowed in [false, true] {
                var fast = ByteBuffer()
                FastFrames.writeCheckResponse(
                    callID: value, allowed: allowed, reason: reason, revision: value &* 3, into: &fast)
                var frame = Roster_V1_ResponseFrame()
                frame.callID = value
                frame.check.allowed = allowed
                frame.check.reason = reason
                frame.check.revision = value &* 3
                var generic = ByteBuffer()
                try generic.writeRosterFrame(frame)
                #expect(fast == generic, "call \(value) \(reason) \(allowed)")
            }
        }
    }

    @Test("peekCallID reads field 1 and rejects malformed prefixes")
    func peek() {
        #expect(FastFrames.peekCallID(hex("08011a0608011001182a")) == 1)
        #expect(FastFrames.peekCallID(hex("124c0808")) == nil)  // length past the end
        #expect(FastFrames.peekCallID(hex("")) == 0)
        #expect(FastFrames.peekCallID(hex("7801080b")) == 11)  // call_id after end_of_stream
        #expect(FastFrames.peekCallID(hex("08ffffffffffffffffff01")) == UInt64.max)
        #expect(FastFrames.peekCallID(hex("ffffffff")) == nil)
    }
}

@Suite("Status")
struct StatusTests {
    @Test("codes have the proto's names, and a status round-trips through its wire form")
    func names() {
        #expect(Roster_V1_Code.resourceExhausted.name == "RESOURCE_EXHAUSTED")
        #expect(Roster_V1_Code.UNRECOGNIZED(99).name == "CODE_99")
        let status = RosterStatus(.notFound, "directory \"dir_gone\" not found")
        #expect(RosterStatus(status.proto) == status)
        let frame = Roster_V1_ResponseFrame.failure(callID: 9, status)
        #expect(frame.rosterStatus == status)
        #expect(Roster_V1_ResponseFrame().rosterStatus.isOK)
        #expect(String(describing: status) == "NOT_FOUND: directory \"dir_gone\" not found")
    }
}
