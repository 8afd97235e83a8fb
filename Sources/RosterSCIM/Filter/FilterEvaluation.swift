import RosterCore

extension SCIMFilter {
    /// Whether `resource` matches the filter.
    ///
    /// - Attribute names are compared without letter case.
    /// - Strings compare without letter case unless the schema marks the attribute `caseExact`
    ///   (`id`, `externalId`, `meta.version`, `members.value`, `manager.value`).
    /// - A multi-valued attribute matches if any element matches. `ne` is the negation of `eq`
    ///   over the whole attribute, so `emails.value ne "a"` is false when any email is "a", and
    ///   true when the attribute is absent.
    /// - `pr`: present, not null, not an empty string, array or object.
    /// - `gt`/`ge`/`lt`/`le`: numbers numerically, `dateTime` attributes (and any two strings that
    ///   both parse as ISO 8601 date-times) chronologically, other strings lexicographically;
    ///   booleans never match.
    /// - `eq null` matches an absent or null attribute; `ne null` a present one.
    public func matches(_ resource: JSONObject, schema: ResourceSchema) -> Bool {
        evaluate(in: resource, schema: schema, parent: nil)
    }

    /// - Parameter parent: inside `emails[...]`, the path `emails`; element attribute paths are
    ///   resolved against the element and their definitions against `parent`'s sub-attributes.
    func evaluate(in object: JSONObject, schema: ResourceSchema, parent: AttributePath?) -> Bool {
        switch self {
        case .and(let left, let right):
            return left.evaluate(in: object, schema: schema, parent: parent)
                && right.evaluate(in: object, schema: schema, parent: parent)
        case .or(let left, let right):
            return left.evaluate(in: object, schema: schema, parent: parent)
                || right.evaluate(in: object, schema: schema, parent: parent)
        case .not(let inner):
            return !inner.evaluate(in: object, schema: schema, parent: parent)
        case .present(let path):
            return Self.values(of: path, in: object, schema: schema, parent: parent).contains(where: Self.isNonEmpty)
        case .comparison(let path, let op, let literal):
            let values = Self.values(of: path, in: object, schema: schema, parent: parent)
            let definition = Self.definition(of: path, schema: schema, parent: parent)
            return Self.compare(values, op, literal, definition: definition)
        case .valuePath(let path, let inner):
            // Nested value paths cannot be parsed, so `parent` is nil here.
            guard let value = object.attributeValue(path, schema: schema) else { return false }
            let elements: [JSONValue]
            switch value {
            case .array(let array): elements = array
            case .object: elements = [value]  // a single complex value (`manager[value eq "x"]`)
            default: return false
            }
            return elements.contains { element in
                guard case .object(let elementObject) = element else { return false }
                return inner.evaluate(in: elementObject, schema: schema, parent: path)
            }
        }
    }

    private static func values(
        of path: AttributePath, in object: JSONObject, schema: ResourceSchema, parent: AttributePath?
    ) -> [JSONValue] {
        guard parent != nil else { return object.leafValues(path, schema: schema) }
        // Inside brackets: `type` is a key of the element, `value.x` is not meaningful.
        guard let value = object.value(forCaseInsensitiveKey: path.name) else { return [] }
        if let sub = path.subAttribute {
            return value.objectValue?.value(forCaseInsensitiveKey: sub).map { [$0] } ?? []
        }
        if case .array(let elements) = value { return elements }
        return [value]
    }

    private static func definition(of path: AttributePath, schema: ResourceSchema, parent: AttributePath?) -> SCIMAttribute? {
        guard let parent else { return schema.definition(of: path) }
        return schema.definition(of: AttributePath(schema: parent.schema, name: parent.name, subAttribute: path.name))
    }

    static func isNonEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .string(let string): return !string.isEmpty
        case .array(let array): return array.contains(where: isNonEmpty)
        case .object(let object): return object.values.contains(where: isNonEmpty)
        default: return true
        }
    }

    private static func compare(_ values: [JSONValue], _ op: ComparisonOperator, _ literal: JSONValue, definition: SCIMAttribute?) -> Bool {
        if case .null = literal {
            let absent = values.allSatisfy(\.isNull)
            switch op {
            case .eq: return absent
            case .ne: return !absent
            default: return false
            }
        }
        if op == .ne {
            return !compare(values, .eq, literal, definition: definition)
        }
        return values.contains { compareOne($0, op, literal, definition: definition) }
    }

    private static func compareOne(_ value: JSONValue, _ op: ComparisonOperator, _ literal: JSONValue, definition: SCIMAttribute?) -> Bool {
        switch (value, literal) {
        case (.string(let actual), .string(let expected)):
            let isDateTime = definition?.type == .dateTime
            if isDateTime || op.isOrdering, let left = ISO8601Timestamp(actual), let right = ISO8601Timestamp(expected) {
                return op.holds(for: left.compare(right))
            }
            if isDateTime && op == .eq { return false }
            let caseExact = definition?.caseExact ?? false
            let a = caseExact ? actual : actual.lowercased()
            let b = caseExact ? expected : expected.lowercased()
            switch op {
            case .co: return a.contains(b)
            case .sw: return a.hasPrefix(b)
            case .ew: return a.hasSuffix(b)
            default: return op.holds(for: a == b ? 0 : (a < b ? -1 : 1))
            }
        case (.int(let actual), .int(let expected)):
            guard !op.isSubstring else { return false }
            return op.holds(for: actual == expected ? 0 : (actual < expected ? -1 : 1))
        case (.int, .double), (.double, .int), (.double, .double):
            guard !op.isSubstring, let actual = value.numericValue, let expected = literal.numericValue else { return false }
            return op.holds(for: actual == expected ? 0 : (actual < expected ? -1 : 1))
        case (_, .bool(let expected)):
            // A boolean stored as the string "True" still compares as a boolean.
            guard op == .eq, let actual = value.lenientBool else { return false }
            return actual == expected
        default:
            return false
        }
    }
}

extension ComparisonOperator {
    var isOrdering: Bool { self == .gt || self == .ge || self == .lt || self == .le }
    var isSubstring: Bool { self == .co || self == .sw || self == .ew }

    /// Whether the operator holds for a three-way comparison result (-1, 0, 1).
    func holds(for comparison: Int) -> Bool {
        switch self {
        case .eq: return comparison == 0
        case .ne: return comparison != 0
        case .gt: return comparison > 0
        case .ge: return comparison >= 0
        case .lt: return comparison < 0
        case .le: return comparison <= 0
        case .co, .sw, .ew: return false
        }
    }
}

extension JSONValue {
    var numericValue: Double? {
        switch self {
        case .int(let integer): return Double(integer)
        case .double(let double): return double
        default: return nil
        }
    }
}

// MARK: - Index-friendly shapes

/// An equality filter the store can answer from an index instead of a scan.
public struct IndexedLookup: Hashable, Sendable {
    public enum Attribute: Hashable, Sendable {
        case id
        case userName
        case externalId
        case displayName
        /// `emails.value`, optionally restricted to one `type` (`emails[type eq "work"].value`).
        case email(type: String?)
    }

    public var attribute: Attribute
    /// The value exactly as written in the filter.
    public var value: String

    /// Whether the value must match with letter case (`id`, `externalId`); otherwise compare
    /// case-insensitively (`userName`, `displayName`, emails, and `type` of an email).
    public var isCaseExact: Bool {
        switch attribute {
        case .id, .externalId: return true
        case .userName, .displayName, .email: return false
        }
    }
}

extension SCIMFilter {
    /// The filter as an index lookup when it is one of the simple shapes providers use before a
    /// create: `userName eq "x"`, `externalId eq "x"`, `id eq "x"`, `displayName eq "x"`,
    /// `emails.value eq "x"`, `emails[type eq "work"].value eq "x"` (also written
    /// `emails[type eq "work" and value eq "x"]`). Nil for anything else: evaluate with `matches`.
    public var simpleEquality: IndexedLookup? {
        switch self {
        case .comparison(let path, .eq, .string(let value)):
            guard path.isCore else { return nil }
            if path.subAttribute == nil {
                switch path.name.lowercased() {
                case "id": return IndexedLookup(attribute: .id, value: value)
                case "username": return IndexedLookup(attribute: .userName, value: value)
                case "externalid": return IndexedLookup(attribute: .externalId, value: value)
                case "displayname": return IndexedLookup(attribute: .displayName, value: value)
                case "emails": return IndexedLookup(attribute: .email(type: nil), value: value)
                default: return nil
                }
            }
            if path.name.caseInsensitiveEquals("emails"), let sub = path.subAttribute, sub.caseInsensitiveEquals("value") {
                return IndexedLookup(attribute: .email(type: nil), value: value)
            }
            return nil
        case .valuePath(let path, let inner):
            guard path.isCore, path.name.caseInsensitiveEquals("emails") else { return nil }
            var type: String?
            var value: String?
            for clause in inner.conjuncts {
                guard case .comparison(let clausePath, .eq, .string(let literal)) = clause,
                    clausePath.subAttribute == nil
                else { return nil }
                if clausePath.name.caseInsensitiveEquals("type"), type == nil {
                    type = literal
                } else if clausePath.name.caseInsensitiveEquals("value"), value == nil {
                    value = literal
                } else {
                    return nil
                }
            }
            guard let value else { return nil }
            return IndexedLookup(attribute: .email(type: type), value: value)
        default:
            return nil
        }
    }

    /// The operands of a chain of `and`s.
    var conjuncts: [SCIMFilter] {
        if case .and(let left, let right) = self { return left.conjuncts + right.conjuncts }
        return [self]
    }
}

// MARK: - Percent-encoded values

extension SCIMFilter {
    /// The same filter with percent-encoded string literals decoded, or nil when no literal
    /// contains a valid `%XX` escape.
    ///
    /// Microsoft's SCIM validator sends values that are still URL-encoded inside the quotes
    /// (`userName eq "ryan%40example.com"`) after the query string has been decoded once. A
    /// literal `%` can also be genuine data, so Roster never decodes in place. The rule: run the
    /// filter as written; only when it matches nothing, and this property is non-nil, run the
    /// decoded filter instead. A resource whose value really contains `%40` is therefore always
    /// found, and a double-encoded lookup still finds `ryan@example.com`.
    public var percentDecodedFallback: SCIMFilter? {
        let decoded = mapStringLiterals { percentDecoded($0) ?? $0 }
        return decoded == self ? nil : decoded
    }

    private func mapStringLiterals(_ transform: (String) -> String) -> SCIMFilter {
        switch self {
        case .comparison(let path, let op, .string(let value)):
            return .comparison(path, op, .string(transform(value)))
        case .comparison, .present:
            return self
        case .and(let left, let right):
            return .and(left.mapStringLiterals(transform), right.mapStringLiterals(transform))
        case .or(let left, let right):
            return .or(left.mapStringLiterals(transform), right.mapStringLiterals(transform))
        case .not(let inner):
            return .not(inner.mapStringLiterals(transform))
        case .valuePath(let path, let inner):
            return .valuePath(path, inner.mapStringLiterals(transform))
        }
    }
}

/// Decodes `%XX` escapes; nil when there are none, when a `%` is not followed by two hex digits,
/// or when the result is not valid UTF-8.
func percentDecoded(_ text: String) -> String? {
    let bytes = Array(text.utf8)
    guard bytes.contains(UInt8(ascii: "%")) else { return nil }
    var output: [UInt8] = []
    output.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%") {
            guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
                return nil
            }
            output.append(high << 4 | low)
            index += 3
        } else {
            output.append(byte)
            index += 1
        }
    }
    return String(validating: output, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
