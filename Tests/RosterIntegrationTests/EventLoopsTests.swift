import Foundation
import RosterProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `--event-loops` sizes the one event-loop group both servers share; by default it follows the
/// CPUs the daemon may run on, not the machine's.
@Suite("Event loops", .serialized, .timeLimit(.minutes(3)))
struct EventLoopsTests {
    /// The daemon's threads whose name starts with `prefix`.
    static func threads(_ pid: Int32, named prefix: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix(prefix)
        }.count
    }

    /// The daemon's NIO event-loop threads.
    static func eventLoopThreads(_ pid: Int32) -> Int { threads(pid, named: "NIO-ELT") }

    /// The daemon's check lane threads.
    static func laneThreads(_ pid: Int32) -> Int { threads(pid, named: "roster-lane-") }

    @Test("--event-loops 3 runs three loops, and both the socket and HTTP answer")
    func explicitCount() async throws {
        let daemon = LiveDaemon(extraArguments: ["--event-loops", "3"])
        try await daemon.start()
        let pid = try #require(daemon.process?.processIdentifier)
        #expect(Self.eventLoopThreads(pid) == 3)
        let health = try await daemon.http("GET", "/healthz", token: nil)
        #expect(health.status == 200)
        let lookup = try LookupConnection(path: daemon.socketPath)
        var frame = Roster_V1_RequestFrame()
        frame.callID = 1
        frame.health = Roster_V1_HealthRequest()
        #expect(try lookup.call(frame).health.status == "SERVING")
        try await daemon.stop()
    }

    @Test("--check-lanes 2 runs two lanes beside the loops; --check-lanes 0 none; checks and other calls are answered either way")
    func checkLanes() async throws {
        for (lanes, expected) in [("2", 2), ("0", 0)] {
            let daemon = LiveDaemon(extraArguments: ["--event-loops", "1", "--check-lanes", lanes])
            try await daemon.start()
            let pid = try #require(daemon.process?.processIdentifier)
            #expect(Self.laneThreads(pid) == expected)
            #expect(Self.eventLoopThreads(pid) == 1)
            let lookup = try LookupConnection(path: daemon.socketPath)
            var check = Roster_V1_RequestFrame()
            check.callID = 1
            check.check.directoryID = "no-such-directory"
            check.check.user.userName = "alice@example.com"
            check.check.group.displayName = "admins"
            #expect(try lookup.call(check).status.code == .notFound)
            var health = Roster_V1_RequestFrame()
            health.callID = 2
            health.health = Roster_V1_HealthRequest()
            #expect(try lookup.call(health).health.status == "SERVING")
            try await daemon.stop()
        }
    }

    /// User plus system CPU time of a process so far, in clock ticks.
    static func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12 else { return 0 }
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    @Test("out of descriptors, the lane warns once and waits instead of spinning, then serves the waiting connections")
    func descriptorExhaustion() async throws {
        let daemon = LiveDaemon(extraArguments: ["--event-loops", "1"])
        try FileManager.default.createDirectory(atPath: daemon.dataDir, withIntermediateDirectories: true)
        let wrapper = daemon.dataDir + "/rosterd-few-fds.sh"
        try "#!/bin/sh\nulimit -n 96\nexec '\(LiveDaemon.binary)' \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        daemon.executable = wrapper
        try await daemon.start()
        let pid = try #require(daemon.process?.processIdentifier)

        // More connections than the daemon has descriptors for: the kernel queues the rest.
        var connections: [LookupConnection] = []
        for _ in 0..<150 { connections.append(try LookupConnection(path: daemon.socketPath)) }
        try await Task.sleep(for: .milliseconds(500))
        let before = Self.cpuTicks(pid)
        try await Task.sleep(for: .seconds(1))
        let spent = Self.cpuTicks(pid) - before
        // Spinning on the readable listening socket would burn the whole second (100 ticks).
        #expect(spent < 30, "rosterd used \(spent) ticks in a second while out of descriptors")
        let log = daemon.logTail()
        #expect(log.contains("accept failed"), "\(log)")

        // Free descriptors: the queued connections are accepted and answered.
        connections.removeFirst(100)
        var health = Roster_V1_RequestFrame()
        health.callID = 1
        health.health = .init()
        for connection in connections.suffix(10) {
            try connection.send(health)
            // Wait for the answer without blocking a cooperative thread (other suites' servers
            // need them meanwhile), then read it.
            let deadline = ContinuousClock.now + .seconds(20)
            var poller = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
            while poll(&poller, 1, 0) == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(poller.revents != 0, "no answer: \(daemon.logTail())")
            if poller.revents != 0 {
                let response = try connection.receive()
                #expect(response?.health.status == "SERVING", "\(String(describing: response)) \(daemon.logTail())")
            }
        }
        let warnings = daemon.logTail().components(separatedBy: "accept failed").count - 1
        #expect(warnings == 1, "one warning per episode, got \(warnings)")
        connections.removeAll()
        #expect(try await daemon.stop() == 0)
    }

    @Test("a check lane count that is not 0...1024 is a startup error naming the flag")
    func refusesBadLaneCounts() throws {
        let dir = "/tmp/roster-cl-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for value in ["-1", "many", "2000"] {
            let output = try TLSTests.run(
                LiveDaemon.binary, ["--data-dir", dir, "--scim-listen", "127.0.0.1:0", "--check-lanes=\(value)"], in: dir)
            #expect(output.status != 0, "--check-lanes \(value) started")
            let expected = Int(value) == nil ? "'--check-lanes" : "--check-lanes must be a number from 0 to 1024"
            #expect(output.stderr.contains(expected), "\(output.stderr)")
        }
    }

    @Test("an event-loop count that is not 1...1024 is a startup error naming the flag")
    func refusesBadCounts() throws {
        let dir = "/tmp/roster-el-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for value in ["0", "-2", "many", "5000"] {
            let output = try TLSTests.run(
                LiveDaemon.binary, ["--data-dir", dir, "--scim-listen", "127.0.0.1:0", "--event-loops=\(value)"], in: dir)
            #expect(output.status != 0, "--event-loops \(value) started")
            // A non-number is refused by the argument parser, naming the flag too.
            let expected = Int(value) == nil ? "'--event-loops" : "--event-loops must be a number from 1 to 1024"
            #expect(output.stderr.contains(expected), "\(output.stderr)")
        }
    }
}
