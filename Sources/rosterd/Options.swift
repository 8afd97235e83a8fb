import ArgumentParser
import Foundation
import Logging
import NIOCore
import RosterCore
import RosterHTTP
import RosterStore

/// Every rosterd flag. Each can also come from the environment variable named in its help;
/// a flag given on the command line wins over the environment.
struct DaemonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory for the database and the socket (env ROSTER_DATA_DIR).")
    var dataDir: String?

    @Option(help: "Unix socket path of the lookup API (env ROSTER_SOCKET; default <data-dir>/roster.sock).")
    var socket: String?

    @Option(
        name: .customLong("scim-listen"),
        help: "HOST:PORT of the SCIM HTTP endpoint, or off for a lookup-only sidecar (env ROSTER_SCIM_LISTEN; default 127.0.0.1:8080; port 0 picks a free port).")
    var scimListen: String?

    @Option(
        name: .customLong("database-url"),
        help: "PostgreSQL store shared by a fleet: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/socket/dir&sslmode=disable|prefer|require] (env ROSTER_DATABASE_URL; the password may come from PGPASSWORD). Without it, the store is SQLite in --data-dir.")
    var databaseURL: String?

    @Flag(
        name: .customLong("require-database"),
        help: "Fleet mode: refuse to start while PostgreSQL is unreachable, instead of serving the local checkpoint (env ROSTER_REQUIRE_DATABASE=1).")
    var requireDatabase = false

    @Option(
        name: .customLong("instance-name"),
        help: "This instance's name in the fleet view (env ROSTER_INSTANCE_NAME; default the host name).")
    var instanceName: String?

    @Option(
        name: .customLong("public-url"),
        help: "Base URL providers reach the SCIM endpoint at, when behind a proxy (default http://<scim-listen>, https:// with --tls-cert).")
    var publicURL: String?

    @Option(
        name: .customLong("tls-cert"),
        help: "PEM certificate (chain, leaf first) to serve SCIM over HTTPS; needs --tls-key (env ROSTER_TLS_CERT).")
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: "PEM private key (unencrypted) of --tls-cert (env ROSTER_TLS_KEY).")
    var tlsKey: String?

    @Option(name: .customLong("ready-file"), help: "Write {\"pid\",\"socket\",\"scim_url\",\"revision\"} as JSON here once serving.")
    var readyFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env ROSTER_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text or json (env ROSTER_LOG_FORMAT).")
    var logFormat: String?

    @Option(help: "full (a 2xx survives power loss) or normal (may lose the last writes on power loss, never on a crash).")
    var synchronous: String = "full"

    @Option(name: .customLong("max-batch"), help: "Most SCIM writes committed in one transaction (1 turns group commit off).")
    var maxBatch: Int = 256

    @Option(
        name: .customLong("wal-checkpoint"),
        help: "background (WAL checkpoints beside the writer, not inside a commit) or inline (SQLite's auto-checkpoint).")
    var walCheckpoint: String = "background"

    @Option(name: .customLong("socket-mode"), help: "Octal file mode of the socket.")
    var socketMode: String = "0660"

    @Option(name: .customLong("allow-uid"), help: "Peer uid allowed to connect to the socket (repeatable; default: anyone the file mode lets in).")
    var allowUIDs: [UInt32] = []

    @Option(name: .customLong("admin-uid"), help: "Peer uid allowed to call admin methods (repeatable; default: the daemon's own uid and root).")
    var adminUIDs: [UInt32] = []

    @Option(name: .customLong("max-frame-size"), help: "Largest lookup-API frame in bytes.")
    var maxFrameSize: Int = 4 * 1024 * 1024

    @Option(name: .customLong("max-connections"), help: "Most simultaneous socket connections.")
    var maxConnections: Int = 4096

    @Option(name: .customLong("max-in-flight"), help: "Most calls in flight on one socket connection.")
    var maxInFlight: Int = 1024

    @Option(
        name: .customLong("event-loops"),
        help: "Event-loop threads serving the socket and HTTP (env ROSTER_EVENT_LOOPS; default: the CPUs this process may run on).")
    var eventLoops: Int?

    @Option(
        name: .customLong("check-lanes"),
        help: ArgumentHelp(
            "Threads of the check lane: a plain epoll loop that accepts socket connections and answers plain Checks, handing a connection to the event loops when it sends anything else (env ROSTER_CHECK_LANES; default: as many as --event-loops; 0: the event loops serve every connection).",
            valueName: "n"))
    var checkLanes: Int?

    @Option(name: .customLong("max-body-size"), help: "Largest SCIM request body in bytes (larger answers 413).")
    var maxBodySize: Int = 1024 * 1024

    @Option(name: .customLong("max-page-size"), help: "Largest SCIM page (count is clamped to it).")
    var maxPageSize: Int = 1000

    @Option(name: .customLong("max-patch-operations"), help: "Most operations in one SCIM PATCH.")
    var maxPatchOperations: Int = 1000

    @Option(name: .customLong("max-members-per-request"), help: "Most group members in one SCIM request.")
    var maxMembersPerRequest: Int = 10_000

    @Option(
        name: .customLong("max-searches-per-directory"),
        help: "SCIM searches that scan one directory at the same time; more answer 503 with Retry-After.")
    var maxSearchesPerDirectory: Int = 2

    @Option(
        name: .customLong("search-budget"),
        help: "Seconds one scanning SCIM search may run before it is stopped with 503 and Retry-After.")
    var searchBudget: Double = 5

    @Option(name: .customLong("event-retention-days"), help: "Keep events at least this many days.")
    var eventRetentionDays: Int = 30

    @Option(name: .customLong("event-retention-count"), help: "Keep at least this many newest events.")
    var eventRetentionCount: Int = 10_000_000

    @Option(
        name: .customLong("audit-retention-days"),
        help: "Keep audit rows (authenticated SCIM and admin activity) this many days; older ones are pruned hourly.")
    var auditRetentionDays: Int = 90

    @Option(
        name: .customLong("bootstrap-directory"),
        help: "Make sure a directory with this name exists and print its SCIM URL, and its token when it is created (an existing directory keeps its token).")
    var bootstrapDirectory: String?

    @Option(name: .customLong("bootstrap-provider"), help: "Provider kind of the bootstrap directory.")
    var bootstrapProvider: String = "generic"

    /// SCIM connection limits and deadlines (ConnectionOptions.swift).
    @OptionGroup var connections: ConnectionOptions

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var resolvedDataDir: String { Self.absolute(dataDir ?? environment["ROSTER_DATA_DIR"] ?? "./roster-data") }
    var resolvedSocket: String { Self.absolute(socket ?? environment["ROSTER_SOCKET"] ?? resolvedDataDir + "/roster.sock") }

    /// Paths are made absolute once, so logs, the ready file and printed hints name them exactly.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        return relative.isEmpty ? cwd : cwd + "/" + relative
    }
    var resolvedListen: String { scimListen ?? environment["ROSTER_SCIM_LISTEN"] ?? "127.0.0.1:8080" }
    var resolvedDatabaseURL: String? {
        (databaseURL ?? environment["ROSTER_DATABASE_URL"]).flatMap { $0.isEmpty ? nil : $0 }
    }
    var resolvedRequireDatabase: Bool { requireDatabase || environment["ROSTER_REQUIRE_DATABASE"] == "1" }
    var resolvedInstanceName: String {
        (instanceName ?? environment["ROSTER_INSTANCE_NAME"]).flatMap { $0.isEmpty ? nil : $0 }
            ?? ProcessInfo.processInfo.hostName
    }

    /// The fleet's database, when `--database-url` is set.
    func postgresSettings() throws -> PostgresSettings? {
        guard let url = resolvedDatabaseURL else { return nil }
        do {
            return try PostgresSettings(url: url)
        } catch {
            throw ValidationError(error.message)
        }
    }
    var resolvedLogFormat: String { logFormat ?? environment["ROSTER_LOG_FORMAT"] ?? "text" }

    /// The TLS certificate and key paths (absolute), both or neither.
    func tlsFiles() throws -> SCIMTLSFiles? {
        let cert = (tlsCert ?? environment["ROSTER_TLS_CERT"]).flatMap { $0.isEmpty ? nil : $0 }
        let key = (tlsKey ?? environment["ROSTER_TLS_KEY"]).flatMap { $0.isEmpty ? nil : $0 }
        switch (cert, key) {
        case (nil, nil): return nil
        case (let cert?, let key?): return SCIMTLSFiles(certificatePath: Self.absolute(cert), keyPath: Self.absolute(key))
        case (_?, nil): throw ValidationError("--tls-cert needs --tls-key (or ROSTER_TLS_KEY): HTTPS needs both the certificate and its private key")
        case (nil, _?): throw ValidationError("--tls-key needs --tls-cert (or ROSTER_TLS_CERT): HTTPS needs both the certificate and its private key")
        }
    }

    /// The event-loop thread count. By default one per CPU the process may run on: NIO sizes its
    /// shared group from the machine and cgroup quotas, not from the affinity mask, so a daemon
    /// confined by taskset or a cpuset would otherwise run more loops than cores.
    func resolvedEventLoops() throws -> Int {
        try threadCount(eventLoops, flag: "--event-loops", variable: "ROSTER_EVENT_LOOPS", range: 1...1024)
            ?? max(1, min(System.coreCount, CPUAffinity.allowedCPUCount ?? System.coreCount))
    }

    /// The check lane thread count: by default as many as event loops (one per usable CPU).
    func resolvedCheckLanes(eventLoops: Int) throws -> Int {
        try threadCount(
            checkLanes, flag: "--check-lanes", variable: "ROSTER_CHECK_LANES", range: 0...1024,
            note: "; 0 turns the lane off") ?? eventLoops
    }

    /// A thread count from its flag, else its environment variable; nil when neither is set.
    private func threadCount(
        _ value: Int?, flag: String, variable: String, range: ClosedRange<Int>, note: String = ""
    ) throws -> Int? {
        guard let text = value.map(String.init) ?? environment[variable] else { return nil }
        guard let count = Int(text), range.contains(count) else {
            throw ValidationError(
                "\(flag) must be a number from \(range.lowerBound) to \(range.upperBound) (got '\(text)')\(note)")
        }
        return count
    }

    func resolvedLogLevel() throws -> Logger.Level {
        let text = logLevel ?? environment["ROSTER_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(text)')")
        }
        return level
    }

    /// The SCIM listen address split into host and port; nil for `off` (no HTTP listener).
    func listenAddress() throws -> (host: String, port: Int)? {
        let text = resolvedListen
        if text.lowercased() == "off" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("--scim-listen must be HOST:PORT with a port from 0 to 65535, or off (got '\(text)')")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    func storeConfiguration() throws -> StoreConfiguration {
        var config = StoreConfiguration(path: resolvedDataDir + "/roster.sqlite")
        guard let sync = StoreConfiguration.Synchronous(rawValue: synchronous.lowercased()) else {
            throw ValidationError("--synchronous must be full or normal (got '\(synchronous)')")
        }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        config.synchronous = sync
        config.maxBatch = maxBatch
        guard let checkpoint = StoreConfiguration.WALCheckpoint(rawValue: walCheckpoint.lowercased()) else {
            throw ValidationError("--wal-checkpoint must be background or inline (got '\(walCheckpoint)')")
        }
        config.walCheckpoint = checkpoint
        config.eventRetentionDays = max(0, eventRetentionDays)
        config.eventRetentionCount = max(0, eventRetentionCount)
        config.auditRetentionDays = max(0, auditRetentionDays)
        return config
    }

    func validate() throws {
        _ = try resolvedLogLevel()
        _ = try listenAddress()
        _ = try tlsFiles()
        _ = try resolvedCheckLanes(eventLoops: try resolvedEventLoops())
        _ = try storeConfiguration()
        _ = try postgresSettings()
        guard ["text", "json"].contains(resolvedLogFormat) else {
            throw ValidationError("--log-format must be text or json (got '\(resolvedLogFormat)')")
        }
        guard UInt32(socketMode, radix: 8) != nil else {
            throw ValidationError("--socket-mode must be an octal mode such as 0660 (got '\(socketMode)')")
        }
        guard searchBudget > 0, searchBudget <= 3600 else {
            throw ValidationError("--search-budget must be a number of seconds above 0, at most 3600 (got \(searchBudget))")
        }
        guard ProviderKind(rawValue: bootstrapProvider) != nil else {
            throw ValidationError("--bootstrap-provider must be okta, entra, onelogin, jumpcloud or generic")
        }
        for (name, value) in [
            ("--max-frame-size", maxFrameSize), ("--max-connections", maxConnections), ("--max-in-flight", maxInFlight),
            ("--max-body-size", maxBodySize), ("--max-page-size", maxPageSize),
            ("--max-patch-operations", maxPatchOperations), ("--max-members-per-request", maxMembersPerRequest),
            ("--max-searches-per-directory", maxSearchesPerDirectory),
        ] where value < 1 {
            throw ValidationError("\(name) must be at least 1 (got \(value))")
        }
    }
}
