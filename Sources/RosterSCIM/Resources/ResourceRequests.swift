import RosterCore

/// The User fields the core model keeps in columns, read from SCIM attributes.
public struct UserFields: Hashable, Sendable {
    /// Required, non-empty. Unique per directory without letter case (the core enforces it).
    public var userName: String
    public var externalId: String?
    public var displayName: String?
    /// `active`, read leniently (`true`, `"False"`, ...); absent means true.
    public var active: Bool

    public init(userName: String, externalId: String? = nil, displayName: String? = nil, active: Bool = true) {
        self.userName = userName
        self.externalId = externalId
        self.displayName = displayName
        self.active = active
    }

    /// Reads the fields.
    ///
    /// - Throws: 400 `invalidValue` when `userName` is missing or empty, or when `active` or
    ///   `externalId` has the wrong type.
    public static func extract(from user: JSONObject) throws(SCIMError) -> UserFields {
        guard let userNameValue = user.value(forCaseInsensitiveKey: "userName"), !userNameValue.isNull else {
            throw SCIMError.invalidValue("'userName' is required.")
        }
        guard case .string(let userName) = userNameValue, !userName.trimmingSpaces.isEmpty else {
            throw SCIMError.invalidValue("'userName' must be a non-empty string, not \(userNameValue.jsonText).")
        }
        var active = true
        if let activeValue = user.value(forCaseInsensitiveKey: "active"), !activeValue.isNull {
            guard let flag = activeValue.lenientBool else {
                throw SCIMError.invalidValue("'active' must be true or false, not \(activeValue.jsonText).")
            }
            active = flag
        }
        return UserFields(
            userName: userName,
            externalId: try optionalIdentifier(user, "externalId"),
            displayName: user.value(forCaseInsensitiveKey: "displayName")?.stringValue,
            active: active)
    }
}

/// The Group fields the core model keeps in columns.
public struct GroupFields: Hashable, Sendable {
    /// Required, non-empty.
    public var displayName: String
    public var externalId: String?

    public init(displayName: String, externalId: String? = nil) {
        self.displayName = displayName
        self.externalId = externalId
    }

    /// - Throws: 400 `invalidValue` when `displayName` is missing or empty.
    public static func extract(from group: JSONObject) throws(SCIMError) -> GroupFields {
        guard let nameValue = group.value(forCaseInsensitiveKey: "displayName"), !nameValue.isNull else {
            throw SCIMError.invalidValue("'displayName' is required for a Group.")
        }
        guard case .string(let displayName) = nameValue, !displayName.trimmingSpaces.isEmpty else {
            throw SCIMError.invalidValue("'displayName' must be a non-empty string, not \(nameValue.jsonText).")
        }
        return GroupFields(displayName: displayName, externalId: try optionalIdentifier(group, "externalId"))
    }
}

/// A string identifier attribute; a number is accepted as its decimal text.
private func optionalIdentifier(_ object: JSONObject, _ name: String) throws(SCIMError) -> String? {
    guard let value = object.value(forCaseInsensitiveKey: name) else { return nil }
    switch value {
    case .null: return nil
    case .string(let text): return text.isEmpty ? nil : text
    case .int(let number): return String(number)
    default: throw SCIMError.invalidValue("'\(name)' must be a string, not \(value.jsonText).")
    }
}

/// A validated User body of a POST (create) or PUT (replace).
///
/// `id` and `meta` are ignored (server-assigned), `password` is dropped, `null` means absent,
/// `emails` as an object becomes an array, unknown attributes and schema URNs are kept, and a
/// missing `schemas` is tolerated.
public struct UserRequest: Hashable, Sendable {
    /// The attributes to store (without `id`, `meta`, `password`, `groups`).
    public var attributes: JSONObject
    public var fields: UserFields
    /// The group ids the body's `groups` asked for (Okta sends `[]`, OneLogin may send groups);
    /// nil when the body has no `groups`. `groups` is read-only in RFC 7643: the core decides
    /// whether to honour it.
    public var requestedGroupIDs: [String]?

    public init(bytes: some Collection<UInt8>) throws(SCIMError) {
        try self.init(body: try parseJSONObjectBody(bytes, what: "a User"))
    }

    public init(body: JSONObject) throws(SCIMError) {
        var attributes = body
        removeServerAssigned(&attributes)
        if let key = attributes.storedKey(caseInsensitive: "groups") {
            let value = attributes[key]
            attributes.removeValue(forKey: key)
            requestedGroupIDs = try referencedIDs(in: value, noun: "group")
        } else {
            requestedGroupIDs = nil
        }
        try ResourceNormalizer.normalize(&attributes, schema: .user)
        self.fields = try UserFields.extract(from: attributes)
        self.attributes = attributes
    }
}

/// A validated Group body of a POST (create) or PUT (replace).
public struct GroupRequest: Hashable, Sendable {
    /// The attributes to store (without `id`, `meta`, `members`).
    public var attributes: JSONObject
    public var fields: GroupFields
    /// The member user ids; nil when the body has no `members` (for a PUT the caller decides
    /// whether that means "none" or "unchanged"), empty for `[]` or null.
    public var memberIDs: [String]?

    public init(bytes: some Collection<UInt8>) throws(SCIMError) {
        try self.init(body: try parseJSONObjectBody(bytes, what: "a Group"))
    }

    public init(body: JSONObject) throws(SCIMError) {
        var attributes = body
        removeServerAssigned(&attributes)
        if let key = attributes.storedKey(caseInsensitive: "members") {
            let value = attributes[key]
            attributes.removeValue(forKey: key)
            memberIDs = try GroupPatch.memberIDs(in: value)
        } else {
            memberIDs = nil
        }
        try ResourceNormalizer.normalize(&attributes, schema: .group)
        self.fields = try GroupFields.extract(from: attributes)
        self.attributes = attributes
    }
}

/// Drops what the server assigns (`id`, `meta`) and a `schemas` that is not a list of strings.
private func removeServerAssigned(_ attributes: inout JSONObject) {
    for name in ["id", "meta"] {
        if let key = attributes.storedKey(caseInsensitive: name) { attributes.removeValue(forKey: key) }
    }
    if let key = attributes.storedKey(caseInsensitive: "schemas") {
        let isListOfStrings = attributes[key]?.arrayValue?.allSatisfy { $0.stringValue != nil } ?? false
        if !isListOfStrings { attributes.removeValue(forKey: key) }
    }
}

/// Ids from `[{"value": id}, ...]` (or bare strings).
private func referencedIDs(in value: JSONValue?, noun: String) throws(SCIMError) -> [String] {
    guard let value, !value.isNull else { return [] }
    let elements = value.arrayValue ?? [value]
    var ids: [String] = []
    for (offset, element) in elements.enumerated() {
        switch element {
        case .object(let object):
            guard case .string(let id)? = object.value(forCaseInsensitiveKey: "value"), !id.isEmpty else {
                throw SCIMError.invalidValue("\(noun) \(offset + 1) must have a 'value' with the \(noun)'s id as a string.")
            }
            ids.append(id)
        case .string(let id) where !id.isEmpty:
            ids.append(id)
        case .null:
            continue
        default:
            throw SCIMError.invalidValue("\(noun) \(offset + 1) must be an object like {\"value\": \"<\(noun) id>\"}, not \(element.jsonText).")
        }
    }
    return GroupPatch.deduplicated(ids)
}
