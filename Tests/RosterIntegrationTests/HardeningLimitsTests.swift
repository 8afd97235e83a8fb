import Foundation
import RosterCore
import RosterProtocol
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The rest of issue #20 against a live daemon: ambiguous input, tampered page tokens, the
/// bootstrap directory's token across restarts, backups to hostile paths, and the limits that
/// keep one client from exhausting descriptors, memory or the event loops.
@Suite("Hardening limits", .serialized, .timeLimit(.minutes(6)))
struct HardeningLimitsTests {
    // MARK: Ambiguous input

    @Test("a JSON body with a repeated key is a 400 invalidSyntax naming the key, and changes nothing")
    func duplicateJSONKeys() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "dup-keys"))
        let created = try await scim.post(
            "/Users",
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mallory@example.com","active":true,"active":false}"#)
        #expect(created.status == 400, "\(created.summary)")
        #expect(created.scimType == "invalidSyntax", "\(created.summary)")
        #expect(created.detail.contains(#"duplicate object key "active""#), "\(created.detail)")
        let listed = try await scim.filter("Users", #"userName eq "mallory@example.com""#)
        #expect(listed.doc["totalResults"]?.int == 0, "no user was created: \(listed.summary)")

        // Inside a PATCH operation too: which value would win is exactly the ambiguity.
        let alice = try await scim.createUser("alice@example.com")
        let patched = try await scim.patch(
            "/Users/\(alice)", operations: #"[{"op":"replace","path":"active","value":false,"value":true}]"#)
        #expect(patched.status == 400 && patched.scimType == "invalidSyntax", "\(patched.summary)")
        #expect(patched.detail.contains(#"duplicate object key "value""#), "\(patched.detail)")
        let user = try await scim.get("/Users/\(alice)")
        #expect(user.doc["active"]?.bool == true, "the user is unchanged: \(user.summary)")
        #expect(try await daemon.stop() == 0)
    }

    // MARK: Page tokens and the bootstrap directory

    @Test("a tampered page token is INVALID_ARGUMENT, never a silent restart at page one")
    func tamperedPageToken() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "tokens"))
        var members: [String] = []
        for index in 0..<3 { members.append(try await scim.createUser("user\(index)@example.com")) }
        let group = try await scim.createGroup("staff", members: members)
        let other = try await scim.createGroup("other", members: members)
        let connection = try LookupConnection(path: daemon.socketPath)
        func page(_ token: String, group id: String = group) throws -> Roster_V1_ResponseFrame {
            var frame = Roster_V1_RequestFrame()
            frame.timeoutMs = 5_000
            frame.listGroupMembers = .with {
                $0.directoryID = scim.id
                $0.group.id = id
                $0.pageSize = 1
                $0.pageToken = token
            }
            return try connection.call(frame)
        }
        let first = try page("")
        #expect(first.status.code == .ok && first.listGroupMembers.members.count == 1)
        let token = first.listGroupMembers.nextPageToken
        #expect(!token.isEmpty)
        let second = try page(token)
        #expect(second.status.code == .ok && second.listGroupMembers.members.first?.id != first.listGroupMembers.members.first?.id)

        // The token is hex of `gm NUL <group id> NUL <cursor>`: keep the query, change the cursor.
        func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
        let prefix = hex("gm") + "00" + hex(group) + "00"
        #expect(token.hasPrefix(prefix), "token layout: \(token)")
        let tampered = [
            prefix + hex("x"), prefix + hex("-1"), prefix + hex("01"), prefix + hex("99999999999"), prefix,
            prefix + "ff", String(token.dropLast()), token.uppercased(), token + "00", "zz",
        ]
        for bad in tampered {
            let answer = try page(bad)
            #expect(answer.status.code == .invalidArgument, "token \(bad): \(answer.status) \(answer.listGroupMembers.members.map(\.id))")
            #expect(answer.status.message.contains("page_token"), "\(answer.status.message)")
        }
        // Another group's token, and a user-groups token with an empty cursor, are refused too.
        #expect(try page(token, group: other).status.code == .invalidArgument)
        var groups = Roster_V1_RequestFrame()
        groups.listUserGroups = .with {
            $0.directoryID = scim.id
            $0.user.id = members[0]
            $0.pageToken = hex("ug") + "00" + hex(members[0]) + "00"  // an empty cursor
        }
        #expect(try connection.call(groups).status.code == .invalidArgument)
        // The untampered token still works after all that.
        #expect(try page(token).listGroupMembers.members == second.listGroupMembers.members)
        #expect(try await daemon.stop() == 0)
    }

    @Test("--bootstrap-directory keeps an existing directory's token across restarts and says how to rotate it")
    func bootstrapKeepsToken() async throws {
        let daemon = LiveDaemon(extraArguments: ["--bootstrap-directory", "local"])
        let output = daemon.dataDir + "/stdout.txt"
        daemon.executable = try Self.wrapper(in: daemon.dataDir, "exec \"\(LiveDaemon.binary)\" \"$@\" >> \"\(output)\"")
        try await daemon.start()
        let firstRun = try String(contentsOfFile: output, encoding: .utf8)
        let token = try #require(Self.field("Bearer token", in: firstRun), "\(firstRun)")
        let base = try #require(Self.field("SCIM base URL", in: firstRun), "\(firstRun)")
        let path = try #require(URL(string: base)?.path)
        #expect(try await daemon.http("GET", path + "/Users", token: token).status == 200)

        for restart in 1...2 {
            #expect(try await daemon.stop() == 0)
            try FileManager.default.removeItem(atPath: output)
            try await daemon.start()
            let text = try String(contentsOfFile: output, encoding: .utf8)
            // The port is picked afresh at each start; the directory is the same.
            let again = Self.field("SCIM base URL", in: text).flatMap { URL(string: $0)?.path }
            #expect(again == path, "restart \(restart): the same directory\n\(text)")
            #expect(Self.field("Bearer token", in: text) == nil, "no new token is printed\n\(text)")
            #expect(text.contains("unchanged"), "\(text)")
            #expect(text.contains("directory rotate-token \(URL(string: base)!.lastPathComponent)"), "\(text)")
            let answer = try await daemon.http("GET", path + "/Users", token: token)
            #expect(answer.status == 200, "restart \(restart): the first token still works (\(answer.status))")
        }
        let connection = try LookupConnection(path: daemon.socketPath)
        var list = Roster_V1_RequestFrame()
        list.listDirectories = .init()
        #expect(try connection.call(list).listDirectories.directories.filter { $0.name == "local" }.count == 1)
        #expect(try await daemon.stop() == 0)
    }

    // MARK: Backup paths

    @Test("backup refuses symlinks and existing paths, writes 0600, reports the real size, and a bad path is exit 2")
    func backupPaths() async throws {
        let fixture = try await RosterctlTests.Fixture.start(embedded: true)
        let directory = try await fixture.createDirectory("backup-paths")
        _ = try await fixture.createUser(directory, "alice@example.com")
        let base = fixture.daemon.dataDir

        // A good path: mode 0600 whatever the umask, and the size is the file's.
        let good = base + "/good.sqlite"
        let written = try await fixture.ctl("backup", good, "--json")
        #expect(written.status == 0, "\(written)")
        var info = stat()
        #expect(lstat(good, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(written.json["bytes"] as? Int == Int(info.st_size), "\(written)")

        // A dangling symlink: refused, and its target is not created.
        let target = base + "/elsewhere.sqlite"
        let link = base + "/link.sqlite"
        #expect(symlink(target, link) == 0)
        let viaLink = try await fixture.ctl("backup", link)
        #expect(viaLink.status == 2, "\(viaLink)")
        #expect(viaLink.stderr.contains("symbolic link"), "\(viaLink)")
        #expect(!FileManager.default.fileExists(atPath: target), "the symlink's target was created")
        // The daemon refuses it on its own too (a client that skips rosterctl's check).
        let connection = try LookupConnection(path: fixture.daemon.socketPath)
        func backup(_ path: String) throws -> Roster_V1_ResponseFrame {
            var frame = Roster_V1_RequestFrame()
            frame.timeoutMs = 60_000
            frame.backup = .with { $0.path = path }
            return try connection.call(frame)
        }
        let raw = try backup(link)
        #expect(raw.status.code == .alreadyExists && raw.status.message.contains("symbolic link"), "\(raw.status)")
        #expect(!FileManager.default.fileExists(atPath: target), "the symlink's target was created")
        // A symlink to an existing file: the file is not touched.
        let victim = base + "/victim.txt"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        let link2 = base + "/link2.sqlite"
        #expect(symlink(victim, link2) == 0)
        #expect(try backup(link2).status.code == .alreadyExists)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        // An existing file or directory.
        #expect(try backup(good).status.code == .alreadyExists)
        #expect(try backup(base).status.code == .alreadyExists)

        // Bad paths: named as such, exit 2, not "SQLite error 14 … shutting down" (exit 4).
        for (path, words) in [
            (base + "/no-such-dir/b.sqlite", "does not exist"), (victim + "/b.sqlite", "not a directory"),
        ] {
            let bad = try await fixture.ctl("backup", path)
            #expect(bad.status == 2, "\(path): \(bad)")
            #expect(bad.stderr.contains(words) && !bad.stderr.contains("SQLite"), "\(path): \(bad)")
            let json = try await fixture.ctl("backup", path, "--json")
            #expect(json.error["code"] as? String == "INVALID_ARGUMENT", "\(json)")
        }
        #expect(!FileManager.default.fileExists(atPath: base + "/no-such-dir"))

        // Still serving and still able to back up.
        let again = try await fixture.ctl("backup", base + "/again.sqlite")
        #expect(again.status == 0, "\(again)")
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: The SCIM listener's deadlines and connection limit

    @Test("SCIM deadlines: a silent connection, a partial head, a dribbled body and an idle keep-alive are closed; so is a 413 or 400 with unread input")
    func scimDeadlines() async throws {
        let daemon = LiveDaemon(extraArguments: [
            "--scim-header-timeout", "1", "--scim-body-timeout", "2", "--scim-idle-timeout", "1.5", "--max-body-size", "1024",
        ])
        try await daemon.start()
        let directory = try daemon.createDirectory(name: "deadlines")
        let port = try #require(URL(string: daemon.scimURL)?.port)

        // Nothing sent: closed after the header timeout.
        let silent = try RawHTTP.connect(port: port)
        let silentEnd = try await Self.readUntilClosed(silent, timeout: 8)
        #expect(silentEnd.closed && (0.8...4).contains(silentEnd.seconds), "silent: \(silentEnd)")

        // Half a head, then more bytes now and then: the head's deadline does not move.
        let partial = try RawHTTP.connect(port: port)
        try Self.send(partial, "GET /healthz HTTP/1.1\r\n")
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(300))
            try? Self.send(partial, "X-A: b\r\n")
        }
        let partialEnd = try await Self.readUntilClosed(partial, timeout: 8)
        #expect(partialEnd.closed && partialEnd.seconds < 4, "partial head: \(partialEnd)")

        // A body sent a byte at a time: closed at the body deadline, not when it ends.
        let slow = try RawHTTP.connect(port: port)
        let started = ContinuousClock.now
        try Self.send(slow, "POST \(directory.base)/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(directory.token)\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n")
        var dribbled = 0
        while dribbled < 100, ContinuousClock.now - started < .seconds(6) {
            guard (try? Self.send(slow, "{")) != nil else { break }
            dribbled += 1
            try await Task.sleep(for: .milliseconds(200))
        }
        let slowEnd = try await Self.readUntilClosed(slow, timeout: 8)
        #expect(slowEnd.closed && dribbled < 100, "dribbled body: \(dribbled) bytes sent, \(slowEnd)")
        #expect(ContinuousClock.now - started < .seconds(5))

        // A kept-alive connection: answered, then closed after the idle timeout.
        let idle = try RawHTTP.connect(port: port)
        try Self.send(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let idleEnd = try await Self.readUntilClosed(idle, timeout: 8)
        #expect(idleEnd.text.hasPrefix("HTTP/1.1 200") && idleEnd.closed, "idle: \(idleEnd)")
        #expect((1.2...4).contains(idleEnd.seconds), "idle: \(idleEnd)")

        // 413 after 64 KiB of a 10 MB body: the answer, then the connection closes at once
        // instead of reading (and dropping) the other 9.9 MB.
        let large = try RawHTTP.connect(port: port)
        try Self.send(large, "POST \(directory.base)/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(directory.token)\r\nContent-Type: application/scim+json\r\nContent-Length: 10000000\r\n\r\n")
        try Self.send(large, String(repeating: " ", count: 65_536))
        let largeEnd = try await Self.readUntilClosed(large, timeout: 8)
        #expect(largeEnd.text.hasPrefix("HTTP/1.1 413"), "\(largeEnd)")
        #expect(largeEnd.text.lowercased().contains("connection: close"), "\(largeEnd)")
        #expect(largeEnd.closed && largeEnd.seconds < 1, "413: \(largeEnd)")

        // A request line that does not parse: 400, then closed though more bytes follow.
        let garbage = try RawHTTP.connect(port: port)
        try Self.send(garbage, "NOT HTTP AT ALL\r\n\r\nmore bytes")
        let garbageEnd = try await Self.readUntilClosed(garbage, timeout: 8)
        #expect(garbageEnd.text.hasPrefix("HTTP/1.1 400") && garbageEnd.closed && garbageEnd.seconds < 1, "400: \(garbageEnd)")

        // Pipelined requests on one connection are all answered.
        let pipelined = try RawHTTP.connect(port: port)
        try Self.send(pipelined, String(repeating: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", count: 3))
        let pipelinedEnd = try await Self.readUntilClosed(pipelined, timeout: 8)
        #expect(pipelinedEnd.text.components(separatedBy: "HTTP/1.1 200").count == 4, "\(pipelinedEnd)")

        let metrics = String(decoding: try await daemon.http("GET", "/metrics", token: nil).body, as: UTF8.self)
        for reason in ["header_timeout", "body_timeout", "idle_timeout", "unread_request"] {
            let value = MetricsTests.sample(metrics, "roster_scim_connections_closed_total{reason=\"\(reason)\"}") ?? 0
            #expect(value >= 1, "\(reason) counted")
        }
        #expect(try await daemon.http("GET", "/healthz", token: nil).status == 200)
        #expect(try await daemon.stop() == 0)
    }

    @Test("1,100 idle TCP connections under a 1,024 descriptor limit leave /healthz and the lookup socket answering")
    func idleConnectionFlood() async throws {
        let daemon = LiveDaemon()
        daemon.executable = try Self.wrapper(in: daemon.dataDir, "ulimit -n 1024 && exec \"\(LiveDaemon.binary)\" \"$@\"")
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "flood"))
        let alice = try await scim.createUser("alice@example.com")
        let admins = try await scim.createGroup("admins", members: [alice])
        let port = try #require(URL(string: daemon.scimURL)?.port)
        let pid = try #require(daemon.process?.processIdentifier)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains("1024") }, "\(limits)")

        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<1_100 { idle.append(try RawHTTP.connect(port: port)) }
        try await Task.sleep(for: .milliseconds(500))

        var healthz: [Duration] = []
        var checks: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            let answer = try RawHTTP.exchange(port: port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8), timeout: 5)
            healthz.append(ContinuousClock.now - start)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(100))")
            let checkStart = ContinuousClock.now
            let lookup = try LookupConnection(path: daemon.socketPath)
            #expect(try lookup.check(scim.id, user: .id(alice), group: .id(admins)).reason == .member)
            checks.append(ContinuousClock.now - checkStart)
        }
        healthz.sort()
        checks.sort()
        print("idle flood: /healthz median \(healthz[10]) max \(healthz[19]); lookup connect+Check median \(checks[10]) max \(checks[19])")
        #expect(healthz[10] < .milliseconds(50), "/healthz: \(healthz)")
        #expect(checks[10] < .milliseconds(50), "lookup: \(checks)")
        // A SCIM write goes through too, and the daemon says what it closed.
        _ = try await scim.createUser("bob@example.com")
        let metrics = String(decoding: try await daemon.http("GET", "/metrics", token: nil).body, as: UTF8.self)
        let evicted = MetricsTests.sample(metrics, "roster_scim_connections_closed_total{reason=\"evicted_for_new_connection\"}") ?? 0
        #expect(evicted > 0, "connections beyond the limit were evicted")
        #expect(daemon.logTail().contains("descriptor budget"), "the lowered lookup limit is logged")
        #expect(try await daemon.stop() == 0)
    }

    // MARK: The lookup socket

    @Test("refused lookup connections log one line per episode, not one per connection (check lanes and SwiftNIO)", arguments: ["1", "0"])
    func refusalsLogOncePerEpisode(checkLanes: String) async throws {
        let daemon = LiveDaemon(extraArguments: ["--max-connections", "2", "--max-connections-per-uid", "2", "--check-lanes", checkLanes])
        try await daemon.start()
        let held = try (0..<2).map { _ in try LookupConnection(path: daemon.socketPath) }
        var health = Roster_V1_RequestFrame()
        health.callID = 1
        health.health = .init()
        for connection in held { #expect(try connection.call(health).status.code == .ok) }
        for _ in 0..<40 {
            let refused = try LookupConnection(path: daemon.socketPath)
            let answer = try refused.receive()
            #expect(answer?.callID == 0 && answer?.status.code == .resourceExhausted, "\(String(describing: answer))")
        }
        let lines = daemon.logTail().split(separator: "\n").filter { $0.contains("connection limit reached") }
        #expect((1...2).contains(lines.count), "one line per episode, got \(lines.count): \(lines)")
        #expect(lines.first?.contains("roster.refused") == true, "\(lines)")
        #expect(try held[0].call(health).status.code == .ok, "the held connections are still served")
        #expect(try await daemon.stop() == 0)
    }

    // MARK: Helpers

    /// Writes all of `text`.
    static func send(_ fd: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawHTTP.Failure(description: "send(): \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    struct Ending: CustomStringConvertible {
        var text: String
        /// The server closed (or reset) the connection; false: `timeout` passed first.
        var closed: Bool
        var seconds: Double
        var description: String { "closed \(closed) after \(String(format: "%.2f", seconds)) s: \(text.prefix(300))" }
    }

    /// Reads until the server closes the connection or `timeout` seconds pass, then closes `fd`.
    /// Polls without blocking and sleeps between polls: a blocked cooperative thread would stall
    /// the other suites' servers running meanwhile (there are as many such threads as cores).
    static func readUntilClosed(_ fd: Int32, timeout: Int) async throws -> Ending {
        defer { close(fd) }
        let start = ContinuousClock.now
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if Self.seconds(ContinuousClock.now - start) >= Double(timeout) { break }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) <= 0 {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                return Ending(text: String(decoding: received, as: UTF8.self), closed: true, seconds: seconds(ContinuousClock.now - start))
            }
            received += buffer[..<n]
        }
        return Ending(text: String(decoding: received, as: UTF8.self), closed: false, seconds: seconds(ContinuousClock.now - start))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// A `/bin/sh` script in `directory` that runs `body` (which should exec rosterd with "$@").
    static func wrapper(in directory: String, _ body: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/rosterd-wrapper.sh"
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// The value after `label :` on a line of rosterd's bootstrap output.
    static func field(_ label: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(label) else { continue }
            guard let colon = trimmed.firstIndex(of: ":") else { continue }
            return trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
