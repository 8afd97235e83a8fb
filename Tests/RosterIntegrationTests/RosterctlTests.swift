import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// rosterctl end to end: the built binary as a subprocess against a live rosterd, asserting on
/// its standard output, standard error and exit codes (the contract scripts rely on, docs/CLI.md).
@Suite("rosterctl", .serialized)
struct RosterctlTests {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["ROSTERCTL"] { return path }
        return URL(fileURLWithPath: LiveDaemon.binary).deletingLastPathComponent().appendingPathComponent("rosterctl").path
    }

    struct Outcome: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String

        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// The last line of standard output as a JSON object (the `--json` contract).
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data((lines.last ?? "").utf8)) as? [String: Any]) ?? [:]
        }
        var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
        var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// Runs rosterctl to completion (bounded), with ROSTER_SOCKET and ROSTER_DATA_DIR cleared
    /// unless `environment` sets them.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw LiveDaemon.Failure(description: "rosterctl not found at \(binary); run `swift build` first or set ROSTERCTL")
        }
        var env = ProcessInfo.processInfo.environment
        env["ROSTER_SOCKET"] = nil
        env["ROSTER_DATA_DIR"] = nil
        env.merge(environment) { _, new in new }
        let base = "/tmp/rosterctl-run-" + UUID().uuidString.prefix(8).lowercased()
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let process = ChildProcess(
            executable: binary, arguments: arguments, environment: env, currentDirectory: directory,
            standardOutputPath: base + ".out", standardErrorPath: base + ".err")
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                throw LiveDaemon.Failure(description: "rosterctl \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let stdout = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let stderr = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A started daemon with a helper to run rosterctl against its socket.
    struct Fixture {
        let daemon: LiveDaemon

        /// `embedded`: a daemon on SQLite whatever ROSTER_TEST_ENGINE says (backup is SQLite's).
        static func start(extraArguments: [String] = [], embedded: Bool = false) async throws -> Fixture {
            let daemon = LiveDaemon(extraArguments: extraArguments)
            daemon.followsTestEngine = !embedded
            try await daemon.start()
            return Fixture(daemon: daemon)
        }

        /// rosterctl with `--socket` appended (after the command words, as scripts write it).
        func ctl(_ arguments: String..., environment: [String: String] = [:], directory: String? = nil) async throws
            -> Outcome
        {
            try await RosterctlTests.run(arguments + ["--socket", daemon.socketPath], environment: environment, directory: directory)
        }

        /// `directory create NAME --provider okta --json`, parsed.
        func createDirectory(_ name: String, provider: String = "okta") async throws -> TestDirectory {
            let created = try await ctl("directory", "create", name, "--provider", provider, "--json")
            try #require(created.status == 0, "\(created)")
            let json = created.json
            let id = try #require(json["id"] as? String, "\(created)")
            let token = try #require(json["token"] as? String, "\(created)")
            #expect(json["scim_base_url"] as? String == daemon.scimURL + "/scim/v2/" + id)
            return TestDirectory(id: id, token: token)
        }

        /// POST /Users; returns the SCIM id.
        func createUser(_ directory: TestDirectory, _ userName: String, externalID: String? = nil) async throws -> String {
            var body: [String: Any] = ["userName": userName, "active": true]
            if let externalID { body["externalId"] = externalID }
            let response = try await daemon.http("POST", directory.base + "/Users", token: directory.token, json: body)
            try #require(response.status == 201, "POST /Users \(userName): \(response.status)")
            return try #require(response.json["id"] as? String)
        }

        /// POST /Groups with members; returns the SCIM id.
        func createGroup(_ directory: TestDirectory, _ displayName: String, members: [String]) async throws -> String {
            let response = try await daemon.http(
                "POST", directory.base + "/Groups", token: directory.token,
                json: ["displayName": displayName, "members": members.map { ["value": $0] }])
            try #require(response.status == 201, "POST /Groups \(displayName): \(response.status)")
            return try #require(response.json["id"] as? String)
        }

        /// PATCH active=false; returns the Roster-Revision of the write.
        func suspend(_ directory: TestDirectory, userID: String) async throws -> UInt64 {
            let response = try await daemon.http(
                "PATCH", directory.base + "/Users/\(userID)", token: directory.token,
                json: [
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [["op": "replace", "value": ["active": false]]],
                ])
            try #require(response.status == 200, "PATCH suspend: \(response.status)")
            return try #require(response.revision)
        }
    }

    // MARK: check

    @Test("check: allowed MEMBER (exit 0), suspended with --min-revision (exit 1), unknowns, usage errors")
    func check() async throws {
        let fixture = try await Fixture.start()
        let directory = try await fixture.createDirectory("acme")
        let alice = try await fixture.createUser(directory, "alice@example.com", externalID: "00u-alice")
        let admins = try await fixture.createGroup(directory, "admins", members: [alice])

        let allowed = try await fixture.ctl(
            "check", "--directory", directory.id, "--user", "alice@example.com", "--group", "admins", "--json")
        #expect(allowed.status == 0, "\(allowed)")
        #expect(allowed.json["allowed"] as? Bool == true)
        #expect(allowed.json["reason"] as? String == "MEMBER")
        #expect((allowed.json["revision"] as? Int ?? 0) > 0)
        #expect(allowed.lines.count == 1, "--json prints exactly one line: \(allowed)")

        // The options in another order (anywhere after the command words), then human output.
        let reordered = try await RosterctlTests.run([
            "check", "--json", "--socket", fixture.daemon.socketPath, "--user-id", alice, "--directory", directory.id,
            "--group-id", admins,
        ])
        #expect(reordered.status == 0, "\(reordered)")
        #expect(reordered.json["reason"] as? String == "MEMBER")
        let text = try await fixture.ctl(
            "check", "-d", directory.id, "--user-external-id", "00u-alice", "--group", "admins")
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("allowed"))
        #expect(text.stdout.contains("MEMBER"))
        #expect(text.stdout.contains("revision"))

        // Suspend through SCIM, then read our write with --min-revision.
        let revision = try await fixture.suspend(directory, userID: alice)
        let denied = try await fixture.ctl(
            "check", "--directory", directory.id, "--user", "alice@example.com", "--group", "admins",
            "--min-revision", String(revision), "--json")
        #expect(denied.status == 1, "\(denied)")
        #expect(denied.json["allowed"] as? Bool == false)
        #expect(denied.json["reason"] as? String == "USER_SUSPENDED")
        #expect((denied.json["revision"] as? Int).map { UInt64($0) } ?? 0 >= revision)
        let deniedText = try await fixture.ctl(
            "check", "--directory", directory.id, "--user", "alice@example.com", "--group", "admins")
        #expect(deniedText.status == 1)
        #expect(deniedText.stdout.contains("denied") && deniedText.stdout.contains("USER_SUSPENDED"), "\(deniedText)")

        // Unknown user and group are answers, not errors.
        let unknownUser = try await fixture.ctl(
            "check", "--directory", directory.id, "--user", "nobody@example.com", "--group", "admins", "--json")
        #expect(unknownUser.status == 1)
        #expect(unknownUser.json["reason"] as? String == "USER_UNKNOWN")
        let unknownGroup = try await fixture.ctl(
            "check", "--directory", directory.id, "--user-id", alice, "--group", "nope", "--json")
        #expect(unknownGroup.json["reason"] as? String == "GROUP_UNKNOWN")

        // Unknown directory: exit 3, a JSON error and a next step.
        let unknownDirectory = try await fixture.ctl(
            "check", "--directory", "no-such-directory", "--user", "alice@example.com", "--group", "admins", "--json")
        #expect(unknownDirectory.status == 3, "\(unknownDirectory)")
        #expect(unknownDirectory.error["code"] as? String == "NOT_FOUND")
        #expect(unknownDirectory.error["exit_code"] as? Int == 3)
        #expect(unknownDirectory.stderr.contains("rosterctl directory list"), "\(unknownDirectory)")

        // A revision rosterd has not reached: the deadline, exit 4, says what to do.
        let future = try await fixture.ctl(
            "check", "--directory", directory.id, "--user-id", alice, "--group-id", admins, "--min-revision", "999999",
            "--timeout", "0.3", "--json")
        #expect(future.status == 4, "\(future)")
        #expect(future.error["code"] as? String == "DEADLINE_EXCEEDED")
        #expect(future.stderr.contains("--timeout"))

        // Usage errors: exit 2, also as JSON.
        let noGroup = try await fixture.ctl("check", "--directory", directory.id, "--user", "alice@example.com", "--json")
        #expect(noGroup.status == 2, "\(noGroup)")
        #expect(noGroup.error["code"] as? String == "INVALID_ARGUMENT")
        #expect(noGroup.stderr.contains("--group"))
        let twoUsers = try await fixture.ctl(
            "check", "--directory", directory.id, "--user", "a", "--user-id", "b", "--group", "admins")
        #expect(twoUsers.status == 2)
        let badFlag = try await fixture.ctl("check", "--frobnicate")
        #expect(badFlag.status == 2)
        let help = try await RosterctlTests.run(["check", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--min-revision"))
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: connection errors and the default socket

    @Test("unreachable rosterd: exit 4 with a hint; the default socket follows ROSTER_SOCKET and ROSTER_DATA_DIR")
    func unreachable() async throws {
        let missing = "/tmp/roster-missing-\(UUID().uuidString.prefix(8)).sock"
        let absent = try await RosterctlTests.run(["health", "--socket", missing])
        #expect(absent.status == 4, "\(absent)")
        #expect(absent.stderr.contains("cannot reach rosterd at \(missing)"), "\(absent)")
        #expect(absent.stderr.contains("is it running?"), "\(absent)")
        #expect(absent.stderr.contains("--socket"))
        #expect(absent.stdout.isEmpty)
        let absentJSON = try await RosterctlTests.run(["stats", "--json", "--socket", missing])
        #expect(absentJSON.status == 4)
        #expect(absentJSON.error["code"] as? String == "UNAVAILABLE")
        #expect((absentJSON.error["message"] as? String ?? "").contains(missing))

        let fixture = try await Fixture.start()
        let daemon = fixture.daemon
        // No --socket: ROSTER_SOCKET, else ROSTER_DATA_DIR/roster.sock, else ./roster-data/roster.sock.
        let viaSocketEnv = try await RosterctlTests.run(["health", "--json"], environment: ["ROSTER_SOCKET": daemon.socketPath])
        #expect(viaSocketEnv.status == 0, "\(viaSocketEnv)")
        #expect(viaSocketEnv.json["status"] as? String == "SERVING")
        let viaDataDir = try await RosterctlTests.run(["health"], environment: ["ROSTER_DATA_DIR": daemon.dataDir])
        #expect(viaDataDir.status == 0, "\(viaDataDir)")
        #expect(viaDataDir.stdout.contains("SERVING"))
        let workingDirectory = "/tmp/rosterctl-cwd-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: workingDirectory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: workingDirectory) }
        try FileManager.default.createSymbolicLink(atPath: workingDirectory + "/roster-data", withDestinationPath: daemon.dataDir)
        let viaDefault = try await RosterctlTests.run(["health"], directory: workingDirectory)
        #expect(viaDefault.status == 0, "\(viaDefault)")
        // The shared options are also accepted before the command words (as in the README).
        let before = try await RosterctlTests.run(["--socket", daemon.socketPath, "--json", "health"])
        #expect(before.status == 0, "\(before)")
        #expect(before.json["status"] as? String == "SERVING")
        // --socket wins over the environment.
        let override = try await RosterctlTests.run(
            ["health", "--socket", daemon.socketPath], environment: ["ROSTER_SOCKET": missing])
        #expect(override.status == 0, "\(override)")

        // A socket file left behind by a killed daemon: connection refused, still exit 4.
        try await daemon.crash()
        let stale = try await RosterctlTests.run(["health", "--socket", daemon.socketPath])
        #expect(stale.status == 4, "\(stale)")
        #expect(stale.stderr.contains("cannot reach rosterd at \(daemon.socketPath)"), "\(stale)")
        #expect(stale.stderr.contains("is it running?"))
    }

    @Test("admin commands from a uid outside the admin allow-list: exit 5 naming --admin-uid")
    func permissionDenied() async throws {
        let fixture = try await Fixture.start(extraArguments: ["--admin-uid", "4242424"])
        let denied = try await fixture.ctl("directory", "list", "--json")
        #expect(denied.status == 5, "\(denied)")
        #expect(denied.error["code"] as? String == "PERMISSION_DENIED")
        #expect(denied.stderr.contains("--admin-uid"), "\(denied)")
        // Lookups need no admin rights.
        let health = try await fixture.ctl("health")
        #expect(health.status == 0, "\(health)")
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: directories, tokens, group delete

    @Test("directory list, rotate-token (old token lives until the next rotation), group delete, directory delete")
    func directories() async throws {
        let fixture = try await Fixture.start()
        let acme = try await fixture.createDirectory("acme", provider: "okta")
        let listed = try await fixture.ctl("directory", "list", "--json")
        #expect(listed.status == 0, "\(listed)")
        let directories = try #require(listed.json["directories"] as? [[String: Any]])
        let entry = try #require(directories.first { $0["id"] as? String == acme.id })
        #expect(entry["name"] as? String == "acme")
        #expect(entry["provider"] as? String == "okta")
        #expect(entry["policy"] as? String == "revoke")
        let table = try await fixture.ctl("directory", "list")
        #expect(table.stdout.contains("PROVIDER") && table.stdout.contains(acme.id) && table.stdout.contains("okta"))

        let retain = try await fixture.ctl("directory", "create", "beta", "--provider", "entra", "--policy", "retain")
        #expect(retain.status == 0, "\(retain)")
        #expect(retain.stdout.contains("scim base url") && retain.stdout.contains("token"), "\(retain)")
        let badProvider = try await fixture.ctl("directory", "create", "gamma", "--provider", "azure", "--json")
        #expect(badProvider.status == 2, "\(badProvider)")
        #expect(badProvider.error["code"] as? String == "INVALID_ARGUMENT")

        // First rotation: the first token and the new one both work.
        let first = try await fixture.ctl("directory", "rotate-token", acme.id, "--json")
        #expect(first.status == 0, "\(first)")
        let second = try #require(first.json["token"] as? String)
        #expect(first.json["live_tokens"] as? Int == 2)
        #expect(second != acme.token)
        let users = acme.base + "/Users"
        #expect(try await fixture.daemon.http("GET", users, token: acme.token).status == 200)
        #expect(try await fixture.daemon.http("GET", users, token: second).status == 200)
        // Second rotation retires the first token.
        let again = try await fixture.ctl("directory", "rotate-token", acme.id, "--json")
        let third = try #require(again.json["token"] as? String)
        #expect(try await fixture.daemon.http("GET", users, token: acme.token).status == 401)
        #expect(try await fixture.daemon.http("GET", users, token: second).status == 200)
        #expect(try await fixture.daemon.http("GET", users, token: third).status == 200)
        let unknownRotation = try await fixture.ctl("directory", "rotate-token", "no-such-directory")
        #expect(unknownRotation.status == 3, "\(unknownRotation)")

        // group delete D G (by id), and by --group NAME.
        let live = TestDirectory(id: acme.id, token: third)
        let alice = try await fixture.createUser(live, "alice@example.com")
        let bob = try await fixture.createUser(live, "bob@example.com")
        let eng = try await fixture.createGroup(live, "eng", members: [alice, bob])
        _ = try await fixture.createGroup(live, "ops", members: [alice])
        let deleted = try await fixture.ctl("group", "delete", acme.id, eng, "--json")
        #expect(deleted.status == 0, "\(deleted)")
        #expect(deleted.json["memberships_removed"] as? Int == 2)
        let check = try await fixture.ctl("check", "--directory", acme.id, "--user-id", alice, "--group-id", eng, "--json")
        #expect(check.json["reason"] as? String == "GROUP_UNKNOWN", "\(check)")
        let byName = try await fixture.ctl("group", "delete", acme.id, "--group", "ops")
        #expect(byName.status == 0, "\(byName)")
        #expect(byName.stdout.contains("1 membership removed"), "\(byName)")
        let again404 = try await fixture.ctl("group", "delete", acme.id, eng)
        #expect(again404.status == 3, "\(again404)")
        let noGroup = try await fixture.ctl("group", "delete", acme.id)
        #expect(noGroup.status == 2, "\(noGroup)")

        // directory delete: then lookups say NOT_FOUND.
        let gone = try await fixture.ctl("directory", "delete", acme.id, "--json")
        #expect(gone.status == 0, "\(gone)")
        #expect((gone.json["revision"] as? Int ?? 0) > 0)
        let after = try await fixture.ctl("check", "--directory", acme.id, "--user-id", alice, "--group", "eng")
        #expect(after.status == 3, "\(after)")
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: lookups and counters

    @Test("user, group, groups, members (paged and --all), stats, health")
    func lookups() async throws {
        let fixture = try await Fixture.start()
        let directory = try await fixture.createDirectory("acme")
        var ids: [String] = []
        for n in 0..<5 { ids.append(try await fixture.createUser(directory, "user\(n)@example.com", externalID: "ext-\(n)")) }
        let eng = try await fixture.createGroup(directory, "eng", members: ids)
        _ = try await fixture.createGroup(directory, "ops", members: [ids[0]])

        let user = try await fixture.ctl("user", "--directory", directory.id, "--user", "USER0@example.com", "--json")
        #expect(user.status == 0, "\(user)")
        let detail = try #require(user.json["user"] as? [String: Any])
        #expect(detail["id"] as? String == ids[0])
        #expect(detail["state"] as? String == "ACTIVE")
        #expect(detail["external_id"] as? String == "ext-0")
        #expect((detail["group_ids"] as? [String] ?? []).count == 2)
        #expect((detail["resource"] as? [String: Any])?["userName"] as? String == "user0@example.com")
        let userText = try await fixture.ctl("user", "--directory", directory.id, "--user-id", ids[0])
        #expect(userText.stdout.contains("ACTIVE") && userText.stdout.contains("user0@example.com"), "\(userText)")
        let noUser = try await fixture.ctl("user", "--directory", directory.id, "--user", "nobody", "--json")
        #expect(noUser.status == 3, "\(noUser)")

        let group = try await fixture.ctl("group", "--directory", directory.id, "--group", "eng", "--json")
        #expect(group.status == 0, "\(group)")
        #expect((group.json["group"] as? [String: Any])?["member_count"] as? Int == 5)
        let groupShow = try await fixture.ctl("group", "show", "--directory", directory.id, "--group-id", eng)
        #expect(groupShow.status == 0 && groupShow.stdout.contains("eng"), "\(groupShow)")

        // A display name shared by two groups: rosterd refuses to guess (FAILED_PRECONDITION, exit 2).
        _ = try await fixture.createGroup(directory, "dup", members: [])
        _ = try await fixture.createGroup(directory, "dup", members: [])
        let ambiguous = try await fixture.ctl(
            "check", "--directory", directory.id, "--user-id", ids[0], "--group", "dup", "--json")
        #expect(ambiguous.status == 2, "\(ambiguous)")
        #expect(ambiguous.error["code"] as? String == "FAILED_PRECONDITION")
        #expect(ambiguous.stderr.contains("dup"))

        let groups = try await fixture.ctl("groups", "--directory", directory.id, "--user-id", ids[0], "--json")
        #expect(groups.status == 0, "\(groups)")
        let names = (groups.json["groups"] as? [[String: Any]] ?? []).compactMap { $0["display_name"] as? String }
        #expect(Set(names) == ["eng", "ops"])
        let groupsText = try await fixture.ctl("groups", "--directory", directory.id, "--user", "user0@example.com")
        #expect(groupsText.stdout.contains("DISPLAY NAME") && groupsText.stdout.contains("ops"), "\(groupsText)")

        // One page of 2: a next_page_token; --all follows every page.
        let page = try await fixture.ctl("members", "--directory", directory.id, "--group", "eng", "--page-size", "2", "--json")
        #expect(page.status == 0, "\(page)")
        #expect((page.json["members"] as? [Any])?.count == 2)
        let token = try #require(page.json["next_page_token"] as? String)
        #expect(!token.isEmpty)
        let next = try await fixture.ctl(
            "members", "--directory", directory.id, "--group", "eng", "--page-size", "2", "--page-token", token, "--json")
        #expect((next.json["members"] as? [Any])?.count == 2, "\(next)")
        let all = try await fixture.ctl("members", "--directory", directory.id, "--group", "eng", "--page-size", "2", "--all", "--json")
        #expect(all.status == 0, "\(all)")
        let members = (all.json["members"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(Set(members) == Set(ids))
        #expect(members.count == 5)
        #expect(all.json["next_page_token"] as? String == "")
        let allText = try await fixture.ctl("members", "--directory", directory.id, "--group", "eng", "--all", "--page-size", "2")
        #expect(allText.stdout.contains("5 members"), "\(allText)")
        #expect(!allText.stdout.contains("--page-token"))
        let pageText = try await fixture.ctl("members", "--directory", directory.id, "--group", "eng", "--page-size", "2")
        #expect(pageText.stdout.contains("--page-token"), "the human output says how to get the next page: \(pageText)")
        let badSize = try await fixture.ctl("members", "--directory", directory.id, "--group", "eng", "--page-size", "0")
        #expect(badSize.status == 2)

        let stats = try await fixture.ctl("stats", "--json")
        #expect(stats.status == 0, "\(stats)")
        #expect(stats.json["users"] as? Int == 5)
        #expect(stats.json["groups"] as? Int == 4)
        #expect(stats.json["memberships"] as? Int == 6)
        #expect(stats.json["directories"] as? Int == 1)
        let statsText = try await fixture.ctl("stats")
        #expect(statsText.stdout.contains("memberships") && statsText.stdout.contains("uptime"), "\(statsText)")
        let health = try await fixture.ctl("health", "--json")
        #expect(health.status == 0)
        #expect(health.json["status"] as? String == "SERVING")
        #expect((health.json["revision"] as? Int ?? 0) >= 10)
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: verify, backup, audit

    @Test("verify ok, backup PATH (a second one to the same path fails clearly), audit shows the SCIM requests")
    func verifyBackupAudit() async throws {
        let fixture = try await Fixture.start(embedded: true)
        let directory = try await fixture.createDirectory("acme")
        let alice = try await fixture.createUser(directory, "alice@example.com")
        let bob = try await fixture.createUser(directory, "bob@example.com")
        let admins = try await fixture.createGroup(directory, "admins", members: [alice, bob])
        _ = try await fixture.suspend(directory, userID: alice)

        let verify = try await fixture.ctl("verify", "--json")
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.json["ok"] as? Bool == true)
        #expect(verify.json["users_checked"] as? Int == 2)
        let verifyText = try await fixture.ctl("verify")
        #expect(verifyText.stdout.hasPrefix("ok"), "\(verifyText)")

        let path = fixture.daemon.dataDir + "/backup-1.sqlite"
        let backup = try await fixture.ctl("backup", path, "--json")
        #expect(backup.status == 0, "\(backup)")
        #expect(backup.json["path"] as? String == path)
        #expect((backup.json["bytes"] as? Int ?? 0) > 0)
        #expect(FileManager.default.fileExists(atPath: path))
        let twice = try await fixture.ctl("backup", path)
        #expect(twice.status == 2, "\(twice)")
        #expect(twice.stderr.contains("already exists") && twice.stderr.contains("new path"), "\(twice)")
        // A relative path is resolved against rosterctl's working directory.
        let relative = try await fixture.ctl("backup", "backup-2.sqlite", directory: fixture.daemon.dataDir)
        #expect(relative.status == 0, "\(relative)")
        #expect(FileManager.default.fileExists(atPath: fixture.daemon.dataDir + "/backup-2.sqlite"))

        let audit = try await fixture.ctl("audit", directory.id, "--json")
        #expect(audit.status == 0, "\(audit)")
        let records = try #require(audit.json["records"] as? [[String: Any]])
        let requests = records.map { "\($0["method"] as? String ?? "") \($0["path"] as? String ?? "")" }
        #expect(requests.contains("POST \(directory.base)/Users"), "\(requests)")
        #expect(requests.contains("POST \(directory.base)/Groups"), "\(requests)")
        #expect(requests.contains("PATCH \(directory.base)/Users/\(alice)"), "\(requests)")
        // Oldest first.
        let times = records.compactMap { $0["time_unix_ms"] as? Int }
        #expect(times == times.sorted())
        let auditText = try await fixture.ctl("audit", directory.id, "--since", "1h")
        #expect(auditText.status == 0)
        #expect(auditText.stdout.contains("PATCH") && auditText.stdout.contains("OUTCOME"), "\(auditText)")
        // "Why is alice not in admins?": the requests about her — her creation, the group POST that
        // added her (found through its revision's events), the PATCH that suspended her — not bob's.
        let why = try await fixture.ctl("audit", directory.id, "--user", "alice@example.com", "--json")
        #expect(why.status == 0, "\(why)")
        let about = (why.json["records"] as? [[String: Any]] ?? []).map {
            "\($0["method"] as? String ?? "") \($0["path"] as? String ?? "")"
        }
        #expect(
            about == [
                "POST \(directory.base)/Users", "POST \(directory.base)/Groups", "PATCH \(directory.base)/Users/\(alice)",
            ], "\(why)")
        let byGroup = try await fixture.ctl("audit", directory.id, "--group-id", admins, "--json")
        let groupRequests = (byGroup.json["records"] as? [[String: Any]] ?? []).map {
            "\($0["method"] as? String ?? "") \($0["path"] as? String ?? "")"
        }
        // The group's creation, and the suspension that removed alice from it.
        #expect(
            groupRequests == ["POST \(directory.base)/Groups", "PATCH \(directory.base)/Users/\(alice)"], "\(byGroup)")
        let whyText = try await fixture.ctl("audit", directory.id, "--user-id", alice, "--group", "admins")
        #expect(whyText.status == 0 && whyText.stdout.contains("PATCH"), "\(whyText)")
        let future = try await fixture.ctl("audit", directory.id, "--since", "2999-01-01T00:00:00Z", "--json")
        #expect((future.json["records"] as? [Any])?.isEmpty == true, "\(future)")
        let badSince = try await fixture.ctl("audit", directory.id, "--since", "yesterday-ish")
        #expect(badSince.status == 2, "\(badSince)")
        #expect(try await fixture.daemon.stop() == 0)
    }

    // MARK: watch

    @Test("watch --from 0 --json prints the events, one object per line, and ends cleanly on SIGINT and SIGTERM")
    func watch() async throws {
        let fixture = try await Fixture.start()
        let directory = try await fixture.createDirectory("acme")
        let alice = try await fixture.createUser(directory, "alice@example.com")
        _ = try await fixture.createGroup(directory, "admins", members: [alice])

        for signal in [SIGINT, SIGTERM] {
            let watcher = try Watcher(["watch", "--from", "0", "--json", "--socket", fixture.daemon.socketPath])
            // History first: directory.created, user.created, group.created, group.user_added.
            var events = try await watcher.waitForLines(4)
            // Then live events.
            _ = try await fixture.suspend(directory, userID: alice)
            events = try await watcher.waitForLines(6)
            let status = try await watcher.stop(signal)
            #expect(status == 0, "watch should exit 0 on signal \(signal): \(watcher.stderr)")
            let objects = events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(objects.count == events.count, "every line is one JSON object: \(events)")
            let kinds = objects.compactMap { $0["kind"] as? String }
            #expect(kinds.prefix(3) == ["directory.created", "user.created", "group.created"], "\(kinds)")
            #expect(kinds.contains("user.suspended"), "\(kinds)")
            #expect(kinds.contains("group.user_removed"), "\(kinds)")
            #expect(objects.allSatisfy { $0["directory_id"] as? String == directory.id })
            let revisions = objects.compactMap { $0["revision"] as? Int }
            #expect(revisions == revisions.sorted())
        }

        // --count stops by itself; --directory filters; human lines.
        let other = try await fixture.createDirectory("other")
        let counted = try await fixture.ctl("watch", "--from", "0", "--directory", other.id, "--count", "1")
        #expect(counted.status == 0, "\(counted)")
        #expect(counted.lines.count == 1 && counted.stdout.contains("directory.created"), "\(counted)")
        #expect(counted.stdout.contains(other.id))
        #expect(try await fixture.daemon.stop() == 0)
    }

    /// A long-running rosterctl whose standard output goes to a file that the test polls.
    final class Watcher {
        let process: ChildProcess
        let outPath: String
        let errPath: String

        init(_ arguments: [String]) throws {
            let base = "/tmp/rosterctl-watch-" + UUID().uuidString.prefix(8).lowercased()
            outPath = base + ".out"
            errPath = base + ".err"
            FileManager.default.createFile(atPath: outPath, contents: nil)
            FileManager.default.createFile(atPath: errPath, contents: nil)
            process = ChildProcess(
                executable: RosterctlTests.binary, arguments: arguments, standardOutputPath: outPath,
                standardErrorPath: errPath)
            try process.run()
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }

        var lines: [String] {
            ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

        /// Waits (bounded) until at least `count` lines are out; returns them.
        func waitForLines(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [String] {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let current = lines
                if current.count >= count { return current }
                if !process.isRunning {
                    throw LiveDaemon.Failure(description: "watch exited \(process.terminationStatus): \(stderr)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw LiveDaemon.Failure(description: "watch printed \(lines.count) of \(count) lines within \(timeout): \(lines)")
        }

        /// Sends `signal` and waits (bounded) for the exit status.
        func stop(_ signal: Int32, timeout: Duration = .seconds(10)) async throws -> Int32 {
            kill(process.processIdentifier, signal)
            let deadline = ContinuousClock.now + timeout
            while process.isRunning {
                if ContinuousClock.now > deadline {
                    kill(process.processIdentifier, SIGKILL)
                    throw LiveDaemon.Failure(description: "watch did not exit within \(timeout) of signal \(signal)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            return process.terminationStatus
        }
    }
}
