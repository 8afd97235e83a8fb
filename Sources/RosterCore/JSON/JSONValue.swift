@_exported import OrderedCollections

/// A JSON value that keeps object key order and distinguishes integers from floating point.
///
/// SCIM resources are stored and returned "as provided", so the order of keys and the exact
/// numbers a provider sent are kept. Parsing and serialization live in `JSONParser` and
/// `JSONSerializer` beside this file.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object with insertion-ordered keys (exact, case-sensitive keys; see `value(forCaseInsensitiveKey:)`).
public typealias JSONObject = OrderedDictionary<String, JSONValue>

extension JSONValue {
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A boolean read leniently: JSON `true`/`false` or the strings `"true"`/`"false"` in any
    /// letter case (Entra ID sends `"False"`). Anything else is nil.
    public var lenientBool: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s):
            switch s.lowercased() {
            case "true": return true
            case "false": return false
            default: return nil
            }
        default: return nil
        }
    }
}

extension OrderedDictionary where Key == String, Value == JSONValue {
    /// The key actually stored that equals `key` ignoring letter case (SCIM attribute names are
    /// case-insensitive, RFC 7643 §2.1).
    public func storedKey(caseInsensitive key: String) -> String? {
        if self[key] != nil { return key }
        let lowered = key.lowercased()
        return keys.first { $0.lowercased() == lowered }
    }

    /// The value under `key`, compared without letter case.
    public func value(forCaseInsensitiveKey key: String) -> JSONValue? {
        guard let stored = storedKey(caseInsensitive: key) else { return nil }
        return self[stored]
    }
}
