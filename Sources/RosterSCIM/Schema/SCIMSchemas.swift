import RosterCore

/// The schema and message URNs Roster speaks.
public enum SCIMSchemaURN {
    public static let user = "urn:ietf:params:scim:schemas:core:2.0:User"
    public static let group = "urn:ietf:params:scim:schemas:core:2.0:Group"
    public static let enterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    public static let patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    public static let listResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    public static let error = "urn:ietf:params:scim:api:messages:2.0:Error"
    public static let serviceProviderConfig = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    public static let resourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    public static let schema = "urn:ietf:params:scim:schemas:core:2.0:Schema"

    /// Schemas whose attributes live at the top level of a resource.
    static let core: [String] = [user, group]
    /// Every resource schema Roster knows, longest first so that prefix matching picks the most
    /// specific one.
    static let known: [String] = [enterpriseUser, user, group].sorted { $0.utf8.count > $1.utf8.count }

    static func isCore(_ urn: String) -> Bool {
        core.contains { $0.caseInsensitiveEquals(urn) }
    }
}

/// One attribute definition in the RFC 7643 §7 schema representation.
public struct SCIMAttribute: Sendable, Hashable {
    public enum DataType: String, Sendable, Hashable {
        case string, boolean, decimal, integer, dateTime, reference, complex, binary
    }
    public enum Mutability: String, Sendable, Hashable {
        case readOnly, readWrite, immutable, writeOnly
    }
    public enum Returned: String, Sendable, Hashable {
        case always, never, `default`, request
    }
    public enum Uniqueness: String, Sendable, Hashable {
        case none, server, global
    }

    public var name: String
    public var type: DataType
    public var multiValued: Bool
    public var required: Bool
    public var caseExact: Bool
    public var mutability: Mutability
    public var returned: Returned
    public var uniqueness: Uniqueness
    public var description: String
    public var subAttributes: [SCIMAttribute]
    public var canonicalValues: [String]
    public var referenceTypes: [String]

    init(
        _ name: String, _ type: DataType = .string, multiValued: Bool = false, required: Bool = false,
        caseExact: Bool = false, mutability: Mutability = .readWrite, returned: Returned = .default,
        uniqueness: Uniqueness = .none, description: String, subAttributes: [SCIMAttribute] = [],
        canonicalValues: [String] = [], referenceTypes: [String] = []
    ) {
        self.name = name
        self.type = type
        self.multiValued = multiValued
        self.required = required
        self.caseExact = caseExact
        self.mutability = mutability
        self.returned = returned
        self.uniqueness = uniqueness
        self.description = description
        self.subAttributes = subAttributes
        self.canonicalValues = canonicalValues
        self.referenceTypes = referenceTypes
    }

    /// The sub-attribute named `name`, compared without letter case.
    public func subAttribute(named name: String) -> SCIMAttribute? {
        subAttributes.first { $0.name.caseInsensitiveEquals(name) }
    }

    /// The RFC 7643 §7 representation.
    public var json: JSONObject {
        var object: JSONObject = [
            "name": .string(name),
            "type": .string(type.rawValue),
            "multiValued": .bool(multiValued),
            "description": .string(description),
            "required": .bool(required),
        ]
        if type == .string || type == .reference || type == .binary {
            object["caseExact"] = .bool(caseExact)
        }
        if !canonicalValues.isEmpty { object["canonicalValues"] = .array(canonicalValues.map(JSONValue.string)) }
        if !referenceTypes.isEmpty { object["referenceTypes"] = .array(referenceTypes.map(JSONValue.string)) }
        if !subAttributes.isEmpty { object["subAttributes"] = .array(subAttributes.map { .object($0.json) }) }
        object["mutability"] = .string(mutability.rawValue)
        object["returned"] = .string(returned.rawValue)
        object["uniqueness"] = .string(uniqueness.rawValue)
        return object
    }
}

/// A schema (RFC 7643 §7): an id URN, a name and its attributes.
public struct SCIMSchema: Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    public var attributes: [SCIMAttribute]

    public func attribute(named name: String) -> SCIMAttribute? {
        attributes.first { $0.name.caseInsensitiveEquals(name) }
    }

    /// The `/Schemas/{id}` representation; `meta.location` is built from `baseURL`.
    public func json(baseURL: String) -> JSONObject {
        [
            "schemas": .array([.string(SCIMSchemaURN.schema)]),
            "id": .string(id),
            "name": .string(name),
            "description": .string(description),
            "attributes": .array(attributes.map { .object($0.json) }),
            "meta": .object([
                "resourceType": .string("Schema"),
                "location": .string(joinURL(baseURL, "Schemas", id)),
            ]),
        ]
    }
}

/// The attribute characteristics the evaluator, projection and PATCH engine consult for one
/// resource type: its core schema, its extensions and the common attributes (`id`,
/// `externalId`, `meta`).
public struct ResourceSchema: Sendable, Hashable {
    public var core: SCIMSchema
    public var extensions: [SCIMSchema]

    public static let user = ResourceSchema(core: SCIMSchemas.user, extensions: [SCIMSchemas.enterpriseUser])
    public static let group = ResourceSchema(core: SCIMSchemas.group, extensions: [])

    /// The definition of the attribute a path names (the sub-attribute's if it has one), or nil
    /// for attributes no schema declares (those are kept as provided and compared as
    /// `caseExact: false` strings, the RFC 7643 default).
    public func definition(of path: AttributePath) -> SCIMAttribute? {
        guard let top = topLevelDefinition(of: path) else { return nil }
        guard let sub = path.subAttribute else { return top }
        return top.subAttribute(named: sub)
    }

    /// The definition of the attribute `path.name` (ignoring any sub-attribute).
    func topLevelDefinition(of path: AttributePath) -> SCIMAttribute? {
        if let schema = path.schema, !SCIMSchemaURN.isCore(schema) {
            return extensions.first { $0.id.caseInsensitiveEquals(schema) }?.attribute(named: path.name)
        }
        if let common = SCIMSchemas.common.first(where: { $0.name.caseInsensitiveEquals(path.name) }) {
            return common
        }
        if let attribute = core.attribute(named: path.name) { return attribute }
        // Unqualified enterprise attribute names (`employeeNumber`, `manager`) are tolerated.
        if path.schema == nil {
            for schema in extensions {
                if let attribute = schema.attribute(named: path.name) { return attribute }
            }
        }
        return nil
    }

    /// The extension schema that declares the unqualified attribute `name`, if the core schema
    /// does not. Lets `employeeNumber` and `manager` be used without their URN.
    func extensionDeclaring(unqualified name: String) -> String? {
        if core.attribute(named: name) != nil { return nil }
        if SCIMSchemas.common.contains(where: { $0.name.caseInsensitiveEquals(name) }) { return nil }
        return extensions.first { $0.attribute(named: name) != nil }?.id
    }

    /// Whether the top-level attribute is multi-valued according to the schema.
    func isMultiValued(_ path: AttributePath) -> Bool {
        topLevelDefinition(of: path)?.multiValued ?? false
    }

    /// Whether string comparison on this attribute is case-sensitive.
    func isCaseExact(_ path: AttributePath) -> Bool {
        definition(of: path)?.caseExact ?? false
    }
}

/// The schemas Roster serves (RFC 7643 §4 and §8.7).
public enum SCIMSchemas {
    private static func multi(_ name: String, _ description: String, valueType: SCIMAttribute.DataType = .string,
                              types: [String], referenceTypes: [String] = []) -> SCIMAttribute {
        var subs: [SCIMAttribute] = [
            SCIMAttribute("value", valueType, description: "The attribute's significant value."),
            SCIMAttribute("display", description: "A human-readable name, primarily used for display purposes."),
            SCIMAttribute("type", description: "A label indicating the attribute's function.", canonicalValues: types),
            SCIMAttribute("primary", .boolean, description: "Whether this is the preferred value; at most one value is primary."),
        ]
        if !referenceTypes.isEmpty {
            subs.append(SCIMAttribute("$ref", .reference, description: "The URI of the referenced resource.", referenceTypes: referenceTypes))
        }
        return SCIMAttribute(name, .complex, multiValued: true, description: description, subAttributes: subs)
    }

    /// `id`, `externalId` and `meta` (RFC 7643 §3.1), shared by every resource type.
    static let common: [SCIMAttribute] = [
        SCIMAttribute("id", caseExact: true, mutability: .readOnly, returned: .always, uniqueness: .server,
                      description: "Unique identifier for the resource, assigned by the service provider."),
        SCIMAttribute("externalId", caseExact: true,
                      description: "Identifier of the resource as defined by the provisioning client."),
        SCIMAttribute("meta", .complex, mutability: .readOnly, description: "Resource metadata.", subAttributes: [
            SCIMAttribute("resourceType", caseExact: true, mutability: .readOnly, description: "The name of the resource type."),
            SCIMAttribute("created", .dateTime, mutability: .readOnly, description: "When the resource was added."),
            SCIMAttribute("lastModified", .dateTime, mutability: .readOnly, description: "When the resource was last updated."),
            SCIMAttribute("location", .reference, caseExact: true, mutability: .readOnly, description: "The URI of the resource.",
                          referenceTypes: ["uri"]),
            SCIMAttribute("version", caseExact: true, mutability: .readOnly, description: "The version (ETag) of the resource."),
        ]),
    ]

    public static let user = SCIMSchema(
        id: SCIMSchemaURN.user, name: "User", description: "User Account",
        attributes: [
            SCIMAttribute("userName", required: true, uniqueness: .server,
                          description: "Unique identifier for the User, typically used to sign in. Compared without letter case."),
            SCIMAttribute("name", .complex, description: "The components of the user's real name.", subAttributes: [
                SCIMAttribute("formatted", description: "The full name, formatted for display."),
                SCIMAttribute("familyName", description: "The family name."),
                SCIMAttribute("givenName", description: "The given name."),
                SCIMAttribute("middleName", description: "The middle name(s)."),
                SCIMAttribute("honorificPrefix", description: "The honorific prefix(es), e.g. 'Ms.'."),
                SCIMAttribute("honorificSuffix", description: "The honorific suffix(es), e.g. 'III'."),
            ]),
            SCIMAttribute("displayName", description: "The name of the User, suitable for display to end-users."),
            SCIMAttribute("nickName", description: "The casual way to address the user."),
            SCIMAttribute("profileUrl", .reference, description: "A URI of the User's online profile.", referenceTypes: ["external"]),
            SCIMAttribute("title", description: "The user's title, such as 'Vice President'."),
            SCIMAttribute("userType", description: "The relationship between the organization and the user."),
            SCIMAttribute("preferredLanguage", description: "The User's preferred written or spoken language."),
            SCIMAttribute("locale", description: "The User's default location, e.g. 'en-US'."),
            SCIMAttribute("timezone", description: "The User's time zone in the Olson format, e.g. 'America/Los_Angeles'."),
            SCIMAttribute("active", .boolean, description: "The User's administrative status. false suspends the user and removes their memberships."),
            SCIMAttribute("password", mutability: .writeOnly, returned: .never,
                          description: "Not stored: Roster does not authenticate users, any password sent is discarded."),
            multi("emails", "Email addresses for the user.", types: ["work", "home", "other"]),
            multi("phoneNumbers", "Phone numbers for the User.", types: ["work", "home", "mobile", "fax", "pager", "other"]),
            multi("ims", "Instant messaging addresses for the User.", types: ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
            multi("photos", "URLs of photos of the User.", valueType: .reference, types: ["photo", "thumbnail"]),
            SCIMAttribute("addresses", .complex, multiValued: true, description: "A physical mailing address for this User.", subAttributes: [
                SCIMAttribute("formatted", description: "The full mailing address, formatted for display."),
                SCIMAttribute("streetAddress", description: "The full street address component."),
                SCIMAttribute("locality", description: "The city or locality component."),
                SCIMAttribute("region", description: "The state or region component."),
                SCIMAttribute("postalCode", description: "The zip code or postal code component."),
                SCIMAttribute("country", description: "The country name component (ISO 3166-1 alpha-2)."),
                SCIMAttribute("type", description: "A label indicating the attribute's function.", canonicalValues: ["work", "home", "other"]),
                SCIMAttribute("primary", .boolean, description: "Whether this is the preferred address."),
            ]),
            SCIMAttribute("groups", .complex, multiValued: true, mutability: .readOnly,
                          description: "Groups the user belongs to. Read-only: change memberships through the Group resource.",
                          subAttributes: [
                              SCIMAttribute("value", mutability: .readOnly, description: "The id of the Group."),
                              SCIMAttribute("$ref", .reference, mutability: .readOnly, description: "The URI of the Group.", referenceTypes: ["Group"]),
                              SCIMAttribute("display", mutability: .readOnly, description: "The displayName of the Group."),
                              SCIMAttribute("type", mutability: .readOnly, description: "'direct' or 'indirect'.", canonicalValues: ["direct", "indirect"]),
                          ]),
            multi("entitlements", "A list of entitlements for the User.", types: []),
            multi("roles", "A list of roles for the User.", types: []),
            multi("x509Certificates", "A list of certificates issued to the User.", valueType: .binary, types: []),
        ])

    public static let enterpriseUser = SCIMSchema(
        id: SCIMSchemaURN.enterpriseUser, name: "EnterpriseUser", description: "Enterprise User",
        attributes: [
            SCIMAttribute("employeeNumber", description: "Numeric or alphanumeric identifier assigned to a person by the organization."),
            SCIMAttribute("costCenter", description: "Identifies the name of a cost center."),
            SCIMAttribute("organization", description: "Identifies the name of an organization."),
            SCIMAttribute("division", description: "Identifies the name of a division."),
            SCIMAttribute("department", description: "Identifies the name of a department."),
            SCIMAttribute("manager", .complex, description: "The User's manager.", subAttributes: [
                SCIMAttribute("value", caseExact: true, description: "The id of the SCIM resource representing the User's manager."),
                SCIMAttribute("$ref", .reference, description: "The URI of the manager's User resource.", referenceTypes: ["User"]),
                SCIMAttribute("displayName", mutability: .readOnly, description: "The displayName of the User's manager."),
            ]),
        ])

    public static let group = SCIMSchema(
        id: SCIMSchemaURN.group, name: "Group", description: "Group",
        attributes: [
            SCIMAttribute("displayName", required: true, description: "A human-readable name for the Group."),
            SCIMAttribute("members", .complex, multiValued: true, description: "A list of members of the Group.", subAttributes: [
                SCIMAttribute("value", caseExact: true, mutability: .immutable, description: "The id of the member User."),
                SCIMAttribute("$ref", .reference, mutability: .immutable, description: "The URI of the member.", referenceTypes: ["User"]),
                SCIMAttribute("display", mutability: .readOnly, description: "The displayName of the member (ignored on input)."),
                SCIMAttribute("type", mutability: .immutable, description: "The type of member; only 'User' is supported.", canonicalValues: ["User"]),
            ]),
        ])

    /// Every schema, in the order `/Schemas` lists them.
    public static let all: [SCIMSchema] = [user, enterpriseUser, group]
}

// MARK: - Small string helpers

extension StringProtocol {
    /// Equality ignoring letter case (SCIM attribute names and URNs are case-insensitive).
    func caseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        if self == other { return true }
        if utf8.count != other.utf8.count, isASCIIOnly, other.isASCIIOnly { return false }
        return lowercased() == other.lowercased()
    }

    /// Whether the string starts with `prefix`, ignoring letter case.
    func caseInsensitiveHasPrefix(_ prefix: some StringProtocol) -> Bool {
        lowercased().hasPrefix(prefix.lowercased())
    }

    var isASCIIOnly: Bool { utf8.allSatisfy { $0 < 0x80 } }
}

/// `base` + "/" + components, without doubling slashes.
func joinURL(_ base: String, _ components: String...) -> String {
    var result = base
    while result.hasSuffix("/") { result.removeLast() }
    for component in components {
        result += "/" + component
    }
    return result
}
