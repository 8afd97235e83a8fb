import RosterProtocol
import SwiftProtobuf
import Testing

/// The in-place Check reader must agree with SwiftProtobuf on every frame it accepts, and
/// decline (nil) every frame whose meaning it would not get exactly right.
@Suite struct CheckRequestViewTests {
    /// The view's reading of `payload` as a message, to compare with SwiftProtobuf's.
    static func viewed(_ payload: [UInt8]) -> Roster_V1_RequestFrame? {
        payload.withUnsafeBytes { bytes -> Roster_V1_RequestFrame? in
            guard let view = CheckRequestView(payload: bytes) else { return nil }
            func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
            var check = Roster_V1_CheckRequest()
            check.directoryID = text(view.directoryID)
            check.minRevision = view.minRevision
            switch view.userMember {
            case .id: check.user.id = text(view.user)
            case .userName: check.user.userName = text(view.user)
            default: check.user.externalID = text(view.user)
            }
            switch view.groupMember {
            case .id: check.group.id = text(view.group)
            case .groupExternalID: check.group.externalID = text(view.group)
            default: check.group.displayName = text(view.group)
            }
            var frame = Roster_V1_RequestFrame()
            frame.callID = view.callID
            frame.timeoutMs = view.timeoutMs
            frame.check = check
            return frame
        }
    }

    static func randomText(_ generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("abcXYZ019-_@.é漢🙂")
        let length = Int.random(in: 0...40, using: &generator)
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    @Test("random Check frames read the same as SwiftProtobuf decodes them")
    func agreesWithSwiftProtobuf() throws {
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<2_000 {
            var check = Roster_V1_CheckRequest()
            check.directoryID = Self.randomText(&generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: check.user.id = Self.randomText(&generator)
            case 1: check.user.userName = Self.randomText(&generator)
            default: check.user.externalID = Self.randomText(&generator)
            }
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: check.group.id = Self.randomText(&generator)
            case 1: check.group.externalID = Self.randomText(&generator)
            default: check.group.displayName = Self.randomText(&generator)
            }
            check.minRevision = Bool.random(using: &generator) ? 0 : UInt64.random(in: 0...UInt64.max, using: &generator)
            var frame = Roster_V1_RequestFrame()
            frame.callID = UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator)
            frame.timeoutMs = Bool.random(using: &generator) ? 0 : UInt32.random(in: 1...UInt32.max, using: &generator)
            frame.check = check
            let payload: [UInt8] = try frame.serializedBytes()
            let decoded = try Roster_V1_RequestFrame(serializedBytes: payload)
            if let viewed = Self.viewed(payload) {
                #expect(viewed == decoded, "payload \(payload)")
                accepted += 1
            } else {
                // Only an empty directory id is left to the generic path (it words the error).
                #expect(check.directoryID.isEmpty, "declined a plain Check: \(payload)")
            }
        }
        #expect(accepted > 1_500)
    }

    @Test("mutated frames: whatever the view accepts, SwiftProtobuf reads the same way")
    func mutations() throws {
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for round in 0..<20_000 {
            var frame = Roster_V1_RequestFrame()
            frame.callID = UInt64(round + 1)
            frame.timeoutMs = round % 3 == 0 ? 250 : 0
            frame.check.directoryID = "dir_acme"
            frame.check.user.id = "3f1c1e2a-0d4b-4c11-9a55-0b6c8f0e1a01"
            frame.check.group.displayName = "admins"
            frame.check.minRevision = UInt64(round % 5)
            var payload: [UInt8] = try frame.serializedBytes()
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: payload[Int.random(in: 0..<payload.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                case 1: payload.insert(UInt8.random(in: 0...255, using: &generator), at: Int.random(in: 0...payload.count, using: &generator))
                default: if payload.count > 1 { payload.remove(at: Int.random(in: 0..<payload.count, using: &generator)) }
                }
            }
            guard let viewed = Self.viewed(payload) else { continue }
            accepted += 1
            // The view does not validate UTF-8 (the server does, before it uses a string): only
            // frames whose strings are valid must decode to exactly what the view read.
            let valid = payload.withUnsafeBytes { bytes -> Bool in
                guard let view = CheckRequestView(payload: bytes) else { return false }
                return [view.directoryID, view.user, view.group].allSatisfy {
                    String(validating: bytes[$0], as: UTF8.self) != nil
                }
            }
            let decoded = try? Roster_V1_RequestFrame(serializedBytes: payload)
            if valid {
                #expect(decoded == viewed, "payload \(payload)")
            } else {
                #expect(decoded == nil, "SwiftProtobuf took invalid UTF-8: \(payload)")
            }
        }
        #expect(accepted > 1_000)
    }

    @Test("the shared check_request vector reads as its message says")
    func vector() throws {
        let vector = try #require(FrameVector.valid.first { $0.name == "check_request" })
        let viewed = try #require(Self.viewed(vector.payload))
        #expect(viewed == (try Roster_V1_RequestFrame(serializedBytes: vector.payload)))
        #expect(viewed.check.user.userName == "alice@example.com")
        #expect(viewed.check.group.displayName == "admins")
    }

    static func plainCheck() throws -> [UInt8] {
        var frame = Roster_V1_RequestFrame()
        frame.callID = 7
        frame.check.directoryID = "d"
        frame.check.user.id = "u"
        frame.check.group.id = "g"
        return try frame.serializedBytes()
    }

    @Test("frames it would not read exactly are declined, for the generic decoder")
    func declines() throws {
        let plain = try Self.plainCheck()
        #expect(Self.viewed(plain) != nil)

        var health = Roster_V1_RequestFrame()
        health.callID = 1
        health.health = Roster_V1_HealthRequest()
        var missingUser = Roster_V1_RequestFrame()
        missingUser.callID = 1
        missingUser.check.directoryID = "d"
        missingUser.check.group.id = "g"

        let cases: [(String, [UInt8])] = [
            ("another method", try health.serializedBytes()),
            ("no user", try missingUser.serializedBytes()),
            // Two encodings back to back: protobuf merges them (last scalar wins).
            ("repeated fields", plain + plain),
            ("an unknown field", plain + [0xF8, 0x01, 0x01]),
            ("a truncated payload", Array(plain.dropLast())),
            // timeout_ms = 2^32: SwiftProtobuf truncates a uint32; the view does not guess.
            ("a timeout wider than 32 bits", [0x10, 0x80, 0x80, 0x80, 0x80, 0x10] + plain),
            // A UserRef with two members: the oneof keeps the last.
            (
                "a reference with two members",
                [0x08, 0x01, 0x1a, 0x0d, 0x0a, 0x01, 0x64, 0x12, 0x04, 0x0a, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00]
            ),
            ("a wrong wire type", [0x09] + [UInt8](repeating: 0, count: 8) + plain),
            ("an over-long varint", [0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01]),
        ]
        for (name, payload) in cases {
            #expect(Self.viewed(payload) == nil, "\(name) was read in place")
        }
        // The two-member reference is a valid message: declining it is a choice, not an error.
        #expect((try? Roster_V1_RequestFrame(serializedBytes: cases[6].1)) != nil)
    }
}
