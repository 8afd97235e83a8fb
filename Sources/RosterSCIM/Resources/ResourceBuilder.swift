import Foundation
import RosterCore

/// Server-maintained metadata of a resource.
public struct ResourceMeta: Hashable, Sendable {
    public var created: ISO8601Timestamp
    public var lastModified: ISO8601Timestamp
    /// The resource's version: the revision of its last change. Sent as the weak ETag `W/"<n>"`.
    public var version: Int64

    public init(created: ISO8601Timestamp, lastModified: ISO8601Timestamp, version: Int64) {
        self.created = created
        self.lastModified = lastModified
        self.version = version
    }

    public init(created: Date, lastModified: Date, version: Int64) {
        self.init(created: ISO8601Timestamp(created), lastModified: ISO8601Timestamp(lastModified), version: version)
    }
}

/// One member of a group as returned in `members`.
public struct GroupMemberReference: Hashable, Sendable {
    public var userID: String
    /// The user's displayName (or userName), shown as `display`.
    public var display: String?

    public init(userID: String, display: String? = nil) {
        self.userID = userID
        self.display = display
    }
}

/// Builds the JSON Roster sends for Users and Groups.
public enum SCIMResources {
    /// The weak ETag of a version: `W/"42"`.
    public static func etag(version: Int64) -> String { "W/\"\(version)\"" }

    /// The version in an `If-Match`/`If-None-Match` ETag (`W/"42"`, `"42"`); nil if it is not one
    /// of ours. `*` is the caller's to handle.
    public static func version(fromETag etag: String) -> Int64? {
        var text = Substring(etag.trimmingSpaces)
        if text.hasPrefix("W/") || text.hasPrefix("w/") { text = text.dropFirst(2) }
        guard text.count >= 2, text.first == "\"", text.last == "\"" else { return nil }
        return Int64(text.dropFirst().dropLast())
    }

    /// The `/Users/{id}` URL.
    public static func userLocation(id: String, baseURL: String) -> String { joinURL(baseURL, "Users", id) }
    /// The `/Groups/{id}` URL.
    public static func groupLocation(id: String, baseURL: String) -> String { joinURL(baseURL, "Groups", id) }

    /// A User as returned: `schemas` (core first, then every extension present, then any other
    /// URN the provider sent), `id`, the stored attributes in their order (never `password`),
    /// and `meta`.
    public static func user(id: String, attributes: JSONObject, meta: ResourceMeta, baseURL: String) -> JSONObject {
        build(
            id: id, attributes: attributes, coreSchema: SCIMSchemaURN.user, resourceType: "User",
            location: userLocation(id: id, baseURL: baseURL), meta: meta, members: nil, baseURL: baseURL)
    }

    /// A Group as returned. Pass `members: nil` when they were excluded (`excludedAttributes=members`)
    /// so that none is loaded; an empty array is returned as no `members` attribute.
    public static func group(
        id: String, attributes: JSONObject, members: [GroupMemberReference]?, meta: ResourceMeta, baseURL: String
    ) -> JSONObject {
        build(
            id: id, attributes: attributes, coreSchema: SCIMSchemaURN.group, resourceType: "Group",
            location: groupLocation(id: id, baseURL: baseURL), meta: meta, members: members, baseURL: baseURL)
    }

    private static func build(
        id: String, attributes: JSONObject, coreSchema: String, resourceType: String, location: String,
        meta: ResourceMeta, members: [GroupMemberReference]?, baseURL: String
    ) -> JSONObject {
        var schemas: [String] = [coreSchema]
        func addSchema(_ urn: String) {
            if !schemas.contains(where: { $0.caseInsensitiveEquals(urn) }) { schemas.append(urn) }
        }
        for (key, value) in attributes where key.caseInsensitiveHasPrefix("urn:") {
            if case .object = value { addSchema(key) }
        }
        if let provided = attributes.value(forCaseInsensitiveKey: "schemas")?.arrayValue {
            for case .string(let urn) in provided { addSchema(urn) }
        }

        var output = JSONObject()
        output.reserveCapacity(attributes.count + 4)
        output["schemas"] = .array(schemas.map(JSONValue.string))
        output["id"] = .string(id)
        for (key, value) in attributes {
            switch key.lowercased() {
            case "schemas", "id", "meta", "password", "members": continue
            default: output[key] = value
            }
        }
        if let members, !members.isEmpty {
            output["members"] = .array(members.map { member in
                var object: JSONObject = ["value": .string(member.userID)]
                if let display = member.display { object["display"] = .string(display) }
                object["$ref"] = .string(userLocation(id: member.userID, baseURL: baseURL))
                object["type"] = .string("User")
                return .object(object)
            })
        }
        output["meta"] = .object([
            "resourceType": .string(resourceType),
            "created": .string(meta.created.formatted),
            "lastModified": .string(meta.lastModified.formatted),
            "location": .string(location),
            "version": .string(etag(version: meta.version)),
        ])
        return output
    }
}

/// The SCIM ListResponse (RFC 7644 §3.4.2).
public enum ListResponse {
    /// `{"schemas": [ListResponse], "totalResults", "itemsPerPage", "startIndex", "Resources"}`,
    /// numbers as JSON integers; `Resources` is present (possibly empty) so that a filter that
    /// matches nothing is a 200 with an empty list, as Entra ID requires.
    public static func build(resources: [JSONObject], totalResults: Int, startIndex: Int) -> JSONObject {
        [
            "schemas": .array([.string(SCIMSchemaURN.listResponse)]),
            "totalResults": .int(Int64(totalResults)),
            "itemsPerPage": .int(Int64(resources.count)),
            "startIndex": .int(Int64(startIndex)),
            "Resources": .array(resources.map(JSONValue.object)),
        ]
    }
}

/// The query parameters of a list request (`GET /Users`, `GET /Groups`, RFC 7644 §3.4.2),
/// validated.
public struct ListQuery: Hashable, Sendable {
    public struct Limits: Hashable, Sendable {
        /// The largest page; `count` above it is clamped, and it is the default `count`. Default 1000.
        public var maxPageSize: Int
        public var filter: SCIMFilter.Limits

        public init(maxPageSize: Int = 1000, filter: SCIMFilter.Limits = SCIMFilter.Limits()) {
            self.maxPageSize = max(0, maxPageSize)
            self.filter = filter
        }
    }

    public var filter: SCIMFilter?
    /// One-based index of the first result; values below 1 become 1 (RFC 7644 §3.4.2.4).
    public var startIndex: Int
    /// Page size: negative becomes 0, above the maximum becomes the maximum, absent is the maximum.
    public var count: Int
    public var projection: AttributeProjection
    public var sort: SortSpec?

    public init(
        filter: SCIMFilter? = nil, startIndex: Int = 1, count: Int, projection: AttributeProjection = AttributeProjection(),
        sort: SortSpec? = nil
    ) {
        self.filter = filter
        self.startIndex = max(1, startIndex)
        self.count = max(0, count)
        self.projection = projection
        self.sort = sort
    }

    /// Reads the query parameters (names compared without letter case; the HTTP layer has already
    /// URL-decoded names and values).
    ///
    /// - Throws: 400 `invalidFilter` for a bad filter, 400 `invalidValue` for a non-numeric
    ///   `startIndex`/`count`, a bad `sortOrder`, or bad attribute paths.
    public init(parameters: some Sequence<(String, String)>, limits: Limits = Limits()) throws(SCIMError) {
        var values: [String: String] = [:]
        for (name, value) in parameters {
            values[name.lowercased()] = value
        }
        if let text = values["filter"], !text.trimmingSpaces.isEmpty {
            filter = try SCIMFilter.parse(text, limits: limits.filter)
        } else {
            filter = nil
        }
        startIndex = max(1, try Self.integer(values["startindex"], name: "startIndex") ?? 1)
        let requested = try Self.integer(values["count"], name: "count") ?? limits.maxPageSize
        count = min(max(0, requested), limits.maxPageSize)
        projection = try AttributeProjection(attributes: values["attributes"], excludedAttributes: values["excludedattributes"])
        sort = try SortSpec(sortBy: values["sortby"], sortOrder: values["sortorder"])
    }

    /// Same, from a dictionary.
    public init(parameters: [String: String], limits: Limits = Limits()) throws(SCIMError) {
        try self.init(parameters: parameters.map { ($0.key, $0.value) }, limits: limits)
    }

    /// The zero-based range of results this page covers, within `0..<totalResults`.
    public func pageRange(totalResults: Int) -> Range<Int> {
        let total = max(0, totalResults)
        let lower = min(startIndex - 1, total)
        let upper = min(lower + min(count, total - lower), total)
        return lower..<upper
    }

    /// An integer parameter; digits beyond Int's range clamp (a huge count means "all").
    private static func integer(_ text: String?, name: String) throws(SCIMError) -> Int? {
        guard let raw = text?.trimmingSpaces, !raw.isEmpty else { return nil }
        if let value = Int(raw) { return value }
        var digits = Substring(raw)
        let negative = digits.first == "-"
        if negative || digits.first == "+" { digits = digits.dropFirst() }
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return negative ? Int.min : Int.max
        }
        throw SCIMError.invalidValue("'\(name)' must be an integer, not '\(raw)'.")
    }
}
