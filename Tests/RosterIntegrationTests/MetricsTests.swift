import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RosterProtocol
import SwiftProtobuf
import Testing

/// `GET /metrics`: the lookup counters and durations a real daemon exports after real calls,
/// on the check lane (plain Checks) and on the event loops (everything else).
@Suite("Metrics", .serialized, .timeLimit(.minutes(2)))
struct MetricsTests {
    /// The value of the sample line `name{labels}` (labels exactly as printed), if present.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Polls `condition` for up to five seconds.
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test("checks by reason, errors by code, call counts and microsecond buckets match the calls made")
    func lookupMetrics() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "metrics"))
        let alice = try await scim.createUser("alice@example.com")
        let bob = try await scim.createUser("bob@example.com")
        let admins = try await scim.createGroup("admins", members: [alice])

        // One connection: eight plain Checks and one that fails (answered on the lane), then a
        // Health (which moves the connection to the event loops).
        let lookup = try LookupConnection(path: daemon.socketPath)
        for _ in 0..<5 {
            #expect(try lookup.check(scim.id, user: .id(alice), group: .id(admins)).reason == .member)
        }
        for _ in 0..<3 {
            #expect(try lookup.check(scim.id, user: .id(bob), group: .id(admins)).reason == .notMember)
        }
        var unknown = Roster_V1_RequestFrame()
        unknown.check = .with {
            $0.directoryID = "no-such-directory"
            $0.user.userName = "alice@example.com"
            $0.group.displayName = "admins"
        }
        #expect(try lookup.call(unknown).status.code == .notFound)
        var health = Roster_V1_RequestFrame()
        health.health = .init()
        #expect(try lookup.call(health).health.status == "SERVING")

        // The lane hands its counts over right after writing the answers: poll briefly.
        var text = ""
        let settled = try await Self.eventually {
            text = try await daemon.http("GET", "/metrics", token: nil).text
            return Self.sample(text, #"roster_lookup_call_duration_seconds_count{method="Check"}"#) == 9
                && Self.sample(text, #"roster_lookup_call_duration_seconds_count{method="Health"}"#) == 1
        }
        #expect(settled, "\(text.split(separator: "\n").filter { $0.contains("roster_lookup") }.joined(separator: "\n"))")
        #expect(Self.sample(text, #"roster_lookup_checks_total{reason="MEMBER"}"#) == 5)
        #expect(Self.sample(text, #"roster_lookup_checks_total{reason="NOT_MEMBER"}"#) == 3)
        #expect(Self.sample(text, #"roster_lookup_checks_total{reason="ERROR"}"#) == 1)
        #expect(Self.sample(text, #"roster_lookup_call_errors_total{code="NOT_FOUND"}"#) == 1)
        #expect(Self.sample(text, "roster_lookup_connections") == 1)
        // Buckets fine enough for lookups: the smallest is 10 µs, and every Check took under 1 s.
        #expect(Self.sample(text, #"roster_lookup_call_duration_seconds_bucket{method="Check",le="0.00001"}"#) != nil)
        #expect(Self.sample(text, #"roster_lookup_call_duration_seconds_bucket{method="Check",le="1.0"}"#) == 9)
        #expect(Self.sample(text, #"roster_scim_request_duration_seconds_bucket{method="POST",le="0.0005"}"#) != nil)

        shutdown(lookup.fd, Int32(SHUT_RDWR))
        #expect(try await Self.eventually {
            Self.sample(try await daemon.http("GET", "/metrics", token: nil).text, "roster_lookup_connections") == 0
        })
        #expect(try await daemon.stop() == 0)
    }
}
