import Foundation
import RosterCore
import RosterProtocol
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What one hostile socket user or one unauthenticated network client can do to a live daemon:
/// every client-controlled number at its extremes, floods of unauthenticated requests, ambiguous
/// credentials. The daemon must answer each with a clear status and keep serving.
@Suite("Hardening", .serialized, .timeLimit(.minutes(4)))
struct HardeningTests {
    static let uint64Extremes: [UInt64] = [0, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max]
    static let uint32Extremes: [UInt32] = [0, UInt32(Int32.max), UInt32(Int32.max) + 1, UInt32.max]
    static let int64Extremes: [Int64] = [Int64.min, -1, 0, Int64.max]

    /// Sends `frame` and reads every frame of its call until the call ends: a non-stream answer,
    /// or a Watch's end_of_stream. Returns the last frame and the Watch events before it.
    static func finish(_ connection: LookupConnection, _ frame: Roster_V1_RequestFrame) throws
        -> (last: Roster_V1_ResponseFrame, events: Int)
    {
        try connection.send(frame)
        var events = 0
        while let response = try connection.receive() {
            guard response.callID == frame.callID || response.callID == 0 else { continue }
            if case .event? = response.result, !response.endOfStream {
                events += 1
                continue
            }
            return (response, events)
        }
        throw LookupConnection.Failure(description: "connection closed during call \(frame.callID)")
    }

    @Test("0, 2^63-1, 2^63 and 2^64-1 in every revision, id, size, time and deadline field of every method")
    func extremeNumbers() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "extremes"))
        let alice = try await scim.createUser("alice@example.com")
        let admins = try await scim.createGroup("admins", members: [alice])
        let connection = try LookupConnection(path: daemon.socketPath)
        var callID: UInt64 = 1
        func frame(timeoutMs: UInt32 = 200, _ fill: (inout Roster_V1_RequestFrame) -> Void) -> Roster_V1_RequestFrame {
            var frame = Roster_V1_RequestFrame()
            callID += 1
            frame.callID = callID
            frame.timeoutMs = timeoutMs
            fill(&frame)
            return frame
        }
        let user = Roster_V1_UserRef.with { $0.id = alice }
        let group = Roster_V1_GroupRef.with { $0.id = admins }
        // Every method with a revision a client chooses, built with that revision.
        let revisionMethods: [(String, (UInt64) -> Roster_V1_RequestFrame)] = [
            ("Check", { r in frame { $0.check = .with { $0.directoryID = scim.id; $0.user = user; $0.group = group; $0.minRevision = r } } }),
            ("BatchCheck", { r in frame { $0.batchCheck = .with { $0.directoryID = scim.id; $0.checks = [.with { $0.user = user; $0.group = group }]; $0.minRevision = r } } }),
            ("ListUserGroups", { r in frame { $0.listUserGroups = .with { $0.directoryID = scim.id; $0.user = user; $0.minRevision = r } } }),
            ("ListGroupMembers", { r in frame { $0.listGroupMembers = .with { $0.directoryID = scim.id; $0.group = group; $0.minRevision = r } } }),
            ("GetUser", { r in frame { $0.getUser = .with { $0.directoryID = scim.id; $0.user = user; $0.minRevision = r } } }),
            ("GetGroup", { r in frame { $0.getGroup = .with { $0.directoryID = scim.id; $0.group = group; $0.minRevision = r } } }),
        ]
        for (name, make) in revisionMethods {
            for value in Self.uint64Extremes {
                let (answer, _) = try Self.finish(connection, make(value))
                switch value {
                case 0:
                    #expect(answer.status.code == .ok, "\(name) min_revision 0: \(answer.status)")
                case UInt64(Int64.max):
                    #expect(answer.status.code == .deadlineExceeded, "\(name) min_revision 2^63-1: \(answer.status)")
                default:
                    #expect(answer.status.code == .invalidArgument, "\(name) min_revision \(value): \(answer.status)")
                    #expect(answer.status.message.contains("min_revision"), "\(answer.status.message)")
                }
            }
        }
        // Watch, with and without a directory: out of range is refused; 2^63-1 waits (no event
        // can come after it) and ends at its deadline, across a SCIM write made meanwhile.
        for directory in [scim.id, ""] {
            for value in Self.uint64Extremes {
                let watch = frame(timeoutMs: value == 0 ? 2_000 : 300) { $0.watch = .with { $0.fromRevision = value; $0.directoryID = directory } }
                if value == UInt64(Int64.max) {
                    try connection.send(watch)
                    _ = try await scim.createUser("during-watch-\(UUID().uuidString.prefix(6))@example.com")
                    var events = 0
                    var last: Roster_V1_ResponseFrame?
                    while let response = try connection.receive() {
                        guard response.callID == watch.callID else { continue }
                        if response.endOfStream || response.status.code != .ok { last = response; break }
                        events += 1
                    }
                    #expect(events == 0, "no event lies after 2^63-1")
                    #expect(last?.status.code == .deadlineExceeded, "Watch from 2^63-1 (\(directory)): \(String(describing: last?.status))")
                    continue
                }
                let (answer, events) = try Self.finish(connection, watch)
                if value == 0 {
                    #expect(events > 0, "a Watch from 0 replays the log")
                    #expect(answer.status.code == .deadlineExceeded, "Watch from 0 ends at its deadline: \(answer.status)")
                } else {
                    #expect(answer.status.code == .invalidArgument, "Watch from \(value): \(answer.status)")
                    #expect(answer.endOfStream && answer.status.message.contains("from_revision"), "\(answer.status)")
                }
            }
        }
        // call_id, target_call_id, timeout_ms, page_size, since_unix_ms and limit at their extremes.
        for value in Self.uint64Extremes where value != 0 {
            var health = Roster_V1_RequestFrame()
            health.callID = value
            health.health = .init()
            let answer = try connection.call(health)
            #expect(answer.callID == value && answer.status.code == .ok, "call_id \(value): \(answer.status)")
            let (cancel, _) = try Self.finish(connection, frame { $0.cancel = .with { $0.targetCallID = value } })
            #expect(cancel.status.code == .ok, "Cancel of \(value): \(cancel.status)")
        }
        for value in Self.uint32Extremes {
            let (check, _) = try Self.finish(connection, frame(timeoutMs: value) { $0.check = .with { $0.directoryID = scim.id; $0.user = user; $0.group = group } })
            #expect(check.status.code == .ok && check.check.reason == .member, "timeout_ms \(value): \(check.status)")
            let (groups, _) = try Self.finish(connection, frame { $0.listUserGroups = .with { $0.directoryID = scim.id; $0.user = user; $0.pageSize = value } })
            #expect(groups.status.code == .ok && groups.listUserGroups.groups.count == 1, "page_size \(value): \(groups.status)")
            let (members, _) = try Self.finish(connection, frame { $0.listGroupMembers = .with { $0.directoryID = scim.id; $0.group = group; $0.pageSize = value } })
            #expect(members.status.code == .ok, "page_size \(value): \(members.status)")
            let (audit, _) = try Self.finish(connection, frame(timeoutMs: 5_000) { $0.audit = .with { $0.directoryID = scim.id; $0.limit = value } })
            #expect(audit.status.code == .ok, "audit limit \(value): \(audit.status)")
        }
        for value in Self.int64Extremes {
            let (audit, _) = try Self.finish(connection, frame(timeoutMs: 5_000) { $0.audit = .with { $0.sinceUnixMs = value } })
            #expect(audit.status.code == .ok, "audit since_unix_ms \(value): \(audit.status)")
        }
        // Still serving, on this connection and a new one, and through SCIM.
        #expect(try connection.check(scim.id, user: .id(alice), group: .id(admins)).reason == .member)
        let fresh = try LookupConnection(path: daemon.socketPath)
        #expect(try fresh.check(scim.id, user: .id(alice), group: .id(admins)).reason == .member)
        _ = try await scim.createUser("after@example.com")
        #expect(daemon.process?.isRunning == true, "rosterd is still running: \(daemon.logTail())")
        #expect(try await daemon.stop() == 0)
    }

    @Test("unauthenticated requests are counted, not stored: 2,000 with 7 KB paths leave no audit row and < 1 MB on disk")
    func unauthenticatedFlood() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "flood"))
        _ = try await scim.createUser("alice@example.com")
        let before = Self.dataDirectoryBytes(daemon.dataDir)
        let longPath = "/" + String(repeating: "p", count: 7_000)
        // Four kinds of stranger: an unknown directory, no credentials, a wrong token, garbage.
        let requests: [(String, String?, [String: String])] = [
            ("/scim/v2/" + UUID().uuidString.lowercased() + longPath, "rst_wrong", [:]),
            (scim.directory.base + "/Users" + longPath, nil, [:]),
            (scim.directory.base + "/Users" + longPath, "rst_wrong", [:]),
            (scim.directory.base + "/Users" + longPath, nil, ["Authorization": "Negotiate abc"]),
        ]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<8 {
                tasks.addTask {
                    for index in stride(from: worker, to: 2_000, by: 8) {
                        let (path, token, headers) = requests[index % requests.count]
                        let response = try await daemon.http("POST", path, token: token, raw: Data("{}".utf8), headers: headers)
                        #expect(response.status == 401)
                    }
                }
            }
            try await tasks.waitForAll()
        }
        // An authenticated request refused before the writer is still audited, its path cut.
        let badJSON = try await scim.raw("POST", "/Users" + longPath, bytes: Data("{".utf8))
        #expect((400..<500).contains(badJSON.status), "\(badJSON.summary)")
        try await Task.sleep(for: .seconds(1))  // the audit buffer flushes within half a second

        let connection = try LookupConnection(path: daemon.socketPath)
        var audit = Roster_V1_RequestFrame()
        audit.audit = .with { $0.limit = 10_000 }
        let records = try connection.call(audit).audit.records
        #expect(!records.contains { $0.httpStatus == 401 }, "no 401 is stored: \(records.count) rows")
        let refused = records.filter { $0.outcome == "refused" }
        #expect(refused.count == 1, "the authenticated refusal is audited: \(refused.map(\.path))")
        #expect(refused.allSatisfy { $0.path.utf8.count <= 512 && $0.path.hasSuffix("…") }, "stored paths are cut to 512 bytes")

        let metrics = try await daemon.http("GET", "/metrics", token: nil)
        let text = String(decoding: metrics.body, as: UTF8.self)
        for (reason, count) in [("unknown_directory", 500), ("missing_credentials", 500), ("wrong_token", 500), ("malformed_credentials", 500)] {
            let series = "roster_scim_unauthenticated_total{reason=\"\(reason)\"}"
            #expect(MetricsTests.sample(text, series) == Double(count), "\(series) in /metrics")
        }
        let lines = daemon.logTail().split(separator: "\n").filter { $0.contains("refused: unauthorized") }
        #expect(lines.count <= 3, "refusals log once per episode, not per request: \(lines.count) lines")

        // Let the WAL settle into the database, then compare sizes.
        let grown = Self.dataDirectoryBytes(daemon.dataDir) - before
        #expect(grown < 1 << 20, "the data directory grew by \(grown) bytes")
        #expect(try await daemon.stop() == 0)
    }

    @Test("two Authorization headers are refused, whichever comes first")
    func repeatedAuthorization() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let directory = try daemon.createDirectory(name: "repeated")
        let port = try #require(URL(string: daemon.scimURL)?.port)
        for order in [["Bearer rst_wrong", "Bearer \(directory.token)"], ["Bearer \(directory.token)", "Bearer rst_wrong"], ["Bearer \(directory.token)", "Bearer \(directory.token)"]] {
            let head = "GET \(directory.base)/Users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + order.map { "Authorization: \($0)\r\n" }.joined() + "Connection: close\r\n\r\n"
            let answer = try RawHTTP.exchange(port: port, Array(head.utf8))
            #expect(answer.hasPrefix("HTTP/1.1 401"), "\(order): \(answer.prefix(200))")
            #expect(answer.contains("exactly one Authorization header"), "\(answer)")
        }
        let single = try await daemon.http("GET", directory.base + "/Users", token: directory.token)
        #expect(single.status == 200)
        #expect(try await daemon.stop() == 0)
    }

    @Test("searches that scan a directory are bounded: past --search-budget and past --max-searches-per-directory, 503 with Retry-After; index lookups and other directories are not held back")
    func boundedSearches() async throws {
        // A budget so small that any scan of a few hundred users runs past it.
        let tight = LiveDaemon(extraArguments: ["--search-budget", "0.001"])
        try await tight.start()
        let scim = SCIM(daemon: tight, directory: try tight.createDirectory(name: "budget"))
        for n in 0..<600 { _ = try await scim.createUser("u\(n)@example.com") }
        let slow = try await scim.get("/Users", [("filter", #"userName co "example""#), ("sortBy", "userName")])
        #expect(slow.status == 503, "\(slow.summary)")
        #expect(slow.headers["retry-after"] == "5" && slow.detail.contains("--search-budget"), "\(slow.summary)")
        // The index answers an eq without a scan: no budget applies.
        let lookup = try await scim.filter("Users", #"userName eq "u7@example.com""#)
        #expect(lookup.status == 200 && lookup.doc["totalResults"] == .int(1), "\(lookup.summary)")
        #expect(try await tight.stop() == 0)

        // One scan at a time per directory: concurrent scans beyond it are told to retry, while
        // another directory's scan and /healthz go on.
        let narrow = LiveDaemon(extraArguments: ["--max-searches-per-directory", "1"])
        try await narrow.start()
        let busy = SCIM(daemon: narrow, directory: try narrow.createDirectory(name: "busy"))
        let other = SCIM(daemon: narrow, directory: try narrow.createDirectory(name: "other"))
        for n in 0..<1_500 { _ = try await busy.createUser("b\(n)@example.com") }
        _ = try await other.createUser("o@example.com")
        let statuses = try await withThrowingTaskGroup(of: LiveDaemon.HTTPResult.self) { tasks in
            for _ in 0..<8 {
                tasks.addTask { try await busy.get("/Users", [("filter", #"userName co "example""#), ("sortBy", "userName")]) }
            }
            var results: [LiveDaemon.HTTPResult] = []
            for try await result in tasks { results.append(result) }
            return results
        }
        #expect(statuses.contains { $0.status == 200 }, "one scan ran")
        let refused = statuses.filter { $0.status == 503 }
        #expect(!refused.isEmpty, "scans beyond the directory's share were refused: \(statuses.map(\.status))")
        #expect(refused.allSatisfy { $0.headers["retry-after"] == "1" && $0.detail.contains("--max-searches-per-directory") })
        let elsewhere = try await other.get("/Users", [("filter", #"userName co "o""#)])
        #expect(elsewhere.status == 200 && elsewhere.doc["totalResults"] == .int(1), "\(elsewhere.summary)")
        #expect(try await narrow.http("GET", "/healthz", token: nil).status == 200)
        #expect(try await narrow.stop() == 0)
    }

    /// Bytes of every file in the data directory (the database, its WAL and shared memory).
    static func dataDirectoryBytes(_ path: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(0) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as? NSNumber)?.intValue
            return total + (size ?? 0)
        }
    }
}

/// A plain TCP client for HTTP requests that URLSession will not send (repeated headers,
/// partial requests): writes the bytes, then reads until the server closes or `timeout` passes.
enum RawHTTP {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw Failure(description: "connect(127.0.0.1:\(port)): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    static func exchange(port: Int, _ bytes: [UInt8], timeout: Int = 10) throws -> String {
        let fd = try connect(port: port)
        defer { close(fd) }
        var timeval = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeval, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send(): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
