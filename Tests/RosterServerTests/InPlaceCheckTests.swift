import Logging
import NIOCore
import NIOEmbedded
import RosterCore
import RosterProtocol
import SwiftProtobuf
import Testing

@testable import RosterServer

/// Checks by SCIM ids are answered from the frame's bytes (`CheckRequestView`, UUID keys, a
/// cached directory handle). They must answer exactly what the index answers for the same
/// references, across directories and revisions.
@Suite("Checks answered in place")
struct InPlaceCheckTests {
    static let alice = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a01"
    static let bob = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a02"
    static let carol = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a03"
    static let dave = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a04"
    static let erin = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a05"
    static let admins = "7a0e5d7c-9b1f-4e0a-8c3d-2f4e6a8b0c01"
    static let staff = "7a0e5d7c-9b1f-4e0a-8c3d-2f4e6a8b0c02"
    static let unknown = "00000000-0000-4000-8000-00000000dead"

    /// `one`: alice (admin), bob (admin, then suspended), carol (no groups), dave (deleted).
    /// `two`: erin in staff.
    static func makeBackend() throws -> FakeBackend {
        let backend = FakeBackend()
        try backend.createDirectory("one")
        try backend.createDirectory("two")
        for user in [alice, bob, carol, dave] { try backend.createUser(user, "\(user)@one", in: "one") }
        try backend.createUser(erin, "erin@two", in: "two")
        try backend.createGroup(admins, "admins", members: [alice, bob, dave], in: "one")
        try backend.createGroup(staff, "staff", members: [erin], in: "two")
        try backend.setActive(bob, false, in: "one")
        _ = try backend.apply(.deleteUser(directoryID: "one", id: dave))
        return backend
    }

    static func byID(_ callID: UInt64, _ directory: String, _ user: String, _ group: String) -> Roster_V1_RequestFrame {
        var frame = Roster_V1_RequestFrame()
        frame.callID = callID
        frame.check.directoryID = directory
        frame.check.user.id = user
        frame.check.group.id = group
        return frame
    }

    @Test("every combination answers what the index answers, in one burst")
    func agreesWithIndex() throws {
        let backend = try Self.makeBackend()
        let channel = try ConnectionHandlerTests.makeChannel(backend)
        let users = [Self.alice, Self.bob, Self.carol, Self.dave, Self.erin, Self.unknown, Self.alice.uppercased()]
        let groups = [Self.admins, Self.staff, Self.unknown, Self.admins.uppercased()]
        var frames: [Roster_V1_RequestFrame] = []
        var expected: [CheckResult] = []
        let index = backend.publisher.current
        for directory in ["one", "two"] {
            for user in users {
                for group in groups {
                    frames.append(Self.byID(UInt64(frames.count + 1), directory, user, group))
                    expected.append(try index.check(directoryID: directory, user: .id(user), group: .id(group)))
                }
            }
        }
        var input = ByteBuffer()
        for frame in frames { try input.writeRosterFrame(frame) }
        try channel.writeInbound(input)
        let answers = try decodeResponses(try ConnectionHandlerTests.outbound(channel))
        #expect(answers.map(\.callID) == frames.map(\.callID))
        #expect(answers.map(\.check.allowed) == expected.map(\.allowed))
        #expect(answers.map(\.check.reason) == expected.map { Roster_V1_Reason($0.reason) })
        #expect(answers.allSatisfy { $0.check.revision == index.revision })
        // The oracle itself is not trivial: every reason appears.
        #expect(Set(expected.map(\.reason)) == Set(CheckReason.allCases))
        _ = try channel.finish()
    }

    @Test("a directory deleted between bursts is NOT_FOUND, not a stale cached answer")
    func staleDirectory() throws {
        let backend = try Self.makeBackend()
        let channel = try ConnectionHandlerTests.makeChannel(backend)
        try channel.writeInbound(encode(Self.byID(1, "one", Self.alice, Self.admins)))
        #expect(try decodeResponses(try ConnectionHandlerTests.outbound(channel)).map(\.check.allowed) == [true])

        _ = try backend.apply(.deleteDirectory(id: "one"))
        try channel.writeInbound(
            encode(Self.byID(2, "one", Self.alice, Self.admins), Self.byID(3, "two", Self.erin, Self.staff)))
        let answers = try decodeResponses(try ConnectionHandlerTests.outbound(channel))
        #expect(answers.map(\.callID) == [2, 3])
        #expect(answers.first?.status.code == .notFound)
        #expect(answers.first?.status.message == "no directory with id 'one'")
        #expect(answers.last?.check.allowed == true)
        _ = try channel.finish()
    }

    @Test("a frame split across reads is answered once whole; Stats counts every frame")
    func splitFrames() throws {
        let backend = try Self.makeBackend()
        let channel = try ConnectionHandlerTests.makeChannel(backend)
        var bytes = encode(Self.byID(1, "one", Self.alice, Self.admins), Self.byID(2, "one", Self.carol, Self.admins))
        // Byte by byte: every split point of the length prefix and of the payload.
        while let byte = bytes.readSlice(length: 1) {
            try channel.writeInbound(byte)
        }
        var answers = try decodeResponses(try ConnectionHandlerTests.outbound(channel))
        #expect(answers.map(\.callID) == [1, 2])
        #expect(answers.map(\.check.reason) == [.member, .notMember])

        try channel.writeInbound(encode(.method(3, .stats(Roster_V1_StatsRequest()))))
        answers = try decodeResponses(try ConnectionHandlerTests.outbound(channel))
        #expect(answers.first?.stats.callsTotal == 3)
        _ = try channel.finish()
    }
}

@Suite("Hostile byte streams")
struct HostileStreamTests {
    @Test("random mutations of valid streams, cut at random points: no trap; every answer is a whole frame; errors close")
    func mutatedStreams() throws {
        let backend = try InPlaceCheckTests.makeBackend()
        var generator = SystemRandomNumberGenerator()
        var answered = 0
        var closed = 0
        for round in 0..<400 {
            let channel = try ConnectionHandlerTests.makeChannel(backend)
            var frames = ByteBuffer()
            for call in 1...8 {
                var frame = InPlaceCheckTests.byID(
                    UInt64(call), Bool.random(using: &generator) ? "one" : "two",
                    [InPlaceCheckTests.alice, InPlaceCheckTests.erin, "bob@one"].randomElement(using: &generator)!,
                    [InPlaceCheckTests.admins, InPlaceCheckTests.staff].randomElement(using: &generator)!)
                if call % 3 == 0 { frame.check.user.userName = "\(round)@one" }
                try frames.writeRosterFrame(frame)
            }
            var bytes = Array(frames.readableBytesView)
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            // Feed in random chunks, as reads would deliver them.
            var offset = 0
            while offset < bytes.count, channel.isActive {
                let length = min(bytes.count - offset, Int.random(in: 1...64, using: &generator))
                try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<(offset + length)]))
                offset += length
            }
            var output = ByteBuffer()
            for buffer in try ConnectionHandlerTests.outbound(channel) { output.writeImmutableBuffer(buffer) }
            // Whatever came back parses as whole ResponseFrames; a call-0 frame means the
            // connection was closed for a malformed request.
            while output.readableBytes > 0 {
                let payload = try #require(try FrameDecoder.decodeFrame(from: &output, maxFrameSize: 1 << 22))
                let response = try Roster_V1_ResponseFrame(framePayload: payload)
                if response.callID == 0 {
                    #expect(response.status.code == .invalidArgument || response.status.code == .resourceExhausted)
                    #expect(!channel.isActive)
                    closed += 1
                } else {
                    answered += 1
                }
            }
            _ = try? channel.finish()
        }
        // The streams exercised both outcomes.
        #expect(answered > 1_000)
        #expect(closed > 10)
    }
}
