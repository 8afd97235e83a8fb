import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// roster-load against a live daemon: seed a tiny dataset through SCIM, replay its queries for
/// about a second, and check the JSON contract and that every answer matched.
@Suite("roster-load", .serialized)
struct LoadToolTests {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["ROSTER_LOAD"] { return path }
        return URL(fileURLWithPath: LiveDaemon.binary).deletingLastPathComponent().appendingPathComponent("roster-load")
            .path
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any] {
            let line = stdout.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        }
    }

    /// Runs roster-load to completion (bounded) and returns its output.
    static func load(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw LiveDaemon.Failure(description: "roster-load not found at \(binary); run `swift build` first or set ROSTER_LOAD")
        }
        let base = "/tmp/roster-load-run-" + UUID().uuidString.prefix(8).lowercased()
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let process = ChildProcess(
            executable: binary, arguments: arguments, standardOutputPath: base + ".out", standardErrorPath: base + ".err")
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                throw LiveDaemon.Failure(description: "roster-load \(arguments.first ?? "") did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let stdout = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let stderr = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static let contractKeys = ["checks_per_second", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "errors", "wrong"]

    @Test("seed through SCIM, then a short run: contract keys, no wrong answers, no errors")
    func seedAndRun() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let queries = daemon.dataDir + "/queries.tsv"

        let seeded = try await Self.load([
            "seed", "--socket", daemon.socketPath, "--users", "60", "--groups", "6", "--memberships", "150",
            "--members-per-request", "10", "--concurrency", "4", "--queries", queries, "--query-count", "400",
            "--json",
        ])
        #expect(seeded.status == 0, "seed failed: \(seeded.stderr)")
        let seed = seeded.json
        let directory = try #require(seed["directory_id"] as? String, "seed JSON: \(seeded.stdout)")
        #expect(seed["memberships"] as? Int == 150)
        #expect((seed["requests_per_second"] as? Double ?? 0) > 0)
        // 25 members per group, 10 per request: one POST /Groups and two PATCH adds per group.
        #expect(seed["group_requests"] as? Int == 18)
        let lines = try String(contentsOfFile: queries, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 400)
        let allows = lines.filter { $0.hasSuffix("\tallow") }.count
        #expect(allows > 100 && allows < 300, "the mix should be about half allow, got \(allows) of 400")

        let run = try await Self.load([
            "run", "--socket", daemon.socketPath, "--directory", directory, "--queries", queries, "--connections", "2",
            "--pipeline", "4", "--duration", "1", "--warmup", "0.2", "--json",
        ])
        #expect(run.status == 0, "run failed: \(run.stdout) \(run.stderr)")
        let result = run.json
        for key in Self.contractKeys {
            #expect(result[key] != nil, "missing key \(key) in \(run.stdout)")
        }
        #expect(result["wrong"] as? Int == 0)
        #expect(result["errors"] as? Int == 0)
        #expect((result["checks_per_second"] as? Double ?? 0) > 0)
        #expect((result["p50_us"] as? Double ?? 0) > 0)

        // The SwiftNIO driver, and the epoll driver on two threads: the same contract.
        for extra in [["--io", "nio"], ["--io", "epoll", "--threads", "2"]] {
            let other = try await Self.load(
                [
                    "run", "--socket", daemon.socketPath, "--directory", directory, "--queries", queries,
                    "--connections", "3", "--pipeline", "2", "--duration", "0.5", "--warmup", "0", "--json",
                ] + extra)
            #expect(other.status == 0, "\(extra) run failed: \(other.stdout) \(other.stderr)")
            #expect(other.json["wrong"] as? Int == 0)
            #expect(other.json["errors"] as? Int == 0)
            #expect((other.json["answered_checks"] as? Int ?? 0) > 0, "\(other.stdout)")
        }

        // BatchCheck: the same answers, many per call.
        let batch = try await Self.load([
            "run", "--socket", daemon.socketPath, "--directory", directory, "--queries", queries, "--batch", "25",
            "--pipeline", "2", "--duration", "0.5", "--warmup", "0", "--json",
        ])
        #expect(batch.status == 0, "batch run failed: \(batch.stdout) \(batch.stderr)")
        #expect(batch.json["wrong"] as? Int == 0)
        #expect(batch.json["errors"] as? Int == 0)
        #expect(batch.json["batch"] as? Int == 25)
        #expect(try await daemon.stop() == 0)
    }

    @Test("a queries file with flipped decisions is caught: wrong > 0 and exit status 3")
    func wrongAnswersAreCounted() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let queries = daemon.dataDir + "/queries.tsv"
        let seeded = try await Self.load([
            "seed", "--socket", daemon.socketPath, "--users", "20", "--groups", "2", "--memberships", "20",
            "--queries", queries, "--query-count", "50", "--json",
        ])
        #expect(seeded.status == 0, "seed failed: \(seeded.stderr)")
        let directory = try #require(seeded.json["directory_id"] as? String)
        let flipped = try String(contentsOfFile: queries, encoding: .utf8)
            .split(separator: "\n")
            .map { line in
                line.hasSuffix("\tallow") ? line.dropLast(5) + "deny" : line.dropLast(4) + "allow"
            }
            .joined(separator: "\n")
        let liar = daemon.dataDir + "/flipped.tsv"
        try flipped.write(toFile: liar, atomically: true, encoding: .utf8)

        for io in ["epoll", "nio"] {
            let run = try await Self.load([
                "run", "--socket", daemon.socketPath, "--directory", directory, "--queries", liar, "--requests", "50",
                "--io", io, "--json",
            ])
            #expect(run.status == 3)
            #expect(run.json["wrong"] as? Int == 50, "every flipped answer is wrong (--io \(io)): \(run.stdout)")
            #expect(run.json["errors"] as? Int == 0)
        }
        // A socket nobody listens on is a setup error that names it.
        let nowhere = daemon.dataDir + "/nobody.sock"
        let refused = try await Self.load([
            "run", "--socket", nowhere, "--directory", directory, "--queries", liar, "--requests", "5", "--json",
        ])
        #expect(refused.status != 0 && refused.status != 3)
        #expect(refused.stderr.contains("cannot connect to \(nowhere)"), "\(refused.stderr)")
        #expect(try await daemon.stop() == 0)
    }
}
