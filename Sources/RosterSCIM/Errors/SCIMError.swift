import RosterCore

/// A SCIM protocol error (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a `detail`
/// that a provider's administrator can act on.
///
/// The HTTP layer turns it into a response with `jsonBody` and the status code; nothing else in
/// the module maps errors to HTTP.
public struct SCIMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `scimType` keywords of RFC 7644 Table 9. A struct rather than an enum so that a
    /// keyword added later does not break callers' switches.
    public struct ScimType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The filter syntax was invalid or the filter is not supported.
        public static let invalidFilter = ScimType(rawValue: "invalidFilter")
        /// The filter yields more results than the server is willing to calculate.
        public static let tooMany = ScimType(rawValue: "tooMany")
        /// One or more attribute values are already in use or reserved.
        public static let uniqueness = ScimType(rawValue: "uniqueness")
        /// The attempted modification is not compatible with an attribute's mutability.
        public static let mutability = ScimType(rawValue: "mutability")
        /// The request body was not valid JSON or did not follow the request schema.
        public static let invalidSyntax = ScimType(rawValue: "invalidSyntax")
        /// The PATCH path was invalid or malformed.
        public static let invalidPath = ScimType(rawValue: "invalidPath")
        /// The PATCH path did not yield an attribute that could be operated on.
        public static let noTarget = ScimType(rawValue: "noTarget")
        /// A required value was missing or the value had the wrong type.
        public static let invalidValue = ScimType(rawValue: "invalidValue")
        /// The protocol version is not supported.
        public static let invalidVers = ScimType(rawValue: "invalidVers")
        /// The request cannot be completed because of sensitive information in the URI.
        public static let sensitive = ScimType(rawValue: "sensitive")

        public var description: String { rawValue }
    }

    /// The HTTP status code.
    public var status: Int
    /// The SCIM detail error keyword, if any (404 and 500 carry none).
    public var scimType: ScimType?
    /// What went wrong and, where possible, what to change.
    public var detail: String

    public init(status: Int, scimType: ScimType?, detail: String) {
        self.status = status
        self.scimType = scimType
        self.detail = detail
    }

    public var description: String {
        "SCIM \(status)\(scimType.map { " \($0.rawValue)" } ?? ""): \(detail)"
    }

    /// The schema URN of SCIM error bodies.
    public static let schemaURN = "urn:ietf:params:scim:api:messages:2.0:Error"

    /// The error in the SCIM Error schema. `status` is a string, as RFC 7644 §3.12 specifies.
    public var jsonBody: JSONObject {
        var body: JSONObject = [
            "schemas": .array([.string(Self.schemaURN)]),
            "status": .string(String(status)),
        ]
        if let scimType { body["scimType"] = .string(scimType.rawValue) }
        body["detail"] = .string(detail)
        return body
    }

    /// `jsonBody` as compact JSON bytes.
    public var jsonBytes: [UInt8] { JSONSerializer.serialize(.object(jsonBody)) }
}

extension SCIMError {
    public static func invalidFilter(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .invalidFilter, detail: detail)
    }
    public static func invalidSyntax(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .invalidSyntax, detail: detail)
    }
    public static func invalidPath(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .invalidPath, detail: detail)
    }
    public static func noTarget(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .noTarget, detail: detail)
    }
    public static func invalidValue(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .invalidValue, detail: detail)
    }
    public static func mutability(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .mutability, detail: detail)
    }
    public static func tooMany(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .tooMany, detail: detail)
    }
    public static func invalidVersion(_ detail: String) -> SCIMError {
        SCIMError(status: 400, scimType: .invalidVers, detail: detail)
    }
    /// 409 Conflict: a live resource already has this `userName`, `externalId` or `displayName`.
    public static func uniqueness(_ detail: String) -> SCIMError {
        SCIMError(status: 409, scimType: .uniqueness, detail: detail)
    }
    /// 403: sensitive information (a token, a password) in the URI.
    public static func sensitive(_ detail: String) -> SCIMError {
        SCIMError(status: 403, scimType: .sensitive, detail: detail)
    }
    /// 404 without a `scimType`.
    public static func notFound(_ detail: String) -> SCIMError {
        SCIMError(status: 404, scimType: nil, detail: detail)
    }
    /// 412: the `If-Match` version does not match the resource's current version.
    public static func preconditionFailed(_ detail: String) -> SCIMError {
        SCIMError(status: 412, scimType: nil, detail: detail)
    }
    /// 413: the request body is larger than the configured maximum.
    public static func payloadTooLarge(_ detail: String) -> SCIMError {
        SCIMError(status: 413, scimType: nil, detail: detail)
    }

    /// A request body that is not valid JSON: 400 `invalidSyntax` with the parser's position.
    public init(_ parseError: JSONParseError) {
        self = .invalidSyntax("The request body is not valid JSON: \(parseError.message).")
    }

    /// The same error with `prefix` put in front of the detail (e.g. "PATCH operation 2: ").
    func prefixed(_ prefix: String) -> SCIMError {
        SCIMError(status: status, scimType: scimType, detail: prefix + detail)
    }
}

/// Parses a request body as a JSON object, mapping failures to 400 `invalidSyntax`.
///
/// - Parameters:
///   - bytes: the request body.
///   - what: how the body is named in messages, e.g. "a PATCH request" or "a User".
public func parseJSONObjectBody(
    _ bytes: some Collection<UInt8>, what: String, limits: JSONParser.Limits = JSONParser.Limits()
) throws(SCIMError) -> JSONObject {
    let value: JSONValue
    do {
        value = try JSONParser.parse(bytes, limits: limits)
    } catch {
        throw SCIMError(error)
    }
    guard case .object(let object) = value else {
        throw SCIMError.invalidSyntax("The request body for \(what) must be a JSON object, not \(value.kindDescription).")
    }
    return object
}

extension JSONValue {
    /// "a string", "an array", ... for error messages.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
