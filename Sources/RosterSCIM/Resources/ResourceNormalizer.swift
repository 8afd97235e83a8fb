import RosterCore

/// Brings a resource's attributes into the one shape Roster stores and returns, whatever dialect
/// the provider spoke. Used after every PATCH operation and on create/replace bodies.
///
/// - `null` means unassigned (RFC 7643 §2.5): null attributes and sub-attributes are removed,
///   and so are empty arrays and empty complex values.
/// - Multi-valued attributes sent as a single object (`"emails": {...}`, reported for OneLogin)
///   or a single string are wrapped into an array.
/// - Boolean attributes (`active`, `primary`) sent as strings (`"False"`, Entra ID) become
///   booleans; anything else that is not a boolean is a 400 `invalidValue`.
/// - `password` is dropped: Roster never stores or returns one.
/// - Attribute names only an extension declares (`manager`, `employeeNumber`) found at the top
///   level are moved into their extension object.
/// - The enterprise `manager`, in every shape Entra ID sends (`"id"`, `{"value":"id"}`,
///   `[{"$ref":..., "value":"id"}]`, `""` to clear), becomes `{"value": "id"}` (keeping `$ref`
///   and `displayName` when given) or is removed.
/// Unknown attributes and schema URNs are kept as they are.
enum ResourceNormalizer {
    static func normalize(_ resource: inout JSONObject, schema: ResourceSchema) throws(SCIMError) {
        if let key = resource.storedKey(caseInsensitive: "password") {
            resource.removeValue(forKey: key)
        }
        moveExtensionAttributesIntoTheirExtension(&resource, schema: schema)

        for key in Array(resource.keys) {
            guard let value = resource[key] else { continue }
            if value.isNull {
                resource.removeValue(forKey: key)
                continue
            }
            if key.caseInsensitiveHasPrefix("urn:"), case .object(var extensionObject) = value {
                if let extensionSchema = schema.extensions.first(where: { $0.id.caseInsensitiveEquals(key) }) {
                    try normalizeAttributes(&extensionObject, definitions: extensionSchema, owner: key)
                    try normalizeManager(&extensionObject, owner: key)
                } else {
                    removeNulls(&extensionObject)
                }
                if extensionObject.isEmpty {
                    resource.removeValue(forKey: key)
                } else {
                    resource[key] = .object(extensionObject)
                }
                continue
            }
            guard let definition = schema.core.attribute(named: key) else { continue }
            if let normalized = try normalizeValue(value, definition: definition, name: key) {
                resource[key] = normalized
            } else {
                resource.removeValue(forKey: key)
            }
        }
    }

    private static func normalizeAttributes(_ object: inout JSONObject, definitions: SCIMSchema, owner: String) throws(SCIMError) {
        for key in Array(object.keys) {
            guard let value = object[key] else { continue }
            if value.isNull {
                object.removeValue(forKey: key)
                continue
            }
            guard let definition = definitions.attribute(named: key), !key.caseInsensitiveEquals("manager") else { continue }
            if let normalized = try normalizeValue(value, definition: definition, name: key) {
                object[key] = normalized
            } else {
                object.removeValue(forKey: key)
            }
        }
    }

    /// The normalized value, or nil when it is unassigned.
    private static func normalizeValue(_ value: JSONValue, definition: SCIMAttribute, name: String) throws(SCIMError) -> JSONValue? {
        if value.isNull { return nil }
        if definition.multiValued {
            var elements: [JSONValue]
            switch value {
            case .array(let array): elements = array
            case .object: elements = [value]
            default:
                // `"emails": "a@example.com"`: a bare value of a complex multi-valued attribute.
                elements = definition.type == .complex ? [.object(["value": value])] : [value]
            }
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for (offset, element) in elements.enumerated() {
                switch element {
                case .null:
                    continue
                case .object(var object):
                    try normalizeSubAttributes(&object, definition: definition, name: "\(name)[\(offset)]")
                    if !object.isEmpty { result.append(.object(object)) }
                case .string where definition.type == .complex:
                    result.append(.object(["value": element]))
                default:
                    result.append(element)
                }
            }
            return result.isEmpty ? nil : .array(result)
        }
        switch definition.type {
        case .boolean:
            guard let flag = value.lenientBool else {
                throw SCIMError.invalidValue("'\(name)' must be true or false, not \(value.jsonText).")
            }
            return .bool(flag)
        case .complex:
            guard case .object(var object) = value else { return value }
            try normalizeSubAttributes(&object, definition: definition, name: name)
            return object.isEmpty ? nil : .object(object)
        default:
            return value
        }
    }

    private static func normalizeSubAttributes(_ object: inout JSONObject, definition: SCIMAttribute, name: String) throws(SCIMError) {
        for key in Array(object.keys) {
            guard let value = object[key] else { continue }
            if value.isNull {
                object.removeValue(forKey: key)
                continue
            }
            if let sub = definition.subAttribute(named: key), sub.type == .boolean {
                guard let flag = value.lenientBool else {
                    throw SCIMError.invalidValue("'\(name).\(key)' must be true or false, not \(value.jsonText).")
                }
                object[key] = .bool(flag)
            }
        }
    }

    private static func removeNulls(_ object: inout JSONObject) {
        for key in Array(object.keys) where object[key]?.isNull == true {
            object.removeValue(forKey: key)
        }
    }

    private static func moveExtensionAttributesIntoTheirExtension(_ resource: inout JSONObject, schema: ResourceSchema) {
        for key in Array(resource.keys) where !key.caseInsensitiveHasPrefix("urn:") {
            guard let urn = schema.extensionDeclaring(unqualified: key), let value = resource[key] else { continue }
            resource.removeValue(forKey: key)
            let extensionKey = resource.storedKey(caseInsensitive: urn) ?? urn
            var extensionObject = resource[extensionKey]?.objectValue ?? JSONObject()
            if extensionObject.storedKey(caseInsensitive: key) == nil {
                let canonical = schema.extensions.first { $0.id == urn }?.attribute(named: key)?.name ?? key
                extensionObject[canonical] = value
            }
            resource[extensionKey] = .object(extensionObject)
        }
    }

    /// `manager` in the enterprise extension → `{"value": "id"}` or removed.
    private static func normalizeManager(_ extensionObject: inout JSONObject, owner: String) throws(SCIMError) {
        guard owner.caseInsensitiveEquals(SCIMSchemaURN.enterpriseUser),
            let key = extensionObject.storedKey(caseInsensitive: "manager"), let value = extensionObject[key]
        else { return }
        extensionObject.removeValue(forKey: key)
        if let manager = try normalizedManager(value) {
            extensionObject["manager"] = .object(manager)
        }
    }

    static func normalizedManager(_ value: JSONValue) throws(SCIMError) -> JSONObject? {
        switch value {
        case .null:
            return nil
        case .string(let id):
            let trimmed = id.trimmingSpaces
            return trimmed.isEmpty ? nil : ["value": .string(trimmed)]
        case .int(let number):
            return ["value": .string(String(number))]
        case .array(let elements):
            for element in elements {
                if let manager = try normalizedManager(element) { return manager }
            }
            return nil
        case .object(let object):
            guard let id = object.value(forCaseInsensitiveKey: "value") else { return nil }
            guard var manager = try normalizedManager(id) else { return nil }
            if let ref = object.value(forCaseInsensitiveKey: "$ref"), case .string(let text) = ref, !text.isEmpty {
                manager["$ref"] = ref
            }
            if let name = object.value(forCaseInsensitiveKey: "displayName"), case .string(let text) = name, !text.isEmpty {
                manager["displayName"] = name
            }
            return manager
        case .bool, .double:
            throw SCIMError.invalidValue("'manager' must be the manager's id or {\"value\": \"<id>\"}, not \(value.jsonText).")
        }
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
