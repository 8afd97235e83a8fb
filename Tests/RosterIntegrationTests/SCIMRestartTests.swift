import Foundation
import RosterCore
import RosterProtocol
import Testing

/// What SCIM shows and what the index answers is the same before and after a restart (SIGTERM,
/// then SIGKILL): the store keeps everything the providers sent, in every dialect.
@Suite("SCIM state across restarts", .serialized, .timeLimit(.minutes(3)))
struct SCIMRestartTests {
    struct Snapshot: Equatable {
        /// path → body as JSON text, with the daemon's base URL (its port changes on restart)
        /// replaced by "BASE".
        var resources: [String: String] = [:]
        var etags: [String: String] = [:]
        var decisions: [String: String] = [:]
    }

    static func normalized(_ response: LiveDaemon.HTTPResult, _ daemon: LiveDaemon) -> String {
        response.doc.jsonText.replacingOccurrences(of: daemon.scimURL, with: "BASE")
    }

    static func snapshot(_ scim: SCIM, users: [String], groups: [String], names: [String]) async throws -> Snapshot {
        var snapshot = Snapshot()
        for path in ["/Users", "/Groups", "/Users?sortBy=userName", "/Groups?sortBy=displayName"] {
            let response = try await scim.daemon.http("GET", scim.directory.base + path, token: scim.directory.token)
            #expect(response.status == 200)
            snapshot.resources[path] = normalized(response, scim.daemon)
        }
        for id in users {
            let response = try await scim.get("/Users/\(id)")
            snapshot.resources["/Users/\(id)"] = "HTTP \(response.status)"
            if response.status == 200 {
                snapshot.resources["/Users/\(id)"] = normalized(response, scim.daemon)
                snapshot.etags["/Users/\(id)"] = response.etag
            }
        }
        for id in groups {
            let response = try await scim.get("/Groups/\(id)")
            snapshot.resources["/Groups/\(id)"] = "HTTP \(response.status)"
            if response.status == 200 {
                snapshot.resources["/Groups/\(id)"] = normalized(response, scim.daemon)
                snapshot.etags["/Groups/\(id)"] = response.etag
            }
        }
        for user in users {
            for group in groups {
                snapshot.decisions["\(user) \(group)"] = "\(try scim.check(user: .id(user), group: .id(group)).reason)"
            }
        }
        for name in names {
            for group in groups {
                snapshot.decisions["\(name) \(group)"] = "\(try scim.check(user: .name(name), group: .id(group)).reason)"
            }
        }
        return snapshot
    }

    @Test("every dialect's writes read back identically after SIGTERM and after SIGKILL")
    func stateSurvivesRestarts() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let okta = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "restart-okta", provider: "okta"))
        let entra = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "restart-entra", provider: "entra", policy: "retain"))

        // Okta: create, groups, suspend one, reactivate another, rename a group.
        let o1 = try #require(try await okta.post("/Users", OktaFlowTests.createBody(userName: "o1@okta.local", externalId: "o1")).doc["id"]?.string)
        let o2 = try #require(try await okta.post("/Users", OktaFlowTests.createBody(userName: "o2@okta.local", externalId: "o2")).doc["id"]?.string)
        let o3 = try await okta.createUser("o3@okta.local")
        let og1 = try await okta.createGroup("okta one", members: [o1, o2, o3])
        let og2 = try await okta.createGroup("okta two", members: [o1])
        _ = try await okta.patch("/Users/\(o2)", operations: OktaFlowTests.deactivate)
        _ = try await okta.patch("/Users/\(o3)", operations: OktaFlowTests.deactivate)
        _ = try await okta.patch("/Users/\(o3)", operations: OktaFlowTests.reactivate)
        _ = try await okta.patch("/Groups/\(og2)", operations: #"[{"op":"replace","value":{"id":\#(jsonString(og2)),"displayName":"okta two renamed"}}]"#)
        // OneLogin-style delete and re-add.
        _ = try await okta.delete("/Users/\(o1)")
        let o1b = try #require(try await okta.post("/Users", OktaFlowTests.createBody(userName: "o1@okta.local", externalId: "o1")).doc["id"]?.string)
        _ = try await okta.patch("/Groups/\(og1)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(o1b))}]}]"#)
        let ogDeleted = try await okta.createGroup("okta doomed", members: [o1b])
        _ = try await okta.delete("/Groups/\(ogDeleted)")

        // Entra (retain): extension attributes, manager, emails object, odd strings, suspension.
        let e1 = try await entra.createUser(
            "Émilie.Ünïcødé@contoso.test", externalId: "e1",
            extra: #""emails":{"value":"e1@contoso.test","type":"work"},"name":{"givenName":"Émilie 🎉"},"\#(enterpriseURN)":{"employeeNumber":"00042","department":"R&D"},"urn:example:custom:1.0:User":{"shoe":44.5,"tags":["a",null,"b"]}"#
        )
        let e2 = try await entra.createUser("ctl\u{1}byte@contoso.test", extra: #""displayName":"tab\there \"quoted\" \\ back\u0001""#)
        let e3 = try await entra.createUser("long@contoso.test", extra: #""title":"\#(String(repeating: "ᚠ", count: 3000))""#)
        _ = try await entra.patch(
            "/Users/\(e1)",
            operations: #"[{"op":"Add","path":"\#(enterpriseURN):manager","value":\#(jsonString(e3))},{"op":"Replace","path":"emails[type eq \"home\"].value","value":"home@e1.test"}]"#)
        let eg = try await entra.createGroup("entra group", members: [e1, e2, e3], externalId: "eg")
        _ = try await entra.patch("/Users/\(e2)", operations: #"[{"op":"Replace","path":"active","value":"False"}]"#)

        let oktaUsers = [o1, o2, o3, o1b], oktaGroups = [og1, og2, ogDeleted]
        let entraUsers = [e1, e2, e3], entraGroups = [eg]
        let oktaNames = ["o1@okta.local", "o2@okta.local", "O3@okta.local"]
        let entraNames = ["émilie.ünïcødé@contoso.test", "ctl\u{1}byte@contoso.test", "long@contoso.test"]

        // The odd strings read back exactly.
        let e2Read = try await entra.get("/Users/\(e2)")
        #expect(e2Read.doc["userName"] == .string("ctl\u{1}byte@contoso.test"), "\(e2Read.summary)")
        #expect(e2Read.doc["displayName"] == .string("tab\there \"quoted\" \\ back\u{1}"))
        #expect(try entra.check(user: .name("CTL\u{1}byte@contoso.test"), group: .id(eg)).reason == .userSuspended)

        let before = (
            try await Self.snapshot(okta, users: oktaUsers, groups: oktaGroups, names: oktaNames),
            try await Self.snapshot(entra, users: entraUsers, groups: entraGroups, names: entraNames)
        )
        #expect(before.0.decisions["\(o1b) \(og1)"] == "member" && before.0.decisions["\(o2) \(og1)"] == "userSuspended")
        #expect(before.0.decisions["\(o3) \(og1)"] == "notMember" && before.0.decisions["\(o1) \(og1)"] == "userDeleted")
        #expect(before.1.decisions["\(e2) \(eg)"] == "userSuspended")

        for (round, kill) in [(1, false), (2, true)] {
            if kill { try await daemon.crash() } else { #expect(try await daemon.stop() == 0) }
            try await daemon.start()
            let after = (
                try await Self.snapshot(okta, users: oktaUsers, groups: oktaGroups, names: oktaNames),
                try await Self.snapshot(entra, users: entraUsers, groups: entraGroups, names: entraNames)
            )
            for (label, old, new) in [("okta", before.0, after.0), ("entra", before.1, after.1)] {
                for key in Set(old.resources.keys).union(new.resources.keys).sorted() where old.resources[key] != new.resources[key] {
                    Issue.record(
                        "round \(round) \(label) \(key) differs after restart:\nbefore \(old.resources[key] ?? "nil")\nafter  \(new.resources[key] ?? "nil")")
                }
                #expect(old.etags == new.etags, "round \(round) \(label): ETags changed")
                #expect(old.decisions == new.decisions, "round \(round) \(label): decisions changed")
            }
            // Retain: the suspended member is live again on reactivation, after a restart too.
            if round == 2 {
                _ = try await entra.patch("/Users/\(e2)", operations: #"[{"op":"Replace","path":"active","value":"True"}]"#)
                #expect(try entra.check(user: .id(e2), group: .id(eg)).reason == .member)
            }
        }
        var verify = Roster_V1_RequestFrame()
        verify.verify = .init()
        let report = try LookupConnection(path: daemon.socketPath).call(verify)
        #expect(report.status.code == .ok && report.verify.ok, "verify: \(report.verify.differences)")
        #expect(try await daemon.stop() == 0)
    }

    /// Identifiers live in indexed text columns; a U+0000 inside one would be cut by C string
    /// APIs, so Roster refuses it with a clear 400 (RosterCore validation) and stores nothing —
    /// before and after a restart.
    @Test("a U+0000 inside userName, externalId, displayName is refused, and nothing is stored")
    func nulCharacterRefused() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "nul", provider: "entra"))
        let bodies = [
            #"{"userName":"nul\u0000byte@contoso.test"}"#,
            #"{"userName":"ok@contoso.test","externalId":"ext\u0000nul"}"#,
            #"{"userName":"ok2@contoso.test","displayName":"Dis\u0000play"}"#,
        ]
        for body in bodies {
            let response = try await scim.post("/Users", body)
            #expect(response.status == 400, "\(body): \(response.summary)")
            #expect(response.text.contains("U+0000"), "\(body): \(response.text)")
        }
        let group = try await scim.post("/Groups", #"{"displayName":"grp\u0000nul"}"#)
        #expect(group.status == 400, "\(group.summary)")
        #expect(try await daemon.stop() == 0)
        try await daemon.start()
        let users = try await scim.get("/Users")
        #expect(users.doc["totalResults"] == .int(0), "\(users.summary)")
        var verify = Roster_V1_RequestFrame()
        verify.verify = .init()
        let report = try LookupConnection(path: daemon.socketPath).call(verify)
        #expect(report.verify.ok, "verify after restart: \(report.verify.differences)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("a membership change moves the group's version and lastModified")
    func membershipMovesGroupMeta() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "meta", provider: "okta"))
        let user = try await scim.createUser("meta@okta.local")
        let group = try await scim.createGroup("meta")
        let created = try await scim.get("/Groups/\(group)")
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
        let added = try await scim.get("/Groups/\(group)")
        #expect(added.etag != created.etag)
        #expect(added.doc["meta"]?["version"] != created.doc["meta"]?["version"])
        #expect(added.doc["meta"]?["lastModified"] != created.doc["meta"]?["lastModified"], "lastModified must move with the members: \(added.summary)")
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await scim.patch("/Users/\(user)", operations: OktaFlowTests.deactivate)
        let removed = try await scim.get("/Groups/\(group)")
        #expect(removed.doc["members"] == nil)
        #expect(removed.etag != added.etag, "a removal by the suspension rule moves the group's ETag")
        #expect(removed.doc["meta"]?["lastModified"] != added.doc["meta"]?["lastModified"], "\(removed.summary)")
        #expect(try await daemon.stop() == 0)
        try await daemon.start()
        let reread = try await scim.get("/Groups/\(group)")
        #expect(reread.etag == removed.etag, "after restart:\n\(removed.text)\n\(reread.text)")
        #expect(reread.doc["meta"] == removed.doc["meta"] || reread.doc["meta"]?["location"] != removed.doc["meta"]?["location"])
        #expect(reread.doc["meta"]?["lastModified"] == removed.doc["meta"]?["lastModified"], "after restart:\n\(removed.text)\n\(reread.text)")
        #expect(try await daemon.stop() == 0)
    }
}
