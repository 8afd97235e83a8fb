import Foundation
import Testing

@testable import RosterCore

/// `UUIDKey.parse` decodes eight digits at a time with bit tricks. The reference: the canonical
/// 8-4-4-4-12 form of hex digits (either case), read by Foundation's `UUID`. (Foundation alone is
/// laxer: it also takes spaces, signs and "0x" inside fields; an id must match exactly.)
@Suite("UUIDKey")
struct UUIDKeyTests {
    /// Foundation's reading of `text` as 128 bits, or nil if it is not a UUID.
    static func reference(_ text: String) -> (UInt64, UInt64)? {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return nil }
        for (position, byte) in bytes.enumerated() {
            let dash = [8, 13, 18, 23].contains(position)
            let hex = (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
            guard dash ? byte == 0x2D : hex else { return nil }
        }
        guard let uuid = UUID(uuidString: text) else { return nil }
        let value = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        let high = value[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        let low = value[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        return high == 0 && low == 0 ? nil : (high, low)
    }

    static func parsed(_ text: String) -> (UInt64, UInt64)? {
        UUIDKey.parse(text).map { ($0.high, $0.low) }
    }

    static func parsed(bytes: [UInt8]) -> (UInt64, UInt64)? {
        bytes.withUnsafeBytes { UUIDKey.parse(utf8: $0) }.map { ($0.high, $0.low) }
    }

    @Test("random UUIDs in any letter case parse to Foundation's bytes")
    func randomUUIDs() {
        for _ in 0..<2_000 {
            let text = UUID().uuidString
            let mixed = String(text.map { Bool.random() ? Character($0.lowercased()) : $0 })
            for form in [text, text.lowercased(), mixed] {
                let expected = Self.reference(form)
                #expect(expected != nil)
                #expect(Self.parsed(form).map { [$0.0, $0.1] } == expected.map { [$0.0, $0.1] }, "\(form)")
            }
        }
    }

    @Test("every byte value at every position: accepted exactly in the canonical form")
    func everyByteEverywhere() {
        let base = Array("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".utf8)
        for position in 0..<36 {
            for value in 0...255 {
                var bytes = base
                bytes[position] = UInt8(value)
                let text = String(decoding: bytes, as: UTF8.self)
                // Invalid UTF-8 cannot be a UUID; the decoded String would differ from the bytes.
                let expected = value < 0x80 ? Self.reference(text) : nil
                #expect(
                    Self.parsed(bytes: bytes).map { [$0.0, $0.1] } == expected.map { [$0.0, $0.1] },
                    "byte \(value) at \(position)")
            }
        }
    }

    @Test("wrong lengths and the nil UUID are not keys")
    func rejects() {
        #expect(UUIDKey.parse("") == nil)
        #expect(UUIDKey.parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f") == nil)
        #expect(UUIDKey.parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00") == nil)
        #expect(UUIDKey.parse("0f1e2d3c4b5a69788796a5b4c3d2e1f0abcd") == nil)
        #expect(UUIDKey.parse("00000000-0000-0000-0000-000000000000") == nil)
        #expect(UUIDKey.parse("usr_alice") == nil)
    }
}
