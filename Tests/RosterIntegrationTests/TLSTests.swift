import Foundation
import RosterCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The SCIM endpoint over HTTPS (`--tls-cert`/`--tls-key`): a real rosterd with a certificate
/// made for the test by the `openssl` CLI, and a real TLS client (`curl --cacert`, trusting only
/// that certificate); bad TLS settings refuse to start with a message naming the file.
@Suite("SCIM over TLS", .serialized, .timeLimit(.minutes(3)))
struct TLSTests {
    /// A temporary folder with self-signed certificates for 127.0.0.1 (two unrelated pairs).
    final class Certificates {
        let dir = "/tmp/roster-tls-" + UUID().uuidString.prefix(8).lowercased()
        var cert: String { dir + "/cert.pem" }
        var key: String { dir + "/key.pem" }
        var otherCert: String { dir + "/other-cert.pem" }
        var otherKey: String { dir + "/other-key.pem" }

        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Self.makePair(cert: cert, key: key, in: dir)
            try Self.makePair(cert: otherCert, key: otherKey, in: dir)
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        static func makePair(cert: String, key: String, in dir: String) throws {
            let result = try run(
                "/usr/bin/env",
                [
                    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                ], in: dir)
            guard result.status == 0 else {
                throw LiveDaemon.Failure(
                    description: "openssl req failed (\(result.status)); is openssl installed (scripts/install-deps)? \(result.stderr)")
            }
        }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion (posix_spawn; output through files) and returns its output.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        in dir: String, hangGuard: Duration = .seconds(60)
    ) throws -> Output {
        let stamp = UUID().uuidString.prefix(8)
        let out = "\(dir)/out-\(stamp).txt"
        let err = "\(dir)/err-\(stamp).txt"
        let child = ChildProcess(
            executable: executable, arguments: arguments, environment: environment, standardOutputPath: out,
            standardErrorPath: err)
        try child.run()
        let deadline = ContinuousClock.now + hangGuard
        while child.isRunning {
            if ContinuousClock.now > deadline {
                kill(child.processIdentifier, SIGKILL)
                throw LiveDaemon.Failure(description: "\(arguments.first ?? executable) did not exit within \(hangGuard)")
            }
            usleep(10_000)
        }
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        return Output(
            status: child.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    struct CurlResult {
        var exitCode: Int32
        /// "000" when no HTTP response came back.
        var httpCode: String
        var body: JSONValue
        var stderr: String
    }

    /// One request with curl, trusting only `caFile`. `-w` prints the status code after the body.
    static func curl(
        _ method: String, _ url: String, token: String, body: String? = nil, caFile: String, in dir: String
    ) throws -> CurlResult {
        var arguments = [
            "curl", "-sS", "--max-time", "20", "--cacert", caFile, "-X", method, "-H", "Authorization: Bearer \(token)",
            "-w", "\n%{http_code}",
        ]
        if let body { arguments += ["-H", "Content-Type: application/scim+json", "--data-binary", body] }
        let output = try run("/usr/bin/env", arguments + [url], in: dir)
        var lines = output.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let code = lines.popLast().map(String.init) ?? ""
        let text = lines.joined(separator: "\n")
        return CurlResult(
            exitCode: output.status, httpCode: code, body: (try? JSONParser.parse(Array(text.utf8))) ?? .null,
            stderr: output.stderr)
    }

    @Test("HTTPS: the ready file names an https URL; a user is created and read back over TLS; plain HTTP gets no SCIM answer")
    func servesHTTPS() async throws {
        let certificates = try Certificates()
        let daemon = LiveDaemon(extraArguments: ["--tls-cert", certificates.cert, "--tls-key", certificates.key])
        try await daemon.start()
        #expect(daemon.scimURL.hasPrefix("https://127.0.0.1:"), "ready file: \(daemon.scimURL)")
        let directory = try daemon.createDirectory(name: "tls")
        let base = daemon.scimURL + directory.base

        let created = try Self.curl(
            "POST", base + "/Users", token: directory.token, body: #"{"userName":"alice@tls.example","active":true}"#,
            caFile: certificates.cert, in: certificates.dir)
        #expect(created.exitCode == 0, "curl: \(created.stderr)")
        #expect(created.httpCode == "201", "\(created.httpCode) \(created.body)")
        let id = try #require(created.body["id"]?.string, "created user: \(created.body)")
        #expect(created.body["meta"]?["location"]?.string?.hasPrefix("https://") == true, "\(created.body)")

        let read = try Self.curl("GET", base + "/Users/\(id)", token: directory.token, caFile: certificates.cert, in: certificates.dir)
        #expect(read.httpCode == "200", "\(read.httpCode) \(read.stderr)")
        #expect(read.body["userName"]?.string == "alice@tls.example")

        // Trusting another certificate: the handshake fails, so nothing is sent.
        let untrusted = try Self.curl("GET", base + "/Users/\(id)", token: directory.token, caFile: certificates.otherCert, in: certificates.dir)
        #expect(untrusted.exitCode != 0 && untrusted.httpCode == "000", "untrusted: \(untrusted.exitCode) \(untrusted.httpCode)")

        // Plain HTTP to the TLS port: no HTTP response at all, and nothing was written.
        let plainBase = "http://" + base.dropFirst("https://".count)
        let plain = try Self.curl(
            "POST", plainBase + "/Users", token: directory.token, body: #"{"userName":"mallory@tls.example"}"#,
            caFile: certificates.cert, in: certificates.dir)
        #expect(plain.exitCode != 0, "plain HTTP: curl exit \(plain.exitCode), \(plain.httpCode)")
        #expect(plain.httpCode == "000", "plain HTTP got an HTTP status: \(plain.httpCode) \(plain.body)")
        #expect(plain.body["schemas"] == nil)
        let search = try Self.curl(
            "GET", base + "/Users?filter=userName%20eq%20%22mallory@tls.example%22", token: directory.token,
            caFile: certificates.cert, in: certificates.dir)
        #expect(search.httpCode == "200" && search.body["totalResults"]?.int == 0, "\(search.httpCode) \(search.body)")

        #expect(daemon.process?.isRunning == true)
        let status = try await daemon.stop()
        #expect(status == 0, "rosterd exited with \(status): \(daemon.logTail())")
    }

    /// Starts rosterd with these TLS settings, expects it to exit non-zero without serving, and
    /// returns what it printed.
    static func expectRefused(
        _ arguments: [String], environment: [String: String] = [:], in certificates: Certificates,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let dataDir = certificates.dir + "/data-" + UUID().uuidString.prefix(6)
        let readyFile = dataDir + "/ready.json"
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        let output = try run(
            LiveDaemon.binary,
            [
                "--data-dir", dataDir, "--socket", dataDir + "/roster.sock", "--scim-listen", "127.0.0.1:0",
                "--ready-file", readyFile,
            ] + arguments, environment: env, in: certificates.dir)
        #expect(output.status != 0, "rosterd should refuse \(arguments) \(environment)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: readyFile), "it never became ready", sourceLocation: sourceLocation)
        // A clear one-line error, not a crash (a signal would show as a small status and no message).
        #expect(!output.stderr.contains("Fatal error"), "\(output.stderr)", sourceLocation: sourceLocation)
        return output.stderr
    }

    @Test("a missing key file, an unreadable certificate, a key of another certificate, or one flag alone: a clear startup error")
    func refusesBadSettings() throws {
        let certificates = try Certificates()
        let missing = certificates.dir + "/no-such-key.pem"
        let noKey = try Self.expectRefused(["--tls-cert", certificates.cert, "--tls-key", missing], in: certificates)
        #expect(noKey.contains(missing) && noKey.contains("does not exist"), "\(noKey)")

        let garbage = certificates.dir + "/garbage.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
        let badCert = try Self.expectRefused(["--tls-cert", garbage, "--tls-key", certificates.key], in: certificates)
        #expect(badCert.contains(garbage) && badCert.contains("PEM certificate"), "\(badCert)")

        let badKey = try Self.expectRefused(["--tls-cert", certificates.cert, "--tls-key", certificates.cert], in: certificates)
        #expect(badKey.contains(certificates.cert) && badKey.contains("private key"), "\(badKey)")

        let mismatched = try Self.expectRefused(["--tls-cert", certificates.cert, "--tls-key", certificates.otherKey], in: certificates)
        #expect(
            mismatched.contains("does not belong") && mismatched.contains(certificates.otherKey)
                && mismatched.contains(certificates.cert), "\(mismatched)")

        let certOnly = try Self.expectRefused(["--tls-cert", certificates.cert], in: certificates)
        #expect(certOnly.contains("--tls-cert needs --tls-key"), "\(certOnly)")

        let keyOnlyFromEnvironment = try Self.expectRefused([], environment: ["ROSTER_TLS_KEY": certificates.key], in: certificates)
        #expect(keyOnlyFromEnvironment.contains("--tls-key needs --tls-cert"), "\(keyOnlyFromEnvironment)")
    }

    @Test("ROSTER_TLS_CERT and ROSTER_TLS_KEY turn TLS on like the flags")
    func environmentVariables() async throws {
        let certificates = try Certificates()
        let readyDir = certificates.dir + "/env-data"
        try FileManager.default.createDirectory(atPath: readyDir, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["ROSTER_TLS_CERT"] = certificates.cert
        env["ROSTER_TLS_KEY"] = certificates.key
        let readyFile = readyDir + "/ready.json"
        let child = ChildProcess(
            executable: LiveDaemon.binary,
            arguments: [
                "--data-dir", readyDir, "--socket", readyDir + "/roster.sock", "--scim-listen", "127.0.0.1:0",
                "--ready-file", readyFile, "--log-level", "warning",
            ], environment: env, standardErrorPath: readyDir + "/rosterd.log")
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        var scimURL: String?
        let deadline = ContinuousClock.now + .seconds(60)
        while scimURL == nil, child.isRunning, ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: readyFile),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                scimURL = object["scim_url"] as? String
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let url = try #require(scimURL, "not ready: \((try? String(contentsOfFile: readyDir + "/rosterd.log", encoding: .utf8)) ?? "")")
        #expect(url.hasPrefix("https://"), "\(url)")
        let health = try Self.curl("GET", url + "/healthz", token: "-", caFile: certificates.cert, in: certificates.dir)
        #expect(health.httpCode == "200" && health.body["status"]?.string == "SERVING", "\(health.httpCode) \(health.stderr)")
        kill(child.processIdentifier, SIGTERM)
        while child.isRunning, ContinuousClock.now < deadline + .seconds(30) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(child.terminationStatus == 0)
    }
}
