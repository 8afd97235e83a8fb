import Foundation
import RosterProtocol
import SwiftProtobuf
import Testing

/// One entry of proto/testdata/vectors.json, the frames every codec (Swift, C, Python) must agree on.
struct FrameVector: Sendable, CustomTestStringConvertible {
    let name: String
    let type: String
    /// The message in the protobuf JSON mapping.
    let messageJSON: String
    /// The whole frame: 4-byte big-endian length, then the payload.
    let frame: [UInt8]
    /// For invalid vectors: "frame_too_large", "truncated" or "decode_error".
    let error: String?

    var testDescription: String { name }
    var payload: [UInt8] { Array(frame.dropFirst(4)) }

    static let file = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("proto/testdata/vectors.json")

    /// Every vector in the file; empty if it cannot be read (`vectorFileLoads` then fails).
    static let all: [FrameVector] = (try? load()) ?? []
    static var valid: [FrameVector] { all.filter { $0.error == nil } }
    static var undecodable: [FrameVector] { all.filter { $0.error == "decode_error" } }

    static func load() throws -> [FrameVector] {
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] ?? [:]
        let valid = document["valid"] as? [[String: Any]] ?? []
        let invalid = document["invalid"] as? [[String: Any]] ?? []
        return try valid.map { entry in
            let message = try JSONSerialization.data(withJSONObject: entry["message"] ?? [:])
            return FrameVector(
                name: entry["name"] as? String ?? "?", type: entry["type"] as? String ?? "?",
                messageJSON: String(decoding: message, as: UTF8.self), frame: bytes(hex: entry["hex"] as? String),
                error: nil)
        }
            + invalid.map { entry in
                FrameVector(
                    name: entry["name"] as? String ?? "?", type: entry["type"] as? String ?? "?", messageJSON: "",
                    frame: bytes(hex: entry["hex"] as? String), error: entry["error"] as? String ?? "?")
            }
    }

    private static func bytes(hex: String?) -> [UInt8] {
        let digits = Array((hex ?? "").utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap {
            UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)
        }
    }
}

private func framed(_ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
        + payload
}

/// Encodes the vector's JSON message and decodes its bytes with SwiftProtobuf alone.
private func check<M: SwiftProtobuf.Message & Equatable>(_: M.Type, _ vector: FrameVector) throws {
    let message = try M(jsonString: vector.messageJSON)
    let encoded: [UInt8] = try message.serializedBytes()
    #expect(framed(encoded) == vector.frame, "encoding differs from the vector's bytes")
    let decoded = try M(serializedBytes: vector.payload)
    #expect(decoded == message, "decoding the vector's bytes gives another message")
}

@Suite("Shared frame vectors (proto/testdata/vectors.json)")
struct FrameVectorTests {
    @Test("the vector file loads and covers requests, responses and invalid frames")
    func vectorFileLoads() throws {
        let vectors = try FrameVector.load()
        #expect(vectors.filter { $0.error == nil }.count > 20)
        #expect(Set(vectors.compactMap(\.error)) == ["frame_too_large", "truncated", "decode_error"])
        #expect(vectors.allSatisfy { $0.error != nil || $0.frame.count >= 4 })
    }

    @Test("SwiftProtobuf encodes each message to the vector's exact bytes and decodes them back",
          arguments: FrameVector.valid)
    func roundTrip(vector: FrameVector) throws {
        switch vector.type {
        case "roster.v1.RequestFrame": try check(Roster_V1_RequestFrame.self, vector)
        case "roster.v1.ResponseFrame": try check(Roster_V1_ResponseFrame.self, vector)
        default: Issue.record("unknown message type \(vector.type)")
        }
    }

    @Test("payloads that are not messages are rejected", arguments: FrameVector.undecodable)
    func undecodable(vector: FrameVector) {
        #expect(throws: (any Error).self) {
            switch vector.type {
            case "roster.v1.RequestFrame": _ = try Roster_V1_RequestFrame(serializedBytes: vector.payload)
            default: _ = try Roster_V1_ResponseFrame(serializedBytes: vector.payload)
            }
        }
    }
}
