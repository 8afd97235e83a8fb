import Foundation
import RosterCore
import RosterProtocol
import SwiftProtobuf
import Testing

// Shared machinery of the live SCIM suites: one daemon per suite (a suite trait), a small SCIM
// client bound to one directory, typed access to response bodies (through RosterCore's JSON
// parser, which keeps integers, booleans and strings apart), and membership-index probes.

// MARK: One daemon per suite

extension LiveDaemon {
    /// The daemon of the enclosing `.sharedDaemon()` suite.
    @TaskLocal static var shared: LiveDaemon?

    static func current() throws -> LiveDaemon {
        guard let daemon = shared else {
            throw Failure(description: "no shared daemon: add the .sharedDaemon() trait to the suite")
        }
        return daemon
    }
}

/// Starts one rosterd for a whole suite (its tests run against it, each in its own directory)
/// and stops it, checking the exit status, when the suite is done.
struct SharedDaemonTrait: SuiteTrait, TestScoping {
    var extraArguments: [String]
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let daemon = LiveDaemon(extraArguments: extraArguments)
        try await daemon.start()
        do {
            try await LiveDaemon.$shared.withValue(daemon) { try await function() }
        } catch {
            _ = try? await daemon.stop()
            throw error
        }
        let status = try await daemon.stop()
        #expect(status == 0, "rosterd exited with \(status) after the suite: \(daemon.logTail())")
    }
}

extension Trait where Self == SharedDaemonTrait {
    /// One rosterd for the suite, started with `extraArguments` (e.g. small limits).
    static func sharedDaemon(_ extraArguments: [String] = []) -> Self { SharedDaemonTrait(extraArguments: extraArguments) }
}

// MARK: Typed JSON access

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { objectValue?[key] }
    subscript(_ index: Int) -> JSONValue? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }
    var int: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }
    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
    var string: String? { stringValue }
    var array: [JSONValue]? { arrayValue }
}

extension LiveDaemon.HTTPResult {
    /// The body parsed with RosterCore's parser (`.null` when empty or not JSON).
    var doc: JSONValue { (try? JSONParser.parse(Array(body))) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
    var contentType: String { headers["content-type"] ?? "" }
    var etag: String? { headers["etag"] }
    /// The `id`s of a ListResponse's `Resources`, in order.
    var resourceIDs: [String] { (doc["Resources"]?.array ?? []).compactMap { $0["id"]?.string } }
    var scimType: String? { doc["scimType"]?.string }
    var detail: String { doc["detail"]?.string ?? "" }
    var summary: String { "HTTP \(status) \(text.prefix(600))" }
}

// MARK: SCIM client for one directory

let patchOpURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
let enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
let errorURN = "urn:ietf:params:scim:api:messages:2.0:Error"
let listResponseURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

/// Query strings built by hand: every byte outside RFC 3986's unreserved set is percent-encoded,
/// so filters travel exactly as written.
func encodeQuery(_ parameters: [(String, String)]) -> String {
    guard !parameters.isEmpty else { return "" }
    var allowed = CharacterSet()
    allowed.insert(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
    func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
    return "?" + parameters.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
}

/// Escapes a string for a JSON string literal in a fixture.
func jsonString(_ text: String) -> String {
    JSONSerializer.serializeToString(.string(text))
}

struct SCIM {
    let daemon: LiveDaemon
    let directory: TestDirectory

    /// A fresh directory on the suite's daemon.
    static func fresh(_ name: String, provider: String = "generic", policy: String = "revoke") throws -> SCIM {
        let daemon = try LiveDaemon.current()
        return SCIM(daemon: daemon, directory: try daemon.createDirectory(name: name, provider: provider, policy: policy))
    }

    var id: String { directory.id }

    /// One request to `<base><path>`; `body` is sent verbatim with `contentType`.
    func request(
        _ method: String, _ path: String, query: [(String, String)] = [], body: String? = nil,
        contentType: String = "application/scim+json", headers: [String: String] = [:], token: String?? = .none
    ) async throws -> LiveDaemon.HTTPResult {
        try await raw(method, path, query: query, bytes: body.map { Data($0.utf8) }, contentType: contentType, headers: headers, token: token)
    }

    func raw(
        _ method: String, _ path: String, query: [(String, String)] = [], bytes: Data?,
        contentType: String = "application/scim+json", headers: [String: String] = [:], token: String?? = .none
    ) async throws -> LiveDaemon.HTTPResult {
        var allHeaders = headers
        if bytes != nil, allHeaders["Content-Type"] == nil { allHeaders["Content-Type"] = contentType }
        let bearer: String? = token ?? directory.token
        return try await daemon.http(method, directory.base + path + encodeQuery(query), token: bearer, raw: bytes, headers: allHeaders)
    }

    func get(_ path: String, _ query: [(String, String)] = [], headers: [String: String] = [:]) async throws -> LiveDaemon.HTTPResult {
        try await request("GET", path, query: query, headers: headers)
    }

    func post(_ path: String, _ body: String, contentType: String = "application/scim+json") async throws -> LiveDaemon.HTTPResult {
        try await request("POST", path, body: body, contentType: contentType)
    }

    func put(_ path: String, _ body: String, headers: [String: String] = [:]) async throws -> LiveDaemon.HTTPResult {
        try await request("PUT", path, body: body, headers: headers)
    }

    /// PATCH with a PatchOp envelope around `operations` (a JSON array, verbatim).
    func patch(_ path: String, operations: String, headers: [String: String] = [:], query: [(String, String)] = [])
        async throws -> LiveDaemon.HTTPResult
    {
        try await request(
            "PATCH", path, query: query, body: "{\"schemas\":[\"\(patchOpURN)\"],\"Operations\":\(operations)}", headers: headers)
    }

    func delete(_ path: String, headers: [String: String] = [:]) async throws -> LiveDaemon.HTTPResult {
        try await request("DELETE", path, headers: headers)
    }

    /// `GET /Users?filter=...` (or Groups).
    func filter(_ resource: String, _ filter: String, _ more: [(String, String)] = []) async throws -> LiveDaemon.HTTPResult {
        try await get("/\(resource)", [("filter", filter)] + more)
    }

    // MARK: Fixtures

    /// Creates a user (201 required) and returns its id.
    @discardableResult
    func createUser(_ userName: String, externalId: String? = nil, active: Bool = true, extra: String = "") async throws -> String {
        // `extra` may bring its own "schemas" (with an extension): then it is the only one, since
        // a key given twice is refused.
        let schemas = extra.contains("\"schemas\":") ? "" : "\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
        var body = "{\(schemas)\"userName\":\(jsonString(userName)),\"active\":\(active)"
        if let externalId { body += ",\"externalId\":\(jsonString(externalId))" }
        if !extra.isEmpty { body += "," + extra }
        body += "}"
        let response = try await post("/Users", body)
        guard response.status == 201, let id = response.doc["id"]?.string else {
            throw LiveDaemon.Failure(description: "create user \(userName): \(response.summary)")
        }
        return id
    }

    /// Creates a group (201 required) with these member ids and returns its id.
    @discardableResult
    func createGroup(_ displayName: String, members: [String] = [], externalId: String? = nil) async throws -> String {
        var body = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\(jsonString(displayName))"
        if let externalId { body += ",\"externalId\":\(jsonString(externalId))" }
        if !members.isEmpty { body += ",\"members\":[" + members.map { "{\"value\":\(jsonString($0))}" }.joined(separator: ",") + "]" }
        body += "}"
        let response = try await post("/Groups", body)
        guard response.status == 201, let id = response.doc["id"]?.string else {
            throw LiveDaemon.Failure(description: "create group \(displayName): \(response.summary)")
        }
        return id
    }

    /// The member ids of a group as a GET shows them.
    func members(_ groupID: String) async throws -> Set<String> {
        let response = try await get("/Groups/\(groupID)")
        guard response.status == 200 else { throw LiveDaemon.Failure(description: "GET group \(groupID): \(response.summary)") }
        return Set((response.doc["members"]?.array ?? []).compactMap { $0["value"]?.string })
    }

    /// The `members` JSON array for a PATCH value.
    static func memberValues(_ ids: [String], ref: Bool = false) -> String {
        "[" + ids.map { ref ? "{\"$ref\":null,\"value\":\(jsonString($0))}" : "{\"value\":\(jsonString($0))}" }.joined(separator: ",") + "]"
    }

    // MARK: Membership index

    func check(
        user: LookupConnection.Ref, group: LookupConnection.Ref, minRevision: UInt64 = 0
    ) throws -> LookupConnection.Decision {
        try LookupConnection(path: daemon.socketPath).check(directory.id, user: user, group: group, minRevision: minRevision)
    }

    /// The current revision, read through the lookup socket's Health call.
    func revision() throws -> UInt64 {
        var frame = Roster_V1_RequestFrame()
        frame.health = .init()
        let response = try LookupConnection(path: daemon.socketPath).call(frame)
        return response.health.revision
    }

    /// Every event of this directory after `from` up to and including a fresh marker write
    /// (a user created only to end the stream): the marker's event is not returned.
    func events(after from: UInt64) async throws -> [Roster_V1_WatchEvent] {
        let markerName = "zz-watch-marker-\(UUID().uuidString.prefix(8))@marker.invalid"
        let marker = try await post("/Users", "{\"userName\":\(jsonString(markerName))}")
        guard marker.status == 201, let markerRevision = marker.revision, let markerID = marker.doc["id"]?.string else {
            throw LiveDaemon.Failure(description: "watch marker: \(marker.summary)")
        }
        let events = try LookupConnection(path: daemon.socketPath).watch(directory: directory.id, after: from, through: markerRevision)
        return events.filter { !($0.revision == markerRevision && $0.userID == markerID) }
    }
}

extension LookupConnection {
    /// Runs a Watch from `after` and returns the events up to and including revision `through`
    /// (which must have at least one event in this directory), then cancels the stream.
    func watch(directory: String, after from: UInt64, through last: UInt64, timeoutMs: UInt32 = 20_000) throws
        -> [Roster_V1_WatchEvent]
    {
        var frame = Roster_V1_RequestFrame()
        frame.callID = 7_000_001
        frame.timeoutMs = timeoutMs
        frame.watch = .with {
            $0.fromRevision = from
            $0.directoryID = directory
        }
        try send(frame)
        var events: [Roster_V1_WatchEvent] = []
        var reachedEnd = false
        while let response = try receive() {
            guard response.callID == frame.callID else { continue }
            if response.endOfStream || response.status.code != .ok {
                throw Failure(
                    description: "watch ended before revision \(last): \(response.status.code) \(response.status.message)")
            }
            let event = response.event
            if event.revision > last { break }
            events.append(event)
            if event.revision == last {
                reachedEnd = true
                break
            }
        }
        guard reachedEnd || events.last?.revision ?? 0 >= last else {
            throw Failure(description: "watch closed before revision \(last)")
        }
        var cancel = Roster_V1_RequestFrame()
        cancel.callID = 7_000_002
        cancel.cancel = .with { $0.targetCallID = frame.callID }
        try? send(cancel)
        return events
    }
}

extension Roster_V1_WatchEvent {
    var brief: String { "\(revision).\(seq) \(kind) user=\(userID) group=\(groupID) cause=\(cause)" }
}
