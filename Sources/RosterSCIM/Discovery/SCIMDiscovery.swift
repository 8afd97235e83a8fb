import RosterCore

/// The discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
///
/// Every function takes the base URL the SCIM endpoints are served under (for example
/// `https://host/scim/v2/<directory>`) and builds `meta.location` from it.
public enum SCIMDiscovery {
    /// What the service provider configuration advertises.
    public struct Configuration: Hashable, Sendable {
        /// `filter.maxResults`: the largest page. Default 1000.
        public var maxResults: Int
        /// Where an administrator finds Roster's SCIM documentation, if anywhere.
        public var documentationURI: String?

        public init(maxResults: Int = 1000, documentationURI: String? = nil) {
            self.maxResults = maxResults
            self.documentationURI = documentationURI
        }
    }

    /// `GET /ServiceProviderConfig` (RFC 7643 §5): PATCH yes, bulk no, filter yes, password
    /// change no, sort yes, ETags yes, OAuth bearer tokens.
    public static func serviceProviderConfig(baseURL: String, configuration: Configuration = Configuration()) -> JSONObject {
        var document: JSONObject = ["schemas": .array([.string(SCIMSchemaURN.serviceProviderConfig)])]
        if let uri = configuration.documentationURI { document["documentationUri"] = .string(uri) }
        document["patch"] = .object(["supported": .bool(true)])
        document["bulk"] = .object(["supported": .bool(false), "maxOperations": .int(0), "maxPayloadSize": .int(0)])
        document["filter"] = .object(["supported": .bool(true), "maxResults": .int(Int64(configuration.maxResults))])
        document["changePassword"] = .object(["supported": .bool(false)])
        document["sort"] = .object(["supported": .bool(true)])
        document["etag"] = .object(["supported": .bool(true)])
        document["authenticationSchemes"] = .array([
            .object([
                "type": .string("oauthbearertoken"),
                "name": .string("OAuth Bearer Token"),
                "description": .string("Authentication with the directory's bearer token in the Authorization header."),
                "specUri": .string("https://www.rfc-editor.org/info/rfc6750"),
                "primary": .bool(true),
            ])
        ])
        document["meta"] = .object([
            "resourceType": .string("ServiceProviderConfig"),
            "location": .string(joinURL(baseURL, "ServiceProviderConfig")),
        ])
        return document
    }

    /// One resource type (`User` or `Group`, compared without letter case); nil otherwise.
    public static func resourceType(named name: String, baseURL: String) -> JSONObject? {
        if name.caseInsensitiveEquals("User") {
            return [
                "schemas": .array([.string(SCIMSchemaURN.resourceType)]),
                "id": .string("User"),
                "name": .string("User"),
                "endpoint": .string("/Users"),
                "description": .string("User Account"),
                "schema": .string(SCIMSchemaURN.user),
                "schemaExtensions": .array([
                    .object(["schema": .string(SCIMSchemaURN.enterpriseUser), "required": .bool(false)])
                ]),
                "meta": .object([
                    "resourceType": .string("ResourceType"),
                    "location": .string(joinURL(baseURL, "ResourceTypes", "User")),
                ]),
            ]
        }
        if name.caseInsensitiveEquals("Group") {
            return [
                "schemas": .array([.string(SCIMSchemaURN.resourceType)]),
                "id": .string("Group"),
                "name": .string("Group"),
                "endpoint": .string("/Groups"),
                "description": .string("Group"),
                "schema": .string(SCIMSchemaURN.group),
                "meta": .object([
                    "resourceType": .string("ResourceType"),
                    "location": .string(joinURL(baseURL, "ResourceTypes", "Group")),
                ]),
            ]
        }
        return nil
    }

    /// `GET /ResourceTypes`: a ListResponse of User (with the enterprise extension) and Group.
    public static func resourceTypes(baseURL: String) -> JSONObject {
        let types = ["User", "Group"].compactMap { resourceType(named: $0, baseURL: baseURL) }
        return ListResponse.build(resources: types, totalResults: types.count, startIndex: 1)
    }

    /// `GET /Schemas/{id}`: the schema with that URN (compared without letter case); nil otherwise.
    public static func schema(id: String, baseURL: String) -> JSONObject? {
        SCIMSchemas.all.first { $0.id.caseInsensitiveEquals(id) }?.json(baseURL: baseURL)
    }

    /// `GET /Schemas`: a ListResponse of the core User, enterprise User and Group schemas.
    public static func schemas(baseURL: String) -> JSONObject {
        let documents = SCIMSchemas.all.map { $0.json(baseURL: baseURL) }
        return ListResponse.build(resources: documents, totalResults: documents.count, startIndex: 1)
    }
}
