import RosterCore

/// A parsed SCIM filter expression (RFC 7644 §3.4.2.2).
///
/// `and` binds tighter than `or`; chains are left-nested (`a or b or c` is `or(or(a, b), c)`).
public indirect enum SCIMFilter: Hashable, Sendable, CustomStringConvertible {
    /// `attrPath op value` (every operator except `pr`).
    case comparison(AttributePath, ComparisonOperator, JSONValue)
    /// `attrPath pr`: the attribute has a non-empty value.
    case present(AttributePath)
    case and(SCIMFilter, SCIMFilter)
    case or(SCIMFilter, SCIMFilter)
    case not(SCIMFilter)
    /// `emails[type eq "work"]`: some element of the multi-valued attribute matches the inner
    /// filter, whose attribute paths are relative to the element (`type` means `emails.type`).
    ///
    /// `emails[type eq "work"].value eq "x"` (not in RFC 7644's filter grammar, but Entra ID
    /// sends it) is parsed as `emails[type eq "work" and value eq "x"]`, which means the same.
    case valuePath(AttributePath, SCIMFilter)

    /// Limits on filter text.
    public struct Limits: Sendable, Hashable {
        /// Maximum length of the filter, in characters. Default 4096.
        public var maxLength: Int
        /// Maximum nesting of parentheses, `not` and `[...]`. Default 32.
        public var maxDepth: Int

        public init(maxLength: Int = 4096, maxDepth: Int = 32) {
            self.maxLength = maxLength
            self.maxDepth = maxDepth
        }
    }

    /// Parses a filter.
    ///
    /// The text is taken as it arrives after the HTTP layer has URL-decoded the query string
    /// once. A `+` outside a quoted string is read as a space (form encoding) since it has no
    /// other meaning there; inside quotes nothing is rewritten. For values that are still
    /// percent-encoded inside the quotes, see `percentDecodedFallback`.
    ///
    /// - Throws: 400 `invalidFilter` naming the position and what was expected.
    public static func parse(_ text: String, limits: Limits = Limits()) throws(SCIMError) -> SCIMFilter {
        let length = text.count
        if length > limits.maxLength {
            throw SCIMError.invalidFilter(
                "The filter is \(length) characters long; the maximum is \(limits.maxLength). Use a shorter filter.")
        }
        var parser = FilterParser(text: text, maxDepth: limits.maxDepth)
        do {
            return try parser.parseCompleteFilter()
        } catch {
            throw SCIMError.invalidFilter("Invalid filter \(quoteForMessage(text)): \(error.message).")
        }
    }

    public var description: String {
        switch self {
        case .comparison(let path, let op, let value):
            return "\(path) \(op.rawValue) \(value.jsonText)"
        case .present(let path):
            return "\(path) pr"
        case .and(let left, let right):
            return "\(left.descriptionAsOperand(of: "and")) and \(right.descriptionAsOperand(of: "and"))"
        case .or(let left, let right):
            return "\(left) or \(right)"
        case .not(let inner):
            return "not (\(inner))"
        case .valuePath(let path, let inner):
            return "\(path)[\(inner)]"
        }
    }

    private func descriptionAsOperand(of parent: String) -> String {
        if case .or = self { return "(\(self))" }
        return description
    }
}

/// A comparison operator of RFC 7644 Table 3 (`pr` is `SCIMFilter.present`).
public enum ComparisonOperator: String, Hashable, Sendable, CaseIterable {
    case eq, ne, co, sw, ew, gt, ge, lt, le
}

/// The filter text quoted and, if very long, shortened for an error message.
func quoteForMessage(_ text: String, limit: Int = 200) -> String {
    let shown = text.count > limit ? String(text.prefix(limit)) + "..." : text
    return "'\(shown)'"
}

// MARK: - Parser

/// A syntax problem with a position; the public entry points wrap it in a `SCIMError`.
struct FilterSyntaxError: Error, Sendable {
    var message: String
}

/// Recursive-descent parser over the UTF-8 bytes of a filter or PATCH path.
///
///     filter    = orExpr
///     orExpr    = andExpr *("or" andExpr)
///     andExpr   = unary *("and" unary)
///     unary     = "not" unary / "(" filter ")" / attrPath "[" filter "]" ["." subAttr compare]
///               / attrPath "pr" / attrPath compareOp value
///
/// Recursion depth is bounded by `maxDepth` (parentheses, `not` and brackets each count one).
struct FilterParser {
    let text: String
    let bytes: [UInt8]
    let maxDepth: Int
    var position = 0
    var depth = 0
    /// Inside `[...]` another `[` is not allowed (RFC 7644 grammar).
    var insideValuePath = false

    init(text: String, maxDepth: Int) {
        self.text = text
        self.bytes = Array(text.utf8)
        self.maxDepth = maxDepth
    }

    mutating func parseCompleteFilter() throws(FilterSyntaxError) -> SCIMFilter {
        skipSpaces()
        guard position < bytes.count else { throw FilterSyntaxError(message: "the filter is empty") }
        let filter = try parseOr()
        skipSpaces()
        if position < bytes.count {
            if bytes[position] == UInt8(ascii: ")") {
                throw error("unbalanced ')'")
            }
            throw error("unexpected \(describeCurrent()); expected 'and', 'or' or the end of the filter")
        }
        return filter
    }

    // MARK: Expressions

    mutating func parseOr() throws(FilterSyntaxError) -> SCIMFilter {
        var left = try parseAnd()
        while matchKeyword("or") {
            let right = try parseAnd()
            left = .or(left, right)
        }
        return left
    }

    mutating func parseAnd() throws(FilterSyntaxError) -> SCIMFilter {
        var left = try parseUnary()
        while matchKeyword("and") {
            let right = try parseUnary()
            left = .and(left, right)
        }
        return left
    }

    mutating func parseUnary() throws(FilterSyntaxError) -> SCIMFilter {
        skipSpaces()
        guard position < bytes.count else {
            throw error("the filter ends where an expression was expected")
        }
        if bytes[position] == UInt8(ascii: "(") {
            let open = position
            position += 1
            try enter()
            let inner = try parseOr()
            skipSpaces()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ")") else {
                if position >= bytes.count {
                    throw FilterSyntaxError(message: "the '(' at position \(characterPosition(open)) is never closed")
                }
                throw error("unexpected \(describeCurrent()); expected ')' to close the '(' at position \(characterPosition(open))")
            }
            position += 1
            depth -= 1
            return inner
        }
        if matchKeyword("not") {
            try enter()
            let inner = try parseUnary()
            depth -= 1
            return .not(inner)
        }
        let pathStart = position
        let path = try parseAttributePath()
        if position < bytes.count, bytes[position] == UInt8(ascii: "[") {
            return try parseValuePath(path, start: pathStart)
        }
        return try parseComparison(path)
    }

    private mutating func parseValuePath(_ path: AttributePath, start: Int) throws(FilterSyntaxError) -> SCIMFilter {
        if insideValuePath {
            throw error("'[' inside another '[...]' is not allowed")
        }
        if path.subAttribute != nil {
            throw error("'\(path)[': a filter in brackets must follow a multi-valued attribute, not a sub-attribute", at: start)
        }
        let open = position
        position += 1
        try enter()
        insideValuePath = true
        let inner = try parseOr()
        insideValuePath = false
        skipSpaces()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "]") else {
            if position >= bytes.count {
                throw FilterSyntaxError(message: "the '[' at position \(characterPosition(open)) is missing its ']'")
            }
            throw error("unexpected \(describeCurrent()); expected ']' to close the '[' at position \(characterPosition(open))")
        }
        position += 1
        depth -= 1
        // Entra's `emails[type eq "work"].value eq "x"` form.
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let subStart = position
            let sub = try parseNameToken()
            let subPath = AttributePath(name: sub)
            let comparison = try parseComparison(subPath)
            guard case .comparison = comparison else {
                if case .present = comparison { return .valuePath(path, .and(inner, comparison)) }
                throw error("expected a comparison after '.\(sub)'", at: subStart)
            }
            return .valuePath(path, .and(inner, comparison))
        }
        return .valuePath(path, inner)
    }

    private mutating func parseComparison(_ path: AttributePath) throws(FilterSyntaxError) -> SCIMFilter {
        let hadSpace = skipSpaces()
        let operatorStart = position
        guard position < bytes.count else {
            throw error("the filter ends after '\(path)'; expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        }
        let word = readWord()
        guard !word.isEmpty, hadSpace else {
            throw error(
                "unexpected \(describeCurrent()) after '\(path)'; expected a space and an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        }
        let lowered = word.lowercased()
        if lowered == "pr" {
            return .present(path)
        }
        guard let op = ComparisonOperator(rawValue: lowered) else {
            throw error(
                "unknown operator '\(word)' after '\(path)'; expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr",
                at: operatorStart)
        }
        skipSpaces()
        let value = try parseLiteral(after: word)
        return .comparison(path, op, value)
    }

    // MARK: Tokens

    /// Reads an attribute path token (`name`, `name.sub`, `urn:...:name.sub`).
    mutating func parseAttributePath() throws(FilterSyntaxError) -> AttributePath {
        let start = position
        while position < bytes.count, Self.isPathByte(bytes[position]) { position += 1 }
        guard position > start else {
            if position >= bytes.count {
                throw error("the filter ends where an attribute name was expected")
            }
            throw error("unexpected \(describeCurrent()); expected an attribute name, '(' or 'not'")
        }
        let token = substring(start, position)
        let parsed: ParsedPath
        do {
            parsed = try AttributePath.parse(token)
        } catch {
            throw self.error(error.message, at: start)
        }
        switch parsed {
        case .attribute(let path): return path
        case .schema(let urn):
            throw error("'\(urn)' is a schema, not an attribute; add ':attributeName'", at: start)
        }
    }

    private mutating func parseNameToken() throws(FilterSyntaxError) -> String {
        let start = position
        while position < bytes.count, Self.isNameByte(bytes[position]) { position += 1 }
        guard position > start else {
            throw error("unexpected \(describeCurrent()); expected a sub-attribute name after '.'")
        }
        return String(substring(start, position))
    }

    /// Reads a JSON literal: a string, a number, true, false or null.
    private mutating func parseLiteral(after operatorWord: String) throws(FilterSyntaxError) -> JSONValue {
        let start = position
        guard position < bytes.count else {
            throw error("the filter ends after '\(operatorWord)'; expected a value (a string in double quotes, a number, true, false or null)")
        }
        let byte = bytes[position]
        if byte == UInt8(ascii: "\"") {
            position += 1
            while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard position < bytes.count else {
                throw FilterSyntaxError(message: "the string that starts at position \(characterPosition(start)) is missing its closing '\"'")
            }
            position += 1
            return try parseJSON(start, position, what: "string")
        }
        if byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) {
            while position < bytes.count, Self.isNumberByte(bytes[position]) { position += 1 }
            return try parseJSON(start, position, what: "number")
        }
        let word = readWord()
        switch word.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default:
            position = start
            let shown = word.isEmpty ? describeCurrent() : "'\(word)'"
            throw error(
                "unexpected \(shown) after '\(operatorWord)'; expected a value: a string in double quotes, a number, true, false or null",
                at: start)
        }
    }

    private func parseJSON(_ start: Int, _ end: Int, what: String) throws(FilterSyntaxError) -> JSONValue {
        do {
            return try JSONParser.parse(bytes[start..<end], limits: JSONParser.Limits(maxDepth: 1, maxStringLength: bytes.count))
        } catch {
            throw self.error("invalid \(what) \(String(decoding: bytes[start..<end], as: UTF8.self)): \(error.problem)", at: start)
        }
    }

    /// Consumes `keyword` (any letter case) if it comes next as a whole word.
    mutating func matchKeyword(_ keyword: String) -> Bool {
        let saved = position
        skipSpaces()
        let start = position
        let word = readWord()
        if word.lowercased() == keyword {
            // `not(` is allowed, `and`/`or` must be followed by a space or '('.
            if position >= bytes.count || Self.isSpace(bytes[position]) || bytes[position] == UInt8(ascii: "(") {
                return true
            }
        }
        _ = start
        position = saved
        return false
    }

    /// Reads a run of ASCII letters.
    private mutating func readWord() -> String {
        let start = position
        while position < bytes.count, Self.isLetter(bytes[position]) { position += 1 }
        return String(substring(start, position))
    }

    @discardableResult
    mutating func skipSpaces() -> Bool {
        let start = position
        while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
        return position > start
    }

    private mutating func enter() throws(FilterSyntaxError) {
        depth += 1
        if depth > maxDepth {
            throw error("the filter nests parentheses, 'not' and '[...]' more than \(maxDepth) levels deep")
        }
    }

    // MARK: Byte classes

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: "+")
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "$")
    }

    static func isPathByte(_ byte: UInt8) -> Bool {
        isNameByte(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }

    // MARK: Messages

    func substring(_ start: Int, _ end: Int) -> Substring {
        Substring(String(decoding: bytes[start..<end], as: UTF8.self))
    }

    /// One-based character position of a byte offset.
    func characterPosition(_ offset: Int) -> Int {
        var count = 1
        var index = 0
        while index < min(offset, bytes.count) {
            if bytes[index] & 0xC0 != 0x80 { count += 1 }
            index += 1
        }
        return count
    }

    func describeCurrent() -> String {
        guard position < bytes.count else { return "end of the filter" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(UnicodeScalar(byte)))'" }
        if byte < 0x80 { return "character U+\(String(byte, radix: 16, uppercase: true))" }
        // Show the whole character that starts here.
        var end = position + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'\(String(decoding: bytes[position..<end], as: UTF8.self))'"
    }

    func error(_ message: String, at offset: Int? = nil) -> FilterSyntaxError {
        FilterSyntaxError(message: "\(message) (at position \(characterPosition(offset ?? position)))")
    }
}
