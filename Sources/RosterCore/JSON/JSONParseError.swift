/// Why a JSON text was rejected, and where.
///
/// The message is meant for a human at the other end of an HTTP request (it becomes the `detail`
/// of a SCIM 400 `invalidSyntax` error), so it names the position as line and column as well as
/// the byte offset, and what the parser expected there:
/// `unexpected character '}' at line 1, column 17 (byte 16): expected a value`.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of error. A struct over a private enum so that new codes can be added later
    /// without breaking exhaustive switches in callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unexpectedCharacter
            case unexpectedEndOfInput
            case invalidNumber
            case invalidEscape
            case invalidUTF8
            case invalidStringCharacter
            case nestingTooDeep
            case stringTooLong
            case trailingCharacters
            case duplicateKey
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A byte that cannot start or continue the construct being parsed.
        public static let unexpectedCharacter = Code(.unexpectedCharacter)
        /// The input ended in the middle of a value.
        public static let unexpectedEndOfInput = Code(.unexpectedEndOfInput)
        /// A malformed number (leading zero, missing digits, out of range).
        public static let invalidNumber = Code(.invalidNumber)
        /// A backslash escape that RFC 8259 does not define, or an unpaired UTF-16 surrogate.
        public static let invalidEscape = Code(.invalidEscape)
        /// Bytes that are not well-formed UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// An unescaped control character (U+0000...U+001F) inside a string.
        public static let invalidStringCharacter = Code(.invalidStringCharacter)
        /// Arrays and objects nested deeper than `JSONParser.Limits.maxDepth`.
        public static let nestingTooDeep = Code(.nestingTooDeep)
        /// A string (or number) longer than `JSONParser.Limits.maxStringLength` bytes.
        public static let stringTooLong = Code(.stringTooLong)
        /// Something other than whitespace after the top-level value.
        public static let trailingCharacters = Code(.trailingCharacters)
        /// The same key twice in one object (`{"active":true,"active":false}`).
        public static let duplicateKey = Code(.duplicateKey)

        public var description: String { base.rawValue }
    }

    /// The class of error.
    public let code: Code
    /// Zero-based byte offset of the offending byte in the input.
    public let byteOffset: Int
    /// One-based line number of `byteOffset`.
    public let line: Int
    /// One-based column (in Unicode scalars) of `byteOffset` within its line.
    public let column: Int
    /// What went wrong, e.g. `unexpected character '}'`.
    public let problem: String
    /// What the parser expected instead, e.g. `a value`; nil when that is not meaningful.
    public let expected: String?

    public init(code: Code, byteOffset: Int, line: Int, column: Int, problem: String, expected: String?) {
        self.code = code
        self.byteOffset = byteOffset
        self.line = line
        self.column = column
        self.problem = problem
        self.expected = expected
    }

    /// The complete human-readable message.
    public var message: String {
        var text = "\(problem) at line \(line), column \(column) (byte \(byteOffset))"
        if let expected { text += ": expected \(expected)" }
        return text
    }

    public var description: String { message }
}
