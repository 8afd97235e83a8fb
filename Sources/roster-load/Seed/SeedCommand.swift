import ArgumentParser
import RosterClient
import RosterProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `roster-load seed`: builds a dataset through the real SCIM endpoint.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Load users, groups and memberships through SCIM and write a queries file.",
        discussion: """
            Either name an existing directory (--scim-url and --token, plus --directory when the URL is the \
            server root) or let the tool create one through the admin socket (--socket; the caller's uid must \
            be in the daemon's admin allow-list).

            Users are created with POST /Users, K at a time on K keep-alive connections; then each group with \
            POST /Groups carrying its first --members-per-request members, and PATCH add operations for the \
            rest. Memberships are spread evenly over the groups, members drawn uniformly at random (see \
            --seed). The queries file mixes allowed pairs (drawn from the memberships) and denied pairs \
            (uniform pairs that are not memberships), so its expected decisions follow from what was \
            seeded. Prints the ingest throughput.
            """)

    @Option(help: "Unix socket of rosterd; used to create a directory when --scim-url is not given.")
    var socket: String?

    @Option(name: .customLong("scim-url"), help: "SCIM base URL of the directory (…/scim/v2/<id>), or the server root with --directory.")
    var scimURL: String?

    @Option(help: "Bearer token of the directory (with --scim-url).")
    var token: String?

    @Option(help: "Directory id (with --scim-url when it is the server root).")
    var directory: String?

    @Option(name: .customLong("directory-name"), help: "Name of the directory to create (with --socket).")
    var directoryName: String?

    @Option(help: "Users to create.")
    var users: Int = 1000

    @Option(help: "Groups to create.")
    var groups: Int = 100

    @Option(help: "Memberships in all (spread evenly over the groups).")
    var memberships: Int = 10_000

    @Option(help: "Concurrent SCIM requests (one keep-alive connection each).")
    var concurrency: Int = 8

    @Option(name: .customLong("members-per-request"), help: "Members in one POST /Groups or PATCH (the daemon's default limit is 10000).")
    var membersPerRequest: Int = 1000

    @Option(help: "Queries file to write (userId<TAB>groupId<TAB>allow|deny).")
    var queries: String

    @Option(name: .customLong("query-count"), help: "Queries to write.")
    var queryCount: Int = 100_000

    @Option(name: .customLong("allow-fraction"), help: "Share of the queries that are memberships (expected allow).")
    var allowFraction: Double = 0.5

    @Option(help: "Random seed: the same seed and sizes give the same memberships and queries (by index).")
    var seed: UInt64 = 42

    @Option(name: .customLong("redis-commands"), help: "Also write the memberships as Redis SADD commands (RESP, for `redis-cli --pipe`): key = group id, members = user ids.")
    var redisCommands: String?

    @Flag(
        name: .customLong("redis-index-keys"),
        help: "With --redis-commands, also write each set under g:<12-digit group index> with members u:<12-digit user index>, the key form redis-benchmark's -r __rand_int__ produces.")
    var redisIndexKeys = false

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    func validate() throws {
        guard users >= 1, groups >= 1 else { throw ValidationError("--users and --groups must be at least 1") }
        guard memberships >= 0, memberships <= users * groups else {
            throw ValidationError("--memberships must be from 0 to users × groups (\(users * groups))")
        }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard membersPerRequest >= 1 else { throw ValidationError("--members-per-request must be at least 1") }
        guard queryCount >= 1 else { throw ValidationError("--query-count must be at least 1") }
        guard (0...1).contains(allowFraction) else { throw ValidationError("--allow-fraction must be from 0 to 1") }
        if scimURL == nil && socket == nil {
            throw ValidationError("give --scim-url and --token for an existing directory, or --socket to create one")
        }
        if scimURL != nil && token == nil { throw ValidationError("--scim-url needs --token") }
    }

    func run() async throws {
        let target = try await resolveTarget()
        var rng = SplitMix64(seed: seed)
        let dataset = Dataset(users: users, groups: groups, memberships: memberships, rng: &rng)
        // Names carry a tag so seeding the same directory twice does not collide on userName.
        var tagSource = SplitMix64(seed: MonotonicClock.nanoseconds())
        let tag = String(tagSource.next() & 0xff_ffff, radix: 16)
        let client = SCIMLoader(target: target, concurrency: concurrency)

        let userStart = MonotonicClock.nanoseconds()
        let userIDs = try client.createUsers(count: users) { index in
            "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"load-\(tag)-u\(index)@example.com\",\"active\":true}"
        }
        let userSeconds = Double(MonotonicClock.nanoseconds() - userStart) / 1e9

        let groupStart = MonotonicClock.nanoseconds()
        let perRequest = membersPerRequest
        let (groupIDs, groupRequests) = try client.createGroups(count: groups) { group in
            let ids = dataset.members[group].map { userIDs[Int($0)] }
            var chunks: [[String]] = []
            var start = 0
            repeat {
                let end = min(ids.count, start + perRequest)
                chunks.append(Array(ids[start..<end]))
                start = end
            } while start < ids.count
            return ("load-\(tag)-g\(group)", chunks)
        }
        let groupSeconds = Double(MonotonicClock.nanoseconds() - groupStart) / 1e9

        // The queries, from what was seeded.
        let drawn = dataset.queries(count: queryCount, allowFraction: allowFraction, rng: &rng)
        var text = ""
        text.reserveCapacity(drawn.count * 80)
        for query in drawn {
            text += userIDs[Int(query.user)]
            text += "\t"
            text += groupIDs[query.group]
            text += query.allow ? "\tallow\n" : "\tdeny\n"
        }
        try writeFile(queries, text)
        if let redisCommands { try writeRedis(path: redisCommands, dataset: dataset, userIDs: userIDs, groupIDs: groupIDs) }

        let totalRequests = users + groupRequests
        let totalSeconds = userSeconds + groupSeconds
        let allowCount = drawn.count(where: \.allow)
        if json {
            let fields: [(String, String)] = [
                ("directory_id", LoadReport.string(target.directoryID)),
                ("scim_base_url", LoadReport.string(target.base)),
                ("users", "\(users)"), ("groups", "\(groups)"), ("memberships", "\(dataset.memberships)"),
                ("scim_requests", "\(totalRequests)"),
                ("seconds", LoadReport.number(totalSeconds, decimals: 3)),
                ("requests_per_second", LoadReport.number(Double(totalRequests) / totalSeconds, decimals: 1)),
                ("user_seconds", LoadReport.number(userSeconds, decimals: 3)),
                ("users_per_second", LoadReport.number(Double(users) / userSeconds, decimals: 1)),
                ("group_requests", "\(groupRequests)"),
                ("group_seconds", LoadReport.number(groupSeconds, decimals: 3)),
                ("group_requests_per_second", LoadReport.number(Double(groupRequests) / groupSeconds, decimals: 1)),
                ("memberships_per_second", LoadReport.number(Double(dataset.memberships) / groupSeconds, decimals: 1)),
                ("revision", "\(client.lastRevision)"),
                ("queries", "\(drawn.count)"), ("queries_allow", "\(allowCount)"),
                ("concurrency", "\(concurrency)"), ("seed", "\(seed)"),
            ]
            print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        } else {
            print("directory \(target.directoryID) at \(target.base)")
            print(
                "  users        \(users) in \(LoadReport.number(userSeconds, decimals: 1)) s: "
                    + "\(LoadReport.grouped(Double(users) / userSeconds)) POST/s")
            print(
                "  groups       \(groups) with \(dataset.memberships) memberships in \(groupRequests) requests, "
                    + "\(LoadReport.number(groupSeconds, decimals: 1)) s: "
                    + "\(LoadReport.grouped(Double(groupRequests) / groupSeconds)) requests/s, "
                    + "\(LoadReport.grouped(Double(dataset.memberships) / groupSeconds)) memberships/s")
            print(
                "  SCIM         \(totalRequests) requests in \(LoadReport.number(totalSeconds, decimals: 1)) s "
                    + "(\(LoadReport.grouped(Double(totalRequests) / totalSeconds)) requests/s, \(concurrency) connections), "
                    + "revision \(client.lastRevision)")
            print("  queries      \(drawn.count) (\(allowCount) allow, \(drawn.count - allowCount) deny) in \(queries)")
        }
    }

    private func resolveTarget() async throws -> SCIMTarget {
        if let scimURL, let token {
            var url = scimURL
            while url.hasSuffix("/") { url.removeLast() }
            let marker = "/scim/v2/"
            if let start = url.indices.first(where: { url[$0...].hasPrefix(marker) }) {
                let id = String(url[url.index(start, offsetBy: marker.count)...])
                return try SCIMTarget(base: url, directoryID: id, token: token)
            }
            guard let directory else {
                throw ValidationError("--scim-url \(scimURL) has no /scim/v2/<id>: add --directory")
            }
            return try SCIMTarget(base: url + "/scim/v2/" + directory, directoryID: directory, token: token)
        }
        guard let socket else { throw ValidationError("--socket is required without --scim-url") }
        let client = try await RosterClient.connect(socketPath: socket)
        do {
            let name = directoryName ?? "load-\(String(MonotonicClock.nanoseconds() & 0xffff_ffff, radix: 16))"
            let created = try await client.createDirectory(name: name, provider: "generic", timeout: .seconds(30))
            await client.close()
            return try SCIMTarget(base: created.scimBaseURL, directoryID: created.directory.id, token: created.token)
        } catch {
            await client.close()
            throw error
        }
    }

    private func writeFile(_ path: String, _ text: String) throws {
        guard let file = fopen(path, "w") else {
            throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var text = text
        let written = text.withUTF8 { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == text.utf8.count else { throw ValidationError("short write to \(path)") }
    }

    /// `SADD <groupId> <userId>…` per group, 1000 members per command, in RESP; with
    /// --redis-index-keys the same sets again as `g:<index>` / `u:<index>` (12 digits, zero-padded).
    private func writeRedis(path: String, dataset: Dataset, userIDs: [String], groupIDs: [String]) throws {
        var out = ""
        func bulk(_ value: String) { out += "$\(value.utf8.count)\r\n\(value)\r\n" }
        func padded(_ prefix: String, _ index: Int) -> String {
            let digits = String(index)
            return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
        }
        for pass in 0..<(redisIndexKeys ? 2 : 1) {
            for group in 0..<dataset.groups {
                let members = dataset.members[group]
                var start = 0
                while start < members.count {
                    let end = min(members.count, start + 1000)
                    out += "*\(2 + end - start)\r\n"
                    bulk("SADD")
                    bulk(pass == 0 ? groupIDs[group] : padded("g:", group))
                    for user in members[start..<end] { bulk(pass == 0 ? userIDs[Int(user)] : padded("u:", Int(user))) }
                    start = end
                }
            }
        }
        try writeFile(path, out)
    }
}

/// Where to send SCIM requests.
struct SCIMTarget: Sendable {
    var base: String
    var directoryID: String
    var token: String
    var host: String
    var port: UInt16
    /// The path part of `base` (`/scim/v2/<id>`).
    var basePath: String

    init(base: String, directoryID: String, token: String) throws {
        self.base = base
        self.directoryID = directoryID
        self.token = token
        guard base.hasPrefix("http://") else {
            throw ValidationError("only http:// SCIM URLs are supported (got \(base))")
        }
        let rest = base.dropFirst("http://".count)
        let authority = rest.prefix(while: { $0 != "/" })
        basePath = String(rest.dropFirst(authority.count))
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? UInt16(after.dropFirst()) ?? 80 : 80
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = UInt16(authority[authority.index(after: colon)...]) ?? 80
        } else {
            host = String(authority)
            port = 80
        }
    }
}

/// Sends the seeding requests on `concurrency` threads, each with its own keep-alive connection.
final class SCIMLoader: Sendable {
    let target: SCIMTarget
    let concurrency: Int
    private let revision = Atomic<UInt64>(0)

    var lastRevision: UInt64 { revision.load(ordering: .relaxed) }

    init(target: SCIMTarget, concurrency: Int) {
        self.target = target
        self.concurrency = concurrency
    }

    /// POSTs `count` users; returns their ids by index.
    func createUsers(count: Int, body: @escaping @Sendable (Int) -> String) throws(LoadError) -> [String] {
        let queue = WorkQueue(total: count)
        let ids = Mutex<[String]>(Array(repeating: "", count: count))
        let target = self.target
        Workers.run(min(concurrency, count)) { _ in
            let connection = HTTPConnection(host: target.host, port: target.port)
            while let index = queue.take() {
                do throws(LoadError) {
                    let response = try self.send(connection, "POST", target.basePath + "/Users", body(index), expect: 201)
                    guard let id = TinyJSON.topLevelString("id", in: response.body) else {
                        throw LoadError("POST /Users answered 201 without an id: \(response.text.prefix(200))")
                    }
                    ids.withLock { $0[index] = id }
                } catch {
                    queue.fail(error)
                }
            }
        }
        if let error = queue.error { throw error }
        return ids.withLock { $0 }
    }

    /// Creates `count` groups: `plan(g)` gives the display name and member id chunks (the
    /// first chunk goes in the POST, the others in PATCH add operations). Returns the ids by
    /// index and the number of requests sent.
    func createGroups(count: Int, plan: @escaping @Sendable (Int) -> (String, [[String]])) throws(LoadError)
        -> ([String], Int)
    {
        let queue = WorkQueue(total: count)
        let ids = Mutex<[String]>(Array(repeating: "", count: count))
        let requests = Atomic<Int>(0)
        let target = self.target
        Workers.run(min(concurrency, count)) { _ in
            let connection = HTTPConnection(host: target.host, port: target.port)
            while let index = queue.take() {
                do throws(LoadError) {
                    let (name, chunks) = plan(index)
                    let first = chunks.first ?? []
                    let body =
                        "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\(TinyJSON.quote(name)),"
                        + "\"members\":[" + first.map { "{\"value\":\(TinyJSON.quote($0))}" }.joined(separator: ",") + "]}"
                    let response = try self.send(connection, "POST", target.basePath + "/Groups", body, expect: 201)
                    guard let id = TinyJSON.topLevelString("id", in: response.body) else {
                        throw LoadError("POST /Groups answered 201 without an id: \(response.text.prefix(200))")
                    }
                    requests.add(1, ordering: .relaxed)
                    for chunk in chunks.dropFirst() {
                        let patch =
                            "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":["
                            + chunk.map { "{\"value\":\(TinyJSON.quote($0))}" }.joined(separator: ",") + "]}]}"
                        _ = try self.send(connection, "PATCH", target.basePath + "/Groups/" + id, patch, expect: nil)
                        requests.add(1, ordering: .relaxed)
                    }
                    ids.withLock { $0[index] = id }
                } catch {
                    queue.fail(error)
                }
            }
        }
        if let error = queue.error { throw error }
        return (ids.withLock { $0 }, requests.load(ordering: .relaxed))
    }

    /// One request; retries (with a short back-off) on 429 and 503, fails on any other status
    /// than `expect` (any 2xx when nil).
    private func send(_ connection: HTTPConnection, _ method: String, _ path: String, _ body: String, expect: Int?)
        throws(LoadError) -> HTTPConnection.Response
    {
        let headers = [
            ("Authorization", "Bearer \(target.token)"), ("Content-Type", "application/scim+json"),
            ("Accept", "application/scim+json"),
        ]
        var delay: UInt32 = 10_000
        for _ in 0..<10 {
            let response = try connection.request(method: method, path: path, headers: headers, body: Array(body.utf8))
            if response.status == 429 || response.status == 503 {
                usleep(delay)
                delay = min(delay * 2, 1_000_000)
                continue
            }
            let ok = expect.map { response.status == $0 } ?? (200..<300).contains(response.status)
            guard ok else {
                throw LoadError("\(method) \(path) answered \(response.status): \(response.text.prefix(300))")
            }
            if let header = response.header("roster-revision"), let value = UInt64(header) {
                var current = revision.load(ordering: .relaxed)
                while value > current {
                    let (exchanged, original) = revision.compareExchange(
                        expected: current, desired: value, ordering: .relaxed)
                    if exchanged { break }
                    current = original
                }
            }
            return response
        }
        throw LoadError("\(method) \(path) was refused with 429/503 ten times in a row")
    }
}
