import RosterCore

/// An attribute path (RFC 7644 §3.10): an optional schema URN, an attribute name and an optional
/// sub-attribute. `name.givenName`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`,
/// `meta.lastModified`.
///
/// Names keep the letter case they were written in; every lookup compares them without case.
public struct AttributePath: Hashable, Sendable, CustomStringConvertible {
    /// The schema URN the path was qualified with, in its canonical spelling when Roster knows
    /// the schema; nil when unqualified. Attributes of a core schema (User, Group) live at the
    /// top level of a resource, those of an extension inside the object keyed by its URN.
    public var schema: String?
    /// The attribute name.
    public var name: String
    /// The sub-attribute name of a complex attribute.
    public var subAttribute: String?

    public init(schema: String? = nil, name: String, subAttribute: String? = nil) {
        self.schema = schema
        self.name = name
        self.subAttribute = subAttribute
    }

    /// The path as SCIM writes it.
    public var description: String {
        var text = ""
        if let schema { text = schema + ":" }
        text += name
        if let subAttribute { text += "." + subAttribute }
        return text
    }

    /// Whether the path refers to a core (top-level) attribute.
    public var isCore: Bool {
        schema.map(SCIMSchemaURN.isCore) ?? true
    }

    /// The same path without its sub-attribute.
    public var withoutSubAttribute: AttributePath {
        AttributePath(schema: schema, name: name)
    }

    /// Whether two paths name the same attribute (without letter case; an unqualified path
    /// equals one qualified with a core schema).
    public func sameAttribute(as other: AttributePath) -> Bool {
        guard name.caseInsensitiveEquals(other.name) else { return false }
        switch (subAttribute, other.subAttribute) {
        case (nil, nil): break
        case (let a?, let b?) where a.caseInsensitiveEquals(b): break
        default: return false
        }
        if isCore && other.isCore { return true }
        guard let a = schema, let b = other.schema else { return false }
        return a.caseInsensitiveEquals(b)
    }

    /// Parses the text of a path (no filters, no brackets).
    ///
    /// - Returns: `.attribute` for an attribute path, or `.schema` when the text is exactly the
    ///   URN of a known schema (which names a whole extension object). For an unknown URN the
    ///   last `:` separates the schema from the attribute, so `urn:acme:2.0:User:badge` is the
    ///   attribute `badge` of the extension `urn:acme:2.0:User`.
    /// - Throws: a message (without context) saying what is wrong with the text.
    static func parse(_ text: Substring) throws(PathSyntaxError) -> ParsedPath {
        guard !text.isEmpty else { throw PathSyntaxError("the attribute path is empty") }
        var schema: String?
        var rest = text
        if text.caseInsensitiveHasPrefix("urn:") {
            let split = splitSchema(text)
            guard let attribute = split.rest else { return .schema(split.schema) }
            schema = split.schema
            rest = attribute
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        if parts.contains(where: \.isEmpty) {
            throw PathSyntaxError("'\(text)' has an empty attribute name")
        }
        guard parts.count <= 2 else {
            throw PathSyntaxError("'\(text)' has more than one sub-attribute level (only 'attribute.subAttribute' is allowed)")
        }
        let name = parts[0]
        try validateName(name, in: text)
        var sub: String?
        if parts.count == 2 {
            try validateName(parts[1], in: text)
            sub = String(parts[1])
        }
        return .attribute(AttributePath(schema: schema, name: String(name), subAttribute: sub))
    }

    /// Splits a URN-qualified path into the schema URN and the remainder (nil when the whole text
    /// is the schema).
    static func splitSchema(_ text: Substring) -> (schema: String, rest: Substring?) {
        let lowered = text.lowercased()
        for known in SCIMSchemaURN.known {
            let knownLowered = known.lowercased()
            if lowered == knownLowered { return (known, nil) }
            if lowered.hasPrefix(knownLowered + ":") {
                return (known, text.dropFirst(known.count + 1))
            }
        }
        // Unknown URN: the attribute name cannot contain ':', so the last ':' separates them.
        guard let colon = text.lastIndex(of: ":") else { return (String(text), nil) }
        return (String(text[..<colon]), text[text.index(after: colon)...])
    }

    /// RFC 7643 §2.1 ATTRNAME (ALPHA *(nameChar)), plus `$ref`.
    private static func validateName(_ name: Substring, in text: Substring) throws(PathSyntaxError) {
        guard let first = name.unicodeScalars.first else {
            throw PathSyntaxError("'\(text)' has an empty attribute name")
        }
        guard first.properties.isAlphabetic || first == "$" || first == "_" else {
            throw PathSyntaxError("'\(text)': attribute name '\(name)' must start with a letter")
        }
        for scalar in name.unicodeScalars where !(scalar.properties.isAlphabetic || scalar.properties.numericType != nil
            || scalar == "-" || scalar == "_" || scalar == "$")
        {
            throw PathSyntaxError("'\(text)': attribute name '\(name)' contains the character '\(scalar)'")
        }
    }
}

/// The result of parsing the text of a path.
enum ParsedPath: Hashable, Sendable {
    /// A whole schema extension, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    case schema(String)
    case attribute(AttributePath)
}

/// A path syntax problem; the caller adds where the path came from.
struct PathSyntaxError: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}

// MARK: - Resolving paths in a resource

extension JSONObject {
    /// The object holding the attributes of `schema`: the resource itself for core schemas, the
    /// extension object otherwise (nil when absent).
    func container(forSchema schema: String?) -> JSONObject? {
        guard let schema, !SCIMSchemaURN.isCore(schema) else { return self }
        return value(forCaseInsensitiveKey: schema)?.objectValue
    }

    /// The value of `path.name` (ignoring any sub-attribute). Unqualified names that only an
    /// extension declares (`employeeNumber`, `manager`) are looked up in that extension too.
    func attributeValue(_ path: AttributePath, schema: ResourceSchema) -> JSONValue? {
        if let value = container(forSchema: path.schema)?.value(forCaseInsensitiveKey: path.name) {
            return value
        }
        if path.schema == nil, let urn = schema.extensionDeclaring(unqualified: path.name) {
            return value(forCaseInsensitiveKey: urn)?.objectValue?.value(forCaseInsensitiveKey: path.name)
        }
        return nil
    }

    /// The values a path reaches, flattened: every element of a multi-valued attribute, and for a
    /// sub-attribute every element's sub-attribute. For a complex multi-valued attribute named
    /// without a sub-attribute, the elements' `value` (RFC 7644 §3.4.2.2: "emails eq x").
    func leafValues(_ path: AttributePath, schema: ResourceSchema) -> [JSONValue] {
        guard let top = attributeValue(path, schema: schema) else { return [] }
        var result: [JSONValue] = []
        func collect(_ value: JSONValue) {
            switch value {
            case .array(let elements):
                for element in elements {
                    if case .array = element { continue }  // no arrays of arrays in SCIM
                    collect(element)
                }
            case .object(let object):
                if let sub = path.subAttribute {
                    if let inner = object.value(forCaseInsensitiveKey: sub) {
                        if case .array(let elements) = inner {
                            result.append(contentsOf: elements)
                        } else {
                            result.append(inner)
                        }
                    }
                } else if case .array = top, let inner = object.value(forCaseInsensitiveKey: "value") {
                    result.append(inner)
                } else {
                    result.append(value)
                }
            default:
                if path.subAttribute == nil { result.append(value) }
            }
        }
        collect(top)
        return result
    }
}
