import Foundation
import Logging
import Metrics
import RosterCore
import RosterSCIM
import RosterStore
import Synchronization

/// Limits and addresses of the SCIM endpoint. Every limit answers with a SCIM error that names it.
public struct SCIMConfiguration: Sendable {
    /// The URL providers reach this server at, without a trailing slash (e.g. `http://127.0.0.1:8080`).
    public var publicBaseURL: String
    /// Largest request body in bytes (413 above it). Default 1 MiB.
    public var maxBodySize: Int = 1 << 20
    /// Deepest JSON nesting accepted. Default 64.
    public var maxJSONDepth: Int = 64
    /// Largest page of a list; `count` is clamped to it. Default 1,000.
    public var maxPageSize: Int = 1000
    /// Most operations in one PATCH. Default 1,000.
    public var maxPatchOperations: Int = 1000
    /// Most member ids in one request (POST/PUT members, PATCH member values). Default 10,000.
    public var maxMembersPerRequest: Int = 10_000
    /// Most members shown per group in a list response (a single GET shows all). Default 1,000.
    public var maxMembersInList: Int = 1000
    /// Longest filter in characters, and deepest nesting. Defaults 4,096 and 32.
    public var maxFilterLength: Int = 4096
    public var maxFilterDepth: Int = 32
    /// Searches that scan one directory at the same time (503 + Retry-After beyond). Default 2.
    public var maxSearchesPerDirectory: Int = 2
    /// How long one scanning search may run before it is stopped (503 + Retry-After). Default 5 s.
    public var searchBudget: Duration = .seconds(5)

    public init(publicBaseURL: String) {
        self.publicBaseURL = publicBaseURL.hasSuffix("/") ? String(publicBaseURL.dropLast()) : publicBaseURL
    }

    public func scimBaseURL(directoryID: String) -> String { "\(publicBaseURL)/scim/v2/\(directoryID)" }
}

/// The SCIM 2.0 endpoint's semantics over the store: routing, authentication, resources, lists,
/// ETags and errors. Transport-free; `SCIMHTTPServer` is the Hummingbird shell around it.
public final class SCIMService: Sendable {
    let store: RosterStore
    public let configuration: SCIMConfiguration
    let logger: Logger
    private let requestCounter: Counter
    private let unauthorizedCounter: Counter
    private let unauthorizedByReason: [Unauthenticated: Counter]
    /// One log line per episode of refused requests, not one per request.
    private let refusalLog = Mutex(RefusalLog(interval: .seconds(10)))
    /// The bounds of searches that scan a directory.
    let searches: SearchBounds
    /// `configuration.publicBaseURL` with the port the listener really bound, when the configured
    /// one says port 0 ("pick a free port", e.g. `--scim-listen 127.0.0.1:0` without
    /// `--public-url`). Without it every Location, `meta.location` and `$ref` named port 0.
    private let boundBaseURL = Mutex<String?>(nil)

    public init(store: RosterStore, configuration: SCIMConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        searches = SearchBounds(maxPerDirectory: configuration.maxSearchesPerDirectory, budget: configuration.searchBudget)
        requestCounter = Counter(label: "roster_scim_requests_total")
        unauthorizedCounter = Counter(label: "roster_scim_unauthorized_total")
        unauthorizedByReason = Dictionary(
            uniqueKeysWithValues: Unauthenticated.allCases.map {
                ($0, Counter(label: "roster_scim_unauthenticated_total", dimensions: [("reason", $0.rawValue)]))
            })
    }

    /// Tells the service the port its HTTP listener bound (called by `SCIMHTTPServer`). Only a
    /// public base URL whose port is 0 is rewritten; an explicit `--public-url` is kept as given.
    public func didBind(port: Int) {
        guard var components = URLComponents(string: configuration.publicBaseURL), components.port == 0 else { return }
        components.port = port
        guard let url = components.string else { return }
        boundBaseURL.withLock { $0 = url }
    }

    /// The base URL of a directory's SCIM endpoint as providers must call it.
    func scimBaseURL(directoryID: String) -> String {
        guard let base = boundBaseURL.withLock({ $0 }) else { return configuration.scimBaseURL(directoryID: directoryID) }
        return "\(base)/scim/v2/\(directoryID)"
    }

    var filterLimits: SCIMFilter.Limits {
        SCIMFilter.Limits(maxLength: configuration.maxFilterLength, maxDepth: configuration.maxFilterDepth)
    }

    /// Handles one request. Never throws: every failure is a SCIM error response.
    public func handle(_ request: SCIMHTTPRequest) async -> SCIMHTTPResponse {
        let started = ContinuousClock.now
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).map {
            SCIMHTTPRequest.percentDecode($0)
        }
        guard segments.count >= 3, segments[0] == "scim", segments[1].lowercased() == "v2" else {
            return .error(.notFound("no SCIM endpoint at \(request.path); directories are served at /scim/v2/{directoryId}"))
        }
        let directoryID = segments[2]
        let routeSegments = Array(segments.dropFirst(3))
        var response: SCIMHTTPResponse
        var provider: String?
        var authenticated = authenticate(request, directoryID: directoryID)
        if case .failure(let reason) = authenticated, reason == .unknownDirectory || reason == .wrongToken,
            await store.followFleet(timeout: .milliseconds(300))
        {
            // Fleet mode: the directory or token may be a moment old, made on another instance
            // that this one has not followed yet; look again once it has.
            authenticated = authenticate(request, directoryID: directoryID)
        }
        switch authenticated {
        case .success(let directory):
            provider = directory.provider.rawValue
            let context = RequestContext(
                request: request, directory: directory, baseURL: scimBaseURL(directoryID: directoryID),
                started: started)
            response = await route(routeSegments, context)
            if response.status >= 400 && request.method != "GET" && response.header("Roster-Audited") == nil {
                // Writes record their own audit row in the writer; this covers an authenticated
                // request refused before it (bad JSON, a limit). Unauthenticated ones never reach
                // here: they are counted, not stored, so a stranger cannot grow the database.
                store.recordAudit(
                    AuditEntry(
                        revision: nil, time: Int64(Date().timeIntervalSince1970 * 1000), directoryID: directoryID,
                        provider: provider, method: request.method, path: request.path, status: response.status,
                        outcome: "refused", detail: Self.detail(of: response),
                        durationMicroseconds: (ContinuousClock.now - started).microseconds))
            }
        case .failure(let refusal):
            response = unauthorized(refusal, request: request, directoryID: directoryID)
        }
        response.headers.removeAll { $0.0 == "Roster-Audited" }
        // Only known methods become label values: a client inventing methods must not be able to
        // create metric series without bound.
        let method = Self.metricMethods.contains(request.method) ? request.method : "other"
        let labels = [("provider", provider ?? "unknown"), ("method", method), ("status", "\(response.status)")]
        Counter(label: "roster_scim_requests", dimensions: labels).increment()
        Timer(label: "roster_scim_request_duration_seconds", dimensions: [("method", method)])
            .recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        requestCounter.increment()
        return response
    }

    private static let metricMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    private static func detail(of response: SCIMHTTPResponse) -> String {
        guard case .object(let body)? = try? JSONParser.parse(response.body),
            let detail = body["detail"]?.stringValue
        else { return "" }
        return detail
    }

    /// Why a request was not authenticated; the metric's `reason` label.
    enum Unauthenticated: String, CaseIterable, Error {
        case missingCredentials = "missing_credentials"
        case repeatedCredentials = "repeated_credentials"
        case malformedCredentials = "malformed_credentials"
        case unknownDirectory = "unknown_directory"
        case wrongToken = "wrong_token"
    }

    /// Bearer (or Basic with the token as password, for providers that only speak Basic).
    /// Succeeds with the directory when the request carries one of its live tokens. A directory
    /// that does not exist is refused exactly like a wrong token (same status, same body), so the
    /// answer does not reveal which directory ids exist; only the metric tells them apart.
    private func authenticate(_ request: SCIMHTTPRequest, directoryID: String) -> Result<Directory, Unauthenticated> {
        guard let header = request.header("authorization") else { return .failure(.missingCredentials) }
        // Two Authorization headers are ambiguous (which one did a proxy check?): refuse both.
        if request.repeatedHeaders.contains("authorization") { return .failure(.repeatedCredentials) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return .failure(.malformedCredentials) }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        let token: String
        switch parts[0].lowercased() {
        case "bearer":
            token = credential
        case "basic":
            guard let data = Data(base64Encoded: credential), let text = String(data: data, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            else { return .failure(.malformedCredentials) }
            token = String(text[text.index(after: colon)...])
        default:
            return .failure(.malformedCredentials)
        }
        guard let directory = store.publisher.current.directory(directoryID) else { return .failure(.unknownDirectory) }
        return store.authenticate(directoryID: directoryID, token: token) ? .success(directory) : .failure(.wrongToken)
    }

    /// The 401 for an unauthenticated request: counted by reason and logged at most once per
    /// `refusalLog` interval (with the count since the last line), never written to the audit
    /// table, so a flood of them costs no disk.
    private func unauthorized(_ reason: Unauthenticated, request: SCIMHTTPRequest, directoryID: String)
        -> SCIMHTTPResponse
    {
        unauthorizedCounter.increment()
        unauthorizedByReason[reason]?.increment()
        if let summary = refusalLog.withLock({ $0.record(now: ContinuousClock.now) }) {
            logger.warning(
                "scim requests refused: unauthorized",
                metadata: [
                    "scim.refused": "\(summary.count)", "scim.since_seconds": "\(summary.seconds)",
                    "scim.reason": "\(reason.rawValue)", "scim.directory": "\(directoryID.truncated(toUTF8Bytes: 64))",
                    "scim.method": "\(request.method.truncated(toUTF8Bytes: 16))",
                    "scim.path": "\(request.path.truncated(toUTF8Bytes: 256))",
                ])
        }
        let detail =
            reason == .repeatedCredentials
            ? "send exactly one Authorization header"
            : "missing or invalid bearer token for directory \(directoryID.truncated(toUTF8Bytes: 64)); send 'Authorization: Bearer <token>' with the token shown when the directory was created or rotated"
        return .error(
            SCIMError(status: 401, scimType: nil, detail: detail),
            headers: [("WWW-Authenticate", "Bearer realm=\"roster\"")])
    }


    struct RequestContext {
        var request: SCIMHTTPRequest
        var directory: Directory
        var baseURL: String
        var started: ContinuousClock.Instant
        var directoryID: String { directory.id }
    }

    private func route(_ route: [String], _ context: RequestContext) async -> SCIMHTTPResponse {
        let method = context.request.method
        func notAllowed(_ allowed: String) -> SCIMHTTPResponse {
            .error(
                SCIMError(status: 405, scimType: nil, detail: "\(method) is not allowed on this resource; allowed: \(allowed)"),
                headers: [("Allow", allowed)])
        }
        do {
            let parts = route.map { $0.lowercased() }
            let second: String? = parts.count > 1 ? parts[1] : nil
            switch (parts.first ?? "", second, parts.count) {
            case ("users", nil, 1):
                switch method {
                case "GET":
                    return try await listUsers(
                        context, parameters: context.request.queryParameters, plusKeptFilter: context.request.filterKeepingPlus)
                case "POST": return try await createUser(context)
                default: return notAllowed("GET, POST")
                }
            case ("users", ".search"?, 2):
                guard method == "POST" else { return notAllowed("POST") }
                return try await listUsers(context, parameters: try searchParameters(context.request))
            case ("users", _?, 2):
                let id = route[1]
                switch method {
                case "GET": return try await getUser(context, id: id)
                case "PUT": return try await replaceUser(context, id: id)
                case "PATCH": return try await patchUser(context, id: id)
                case "DELETE": return try await deleteUser(context, id: id)
                default: return notAllowed("GET, PUT, PATCH, DELETE")
                }
            case ("groups", nil, 1):
                switch method {
                case "GET":
                    return try await listGroups(
                        context, parameters: context.request.queryParameters, plusKeptFilter: context.request.filterKeepingPlus)
                case "POST": return try await createGroup(context)
                default: return notAllowed("GET, POST")
                }
            case ("groups", ".search"?, 2):
                guard method == "POST" else { return notAllowed("POST") }
                return try await listGroups(context, parameters: try searchParameters(context.request))
            case ("groups", _?, 2):
                let id = route[1]
                switch method {
                case "GET": return try await getGroup(context, id: id)
                case "PUT": return try await replaceGroup(context, id: id)
                case "PATCH": return try await patchGroup(context, id: id)
                case "DELETE": return try await deleteGroup(context, id: id)
                default: return notAllowed("GET, PUT, PATCH, DELETE")
                }
            case ("serviceproviderconfig", nil, 1):
                guard method == "GET" else { return notAllowed("GET") }
                var config = SCIMDiscovery.Configuration()
                config.maxResults = configuration.maxPageSize
                return .json(200, SCIMDiscovery.serviceProviderConfig(baseURL: context.baseURL, configuration: config))
            case ("resourcetypes", nil, 1):
                guard method == "GET" else { return notAllowed("GET") }
                return .json(200, SCIMDiscovery.resourceTypes(baseURL: context.baseURL))
            case ("resourcetypes", _?, 2):
                guard method == "GET" else { return notAllowed("GET") }
                return try discoveryItem(SCIMDiscovery.resourceTypes(baseURL: context.baseURL), matching: route[1], key: "name")
            case ("schemas", nil, 1):
                guard method == "GET" else { return notAllowed("GET") }
                return .json(200, SCIMDiscovery.schemas(baseURL: context.baseURL))
            case ("schemas", _?, 2):
                guard method == "GET" else { return notAllowed("GET") }
                return try discoveryItem(SCIMDiscovery.schemas(baseURL: context.baseURL), matching: route[1], key: "id")
            case ("bulk", nil, 1):
                return .error(SCIMError(status: 501, scimType: nil, detail: "bulk operations are not supported (see /ServiceProviderConfig)"))
            default:
                return .error(.notFound("no SCIM resource at \(context.request.path)"))
            }
        } catch let refusal as WriterRefusal {
            logIfInternal(refusal.underlying, context)
            return .error(SCIMErrorMapping.scimError(for: refusal.underlying), headers: [("Roster-Audited", "1")])
        } catch {
            logIfInternal(error, context)
            return .error(SCIMErrorMapping.scimError(for: error))
        }
    }

    /// An unexpected error's text (e.g. a SQLite statement) goes to the log, not to the provider.
    private func logIfInternal(_ error: any Error, _ context: RequestContext) {
        guard SCIMErrorMapping.isUnexpected(error) else { return }
        logger.error(
            "scim request failed with an internal error",
            metadata: [
                "scim.directory": "\(context.directoryID)", "scim.method": "\(context.request.method)",
                "scim.path": "\(context.request.path)", "error": "\(error)",
            ])
    }

    /// Other readings of a list filter that matched nothing, tried in order until one matches:
    /// its string values percent-decoded (Microsoft's validator), then the filter with a raw `+`
    /// kept as a plus (see `SCIMHTTPRequest.filterKeepingPlus`), and that one percent-decoded.
    /// The filter as written always runs first, so a value really containing `%40` or a space
    /// is still found.
    func fallbackFilters(for filter: SCIMFilter?, plusKept text: String?) -> [SCIMFilter] {
        guard let filter else { return [] }
        var readings: [SCIMFilter] = []
        if let decoded = filter.percentDecodedFallback { readings.append(decoded) }
        if let text, let plus = try? SCIMFilter.parse(text, limits: filterLimits), plus != filter {
            readings.append(plus)
            if let decoded = plus.percentDecodedFallback { readings.append(decoded) }
        }
        return readings
    }

    /// One entry of a discovery ListResponse by its name or id.
    private func discoveryItem(_ list: JSONObject, matching name: String, key: String) throws -> SCIMHTTPResponse {
        for case .object(let item) in list["Resources"]?.arrayValue ?? [] {
            if item[key]?.stringValue?.lowercased() == name.lowercased() { return .json(200, item) }
        }
        throw SCIMError.notFound("no \(key) '\(name)' here")
    }

    /// The parameters of a POST `/.search` body (RFC 7644 §3.4.3) as query parameters.
    private func searchParameters(_ request: SCIMHTTPRequest) throws -> [(String, String)] {
        let body = try parseBody(request)
        var parameters: [(String, String)] = []
        for (key, value) in body {
            switch value {
            case .string(let text): parameters.append((key, text))
            case .int(let number): parameters.append((key, String(number)))
            case .array(let items):
                parameters.append((key, items.compactMap(\.stringValue).joined(separator: ",")))
            default: continue
            }
        }
        return parameters
    }

    func parseBody(_ request: SCIMHTTPRequest) throws -> JSONObject {
        guard request.body.count <= configuration.maxBodySize else {
            throw SCIMError.payloadTooLarge(
                "the body has \(request.body.count) bytes; the limit is \(configuration.maxBodySize) (--max-body-size)")
        }
        do {
            let value = try JSONParser.parse(request.body, limits: .init(maxDepth: configuration.maxJSONDepth))
            guard case .object(let object) = value else {
                throw SCIMError.invalidSyntax("the body must be a JSON object")
            }
            return object
        } catch let error as JSONParseError {
            throw SCIMError(error)
        }
    }

    // MARK: Helpers shared by users and groups

    /// Answers `If-Match` (412 on mismatch) for a write on a resource at `version`.
    func checkIfMatch(_ request: SCIMHTTPRequest, version: UInt64) throws {
        guard let header = request.header("if-match")?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            return
        }
        if header == "*" { return }
        let tags = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if tags.contains(where: { SCIMResources.version(fromETag: $0) == Int64(version) }) { return }
        throw SCIMError.preconditionFailed(
            "If-Match \(header) does not match the current version \(SCIMResources.etag(version: Int64(version))); read the resource again and retry")
    }

    /// 304 when `If-None-Match` names the current version.
    func notModified(_ request: SCIMHTTPRequest, version: UInt64) -> Bool {
        guard let header = request.header("if-none-match") else { return false }
        if header.trimmingCharacters(in: .whitespaces) == "*" { return true }
        return header.split(separator: ",").contains {
            SCIMResources.version(fromETag: $0.trimmingCharacters(in: .whitespaces)) == Int64(version)
        }
    }

    /// `Prefer: return=minimal` asks for 204 without a body after a write (RFC 7240).
    func wantsMinimal(_ request: SCIMHTTPRequest) -> Bool {
        request.header("prefer")?.lowercased().contains("return=minimal") ?? false
    }

    func audit(_ context: RequestContext, success: Int) -> AuditInfo {
        AuditInfo(
            method: context.request.method, path: context.request.path, provider: context.directory.provider.rawValue,
            successStatus: success, failureStatus: { SCIMErrorMapping.status(for: $0) }, startedAt: context.started)
    }

    static func meta(created: Int64, lastModified: Int64, version: UInt64) -> ResourceMeta {
        ResourceMeta(
            created: Date(timeIntervalSince1970: Double(created) / 1000),
            lastModified: Date(timeIntervalSince1970: Double(lastModified) / 1000), version: Int64(version))
    }

    static func writeHeaders(revision: UInt64, version: UInt64) -> [(String, String)] {
        [("Roster-Revision", "\(revision)"), ("ETag", SCIMResources.etag(version: Int64(version))), ("Roster-Audited", "1")]
    }

    static func newID() -> String { UUID().uuidString.lowercased() }
}

