/// A strict RFC 8259 JSON parser that works on bytes.
///
/// - Rejects what RFC 8259 rejects: trailing commas, comments, leading zeros, single quotes,
///   unescaped control characters in strings, undefined escapes, unpaired UTF-16 surrogates,
///   and bytes that are not well-formed UTF-8 (so a parsed `String` never hides a U+FFFD).
/// - Integers that fit in `Int64` become `.int`; every other number becomes `.double`. A number
///   too large for a `Double` (`1e400`) is rejected rather than turned into infinity.
/// - Duplicate object keys are rejected (`JSONParseError.Code.duplicateKey`, naming the key):
///   RFC 8259 leaves their meaning open, and parsers disagree (first wins, last wins), so a body
///   like `{"active":true,"active":false}` would mean different things to rosterd and to whatever
///   proxy or provider log inspected it. Keys are compared exactly (byte for byte after unescaping).
/// - A leading UTF-8 byte order mark is skipped (RFC 8259 §8.1 allows parsers to ignore it).
/// - Nesting is limited by `Limits.maxDepth`, and the parser is iterative (an explicit stack, not
///   recursion), so no input can exhaust the thread's stack; it never traps on any input.
public enum JSONParser {
    /// Input limits. Every limit yields a `JSONParseError` naming the limit and the position.
    public struct Limits: Sendable, Hashable {
        /// Maximum nesting of arrays and objects; `[[1]]` has depth 2. Default 64.
        public var maxDepth: Int
        /// Maximum length in bytes (after unescaping) of any string or object key, and of the
        /// text of any number. Default 1 MiB.
        public var maxStringLength: Int

        public init(maxDepth: Int = 64, maxStringLength: Int = 1 << 20) {
            self.maxDepth = max(0, maxDepth)
            self.maxStringLength = max(0, maxStringLength)
        }
    }

    /// Parses one JSON text from contiguous bytes.
    public static func parse(_ bytes: [UInt8], limits: Limits = Limits()) throws(JSONParseError) -> JSONValue {
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var parser = Parser(buffer: buffer, limits: limits)
                return try parser.parseDocument()
            }
        }
        return try result.get()
    }

    /// Parses one JSON text from any collection of bytes (copied only when not contiguous).
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(JSONParseError) -> JSONValue {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var parser = Parser(buffer: buffer, limits: limits)
                return try parser.parseDocument()
            }
        }
        if let contiguous { return try contiguous.get() }
        return try parse(Array(bytes), limits: limits)
    }

    /// Parses one JSON text from a string (its UTF-8 form).
    public static func parse(_ text: String, limits: Limits = Limits()) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var parser = Parser(buffer: buffer, limits: limits)
                return try parser.parseDocument()
            }
        }
        return try result.get()
    }
}

// MARK: - Implementation

private enum ASCII {
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let slash: UInt8 = 0x2F
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let colon: UInt8 = 0x3A
    static let upperE: UInt8 = 0x45
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let lowerE: UInt8 = 0x65
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
}

/// The kind of one open container on the explicit parse stack.
private enum OpenContainer {
    case array
    case object
}

private struct Parser {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: Limits
    var position: Int = 0

    typealias Limits = JSONParser.Limits

    init(buffer: UnsafeBufferPointer<UInt8>, limits: Limits) {
        self.buffer = buffer
        self.limits = limits
    }

    // MARK: Document and containers

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        // Skip a UTF-8 byte order mark.
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { position = 3 }

        // The open containers, innermost last. Arrays and objects are kept in their own typed
        // stacks and mutated in place through the subscript, so that appending never copies a
        // container (popping an enum payload, appending and pushing it back would copy it on
        // every element: quadratic).
        var open: [OpenContainer] = []
        var arrays: [[JSONValue]] = []
        var objects: [JSONObject] = []
        var keys: [String] = []
        // Where each pending key starts, for the duplicate-key error only.
        var keyOffsets: [Int] = []
        var value: JSONValue

        parseValue: while true {
            skipWhitespace()
            guard position < buffer.count else { throw unexpectedEnd(expected: "a value") }
            switch buffer[position] {
            case ASCII.openBrace:
                try checkDepth(open.count + 1)
                position += 1
                skipWhitespace()
                if position < buffer.count, buffer[position] == ASCII.closeBrace {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    keyOffsets.append(position)
                    keys.append(try parseKey(afterComma: false))
                    objects.append(JSONObject())
                    open.append(.object)
                    continue parseValue
                }
            case ASCII.openBracket:
                try checkDepth(open.count + 1)
                position += 1
                skipWhitespace()
                if position < buffer.count, buffer[position] == ASCII.closeBracket {
                    position += 1
                    value = .array([])
                } else {
                    arrays.append([])
                    open.append(.array)
                    continue parseValue
                }
            case ASCII.quote:
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case ASCII.minus, ASCII.zero...ASCII.nine:
                value = try parseNumber()
            case ASCII.closeBracket where isAfterComma(inContainer: !open.isEmpty),
                ASCII.closeBrace where isAfterComma(inContainer: !open.isEmpty):
                throw unexpectedCharacter(expected: "a value (trailing commas are not allowed)")
            default:
                throw unexpectedCharacter(expected: "a value")
            }

            // A value is complete: attach it to the innermost open container, closing containers
            // for as long as their closing bracket follows.
            while true {
                guard let kind = open.last else {
                    skipWhitespace()
                    if position < buffer.count {
                        throw unexpectedCharacter(code: .trailingCharacters, expected: "the end of the input after the top-level value")
                    }
                    return value
                }
                skipWhitespace()
                switch kind {
                case .array:
                    arrays[arrays.count - 1].append(value)
                    guard position < buffer.count else { throw unexpectedEnd(expected: "',' or ']'") }
                    switch buffer[position] {
                    case ASCII.comma:
                        position += 1
                        continue parseValue
                    case ASCII.closeBracket:
                        position += 1
                        open.removeLast()
                        value = .array(arrays.removeLast())
                    default:
                        throw unexpectedCharacter(expected: "',' or ']' after an array element")
                    }
                case .object:
                    // One hash lookup either way: `updateValue` inserts, and its result tells a
                    // repeated key apart without a second lookup.
                    let key = keys.removeLast()
                    let keyOffset = keyOffsets.removeLast()
                    if objects[objects.count - 1].updateValue(value, forKey: key) != nil {
                        throw duplicateKey(key, at: keyOffset)
                    }
                    guard position < buffer.count else { throw unexpectedEnd(expected: "',' or '}'") }
                    switch buffer[position] {
                    case ASCII.comma:
                        position += 1
                        skipWhitespace()
                        keyOffsets.append(position)
                        keys.append(try parseKey(afterComma: true))
                        continue parseValue
                    case ASCII.closeBrace:
                        position += 1
                        open.removeLast()
                        value = .object(objects.removeLast())
                    default:
                        throw unexpectedCharacter(expected: "',' or '}' after an object member")
                    }
                }
            }
        }
    }

    /// Whether the byte before the current position (ignoring whitespace) is a comma inside an
    /// array: used only to word the trailing-comma error.
    private func isAfterComma(inContainer: Bool) -> Bool {
        guard inContainer else { return false }
        var index = position - 1
        while index >= 0, isWhitespace(buffer[index]) { index -= 1 }
        return index >= 0 && buffer[index] == ASCII.comma
    }

    private func checkDepth(_ depth: Int) throws(JSONParseError) {
        if depth > limits.maxDepth {
            throw makeError(
                .nestingTooDeep, at: position,
                problem: "arrays and objects nested more than \(limits.maxDepth) levels deep", expected: nil)
        }
    }

    /// Parses `"key" :` and leaves the position at the value.
    private mutating func parseKey(afterComma: Bool) throws(JSONParseError) -> String {
        skipWhitespace()
        guard position < buffer.count else { throw unexpectedEnd(expected: "an object key") }
        guard buffer[position] == ASCII.quote else {
            if afterComma, buffer[position] == ASCII.closeBrace {
                throw unexpectedCharacter(expected: "an object key in double quotes (trailing commas are not allowed)")
            }
            throw unexpectedCharacter(expected: "an object key in double quotes")
        }
        let key = try parseString()
        skipWhitespace()
        guard position < buffer.count else { throw unexpectedEnd(expected: "':' after the object key") }
        guard buffer[position] == ASCII.colon else { throw unexpectedCharacter(expected: "':' after the object key") }
        position += 1
        return key
    }

    // MARK: Scalars

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = position
        let count = literal.utf8CodeUnitCount
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count {
            guard start + offset < buffer.count else { throw unexpectedEnd(expected: "'\(literal)'") }
            if buffer[start + offset] != bytes[offset] {
                position = start + offset
                throw unexpectedCharacter(expected: "'\(literal)'")
            }
        }
        position = start + count
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        var isInteger = true
        if buffer[position] == ASCII.minus {
            position += 1
        }
        // Integer part: "0" or [1-9][0-9]*.
        guard position < buffer.count else { throw unexpectedEnd(expected: "a digit") }
        let firstDigit = buffer[position]
        if firstDigit == ASCII.zero {
            position += 1
            if position < buffer.count, isDigit(buffer[position]) {
                throw makeError(
                    .invalidNumber, at: position - 1, problem: "number with a leading zero",
                    expected: "a digit other than 0 at the start of a number")
            }
        } else if isDigit(firstDigit) {
            while position < buffer.count, isDigit(buffer[position]) { position += 1 }
        } else {
            throw unexpectedCharacter(code: .invalidNumber, expected: "a digit after '-'")
        }
        // Fraction.
        if position < buffer.count, buffer[position] == ASCII.dot {
            isInteger = false
            position += 1
            guard position < buffer.count else { throw unexpectedEnd(expected: "a digit after the decimal point") }
            guard isDigit(buffer[position]) else {
                throw unexpectedCharacter(code: .invalidNumber, expected: "a digit after the decimal point")
            }
            while position < buffer.count, isDigit(buffer[position]) { position += 1 }
        }
        // Exponent.
        if position < buffer.count, buffer[position] == ASCII.lowerE || buffer[position] == ASCII.upperE {
            isInteger = false
            position += 1
            if position < buffer.count, buffer[position] == ASCII.plus || buffer[position] == ASCII.minus {
                position += 1
            }
            guard position < buffer.count else { throw unexpectedEnd(expected: "a digit in the exponent") }
            guard isDigit(buffer[position]) else {
                throw unexpectedCharacter(code: .invalidNumber, expected: "a digit in the exponent")
            }
            while position < buffer.count, isDigit(buffer[position]) { position += 1 }
        }
        let length = position - start
        if length > limits.maxStringLength {
            throw makeError(
                .stringTooLong, at: start,
                problem: "number of \(length) characters (the maximum is \(limits.maxStringLength))", expected: nil)
        }
        let text = UnsafeBufferPointer(rebasing: buffer[start..<position])

        if isInteger, let integer = Self.int64(fromDigits: text) {
            return .int(integer)
        }
        // Integers that overflow Int64 and all numbers with a fraction or exponent.
        let string = String(decoding: text, as: UTF8.self)
        guard let double = Double(string), double.isFinite else {
            throw makeError(
                .invalidNumber, at: start, problem: "number \(Self.abbreviated(string)) is out of range",
                expected: "a number within the range of a 64-bit floating point value")
        }
        return .double(double)
    }

    /// Exact Int64 conversion of `-?[0-9]+`; nil on overflow (no trap).
    private static func int64(fromDigits text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let negative = text.first == ASCII.minus
        if negative { index = 1 }
        // Accumulate negatively so that Int64.min is representable.
        var result: Int64 = 0
        while index < text.count {
            let digit = Int64(text[index] &- ASCII.zero)
            let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            result = next
            index += 1
        }
        if negative { return result }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(result)
        return overflow ? nil : positive
    }

    private static func abbreviated(_ text: String) -> String {
        text.utf8.count > 40 ? String(text.prefix(40)) + "..." : text
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote.
    private mutating func parseString() throws(JSONParseError) -> String {
        let openingQuote = position
        position += 1
        let segmentStart = position

        // Fast path: no escapes. Scan, validating UTF-8 as we go.
        while position < buffer.count {
            let byte = buffer[position]
            if byte == ASCII.quote {
                let length = position - segmentStart
                try checkStringLength(length, start: openingQuote)
                let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[segmentStart..<position]), as: UTF8.self)
                position += 1
                return text
            }
            if byte == ASCII.backslash { break }
            if byte < 0x20 { throw controlCharacterInString() }
            if byte < 0x80 {
                position += 1
            } else {
                try skipUTF8Sequence()
            }
            try checkStringLength(position - segmentStart, start: openingQuote)
        }
        guard position < buffer.count else {
            throw makeError(
                .unexpectedEndOfInput, at: buffer.count,
                problem: "unexpected end of input inside the string that starts at byte \(openingQuote)",
                expected: "a closing '\"'")
        }

        // Slow path: the string has escapes; build the UTF-8 bytes.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(position - segmentStart + 16)
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[segmentStart..<position]))
        while position < buffer.count {
            let byte = buffer[position]
            switch byte {
            case ASCII.quote:
                position += 1
                return String(decoding: bytes, as: UTF8.self)
            case ASCII.backslash:
                try appendEscape(to: &bytes)
            case 0..<0x20:
                throw controlCharacterInString()
            case 0x20..<0x80:
                bytes.append(byte)
                position += 1
            default:
                let start = position
                try skipUTF8Sequence()
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<position]))
            }
            try checkStringLength(bytes.count, start: openingQuote)
        }
        throw makeError(
            .unexpectedEndOfInput, at: buffer.count,
            problem: "unexpected end of input inside the string that starts at byte \(openingQuote)",
            expected: "a closing '\"'")
    }

    private func checkStringLength(_ length: Int, start: Int) throws(JSONParseError) {
        if length > limits.maxStringLength {
            throw makeError(
                .stringTooLong, at: start,
                problem: "string longer than \(limits.maxStringLength) bytes", expected: nil)
        }
    }

    private func controlCharacterInString() -> JSONParseError {
        let byte = buffer[position]
        return makeError(
            .invalidStringCharacter, at: position,
            problem: "unescaped control character U+\(hex(UInt32(byte), width: 4)) in a string",
            expected: "an escape such as \\n, \\t or \\u00\(hex(UInt32(byte), width: 2))")
    }

    /// Appends the bytes of the escape sequence at `position` (a backslash).
    private mutating func appendEscape(to bytes: inout [UInt8]) throws(JSONParseError) {
        let escapeStart = position
        position += 1
        guard position < buffer.count else { throw unexpectedEnd(expected: "an escape character after '\\'") }
        let byte = buffer[position]
        position += 1
        switch byte {
        case ASCII.quote: bytes.append(ASCII.quote)
        case ASCII.backslash: bytes.append(ASCII.backslash)
        case ASCII.slash: bytes.append(ASCII.slash)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(ASCII.newline)
        case UInt8(ascii: "r"): bytes.append(ASCII.carriageReturn)
        case UInt8(ascii: "t"): bytes.append(ASCII.tab)
        case UInt8(ascii: "u"):
            let first = try parseHex4()
            var scalarValue = UInt32(first)
            if (0xD800...0xDBFF).contains(first) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < buffer.count, buffer[position] == ASCII.backslash,
                    buffer[position + 1] == UInt8(ascii: "u")
                else {
                    throw makeError(
                        .invalidEscape, at: escapeStart,
                        problem: "unpaired UTF-16 high surrogate \\u\(hex(UInt32(first), width: 4))",
                        expected: "a low surrogate escape \\uDC00...\\uDFFF right after it")
                }
                position += 2
                let second = try parseHex4()
                guard (0xDC00...0xDFFF).contains(second) else {
                    throw makeError(
                        .invalidEscape, at: escapeStart,
                        problem: "UTF-16 high surrogate \\u\(hex(UInt32(first), width: 4)) followed by \\u\(hex(UInt32(second), width: 4))",
                        expected: "a low surrogate escape \\uDC00...\\uDFFF")
                }
                scalarValue = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(first) {
                throw makeError(
                    .invalidEscape, at: escapeStart,
                    problem: "unpaired UTF-16 low surrogate \\u\(hex(UInt32(first), width: 4))",
                    expected: "a high surrogate escape before it")
            }
            guard let scalar = Unicode.Scalar(scalarValue) else {
                // Unreachable: surrogates were handled above; kept to avoid a force unwrap.
                throw makeError(.invalidEscape, at: escapeStart, problem: "invalid \\u escape", expected: nil)
            }
            bytes.append(contentsOf: UTF8.encode(scalar).map { Array($0) } ?? [])
        default:
            position -= 1
            throw makeError(
                .invalidEscape, at: escapeStart,
                problem: "invalid escape '\\\(describeByte(at: position, quoted: false))'",
                expected: "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard position < buffer.count else { throw unexpectedEnd(expected: "four hex digits after \\u") }
            let byte = buffer[position]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw unexpectedCharacter(code: .invalidEscape, expected: "four hex digits after \\u")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (RFC 3629 table: no overlongs, no
    /// surrogates, nothing above U+10FFFF) and moves past it.
    private mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = buffer[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw invalidUTF8(at: position)
        }
        guard position + length <= buffer.count else { throw invalidUTF8(at: position) }
        guard secondRange.contains(buffer[position + 1]) else { throw invalidUTF8(at: position) }
        var index = 2
        while index < length {
            guard (0x80...0xBF).contains(buffer[position + index]) else { throw invalidUTF8(at: position) }
            index += 1
        }
        position += length
    }

    // MARK: Whitespace and errors

    @inline(__always)
    private func isWhitespace(_ byte: UInt8) -> Bool {
        byte == ASCII.space || byte == ASCII.newline || byte == ASCII.carriageReturn || byte == ASCII.tab
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool { byte >= ASCII.zero && byte <= ASCII.nine }

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < buffer.count, isWhitespace(buffer[position]) { position += 1 }
    }

    private func duplicateKey(_ key: String, at offset: Int) -> JSONParseError {
        // A key may be up to `maxStringLength` long and hold anything: quote a bounded, escaped
        // prefix so that the message stays one readable line.
        var shown = ""
        var count = 0
        for scalar in key.unicodeScalars {
            if count == 64 {
                shown += "…"
                break
            }
            shown += scalar.value < 0x20 || scalar == "\"" || scalar == "\\" ? scalar.escaped(asASCII: true) : String(scalar)
            count += 1
        }
        return makeError(
            .duplicateKey, at: offset, problem: "duplicate object key \"\(shown)\"",
            expected: "each key at most once in an object")
    }

    private func unexpectedEnd(expected: String) -> JSONParseError {
        makeError(.unexpectedEndOfInput, at: buffer.count, problem: "unexpected end of input", expected: expected)
    }

    private func unexpectedCharacter(code: JSONParseError.Code = .unexpectedCharacter, expected: String) -> JSONParseError {
        guard position < buffer.count else { return unexpectedEnd(expected: expected) }
        let byte = buffer[position]
        if byte >= 0x80, (try? validatedScalarLength(at: position)) == nil {
            return invalidUTF8(at: position)
        }
        return makeError(code, at: position, problem: "unexpected \(describeByte(at: position, quoted: true))", expected: expected)
    }

    private func invalidUTF8(at offset: Int) -> JSONParseError {
        makeError(
            .invalidUTF8, at: offset,
            problem: "invalid UTF-8 byte 0x\(hex(UInt32(buffer[offset]), width: 2))",
            expected: "well-formed UTF-8 text")
    }

    /// Length of the valid UTF-8 sequence at `offset`, or throws.
    private func validatedScalarLength(at offset: Int) throws(JSONParseError) -> Int {
        var copy = self
        copy.position = offset
        try copy.skipUTF8Sequence()
        return copy.position - offset
    }

    /// A readable name for the byte (or the character it starts) at `offset`.
    private func describeByte(at offset: Int, quoted: Bool) -> String {
        let byte = buffer[offset]
        switch byte {
        case 0x21..<0x7F:
            let character = String(UnicodeScalar(byte))
            return quoted ? "character '\(character)'" : character
        case ASCII.space: return quoted ? "space" : " "
        case 0..<0x20, 0x7F: return "control character U+\(hex(UInt32(byte), width: 4))"
        default:
            if let length = try? validatedScalarLength(at: offset) {
                let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[offset..<(offset + length)]), as: UTF8.self)
                return quoted ? "character '\(text)'" : text
            }
            return "byte 0x\(hex(UInt32(byte), width: 2))"
        }
    }

    private func makeError(
        _ code: JSONParseError.Code, at offset: Int, problem: String, expected: String?
    ) -> JSONParseError {
        // Line and column are computed only on failure: the happy path does not count lines.
        let end = min(max(offset, 0), buffer.count)
        var line = 1
        var column = 1
        var index = 0
        while index < end {
            let byte = buffer[index]
            if byte == ASCII.newline {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                // Count scalars, not bytes: continuation bytes do not start a new column.
                column += 1
            }
            index += 1
        }
        return JSONParseError(code: code, byteOffset: end, line: line, column: column, problem: problem, expected: expected)
    }
}

private func hex(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
