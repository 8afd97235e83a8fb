import RosterCore

/// PATCH for Users.
public enum UserPatch {
    /// Applies every operation to a copy of `user` and returns the new attributes.
    ///
    /// All or nothing: any error leaves `user` as it was (the caller simply keeps it). The result
    /// is normalized (see `ResourceNormalizer`) and still has a non-empty `userName`; read the
    /// fields the core needs with `UserFields.extract(from:)`. Operations on the read-only
    /// `groups` are ignored: memberships change through Groups.
    ///
    /// - Parameters:
    ///   - user: the stored attributes (with or without `id`/`meta`; they are kept).
    ///   - id: the user's id when `user` has no `id` attribute (as stored), so that a `replace`
    ///     of `id` with its current value is a no-op rather than a `mutability` error.
    /// - Throws: 400 `invalidPath`, `invalidValue`, `noTarget` or `mutability`, with a detail
    ///   that starts "PATCH operation N: ".
    public static func apply(_ request: PatchRequest, to user: JSONObject, id: String? = nil) throws(SCIMError) -> JSONObject {
        var engine = PatchEngine(schema: .user, resource: user, ignoredAttributes: ["groups"], resourceID: id)
        for operation in request.operations {
            try engine.apply(operation)
        }
        let result = engine.resource
        do {
            _ = try UserFields.extract(from: result)
        } catch {
            throw SCIMError(status: error.status, scimType: error.scimType, detail: "After this PATCH: \(error.detail)")
        }
        return result
    }
}

/// A change to a group's membership, extracted from a PATCH or a create/replace body without
/// loading the member list.
public enum MemberOp: Hashable, Sendable {
    /// Add these users (ids, in request order, without duplicates).
    case add([String])
    /// Remove these users; ids that are not members are ignored.
    case remove([String])
    /// Remove every member.
    case removeAll
}

/// The outcome of a Group PATCH.
public struct GroupPatchResult: Hashable, Sendable {
    /// The group's attributes without `members`.
    public var attributes: JSONObject
    /// The membership changes, in order; apply them after the attributes.
    public var memberOps: [MemberOp]
}

/// PATCH for Groups, which may have 100,000 members: the member list is never loaded.
public enum GroupPatch {
    /// Applies the attribute operations to a copy of `group` and turns member operations into
    /// `MemberOp`s.
    ///
    /// Member shapes accepted (PROVIDERS.md):
    /// - add, path `members`, value `[{"value": id, "display"?, "$ref"?: null, "type"?}]` → `.add`
    /// - remove, path `members[value eq "id"]` (also `or`-joined `value eq` clauses) → `.remove`
    /// - remove, path `members` **with** a value array (Entra ID) → `.remove` of exactly those;
    ///   never remove-all
    /// - remove, path `members` without a value → `.removeAll`
    /// - replace, path `members` → `.removeAll` then `.add`
    /// - no-path add/replace/remove whose value object has `members` → as the path form
    /// `displayName` changes in any shape (path, or a no-path object with `id` inside).
    ///
    /// - Parameters:
    ///   - group: the group's attributes without members (a `members` key is ignored).
    ///   - id: the group's id when `group` has no `id` attribute (as stored); see `UserPatch`.
    /// - Throws: 400 errors whose detail starts "PATCH operation N: "; a member without a string
    ///   `value` is `invalidValue`.
    public static func apply(_ request: PatchRequest, to group: JSONObject, id: String? = nil) throws(SCIMError) -> GroupPatchResult {
        var attributes = group
        if let key = attributes.storedKey(caseInsensitive: "members") { attributes.removeValue(forKey: key) }
        var engine = PatchEngine(schema: .group, resource: attributes, resourceID: id)
        var memberOps: [MemberOp] = []

        for operation in request.operations {
            do {
                if let path = operation.path {
                    if let attribute = path.attribute, attribute.isCore, attribute.name.caseInsensitiveEquals("members") {
                        memberOps += try memberOperations(operation.op, target: path.target, value: operation.value)
                    } else {
                        try engine.apply(operation.op, path: path, value: operation.value)
                    }
                } else if case .object(let object)? = operation.value {
                    var rest = JSONObject()
                    for (key, value) in object {
                        if key.caseInsensitiveEquals("members") {
                            let membersPath = PatchPath.Target.attribute(AttributePath(name: "members"))
                            memberOps += try memberOperations(operation.op, target: membersPath, value: value)
                        } else {
                            rest[key] = value
                        }
                    }
                    if !rest.isEmpty {
                        try engine.apply(operation.op, path: nil, value: .object(rest))
                    }
                } else {
                    try engine.apply(operation.op, path: nil, value: operation.value)
                }
                try engine.normalize()
            } catch {
                throw error.prefixed(operation.messagePrefix)
            }
        }

        let result = engine.resource
        do {
            _ = try GroupFields.extract(from: result)
        } catch {
            throw SCIMError(status: error.status, scimType: error.scimType, detail: "After this PATCH: \(error.detail)")
        }
        return GroupPatchResult(attributes: result, memberOps: memberOps)
    }

    private static func memberOperations(
        _ op: PatchOperation.Op, target: PatchPath.Target, value: JSONValue?
    ) throws(SCIMError) -> [MemberOp] {
        switch target {
        case .attribute(let attribute) where attribute.subAttribute == nil:
            switch op {
            case .add:
                let ids = try memberIDs(in: value)
                return ids.isEmpty ? [] : [.add(ids)]
            case .replace:
                let ids = try memberIDs(in: value)
                return ids.isEmpty ? [.removeAll] : [.removeAll, .add(ids)]
            case .remove:
                guard let value, !value.isNull else { return [.removeAll] }
                // Entra ID: remove exactly the listed members. An empty list removes nobody.
                let ids = try memberIDs(in: value)
                return ids.isEmpty ? [] : [.remove(ids)]
            }
        case .filtered(_, let filter, let sub) where sub == nil || sub?.caseInsensitiveEquals("value") == true:
            guard op == .remove else {
                throw SCIMError.invalidPath(
                    "'\(op.rawValue)' on a filtered members path is not supported; add members with path 'members' and a value like [{\"value\": \"<user id>\"}].")
            }
            guard let ids = memberIDs(in: filter) else {
                throw SCIMError.invalidPath(
                    "only 'members[value eq \"<user id>\"]' filters (optionally joined with 'or') can select members to remove, not [\(filter)].")
            }
            return [.remove(ids)]
        default:
            throw SCIMError.invalidPath(
                "this members path is not supported; use 'members' with a value like [{\"value\": \"<user id>\"}], or 'members[value eq \"<user id>\"]' to remove.")
        }
    }

    /// User ids from `value eq "id"` clauses joined by `or`; nil for any other filter.
    static func memberIDs(in filter: SCIMFilter) -> [String]? {
        var ids: [String] = []
        func collect(_ filter: SCIMFilter) -> Bool {
            switch filter {
            case .or(let left, let right):
                return collect(left) && collect(right)
            case .comparison(let path, .eq, .string(let id)):
                guard path.schema == nil, path.subAttribute == nil, path.name.caseInsensitiveEquals("value") else { return false }
                ids.append(id)
                return true
            default:
                return false
            }
        }
        return collect(filter) ? deduplicated(ids) : nil
    }

    /// User ids from a members value: `[{"value": id, ...}]`, one such object, or (leniently)
    /// bare id strings.
    static func memberIDs(in value: JSONValue?) throws(SCIMError) -> [String] {
        guard let value else { return [] }
        let elements: [JSONValue]
        switch value {
        case .null: return []
        case .array(let array): elements = array
        default: elements = [value]
        }
        var ids: [String] = []
        ids.reserveCapacity(elements.count)
        for (offset, element) in elements.enumerated() {
            let number = offset + 1
            switch element {
            case .object(let member):
                guard let idValue = member.value(forCaseInsensitiveKey: "value") else {
                    throw SCIMError.invalidValue("member \(number) has no 'value'; send {\"value\": \"<user id>\"}.")
                }
                guard case .string(let id) = idValue, !id.trimmingSpaces.isEmpty else {
                    throw SCIMError.invalidValue("member \(number) 'value' must be the user's id as a non-empty string, not \(idValue.jsonText).")
                }
                if let type = member.value(forCaseInsensitiveKey: "type")?.stringValue, !type.caseInsensitiveEquals("User") {
                    throw SCIMError.invalidValue("member \(number) has type '\(type)'; only User members are supported (no nested groups).")
                }
                ids.append(id)
            case .string(let id) where !id.trimmingSpaces.isEmpty:
                ids.append(id)
            case .null:
                continue
            default:
                throw SCIMError.invalidValue("member \(number) must be an object like {\"value\": \"<user id>\"}, not \(element.jsonText).")
            }
        }
        return deduplicated(ids)
    }

    static func deduplicated(_ ids: [String]) -> [String] {
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }
    }
}
