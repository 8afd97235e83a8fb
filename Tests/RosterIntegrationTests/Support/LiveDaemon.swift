import Foundation
import RosterProtocol
import SwiftProtobuf

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

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
