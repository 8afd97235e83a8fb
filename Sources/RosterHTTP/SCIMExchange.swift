import Foundation
import RosterCore
import RosterSCIM
import RosterStore

/// An HTTP request as the SCIM service needs it, independent of the HTTP server library (so the
/// service can be driven directly in tests and the Hummingbird shell stays thin).
public struct SCIMHTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, still percent-encoded.
    public var path: String
    /// The raw query string (after `?`), if any.
    public var query: String?
    /// Header values by lowercased name (the last one wins for repeated headers).
    public var headers: [String: String]
    /// Lowercased names of headers the request sent more than once (ambiguous for credentials).
    public var repeatedHeaders: Set<String>
    public var body: [UInt8]

    public init(
        method: String, path: String, query: String? = nil, headers: [String: String] = [:],
        repeatedHeaders: Set<String> = [], body: [UInt8] = []
    ) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.repeatedHeaders = Set(repeatedHeaders.map { $0.lowercased() })
        self.body = body
    }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Query parameters, `+` read as a space and percent-escapes decoded (RFC 3986 / HTML forms).
    var queryParameters: [(String, String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.formDecode(parts[0])
            let value = parts.count > 1 ? Self.formDecode(parts[1]) : ""
            return (name, value)
        }
    }

    /// The `filter` query parameter decoded without reading a raw `+` as a space; nil when the
    /// query has no `filter` or its raw value has no `+` (then it equals the form-decoded one).
    ///
    /// RFC 3986 gives `+` no special meaning in a query, and many clients leave the plus of
    /// `alice+tag@example.com` unencoded; form decoding turns it into a space and the lookup
    /// before create finds nothing (the provider then POSTs and gets 409). `SCIMFilter.parse`
    /// already reads a `+` outside quotes as a space, so this reading only differs inside quotes.
    var filterKeepingPlus: String? {
        guard let query, !query.isEmpty else { return nil }
        var result: String?
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, Self.formDecode(parts[0]).lowercased() == "filter" else { continue }
            result = parts[1].contains("+") ? Self.percentDecode(parts[1]) : nil  // the last one wins, as in ListQuery
        }
        return result
    }

    static func formDecode(_ text: Substring) -> String {
        percentDecode(text.replacingOccurrences(of: "+", with: " "))
    }

    /// Decodes `%XX` escapes; an invalid escape is kept as written (never a trap).
    static func percentDecode(_ text: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        let utf8 = Array(text.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count, let high = hex(utf8[i + 1]), let low = hex(utf8[i + 2]) {
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// An HTTP response from the SCIM service.
public struct SCIMHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.last { $0.0.lowercased() == name.lowercased() }?.1
    }

    static let scimContentType = ("Content-Type", "application/scim+json; charset=utf-8")

    static func json(_ status: Int, _ object: JSONObject, headers: [(String, String)] = []) -> SCIMHTTPResponse {
        SCIMHTTPResponse(status: status, headers: [scimContentType] + headers, body: JSONSerializer.serialize(object))
    }

    static func error(_ error: SCIMError, headers: [(String, String)] = []) -> SCIMHTTPResponse {
        SCIMHTTPResponse(status: error.status, headers: [scimContentType] + headers, body: error.jsonBytes)
    }
}

/// The one place where domain errors become SCIM errors (RFC 7644 §3.12).
enum SCIMErrorMapping {
    static func scimError(for error: any Error) -> SCIMError {
        switch error {
        case let error as SCIMError:
            return error
        case let error as RosterError:
            switch error.code {
            case .uniqueness: return .uniqueness(error.message)
            case .userNotFound, .groupNotFound, .directoryNotFound: return .notFound(error.message)
            case .unknownMember, .invalidValue, .ambiguousReference: return .invalidValue(error.message)
            default: return .invalidValue(error.message)
            }
        case let error as StoreError:
            switch error.code {
            case .io, .closed, .locked, .unavailable, .stale:
                return SCIMError(status: 503, scimType: nil, detail: "\(error.message) (nothing was written; retry)")
            default:
                return SCIMError(status: 500, scimType: nil, detail: error.message)
            }
        default:
            // Not `\(error)`: for a database error that is the SQL statement and the schema.
            // SCIMService logs the error itself.
            return SCIMError(
                status: 500, scimType: nil,
                detail: "internal error (\(type(of: error))); the request was not applied; rosterd's log has the details")
        }
    }

    /// Whether `error` is none of the expected kinds (SCIM, rules, store), i.e. a 500 whose
    /// cause only the log shows.
    static func isUnexpected(_ error: any Error) -> Bool {
        !(error is SCIMError || error is RosterError || error is StoreError)
    }

    static func status(for error: any Error) -> Int { scimError(for: error).status }
}
