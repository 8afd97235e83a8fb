import RosterCore
import Testing

@Suite("JSON parser and serializer")
struct JSONTests {
    // MARK: Values

    @Test func parsesScalars() throws {
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse(" false ") == .bool(false))
        #expect(try JSONParser.parse("0") == .int(0))
        #expect(try JSONParser.parse("-0") == .int(0))
        #expect(try JSONParser.parse("42") == .int(42))
        #expect(try JSONParser.parse("-17") == .int(-17))
        #expect(try JSONParser.parse("1.5") == .double(1.5))
        #expect(try JSONParser.parse("-2.5e3") == .double(-2500))
        #expect(try JSONParser.parse("1E2") == .double(100))
        #expect(try JSONParser.parse("1e-2") == .double(0.01))
        #expect(try JSONParser.parse("\"hi\"") == .string("hi"))
    }

    @Test func integerBoundaries() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9223372036854775808.0))
        #expect(try JSONParser.parse("-9223372036854775809") == .double(-9223372036854775809.0))
        #expect(try JSONParser.parse("123456789012345678901234567890") == .double(123456789012345678901234567890.0))
    }

    @Test func parsesContainersInOrder() throws {
        let value = try JSONParser.parse(#"{"b":1,"a":[true,null,{"x":"y"}],"c":{}, "d":[]}"#)
        guard case .object(let object) = value else {
            Issue.record("expected an object")
            return
        }
        #expect(Array(object.keys) == ["b", "a", "c", "d"])
        #expect(object["a"] == .array([.bool(true), .null, .object(["x": .string("y")])]))
        #expect(object["c"] == .object([:]))
        #expect(object["d"] == .array([]))
    }

    @Test func duplicateKeysAreRejectedNamingTheKey() throws {
        let repeated = try #require(error(#"{"active":true, "active":false}"#))
        #expect(repeated.code == .duplicateKey)
        #expect(repeated.byteOffset == 16, "points at the second key")
        #expect(repeated.message == #"duplicate object key "active" at line 1, column 17 (byte 16): expected each key at most once in an object"#)
        // Nested, and spelled differently but equal once unescaped.
        for text in [#"{"a":1,"b":2,"a":3}"#, #"{"x":{"k":1,"k":2}}"#, #"[{"k":1},{"k":1,"\u006b":2}]"#, #"{"k":[],"k":{}}"#] {
            #expect(error(text)?.code == .duplicateKey, "\(text)")
        }
        // The same key in sibling objects, and keys that differ only in case, are not duplicates.
        #expect(try JSONParser.parse(#"[{"k":1},{"k":2}]"#) == .array([.object(["k": .int(1)]), .object(["k": .int(2)])]))
        #expect(try JSONParser.parse(#"{"k":1,"K":2}"#).objectValue?.count == 2)
        // A long or control-character key is shown escaped and cut.
        let key = #"\n"# + String(repeating: "z", count: 1_000)
        let long = try #require(error("{\"\(key)\":1,\"\(key)\":2}"))
        #expect(long.problem.hasPrefix(#"duplicate object key "\n"#) && long.problem.hasSuffix("…\""), "\(long.problem)")
        #expect(long.problem.count < 100)
    }

    @Test func stringEscapes() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        #expect(try JSONParser.parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        // Surrogate pair for U+1F600.
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONParser.parse("\"héllo 😀\"") == .string("héllo 😀"))
        #expect(try JSONParser.parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test func skipsByteOrderMark() throws {
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == .array([.int(1)]))
    }

    @Test func parsesNonContiguousCollections() throws {
        let bytes = Array(#"{"k":"v"}"#.utf8)
        #expect(try JSONParser.parse(bytes.lazy.map { $0 }) == .object(["k": .string("v")]))
        #expect(try JSONParser.parse(bytes[...]) == .object(["k": .string("v")]))
    }

    // MARK: Errors

    private func error(_ text: String, limits: JSONParser.Limits = .init()) -> JSONParseError? {
        do {
            _ = try JSONParser.parse(text, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    private func error(bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONParser.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func errorMessageNamesPositionAndExpectation() throws {
        let failure = try #require(error(#"{"userName": "x", }"#))
        #expect(failure.code == .unexpectedCharacter)
        #expect(failure.line == 1)
        #expect(failure.column == 19)
        #expect(failure.byteOffset == 18)
        #expect(failure.message.contains("unexpected character '}' at line 1, column 19"))
        #expect(failure.message.contains("trailing commas"))

        let value = try #require(error(#"{"a": }"#))
        #expect(value.message == "unexpected character '}' at line 1, column 7 (byte 6): expected a value")
    }

    @Test func lineAndColumnCountScalars() throws {
        let failure = try #require(error("{\n  \"é\": ?\n}"))
        #expect(failure.line == 2)
        #expect(failure.column == 8)
    }

    @Test func rejectsTrailingCommas() {
        #expect(error("[1,]")?.message.contains("trailing commas") == true)
        #expect(error(#"{"a":1,}"#)?.message.contains("trailing commas") == true)
    }

    @Test func rejectsCommentsAndLooseSyntax() {
        #expect(error("// c\n1")?.code == .unexpectedCharacter)
        #expect(error("/* c */ 1")?.code == .unexpectedCharacter)
        #expect(error("{'a':1}")?.code == .unexpectedCharacter)
        #expect(error("{a:1}")?.code == .unexpectedCharacter)
        #expect(error("[1 2]")?.code == .unexpectedCharacter)
        #expect(error(#"{"a" 1}"#)?.code == .unexpectedCharacter)
        #expect(error("True")?.code == .unexpectedCharacter)
        #expect(error("nul")?.code == .unexpectedEndOfInput)
        #expect(error("nulL")?.code == .unexpectedCharacter)
        #expect(error("NaN")?.code == .unexpectedCharacter)
        #expect(error("Infinity")?.code == .unexpectedCharacter)
    }

    @Test func rejectsBadNumbers() {
        #expect(error("01")?.code == .invalidNumber)
        #expect(error("-01")?.code == .invalidNumber)
        #expect(error("-")?.code == .unexpectedEndOfInput)
        #expect(error("-a")?.code == .invalidNumber)
        #expect(error("1.")?.code == .unexpectedEndOfInput)
        #expect(error("1.e3")?.code == .invalidNumber)
        #expect(error("1e")?.code == .unexpectedEndOfInput)
        #expect(error("1e+")?.code == .unexpectedEndOfInput)
        #expect(error(".5")?.code == .unexpectedCharacter)
        #expect(error("+1")?.code == .unexpectedCharacter)
        #expect(error("1e400")?.code == .invalidNumber)
        #expect(error("-1e400")?.message.contains("out of range") == true)
        #expect(error("0x10")?.code == .trailingCharacters)
    }

    @Test func rejectsBadStrings() {
        #expect(error("\"abc")?.code == .unexpectedEndOfInput)
        #expect(error("\"a\\")?.code == .unexpectedEndOfInput)
        #expect(error("\"a\nb\"")?.code == .invalidStringCharacter)
        #expect(error("\"a\tb\"")?.code == .invalidStringCharacter)
        #expect(error(#""\x41""#)?.code == .invalidEscape)
        #expect(error(#""\u12G4""#)?.code == .invalidEscape)
        #expect(error(#""\u12""#)?.code == .invalidEscape)
        #expect(error(#""\uD83D""#)?.code == .invalidEscape)
        #expect(error(#""\uD83Dx""#)?.code == .invalidEscape)
        #expect(error(#""\uD83D\u0041""#)?.code == .invalidEscape)
        #expect(error(#""\uDE00""#)?.code == .invalidEscape)
        #expect(error(#""\'""#)?.code == .invalidEscape)
    }

    @Test func rejectsInvalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],  // never valid
            [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
            [0x22, 0xE0, 0x80, 0x80, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xC3, 0x22],  // truncated sequence
            [0x22, 0xE2, 0x82],  // truncated at end of input
            [0x22, 0x5C, 0x6E, 0x80, 0x22],  // stray continuation after an escape
            [0xFE],  // outside a string
        ]
        for bytes in cases {
            #expect(error(bytes: bytes)?.code == .invalidUTF8, "bytes \(bytes)")
        }
    }

    @Test func rejectsEmptyAndTrailingInput() {
        #expect(error("")?.code == .unexpectedEndOfInput)
        #expect(error("   ")?.message.contains("expected a value") == true)
        #expect(error("{} {}")?.code == .trailingCharacters)
        #expect(error("1 x")?.code == .trailingCharacters)
        #expect(error("[")?.code == .unexpectedEndOfInput)
        #expect(error("[1")?.code == .unexpectedEndOfInput)
        #expect(error("{\"a\"")?.code == .unexpectedEndOfInput)
        #expect(error("{\"a\":")?.code == .unexpectedEndOfInput)
        #expect(error("{\"a\":1")?.code == .unexpectedEndOfInput)
    }

    @Test func enforcesDepthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(error(tooDeep)?.code == .nestingTooDeep)
        #expect(error(tooDeep)?.message.contains("64") == true)
        let objects = String(repeating: "{\"a\":", count: 10) + "1" + String(repeating: "}", count: 10)
        #expect(error(objects, limits: .init(maxDepth: 9))?.code == .nestingTooDeep)
        #expect(throws: Never.self) { try JSONParser.parse(objects, limits: .init(maxDepth: 10)) }
        // Deep input far beyond any stack: rejected, never a crash.
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(error(hostile)?.code == .nestingTooDeep)
        #expect(error(hostile, limits: .init(maxDepth: 2_000_000))?.code == .unexpectedEndOfInput)
    }

    @Test func enforcesStringLimit() {
        let limits = JSONParser.Limits(maxStringLength: 8)
        #expect(error("\"12345678\"", limits: limits) == nil)
        #expect(error("\"123456789\"", limits: limits)?.code == .stringTooLong)
        #expect(error("\"1234567\\n9\"", limits: limits)?.code == .stringTooLong)
        #expect(error("{\"123456789\":1}", limits: limits)?.code == .stringTooLong)
        #expect(error("1234567890", limits: limits)?.code == .stringTooLong)
    }

    // MARK: Serializer

    @Test func serializesCompactlyInOrder() {
        let value: JSONValue = .object([
            "z": .int(1), "a": .array([.bool(true), .null, .double(1.5)]), "m": .object(["k": .string("v")]),
        ])
        #expect(value.jsonText == #"{"z":1,"a":[true,null,1.5],"m":{"k":"v"}}"#)
    }

    @Test func escapesStrings() {
        #expect(JSONValue.string("a\"b\\c\n\r\t\u{08}\u{0C}\u{01}\u{1F}").jsonText == #""a\"b\\c\n\r\t\b\f\u0001\u001f""#)
        #expect(JSONValue.string("é😀/").jsonText == "\"é😀/\"")
    }

    @Test func serializesNumbers() {
        #expect(JSONValue.int(Int64.min).jsonText == "-9223372036854775808")
        #expect(JSONValue.int(Int64.max).jsonText == "9223372036854775807")
        #expect(JSONValue.int(0).jsonText == "0")
        #expect(JSONValue.double(.nan).jsonText == "null")
        #expect(JSONValue.double(.infinity).jsonText == "null")
        #expect(JSONValue.double(-.infinity).jsonText == "null")
    }

    @Test(arguments: [0.1, 1e20, 1e-7, 3.0, -0.0, 123456.789, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 1.0 / 3.0])
    func doublesRoundTrip(_ double: Double) throws {
        let text = JSONValue.double(double).jsonText
        let parsed = try JSONParser.parse(text)
        guard case .double(let back) = parsed else {
            Issue.record("\(text) parsed as \(parsed)")
            return
        }
        #expect(back == double && back.sign == double.sign, "\(text)")
    }

    @Test func roundTripsDocuments() throws {
        let documents = [
            #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#,
            #"[1,-2,3.5,"x\u0000y",{"a":{"b":[[],{}]}},true,false,null]"#,
            #""😀 \" \\ \n""#,
        ]
        for document in documents {
            let value = try JSONParser.parse(document)
            let text = value.jsonText
            #expect(try JSONParser.parse(text) == value)
            // Serializing again is a fixed point.
            #expect(try JSONParser.parse(text).jsonText == text)
        }
    }

    @Test func largeContainersParseInLinearTime() throws {
        // A regression guard: appending to a container must not copy it (that was quadratic,
        // minutes for a 1 MiB array). Generous bound so that slow CI machines pass.
        let array = "[" + (0..<100_000).map(String.init).joined(separator: ",") + "]"
        let object = "{" + (0..<30_000).map { "\"k\($0)\":{\"value\":\"v\"}" }.joined(separator: ",") + "}"
        let clock = ContinuousClock()
        var counts: [Int?] = []
        let elapsed = clock.measure {
            counts.append(try? JSONParser.parse(array).arrayValue?.count)
            counts.append(try? JSONParser.parse(object).objectValue?.count)
        }
        #expect(counts == [100_000, 30_000])
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    // MARK: Fuzz

    @Test func randomBytesNeverCrash() {
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 \tnulltruefalse\u"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF, 0xED, 0xF0]
        for round in 0..<20_000 {
            let length = Int(generator.next() % 48)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                if round % 3 == 0 {
                    bytes.append(UInt8(truncatingIfNeeded: generator.next()))
                } else {
                    bytes.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
                }
            }
            if let value = try? JSONParser.parse(bytes, limits: .init(maxDepth: 8)) {
                // Anything accepted must survive a round trip.
                #expect((try? JSONParser.parse(JSONSerializer.serialize(value), limits: .init(maxDepth: 8))) == value)
            }
        }
    }

    @Test func mutatedDocumentsNeverCrash() {
        var generator = SplitMix64(seed: 42)
        let seed = Array(#"{"a":[1,2.5e3,"x\"y\u00e9",{"b":null}],"c":true,"d":"😀"}"#.utf8)
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.remove(at: index)
                default: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: index)
                }
                if bytes.isEmpty { break }
            }
            if let value = try? JSONParser.parse(bytes) {
                #expect((try? JSONParser.parse(JSONSerializer.serialize(value))) == value)
            }
        }
    }
}

/// A tiny deterministic generator so that fuzz failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
