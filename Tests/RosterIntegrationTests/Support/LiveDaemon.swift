import Foundation
import RosterProtocol
import SwiftProtobuf

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The shared test cluster's postmaster (ROSTER_TEST_ENGINE=postgres), killed at exit.
nonisolated(unsafe) private var sharedClusterPID: pid_t = 0

/// A real `rosterd` process on a temporary data directory: real socket, real HTTP, real SQLite.
///
/// The binary is the one SwiftPM built next to this test bundle (`.build/<config>/rosterd`), or
/// `$ROSTERD` when set.
final class LiveDaemon: @unchecked Sendable {
    let dataDir: String
    let socketPath: String
    private(set) var scimURL = ""
    private(set) var process: ChildProcess?
    private let ownsDataDir: Bool
    var extraArguments: [String]

    struct Failure: Error, CustomStringConvertible { var description: String }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["ROSTERD"] { return path }
        // The test bundle lives in .build/<triple>/<config>/; the executables beside it.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("rosterd").path
    }

    /// What `start` runs: the rosterd binary, or a wrapper that execs it.
    var executable = LiveDaemon.binary

    init(dataDir: String? = nil, extraArguments: [String] = []) {
        if let dataDir {
            self.dataDir = dataDir
            ownsDataDir = false
        } else {
            self.dataDir = "/tmp/roster-it-" + UUID().uuidString.prefix(8).lowercased()
            ownsDataDir = true
        }
        socketPath = self.dataDir + "/roster.sock"
        self.extraArguments = extraArguments
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        if ownsDataDir { try? FileManager.default.removeItem(atPath: dataDir) }
    }

    /// Starts the daemon and waits (bounded) until its ready file appears.
    func start(timeout: Duration = .seconds(60)) async throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let readyFile = dataDir + "/ready.json"
        try? FileManager.default.removeItem(atPath: readyFile)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure(description: "rosterd binary not found at \(executable); run `swift build` first or set ROSTERD")
        }
        let logPath = dataDir + "/rosterd.log"
        if let engine = try await Self.sharedPostgresDatabase(for: self), !extraArguments.contains("--database-url") {
            extraArguments += ["--database-url", engine]
        }
        let process = ChildProcess(
            executable: executable,
            arguments: [
                "--data-dir", dataDir, "--socket", socketPath, "--scim-listen", "127.0.0.1:0", "--ready-file", readyFile,
                "--log-level", "warning",
            ] + extraArguments,
            standardErrorPath: logPath)
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: readyFile),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let url = object["scim_url"] as? String
            {
                scimURL = url
                return
            }
            if !process.isRunning {
                throw Failure(description: "rosterd exited with status \(process.terminationStatus) before it was ready: \(logTail())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "rosterd was not ready within \(timeout): \(logTail())")
    }

    func logTail() -> String {
        let text = (try? String(contentsOfFile: dataDir + "/rosterd.log", encoding: .utf8)) ?? ""
        return String(text.suffix(2000))
    }

    /// `ROSTER_TEST_ENGINE=postgres` runs every live daemon in fleet mode, each on a database of
    /// its own in one throwaway cluster shared by the test run: the same suites, the other engine.
    /// The database of a daemon is made at its first start and kept across its restarts.
    private static let sharedCluster = SharedCluster()
    private var postgresDatabase: String?

    /// False for daemons whose test is about the embedded engine itself (backup, single host).
    var followsTestEngine = true

    private static func sharedPostgresDatabase(for daemon: LiveDaemon) async throws -> String? {
        guard ProcessInfo.processInfo.environment["ROSTER_TEST_ENGINE"] == "postgres", daemon.followsTestEngine else { return nil }
        if let url = daemon.postgresDatabase { return url }
        let server = try await sharedCluster.server()
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try server.psql("CREATE DATABASE \(name)", database: "postgres")
        let url = "postgresql://roster@localhost/\(name)?host=\(server.directory)"
        daemon.postgresDatabase = url
        return url
    }

    /// Starts the cluster once, however many suites ask at the same time (the first caller's task
    /// is shared: an actor alone would start one per caller across its `await`).
    actor SharedCluster {
        private var starting: Task<PostgresServer, any Error>?
        func server() async throws -> PostgresServer {
            if let starting { return try await starting.value }
            let task = Task { () async throws -> PostgresServer in
                let server = try PostgresServer()
                try await server.start()
                // The cluster outlives every suite: stop it when the test process exits.
                sharedClusterPID = server.process?.processIdentifier ?? 0
                atexit { if sharedClusterPID > 0 { kill(sharedClusterPID, SIGKILL) } }
                return server
            }
            starting = task
            return try await task.value
        }
    }

    /// SIGTERM, then waits for exit; returns the exit status.
    @discardableResult
    func stop(timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard let process else { return 0 }
        kill(process.processIdentifier, SIGTERM)
        return try await waitForExit(process, timeout: timeout)
    }

    /// SIGKILL: no chance to flush anything.
    func crash() async throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = try await waitForExit(process, timeout: .seconds(30))
    }

    private func waitForExit(_ process: ChildProcess, timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { throw Failure(description: "rosterd did not exit within \(timeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        self.process = nil
        return process.terminationStatus
    }

    // MARK: HTTP

    struct HTTPResult {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
        var revision: UInt64? { headers["roster-revision"].flatMap { UInt64($0) } }
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        return URLSession(configuration: configuration)
    }()

    /// One HTTP request to the SCIM endpoint. `path` is relative to the server root.
    func http(
        _ method: String, _ path: String, token: String?, json: Any? = nil, raw: Data? = nil,
        headers: [String: String] = [:]
    ) async throws -> HTTPResult {
        var request = URLRequest(url: URL(string: scimURL + path)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/scim+json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            request.httpBody = raw
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await Self.session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return HTTPResult(status: http.statusCode, headers: fields, body: data)
    }
}

/// A directory created through the admin API of a live daemon.
struct TestDirectory {
    var id: String
    var token: String
    /// `/scim/v2/<id>`, relative to the server root.
    var base: String { "/scim/v2/\(id)" }
}

extension LiveDaemon {
    func createDirectory(name: String = "test", provider: String = "generic", policy: String = "revoke") throws
        -> TestDirectory
    {
        let connection = try LookupConnection(path: socketPath)
        var frame = Roster_V1_RequestFrame()
        frame.callID = 1
        frame.createDirectory = .with {
            $0.name = name
            $0.provider = provider
            $0.policy = policy
        }
        let response = try connection.call(frame)
        guard response.status.code == .ok else {
            throw Failure(description: "CreateDirectory failed: \(response.status.code) \(response.status.message)")
        }
        return TestDirectory(id: response.createDirectory.directory.id, token: response.createDirectory.token)
    }
}
