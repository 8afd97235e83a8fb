import Foundation
import RosterProtocol
import Synchronization
import Testing

/// SIGKILL in the middle of ingestion, twenty times: every acknowledged write survives, nothing is
/// half-applied, the invariant holds (the daemon refuses to start otherwise) and verify is clean.
@Suite("Crash safety", .serialized)
struct CrashSafetyTests {
    /// What the ingesters know about one user: the last step a 2xx acknowledged, and the step
    /// that was in flight when the daemon died (which may or may not have committed).
    struct Progress: Sendable {
        var acked: Int = -1  // -1 nothing, 0 created, 1 added to the group, 2 suspended
        var inFlight: Int? = nil
    }

    final class Ledger: Sendable {
        let users = Mutex<[String: Progress]>([:])  // userName → progress
        let ids = Mutex<[String: String]>([:])  // userName → SCIM id
    }

    @Test("20 random SIGKILLs during SCIM ingestion lose no acknowledged write")
    func killDuringIngestion() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let directory = try daemon.createDirectory(name: "crash", provider: "okta")
        let group = try await daemon.http(
            "POST", directory.base + "/Groups", token: directory.token, json: ["displayName": "admins"])
        #expect(group.status == 201)
        let groupID = try #require(group.json["id"] as? String)
        let ledger = Ledger()
        var generator = SystemRandomNumberGenerator()

        for round in 0..<20 {
            if round > 0 { try await daemon.start() }
            let ingesters = (0..<4).map { worker in
                Task { await Self.ingest(daemon, directory, groupID: groupID, ledger: ledger, prefix: "r\(round)w\(worker)") }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 60...400, using: &generator)))
            try await daemon.crash()
            for ingester in ingesters { await ingester.value }
            try await daemon.start()
            try checkLedger(daemon, directory, groupID: groupID, ledger: ledger, round: round)
            // Every user that was created is readable over SCIM as well.
            let sample = ledger.ids.withLock { Array($0.values.suffix(3)) }
            for id in sample {
                let read = try await daemon.http("GET", directory.base + "/Users/\(id)", token: directory.token)
                #expect(read.status == 200, "round \(round): user \(id) unreadable after restart")
            }
            try await daemon.crash()
        }
        try await daemon.start()
        var verify = Roster_V1_RequestFrame()
        verify.verify = .init()
        let report = try LookupConnection(path: daemon.socketPath).call(verify)
        #expect(report.status.code == .ok)
        #expect(report.verify.ok, "verify: \(report.verify.differences)")
        let acked = ledger.users.withLock { $0.values.filter { $0.acked >= 0 }.count }
        #expect(acked > 20, "too few acknowledged writes to prove anything (\(acked))")
        #expect(try await daemon.stop() == 0)
    }

    /// Walks users through create → add to group → suspend until the daemon dies.
    static func ingest(_ daemon: LiveDaemon, _ directory: TestDirectory, groupID: String, ledger: Ledger, prefix: String) async {
        var n = 0
        while n < 10_000 {
            let userName = "\(prefix)-\(n)@example.com"
            n += 1
            ledger.users.withLock { $0[userName] = Progress(acked: -1, inFlight: 0) }
            guard
                let created = try? await daemon.http(
                    "POST", directory.base + "/Users", token: directory.token, json: ["userName": userName, "active": true]),
                created.status == 201, let id = created.json["id"] as? String
            else { return }
            ledger.ids.withLock { $0[userName] = id }
            ledger.users.withLock { $0[userName] = Progress(acked: 0, inFlight: 1) }
            let add: [String: Any] = [
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [["op": "add", "path": "members", "value": [["value": id]]]],
            ]
            guard let added = try? await daemon.http("PATCH", directory.base + "/Groups/\(groupID)", token: directory.token, json: add),
                added.status == 200
            else { return }
            ledger.users.withLock { $0[userName] = Progress(acked: 1, inFlight: 2) }
            let suspend: [String: Any] = [
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [["op": "replace", "value": ["active": false]]],
            ]
            guard let done = try? await daemon.http("PATCH", directory.base + "/Users/\(id)", token: directory.token, json: suspend),
                done.status == 200
            else { return }
            ledger.users.withLock { $0[userName] = Progress(acked: 2, inFlight: nil) }
        }
    }

    func checkLedger(_ daemon: LiveDaemon, _ directory: TestDirectory, groupID: String, ledger: Ledger, round: Int) throws {
        let connection = try LookupConnection(path: daemon.socketPath)
        let users = ledger.users.withLock { $0 }
        for (userName, progress) in users {
            let decision = try connection.check(directory.id, user: .name(userName), group: .id(groupID))
            // The states each step leaves behind, as a check sees them.
            let expected: [Int: Roster_V1_Reason] = [0: .notMember, 1: .member, 2: .userSuspended]
            var allowed: Set<Roster_V1_Reason> = []
            if progress.acked >= 0, let reason = expected[progress.acked] { allowed.insert(reason) }
            if let next = progress.inFlight, let reason = expected[next] { allowed.insert(reason) }
            if progress.acked < 0 { allowed.insert(.userUnknown) }
            #expect(
                allowed.contains(decision.reason),
                "round \(round): \(userName) acked step \(progress.acked), in flight \(String(describing: progress.inFlight)), but check says \(decision)")
        }
    }
}
