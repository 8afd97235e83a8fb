import RosterCore

/// One operation of a PATCH request (RFC 7644 §3.5.2).
public struct PatchOperation: Hashable, Sendable {
    public enum Op: String, Hashable, Sendable {
        case add, replace, remove
    }

    public var op: Op
    /// The target; nil when the request has no `path` (or an empty one).
    public var path: PatchPath?
    /// The `value` member; nil when absent (an explicit JSON null is `.null`).
    public var value: JSONValue?
    /// One-based position in `Operations`, used in error messages.
    public var index: Int

    public init(op: Op, path: PatchPath? = nil, value: JSONValue? = nil, index: Int = 1) {
        self.op = op
        self.path = path
        self.value = value
        self.index = index
    }

    /// "PATCH operation 2: " for error messages.
    var messagePrefix: String { "PATCH operation \(index): " }
}

/// A parsed and validated PATCH request body.
///
/// Tolerant where providers differ: `op` in any letter case (`Add`, `REPLACE`), member names
/// `Operations`/`op`/`path`/`value` in any letter case, a missing or unusual `schemas`, an
/// empty `path` read as no path. Strict where a guess would be dangerous: an unknown `op`, an
/// unparseable `path`, a missing `value` for add and replace.
public struct PatchRequest: Hashable, Sendable {
    /// Limits on the request.
    public struct Limits: Hashable, Sendable {
        /// Maximum number of operations in one request. Default 1000.
        public var maxOperations: Int
        /// Limits for filters inside paths (`emails[type eq "work"]`).
        public var filter: SCIMFilter.Limits

        public init(maxOperations: Int = 1000, filter: SCIMFilter.Limits = SCIMFilter.Limits()) {
            self.maxOperations = maxOperations
            self.filter = filter
        }
    }

    public var operations: [PatchOperation]

    public init(operations: [PatchOperation]) {
        self.operations = operations
    }

    /// Parses a request body (JSON bytes).
    public init(bytes: some Collection<UInt8>, limits: Limits = Limits()) throws(SCIMError) {
        let body = try parseJSONObjectBody(bytes, what: "a PATCH request")
        try self.init(body: body, limits: limits)
    }

    /// Validates a parsed request body.
    public init(body: JSONObject, limits: Limits = Limits()) throws(SCIMError) {
        // `schemas` is not checked: providers send it with variations and it carries no meaning
        // beyond "this is a PatchOp".
        guard let operationsValue = body.value(forCaseInsensitiveKey: "Operations") else {
            throw SCIMError.invalidSyntax(
                "The PATCH request has no 'Operations' array. Send {\"schemas\":[\"\(SCIMSchemaURN.patchOp)\"],\"Operations\":[...]}.")
        }
        guard case .array(let elements) = operationsValue else {
            throw SCIMError.invalidSyntax("'Operations' must be an array of operations, not \(operationsValue.kindDescription).")
        }
        if elements.count > limits.maxOperations {
            throw SCIMError.invalidValue(
                "The PATCH request has \(elements.count) operations; the maximum is \(limits.maxOperations). Split it into several requests.")
        }
        var operations: [PatchOperation] = []
        operations.reserveCapacity(elements.count)
        for (offset, element) in elements.enumerated() {
            operations.append(try Self.parseOperation(element, index: offset + 1, limits: limits))
        }
        self.operations = operations
    }

    private static func parseOperation(_ element: JSONValue, index: Int, limits: Limits) throws(SCIMError) -> PatchOperation {
        let prefix = "PATCH operation \(index): "
        guard case .object(let object) = element else {
            throw SCIMError.invalidSyntax(prefix + "each operation must be an object with 'op', 'path' and 'value', not \(element.kindDescription).")
        }
        guard let opValue = object.value(forCaseInsensitiveKey: "op") else {
            throw SCIMError.invalidValue(prefix + "'op' is missing; expected add, replace or remove.")
        }
        guard case .string(let opText) = opValue, let op = PatchOperation.Op(rawValue: opText.lowercased()) else {
            throw SCIMError.invalidValue(prefix + "unknown operation \(opValue.jsonText); expected add, replace or remove.")
        }
        var path: PatchPath?
        if let pathValue = object.value(forCaseInsensitiveKey: "path"), !pathValue.isNull {
            guard case .string(let pathText) = pathValue else {
                throw SCIMError.invalidPath(prefix + "'path' must be a string, not \(pathValue.kindDescription).")
            }
            if !pathText.allSatisfy(\.isWhitespace) {
                do {
                    path = try PatchPath.parse(pathText, filterLimits: limits.filter)
                } catch {
                    throw error.prefixed(prefix)
                }
            }
        }
        let value = object.value(forCaseInsensitiveKey: "value")
        switch op {
        case .add, .replace:
            guard value != nil else {
                throw SCIMError.invalidValue(prefix + "'\(op.rawValue)' needs a 'value'.")
            }
        case .remove:
            if path == nil, value == nil || value?.isNull == true {
                throw SCIMError.noTarget(prefix + "'remove' needs a 'path' naming what to remove.")
            }
        }
        return PatchOperation(op: op, path: path, value: value, index: index)
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): an attribute path, a whole schema extension, or a
/// multi-valued attribute with a value filter and an optional sub-attribute.
public struct PatchPath: Hashable, Sendable, CustomStringConvertible {
    public enum Target: Hashable, Sendable {
        /// A whole extension object: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
        case schema(String)
        /// `userName`, `name.givenName`, `urn:...:enterprise:2.0:User:employeeNumber`.
        case attribute(AttributePath)
        /// `emails[type eq "work"]`, `emails[type eq "work"].value`, `members[value eq "id"]`.
        case filtered(AttributePath, SCIMFilter, subAttribute: String?)
    }

    public var target: Target
    /// The path as the provider sent it.
    public var text: String

    public init(target: Target, text: String) {
        self.target = target
        self.text = text
    }

    public var description: String { text }

    /// The attribute the path names (without filter), nil for a whole schema.
    public var attribute: AttributePath? {
        switch target {
        case .schema: return nil
        case .attribute(let path): return path
        case .filtered(let path, _, let sub): return AttributePath(schema: path.schema, name: path.name, subAttribute: sub)
        }
    }

    /// Parses a path.
    ///
    /// - Throws: 400 `invalidPath` naming what is wrong, e.g. "path 'emails[type eq \"work\"'
    ///   is missing ']' for the '[' at position 7".
    public static func parse(_ text: String, filterLimits: SCIMFilter.Limits = SCIMFilter.Limits()) throws(SCIMError) -> PatchPath {
        if text.count > filterLimits.maxLength {
            throw SCIMError.invalidPath("path of \(text.count) characters is longer than the maximum of \(filterLimits.maxLength).")
        }
        var parser = FilterParser(text: text, maxDepth: filterLimits.maxDepth)
        do {
            return PatchPath(target: try parser.parsePatchPath(), text: text)
        } catch {
            throw SCIMError.invalidPath("path \(quoteForMessage(text)) \(error.message).")
        }
    }
}

extension FilterParser {
    /// `attrPath` / `attrPath "[" valFilter "]" ["." subAttr]` / a schema URN, and nothing after.
    mutating func parsePatchPath() throws(FilterSyntaxError) -> PatchPath.Target {
        skipSpaces()
        let start = position
        while position < bytes.count, Self.isPathByte(bytes[position]) { position += 1 }
        guard position > start else {
            throw FilterSyntaxError(message: "does not start with an attribute name (found \(describeCurrent()) at position \(characterPosition(position)))")
        }
        let parsed: ParsedPath
        do {
            parsed = try AttributePath.parse(substring(start, position))
        } catch {
            throw FilterSyntaxError(message: "is not an attribute path: \(error.message)")
        }
        let target: PatchPath.Target
        switch parsed {
        case .schema(let urn):
            target = .schema(urn)
        case .attribute(let path):
            if position < bytes.count, bytes[position] == UInt8(ascii: "[") {
                guard path.subAttribute == nil else {
                    throw FilterSyntaxError(message: "puts a filter after the sub-attribute '\(path)'; write 'attribute[filter].subAttribute'")
                }
                let open = position
                position += 1
                depth += 1
                insideValuePath = true
                let filter: SCIMFilter
                do {
                    filter = try parseOr()
                } catch {
                    throw FilterSyntaxError(message: "has an invalid filter in brackets: \(error.message)")
                }
                insideValuePath = false
                skipSpaces()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "]") else {
                    if position >= bytes.count {
                        throw FilterSyntaxError(message: "is missing ']' for the '[' at position \(characterPosition(open))")
                    }
                    throw FilterSyntaxError(
                        message: "has \(describeCurrent()) at position \(characterPosition(position)) where ']' was expected to close the '[' at position \(characterPosition(open))")
                }
                position += 1
                var sub: String?
                if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                    position += 1
                    let subStart = position
                    while position < bytes.count, Self.isNameByte(bytes[position]) { position += 1 }
                    guard position > subStart else {
                        throw FilterSyntaxError(message: "has no sub-attribute name after '].'")
                    }
                    sub = String(substring(subStart, position))
                }
                target = .filtered(path, filter, subAttribute: sub)
            } else {
                target = .attribute(path)
            }
        }
        skipSpaces()
        if position < bytes.count {
            throw FilterSyntaxError(message: "has unexpected \(describeCurrent()) at position \(characterPosition(position))")
        }
        return target
    }
}
