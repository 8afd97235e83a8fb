import RosterCore

/// Applies PATCH operations to the attributes of one resource (RFC 7644 §3.5.2), tolerating the
/// dialects of PROVIDERS.md. Pure and value-typed: it edits its own copy, so a caller that
/// discards the engine after an error has applied nothing.
///
/// Semantics, per target:
/// - add, simple or complex attribute: set it; a complex value is merged into the existing one.
/// - add, multi-valued attribute: append the new values; a value equal to an existing one (same
///   `value` and `type`) updates it instead of duplicating it, so a retried add is harmless.
/// - replace: set it; a complex value is merged (RFC 7644 §3.5.2.3: sub-attributes not given are
///   left unchanged); a multi-valued attribute is replaced as a whole; `null` removes.
/// - remove: delete it; with a `value` on a multi-valued attribute, delete only the listed
///   values. Removing something absent succeeds (providers retry).
/// - filtered path (`emails[type eq "work"].value`): edit the matching values; on add/replace
///   with no match, create the value from the filter's `eq` clauses (`{"type":"work", ...}`),
///   as Entra ID expects. Only a filter that is not a plain conjunction of `eq` clauses and
///   matches nothing is a 400 `noTarget`.
/// - no path: each key of the value object is applied as a path (plain, dotted, URN-qualified,
///   or a whole extension object); `id`, `schemas` and `meta` keys are ignored (Okta sends `id`).
/// - `id` and `meta` are read-only: changing them is 400 `mutability` (setting `id` to its
///   current value is a no-op). `password` is dropped.
/// After every operation the resource is normalized (see `ResourceNormalizer`).
struct PatchEngine {
    let schema: ResourceSchema
    /// Top-level attribute names (lowercased) the engine silently ignores: read-only attributes
    /// providers nonetheless send (`groups` on a User).
    let ignoredAttributes: Set<String>
    /// The resource's `id` when the caller's attributes do not carry it (the store keeps them
    /// without `id`), so that setting `id` to its current value stays the documented no-op.
    let resourceID: String?
    private(set) var resource: JSONObject

    init(schema: ResourceSchema, resource: JSONObject, ignoredAttributes: Set<String> = [], resourceID: String? = nil) {
        self.schema = schema
        self.resource = resource
        self.ignoredAttributes = ignoredAttributes
        self.resourceID = resourceID
    }

    /// Applies one operation and normalizes; errors name the operation.
    mutating func apply(_ operation: PatchOperation) throws(SCIMError) {
        do {
            try apply(operation.op, path: operation.path, value: operation.value)
            try normalize()
        } catch {
            throw error.prefixed(operation.messagePrefix)
        }
    }

    mutating func normalize() throws(SCIMError) {
        try ResourceNormalizer.normalize(&resource, schema: schema)
    }

    mutating func apply(_ op: PatchOperation.Op, path: PatchPath?, value: JSONValue?) throws(SCIMError) {
        guard let path else {
            guard case .object(let object)? = value else {
                if op == .remove {
                    throw SCIMError.noTarget("'remove' needs a 'path' naming what to remove.")
                }
                let kind = value?.kindDescription ?? "nothing"
                throw SCIMError.invalidValue(
                    "'\(op.rawValue)' without a 'path' needs an object value whose keys are attribute names, not \(kind).")
            }
            try applyValueObject(op, object)
            return
        }
        switch path.target {
        case .schema(let urn):
            try applySchema(op, urn: urn, value: value)
        case .attribute(let attribute):
            try applyAttribute(op, attribute, value: value)
        case .filtered(let attribute, let filter, let sub):
            try applyFiltered(op, attribute, filter: filter, subAttribute: sub, value: value)
        }
    }

    /// A no-path operation: each key is a path.
    private mutating func applyValueObject(_ op: PatchOperation.Op, _ object: JSONObject) throws(SCIMError) {
        for (key, value) in object {
            switch key.lowercased() {
            case "id", "schemas", "meta":
                // Okta sends the read-only `id` inside the value; `schemas`/`meta` are not data.
                continue
            default:
                break
            }
            let path: PatchPath
            do {
                path = try PatchPath.parse(key)
            } catch {
                throw SCIMError.invalidPath("the value's key '\(key)' is not an attribute path: \(error.detail)")
            }
            try apply(op, path: path, value: value)
        }
    }

    // MARK: Whole schemas

    private mutating func applySchema(_ op: PatchOperation.Op, urn: String, value: JSONValue?) throws(SCIMError) {
        if SCIMSchemaURN.isCore(urn) {
            // `"urn:...:core:2.0:User": {"userName": ...}`: the core attributes themselves.
            guard case .object(let object)? = value else {
                throw SCIMError.invalidPath("'\(urn)' names the core schema; give its attributes as an object value or use attribute paths.")
            }
            try applyValueObject(op, object)
            return
        }
        let key = resource.storedKey(caseInsensitive: urn) ?? urn
        switch (op, value) {
        case (.remove, nil), (.remove, .null?), (.replace, .null?):
            resource.removeValue(forKey: key)
        case (_, .object(let object)?):
            for (attributeKey, attributeValue) in object {
                let parsed: ParsedPath
                do {
                    parsed = try AttributePath.parse(Substring(attributeKey))
                } catch {
                    throw SCIMError.invalidPath("'\(attributeKey)' in the '\(urn)' object is not an attribute name: \(error.message)")
                }
                guard case .attribute(let inner) = parsed, inner.schema == nil else {
                    throw SCIMError.invalidPath("'\(attributeKey)' in the '\(urn)' object must be a plain attribute name.")
                }
                let attribute = AttributePath(schema: urn, name: inner.name, subAttribute: inner.subAttribute)
                try applyAttribute(op, attribute, value: attributeValue)
            }
        case (_, let other?):
            throw SCIMError.invalidValue("the value for the extension '\(urn)' must be an object of its attributes, not \(other.kindDescription).")
        case (_, nil):
            throw SCIMError.invalidValue("'\(op.rawValue)' needs a 'value'.")
        }
    }

    // MARK: Attributes

    /// Where an attribute lives, after tolerating unqualified extension names and unknown
    /// extension URNs.
    private enum Resolved {
        case attribute(AttributePath)
        case wholeExtension(String)
    }

    private func resolve(_ attribute: AttributePath, value: JSONValue?) -> Resolved {
        var attribute = attribute
        if attribute.schema == nil, resource.storedKey(caseInsensitive: attribute.name) == nil,
            let urn = schema.extensionDeclaring(unqualified: attribute.name)
        {
            // `manager`, `employeeNumber` without their URN.
            attribute.schema = urn
        }
        if let urn = attribute.schema, !SCIMSchemaURN.isCore(urn), attribute.subAttribute == nil,
            !SCIMSchemaURN.known.contains(where: { $0.caseInsensitiveEquals(urn) })
        {
            // `urn:acme:2.0:User` parses as attribute `User` of schema `urn:acme:2.0`; it names
            // the whole extension when the resource has it, or when an object is being set on a
            // resource that has no `urn:acme:2.0` extension.
            let whole = urn + ":" + attribute.name
            if resource.storedKey(caseInsensitive: whole) != nil {
                return .wholeExtension(whole)
            }
            if resource.storedKey(caseInsensitive: urn) == nil, case .object? = value {
                return .wholeExtension(whole)
            }
        }
        return .attribute(attribute)
    }

    private mutating func applyAttribute(_ op: PatchOperation.Op, _ requested: AttributePath, value: JSONValue?) throws(SCIMError) {
        let attribute: AttributePath
        switch resolve(requested, value: value) {
        case .wholeExtension(let urn):
            try applySchema(op, urn: urn, value: value)
            return
        case .attribute(let resolved):
            attribute = resolved
        }
        if attribute.isCore {
            switch attribute.name.lowercased() {
            case "id":
                let current = resource.value(forCaseInsensitiveKey: "id") ?? resourceID.map(JSONValue.string)
                if op != .remove, attribute.subAttribute == nil, let value, value == current { return }
                throw SCIMError.mutability("'id' is read-only: Roster assigns it. Address the resource by its id in the URL instead.")
            case "meta":
                throw SCIMError.mutability("'\(attribute)' is read-only: Roster maintains 'meta'.")
            case "schemas", "password":
                return
            case let name where ignoredAttributes.contains(name):
                return
            default:
                break
            }
        }
        let schema = self.schema
        try editContainer(of: attribute, creating: op != .remove) { (container: inout JSONObject) throws(SCIMError) in
            try Self.edit(op, attribute, value: value, in: &container, schema: schema)
        }
    }

    private mutating func applyFiltered(
        _ op: PatchOperation.Op, _ attribute: AttributePath, filter: SCIMFilter, subAttribute: String?, value: JSONValue?
    ) throws(SCIMError) {
        guard case .attribute(let resolved) = resolve(attribute, value: nil) else { return }
        if resolved.isCore, resolved.name.caseInsensitiveEquals("meta") || resolved.name.caseInsensitiveEquals("id") {
            throw SCIMError.mutability("'\(resolved.name)' is read-only.")
        }
        if resolved.isCore, ignoredAttributes.contains(resolved.name.lowercased()) { return }
        let schema = self.schema
        try editContainer(of: resolved, creating: op != .remove) { (container: inout JSONObject) throws(SCIMError) in
            try Self.editFiltered(op, resolved, filter: filter, subAttribute: subAttribute, value: value, in: &container, schema: schema)
        }
    }

    /// Runs `body` on the object that holds `attribute`: the resource, or its extension object
    /// (created when `creating`; when absent and not creating, there is nothing to do).
    private mutating func editContainer(
        of attribute: AttributePath, creating: Bool, _ body: (inout JSONObject) throws(SCIMError) -> Void
    ) throws(SCIMError) {
        guard let urn = attribute.schema, !SCIMSchemaURN.isCore(urn) else {
            try body(&resource)
            return
        }
        let key = resource.storedKey(caseInsensitive: urn) ?? urn
        var container: JSONObject
        if case .object(let existing)? = resource[key] {
            container = existing
        } else {
            guard creating else { return }
            container = JSONObject()
        }
        try body(&container)
        resource[key] = .object(container)
    }

    // MARK: Editing one container

    static func edit(
        _ op: PatchOperation.Op, _ attribute: AttributePath, value: JSONValue?, in container: inout JSONObject,
        schema: ResourceSchema
    ) throws(SCIMError) {
        let definition = schema.topLevelDefinition(of: attribute.withoutSubAttribute)
        let key = container.storedKey(caseInsensitive: attribute.name) ?? definition?.name ?? attribute.name
        let existing = container[key]
        let isManager = attribute.name.caseInsensitiveEquals("manager")
        var multiValued = definition?.multiValued ?? false
        if case .array? = existing { multiValued = true }
        let valueCaseExact = definition?.subAttribute(named: "value")?.caseExact ?? false

        guard let sub = attribute.subAttribute else {
            switch op {
            case .add:
                guard let value, !value.isNull else { return }
                if multiValued || value.arrayValue != nil {
                    container[key] = .array(mergeElements(existing, adding: elements(of: value), caseExact: valueCaseExact))
                } else if !isManager, case .object(let newObject) = value, case .object(var oldObject)? = existing {
                    merge(newObject, into: &oldObject)
                    container[key] = .object(oldObject)
                } else {
                    container[key] = value
                }
            case .replace:
                guard let value, !value.isNull else {
                    container.removeValue(forKey: key)
                    return
                }
                if multiValued {
                    container[key] = .array(elements(of: value))
                } else if !isManager, case .object(let newObject) = value, case .object(var oldObject)? = existing {
                    merge(newObject, into: &oldObject)
                    container[key] = .object(oldObject)
                } else {
                    container[key] = value
                }
            case .remove:
                if let value, !value.isNull, case .array(let current)? = existing {
                    // Remove only the listed values (Entra ID's member-removal style, any attribute).
                    let listed = elements(of: value)
                    let remaining = current.filter { element in
                        !listed.contains { sameElement(element, $0, caseExact: valueCaseExact) }
                    }
                    if remaining.isEmpty {
                        container.removeValue(forKey: key)
                    } else {
                        container[key] = .array(remaining)
                    }
                } else {
                    container.removeValue(forKey: key)
                }
            }
            return
        }

        // A sub-attribute: `name.givenName`, `emails.value` (every email), `manager.value`.
        let clearing = op == .remove || value == nil || value?.isNull == true
        let subDefinition = definition?.subAttribute(named: sub)
        switch existing {
        case nil, .null?:
            guard !clearing, let value else { return }
            let subKey = subDefinition?.name ?? sub
            container[key] = multiValued ? .array([.object([subKey: value])]) : .object([subKey: value])
        case .object(var object)?:
            let subKey = object.storedKey(caseInsensitive: sub) ?? subDefinition?.name ?? sub
            if clearing {
                object.removeValue(forKey: subKey)
            } else if let value {
                object[subKey] = value
            }
            container[key] = .object(object)
        case .array(var elements)?:
            if elements.isEmpty {
                guard !clearing, let value else { return }
                elements.append(.object([subDefinition?.name ?? sub: value]))
            }
            for index in elements.indices {
                guard case .object(var object) = elements[index] else { continue }
                let subKey = object.storedKey(caseInsensitive: sub) ?? subDefinition?.name ?? sub
                if clearing {
                    object.removeValue(forKey: subKey)
                } else if let value {
                    object[subKey] = value
                }
                elements[index] = .object(object)
            }
            container[key] = .array(elements)
        case let scalar?:
            if clearing { return }
            throw SCIMError.invalidPath(
                "'\(attribute.withoutSubAttribute)' holds \(scalar.kindDescription), not a complex value, so it has no sub-attribute '\(sub)'.")
        }
    }

    static func editFiltered(
        _ op: PatchOperation.Op, _ attribute: AttributePath, filter: SCIMFilter, subAttribute sub: String?,
        value: JSONValue?, in container: inout JSONObject, schema: ResourceSchema
    ) throws(SCIMError) {
        let definition = schema.topLevelDefinition(of: attribute)
        let key = container.storedKey(caseInsensitive: attribute.name) ?? definition?.name ?? attribute.name
        var elements: [JSONValue]
        var multiValued = definition?.multiValued ?? true
        switch container[key] {
        case nil, .null?:
            elements = []
        case .array(let array)?:
            elements = array
            multiValued = true
        case .object?:
            // A single complex value (`manager[value eq "id"]`).
            elements = [container[key] ?? .null]
        case let scalar?:
            if op == .remove { return }
            throw SCIMError.invalidPath(
                "'\(attribute)' holds \(scalar.kindDescription), so a filter in brackets cannot select values in it.")
        }
        let matching = elements.indices.filter { index in
            guard case .object(let element) = elements[index] else { return false }
            return filter.matchesElement(element, of: attribute, schema: schema)
        }
        let subKey = sub.map { definition?.subAttribute(named: $0)?.name ?? $0 }

        switch op {
        case .remove:
            // Nothing matching: nothing to remove, and a retry of a removal must succeed.
            if sub == nil {
                for index in matching.reversed() { elements.remove(at: index) }
            } else if let subKey {
                for index in matching {
                    guard case .object(var element) = elements[index] else { continue }
                    if let stored = element.storedKey(caseInsensitive: subKey) { element.removeValue(forKey: stored) }
                    elements[index] = .object(element)
                }
            }
        case .add, .replace:
            guard let value else { return }
            var touched = matching
            if matching.isEmpty {
                if value.isNull { return }
                guard var created = elementTemplate(from: filter) else {
                    throw SCIMError.noTarget(
                        "no value of '\(attribute)' matches [\(filter)], and a missing value can only be created from 'eq' comparisons joined by 'and'.")
                }
                if let subKey {
                    created[created.storedKey(caseInsensitive: subKey) ?? subKey] = value
                } else {
                    guard case .object(let object) = value else {
                        throw SCIMError.invalidValue("a path with a filter and no sub-attribute needs an object value, not \(value.kindDescription).")
                    }
                    merge(object, into: &created)
                }
                if multiValued {
                    elements.append(.object(created))
                    touched = [elements.count - 1]
                } else {
                    elements = [.object(created)]
                    touched = [0]
                }
            } else {
                for index in matching {
                    guard case .object(var element) = elements[index] else { continue }
                    if let subKey {
                        let stored = element.storedKey(caseInsensitive: subKey) ?? subKey
                        if value.isNull {
                            element.removeValue(forKey: stored)
                        } else {
                            element[stored] = value
                        }
                    } else {
                        guard case .object(let object) = value else {
                            throw SCIMError.invalidValue("a path with a filter and no sub-attribute needs an object value, not \(value.kindDescription).")
                        }
                        merge(object, into: &element)
                    }
                    elements[index] = .object(element)
                }
            }
            if let last = touched.last, isPrimary(elements[last]) {
                clearPrimary(in: &elements, except: last)
            }
        }

        if elements.isEmpty {
            container.removeValue(forKey: key)
        } else if !multiValued, elements.count == 1 {
            container[key] = elements[0]
        } else {
            container[key] = .array(elements)
        }
    }

    // MARK: Multi-valued helpers

    /// The values of a multi-valued attribute as sent: an array, or one value wrapped.
    static func elements(of value: JSONValue) -> [JSONValue] {
        switch value {
        case .array(let array): return array.filter { !$0.isNull }
        case .null: return []
        default: return [value]
        }
    }

    /// `existing` plus `additions`, where an addition equal to an existing value (see
    /// `sameElement`) is merged into it rather than appended. A new primary value clears the
    /// others' `primary` (RFC 7643 §2.4: at most one primary).
    static func mergeElements(_ existing: JSONValue?, adding additions: [JSONValue], caseExact: Bool) -> [JSONValue] {
        var result: [JSONValue]
        switch existing {
        case .array(let array)?: result = array
        case nil, .null?: result = []
        case let single?: result = [single]
        }
        for addition in additions {
            let index: Int
            if let found = result.firstIndex(where: { sameElement($0, addition, caseExact: caseExact) }) {
                if case .object(var old) = result[found], case .object(let new) = addition {
                    merge(new, into: &old)
                    result[found] = .object(old)
                } else {
                    result[found] = addition
                }
                index = found
            } else {
                result.append(addition)
                index = result.count - 1
            }
            if isPrimary(result[index]) { clearPrimary(in: &result, except: index) }
        }
        return result
    }

    /// Whether two values of a multi-valued attribute denote the same value: equal JSON, or equal
    /// `value` (and equal `type` when both have one).
    static func sameElement(_ a: JSONValue, _ b: JSONValue, caseExact: Bool) -> Bool {
        if a == b { return true }
        func identity(_ value: JSONValue) -> (value: JSONValue, type: String?)? {
            switch value {
            case .object(let object):
                guard let inner = object.value(forCaseInsensitiveKey: "value"), !inner.isNull else { return nil }
                return (inner, object.value(forCaseInsensitiveKey: "type")?.stringValue?.lowercased())
            case .string:
                return (value, nil)
            default:
                return nil
            }
        }
        guard let left = identity(a), let right = identity(b) else { return false }
        if let leftType = left.type, let rightType = right.type, leftType != rightType { return false }
        switch (left.value, right.value) {
        case (.string(let x), .string(let y)):
            return caseExact ? x == y : x.lowercased() == y.lowercased()
        default:
            return left.value == right.value
        }
    }

    static func isPrimary(_ value: JSONValue) -> Bool {
        value.objectValue?.value(forCaseInsensitiveKey: "primary")?.lenientBool == true
    }

    static func clearPrimary(in elements: inout [JSONValue], except keep: Int) {
        for index in elements.indices where index != keep && isPrimary(elements[index]) {
            guard case .object(var object) = elements[index], let key = object.storedKey(caseInsensitive: "primary") else { continue }
            object[key] = .bool(false)
            elements[index] = .object(object)
        }
    }

    /// Sets each key of `new` in `old` (matching keys without letter case); null removes.
    static func merge(_ new: JSONObject, into old: inout JSONObject) {
        for (key, value) in new {
            let stored = old.storedKey(caseInsensitive: key) ?? key
            if value.isNull {
                old.removeValue(forKey: stored)
            } else {
                old[stored] = value
            }
        }
    }

    /// The value a filter of `eq` clauses joined by `and` describes (`type eq "work"` →
    /// `{"type": "work"}`); nil for any other filter.
    static func elementTemplate(from filter: SCIMFilter) -> JSONObject? {
        var template = JSONObject()
        for clause in filter.conjuncts {
            guard case .comparison(let path, .eq, let literal) = clause, path.schema == nil, !literal.isNull else { return nil }
            if let sub = path.subAttribute {
                var inner = template[path.name]?.objectValue ?? JSONObject()
                inner[sub] = literal
                template[path.name] = .object(inner)
            } else {
                template[path.name] = literal
            }
        }
        return template.isEmpty ? nil : template
    }
}

extension SCIMFilter {
    /// Whether one value of the multi-valued attribute `parent` matches this (bracket) filter.
    func matchesElement(_ element: JSONObject, of parent: AttributePath, schema: ResourceSchema) -> Bool {
        evaluate(in: element, schema: schema, parent: parent)
    }
}
