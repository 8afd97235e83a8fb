import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster for the fleet tests: `initdb` in a temporary directory, the
/// server on a Unix socket there (no TCP), run as the `postgres` user (initdb and postgres refuse
/// root) and started as a direct child of the test process (`setpriv` execs, it does not fork),
/// so a SIGKILL test kills the real postmaster and can wait for it.
final class PostgresServer: @unchecked Sendable {
    let directory: String
    var dataDirectory: String { directory + "/data" }
    let database = "roster"
    private(set) var process: ChildProcess?
    /// `fsync=off` for functional suites; durability tests turn it on.
    let fsync: Bool

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The server binaries of the newest installed major version (Debian: /usr/lib/postgresql/N/bin).
    static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last else { return nil }
        let bin = "\(root)/\(newest)/bin"
        return FileManager.default.isExecutableFile(atPath: bin + "/postgres") ? bin : nil
    }

    /// The URL rosterd connects with.
    var url: String { "postgresql://roster@localhost/\(database)?host=\(directory)" }

    init(fsync: Bool = false) throws {
        guard let bin = Self.binaries else {
            throw Failure(description: "PostgreSQL is not installed (scripts/install-deps installs Debian's postgresql package)")
        }
        self.fsync = fsync
        directory = "/tmp/roster-pg-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.runToCompletion("/bin/chown", ["postgres:postgres", directory])
        try Self.runToCompletion(
            "/usr/sbin/runuser",
            ["-u", "postgres", "--", bin + "/initdb", "-D", dataDirectory, "-U", "roster", "--auth=trust", "-E", "UTF8",
             "--no-locale", "--no-sync"],
            log: directory + "/initdb.log")
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server and waits until it accepts connections (creating the database once).
    func start() async throws {
        guard let bin = Self.binaries else { throw Failure(description: "PostgreSQL is not installed") }
        let process = ChildProcess(
            executable: "/usr/bin/setpriv",
            arguments: [
                "--reuid=postgres", "--regid=postgres", "--init-groups", "--", bin + "/postgres", "-D", dataDirectory,
                "-c", "listen_addresses=", "-c", "unix_socket_directories=\(directory)", "-c", "fsync=\(fsync ? "on" : "off")",
                "-c", "max_connections=200",
            ],
            standardErrorPath: directory + "/server.log")
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                throw Failure(description: "postgres exited with \(process.terminationStatus): \(logTail())")
            }
            if (try? psql("SELECT 1", database: "postgres")) != nil {
                if (try? psql("SELECT 1")) == nil { _ = try psql("CREATE DATABASE \(database)", database: "postgres") }
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "postgres did not start within 30 s: \(logTail())")
    }

    /// SIGKILL of the postmaster (its backends exit when they notice), then waits for it.
    func kill9() async throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        // Backends orphaned by the postmaster's death exit on their own; wait until none holds the socket.
        try await Task.sleep(for: .milliseconds(300))
        self.process = nil
    }

    /// A fast shutdown (SIGINT), waiting for the exit.
    func stop() async throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGINT)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        self.process = nil
    }

    /// Runs SQL through psql as the cluster's superuser; returns the unaligned, tuples-only output.
    @discardableResult
    func psql(_ sql: String, database: String? = nil) throws -> String {
        let output = directory + "/psql-\(UUID().uuidString.prefix(6)).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        try Self.runToCompletion(
            "/usr/bin/psql",
            ["-h", directory, "-U", "roster", "-d", database ?? self.database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            log: output)
        return ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func logTail() -> String {
        String(((try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "").suffix(2000))
    }

    private static func runToCompletion(_ executable: String, _ arguments: [String], log: String = "/dev/null") throws {
        let child = ChildProcess(executable: executable, arguments: arguments, standardOutputPath: log, standardErrorPath: log)
        try child.run()
        while child.isRunning { usleep(5_000) }
        guard child.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(child.terminationStatus): \(text.suffix(1000))")
        }
    }
}
