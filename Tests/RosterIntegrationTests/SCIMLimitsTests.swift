import Foundation
import RosterCore
import RosterProtocol
import Testing

/// Bad input and limits: every refusal is a clear SCIM error, nothing is half-applied, and the
/// daemon keeps serving. The daemon runs with deliberately small limits; the tests run one after
/// the other so that the last one checks the daemon after all the others.
@Suite(
    "SCIM bad input and limits",
    .sharedDaemon([
        "--max-body-size", "4096", "--max-patch-operations", "5", "--max-members-per-request", "10", "--max-page-size", "3",
    ]),
    .serialized, .timeLimit(.minutes(3)))
struct SCIMLimitsTests {
    /// A 400 in the SCIM Error schema with this scimType (nil: any) and a detail.
    static func expectError(
        _ response: LiveDaemon.HTTPResult, _ status: Int = 400, _ scimType: String?, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, "\(label): \(response.summary)", sourceLocation: sourceLocation)
        if let scimType {
            #expect(response.scimType == scimType, "\(label): \(response.summary)", sourceLocation: sourceLocation)
        }
        #expect(response.doc["schemas"] == .array([.string(errorURN)]), "\(label): \(response.summary)", sourceLocation: sourceLocation)
        #expect(response.doc["status"] == .string(String(status)), "\(label)", sourceLocation: sourceLocation)
        #expect(response.detail.count >= 10, "\(label): the detail says what is wrong: \(response.summary)", sourceLocation: sourceLocation)
        #expect(response.contentType.hasPrefix("application/scim+json"), "\(label)", sourceLocation: sourceLocation)
    }

    /// The directory still serves a full create → add → check round trip.
    static func expectServing(_ scim: SCIM) async throws {
        let user = try await scim.createUser("alive-\(UUID().uuidString.prefix(6))@example.com")
        let group = try await scim.createGroup("alive-\(UUID().uuidString.prefix(6))", members: [user])
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)
        #expect(scim.daemon.process?.isRunning == true)
    }

    @Test("a body over --max-body-size: 413 with a SCIM error, nothing written")
    func bodyTooLarge() async throws {
        let scim = try SCIM.fresh("limits-body")
        let padding = String(repeating: "x", count: 5000)
        let big = try await scim.post("/Users", #"{"userName":"big@example.com","title":"\#(padding)"}"#)
        Self.expectError(big, 413, nil, "POST of 5 KB")
        #expect(big.detail.contains("4096"), "the detail names the limit: \(big.detail)")
        let user = try await scim.createUser("small@example.com")
        let bigPatch = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","path":"title","value":"\#(padding)"}]"#)
        Self.expectError(bigPatch, 413, nil, "PATCH of 5 KB")
        let huge = try await scim.raw("POST", "/Users", bytes: Data(repeating: UInt8(ascii: " "), count: 2 << 20))
        Self.expectError(huge, 413, nil, "POST of 2 MiB")
        #expect(try await scim.filter("Users", #"userName eq "big@example.com""#).doc["totalResults"] == .int(0))
        #expect(try await scim.get("/Users/\(user)").doc["title"] == nil)
        try await Self.expectServing(scim)
    }

    @Test("malformed JSON, invalid UTF-8, deep nesting, non-objects: 400 invalidSyntax with a precise detail")
    func malformedBodies() async throws {
        let scim = try SCIM.fresh("limits-syntax")
        let trailingComma = try await scim.post("/Users", #"{"userName": "a",}"#)
        Self.expectError(trailingComma, 400, "invalidSyntax", "trailing comma")
        #expect(trailingComma.detail.contains("line 1, column 18"), "position of the '}': \(trailingComma.detail)")
        let missingComma = try await scim.post("/Users", "{\n  \"userName\": \"a\"\n  \"title\": \"b\"\n}")
        Self.expectError(missingComma, 400, "invalidSyntax", "missing comma")
        #expect(missingComma.detail.contains("line 3"), "\(missingComma.detail)")
        for (label, bytes) in [
            ("truncated", Data(#"{"userName": "a""#.utf8)),
            ("empty body", Data()),
            ("invalid UTF-8", Data([0x7B, 0x22, 0x75, 0x73, 0x65, 0x72, 0x4E, 0x61, 0x6D, 0x65, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D])),
            ("overlong UTF-8", Data(#"{"userName":""#.utf8) + Data([0xC0, 0xAF]) + Data(#""}"#.utf8)),
            ("deep nesting", Data((#"{"userName":"x","a":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}").utf8)),
            ("an array", Data(#"[{"userName":"x"}]"#.utf8)),
            ("a string", Data(#""userName""#.utf8)),
            ("two objects", Data(#"{"userName":"x"}{"userName":"y"}"#.utf8)),
            ("single quotes", Data("{'userName':'x'}".utf8)),
            ("NaN", Data(#"{"userName":"x","n":NaN}"#.utf8)),
        ] {
            let response = try await scim.raw("POST", "/Users", bytes: bytes)
            Self.expectError(response, 400, "invalidSyntax", label)
        }
        #expect(try await scim.get("/Users").doc["totalResults"] == .int(0), "none of it created anything")

        let user = try await scim.createUser("syntax@example.com")
        let badPatch = try await scim.request("PATCH", "/Users/\(user)", body: #"{"Operations":[{"op":"add",]}"#)
        Self.expectError(badPatch, 400, "invalidSyntax", "malformed PATCH")
        let noOperations = try await scim.request("PATCH", "/Users/\(user)", body: #"{"schemas":["\#(patchOpURN)"]}"#)
        Self.expectError(noOperations, 400, "invalidSyntax", "PATCH without Operations")
        let operationsObject = try await scim.request("PATCH", "/Users/\(user)", body: #"{"Operations":{"op":"add","path":"title","value":"x"}}"#)
        Self.expectError(operationsObject, 400, "invalidSyntax", "Operations as an object")
        try await Self.expectServing(scim)
    }

    @Test("wrong types: 400 invalidValue, nothing created")
    func wrongTypes() async throws {
        let scim = try SCIM.fresh("limits-types")
        for (label, path, body) in [
            ("userName as a number", "/Users", #"{"userName":42}"#),
            ("userName missing", "/Users", #"{"displayName":"nobody"}"#),
            ("userName empty", "/Users", #"{"userName":"  "}"#),
            ("active not a boolean", "/Users", #"{"userName":"t1@example.com","active":"maybe"}"#),
            ("active a number", "/Users", #"{"userName":"t2@example.com","active":1}"#),
            ("primary not a boolean", "/Users", #"{"userName":"t3@example.com","emails":[{"value":"a@b.c","primary":"sometimes"}]}"#),
            ("externalId a boolean", "/Users", #"{"userName":"t4@example.com","externalId":true}"#),
            ("manager a boolean", "/Users", #"{"userName":"t5@example.com","\#(enterpriseURN)":{"manager":true}}"#),
            ("groups of numbers", "/Users", #"{"userName":"t6@example.com","groups":[7]}"#),
            ("displayName a number", "/Groups", #"{"displayName":7}"#),
            ("displayName missing", "/Groups", #"{"externalId":"g"}"#),
            ("members of numbers", "/Groups", #"{"displayName":"g1","members":[42]}"#),
            ("member value a number", "/Groups", #"{"displayName":"g2","members":[{"value":5}]}"#),
            ("member without value", "/Groups", #"{"displayName":"g3","members":[{"display":"x"}]}"#),
            ("nested group member", "/Groups", #"{"displayName":"g4","members":[{"value":"x","type":"Group"}]}"#),
        ] {
            let response = try await scim.post(path, body)
            Self.expectError(response, 400, "invalidValue", label)
        }
        #expect(try await scim.get("/Users").doc["totalResults"] == .int(0))
        #expect(try await scim.get("/Groups").doc["totalResults"] == .int(0))

        let user = try await scim.createUser("typed@example.com", extra: #""title":"Kept""#)
        let etag = try #require(try await scim.get("/Users/\(user)").etag)
        for (label, operations) in [
            ("userName to a number", #"[{"op":"replace","path":"userName","value":42}]"#),
            ("remove userName", #"[{"op":"remove","path":"userName"}]"#),
            ("active to a word", #"[{"op":"replace","path":"active","value":"nope"}]"#),
            ("add without value", #"[{"op":"add","path":"title"}]"#),
            ("no-path add of a string", #"[{"op":"add","value":"title"}]"#),
            ("remove without path", #"[{"op":"remove"}]"#),
        ] {
            let response = try await scim.patch("/Users/\(user)", operations: operations)
            #expect(response.status == 400, "\(label): \(response.summary)")
            #expect(["invalidValue", "noTarget", "invalidSyntax"].contains(response.scimType ?? ""), "\(label): \(response.summary)")
            #expect(response.detail.contains("PATCH operation 1") || response.detail.contains("After this PATCH"), "\(label): \(response.detail)")
        }
        let after = try await scim.get("/Users/\(user)")
        #expect(after.etag == etag && after.doc["title"] == .string("Kept") && after.doc["userName"] == .string("typed@example.com"))
        try await Self.expectServing(scim)
    }

    @Test("unknown PATCH op, bad paths: 400 with the operation named")
    func badOperationsAndPaths() async throws {
        let scim = try SCIM.fresh("limits-paths")
        let user = try await scim.createUser("paths@example.com")
        let group = try await scim.createGroup("paths", members: [user])
        for (label, operations) in [
            ("op merge", #"[{"op":"merge","path":"title","value":"x"}]"#),
            ("op number", #"[{"op":5,"path":"title","value":"x"}]"#),
            ("op missing", #"[{"path":"title","value":"x"}]"#),
        ] {
            let response = try await scim.patch("/Users/\(user)", operations: operations)
            Self.expectError(response, 400, nil, label)
            #expect(response.detail.contains("PATCH operation 1"), "\(label): \(response.detail)")
        }
        let merge = try await scim.patch("/Users/\(user)", operations: #"[{"op":"merge","path":"title","value":"x"}]"#)
        #expect(merge.detail.contains("merge"), "the detail names the unknown op: \(merge.detail)")

        for (label, resource, operations) in [
            ("unclosed bracket", "Users", #"[{"op":"replace","path":"emails[type eq \"work\"","value":"x"}]"#),
            ("double dot", "Users", #"[{"op":"replace","path":"name..givenName","value":"x"}]"#),
            ("path a number", "Users", #"[{"op":"replace","path":17,"value":"x"}]"#),
            ("garbage after the path", "Users", #"[{"op":"replace","path":"title junk","value":"x"}]"#),
            ("bad filter in brackets", "Users", #"[{"op":"remove","path":"emails[type zz \"work\"]"}]"#),
            ("members by display", "Groups", #"[{"op":"remove","path":"members[display co \"x\"]"}]"#),
            ("add on a filtered members path", "Groups", #"[{"op":"add","path":"members[value eq \"x\"]","value":[{"value":"x"}]}]"#),
            ("members sub-attribute", "Groups", #"[{"op":"replace","path":"members.display","value":"x"}]"#),
        ] {
            let id = resource == "Users" ? user : group
            let response = try await scim.patch("/\(resource)/\(id)", operations: operations)
            Self.expectError(response, 400, "invalidPath", label)
        }
        #expect(try await scim.members(group) == [user], "no refused PATCH touched the members")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)
        try await Self.expectServing(scim)
    }

    @Test("id and meta are read-only: changing them is 400 mutability, sending them unchanged or in bodies is ignored")
    func readOnlyAttributes() async throws {
        let scim = try SCIM.fresh("limits-mutability")
        let user = try await scim.createUser("ro@example.com")
        let group = try await scim.createGroup("ro", members: [user])
        for (label, resource, id, operations) in [
            ("replace id", "Users", user, #"[{"op":"replace","path":"id","value":"another-id"}]"#),
            ("remove id", "Users", user, #"[{"op":"remove","path":"id"}]"#),
            ("replace meta.created", "Users", user, #"[{"op":"replace","path":"meta.created","value":"2001-01-01T00:00:00Z"}]"#),
            ("replace meta", "Users", user, #"[{"op":"replace","path":"meta","value":{"version":"W/\"1\""}}]"#),
            ("replace group id", "Groups", group, #"[{"op":"replace","path":"id","value":"another-id"}]"#),
        ] {
            let response = try await scim.patch("/\(resource)/\(id)", operations: operations)
            Self.expectError(response, 400, "mutability", label)
        }
        // The current id is a no-op; a no-path value's id is ignored (Okta); PUT/POST bodies' id and meta too.
        let same = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","path":"id","value":\#(jsonString(user))}]"#)
        #expect(same.status == 200 && same.doc["id"] == .string(user), "\(same.summary)")
        let sameGroup = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"replace","path":"id","value":\#(jsonString(group))}]"#)
        #expect(sameGroup.status == 200 && sameGroup.doc["id"] == .string(group), "\(sameGroup.summary)")
        let noPath = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","value":{"id":"another-id","title":"T"}}]"#)
        #expect(noPath.status == 200 && noPath.doc["id"] == .string(user) && noPath.doc["title"] == .string("T"), "\(noPath.summary)")
        let put = try await scim.put("/Users/\(user)", #"{"id":"another-id","userName":"ro@example.com","meta":{"created":"2001-01-01T00:00:00Z"}}"#)
        #expect(put.status == 200 && put.doc["id"] == .string(user), "\(put.summary)")
        #expect(put.doc["meta"]?["created"]?.string?.hasPrefix("2001") == false)
        #expect(try await scim.get("/Users/another-id").status == 404)
        let post = try await scim.post("/Users", #"{"id":"chosen-by-client","userName":"ro2@example.com"}"#)
        #expect(post.status == 201 && post.doc["id"]?.string != "chosen-by-client", "\(post.summary)")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)
        try await Self.expectServing(scim)
    }

    @Test("too many PATCH operations and members per request: a clear 400, nothing applied")
    func requestLimits() async throws {
        let scim = try SCIM.fresh("limits-counts")
        var users: [String] = []
        for n in 0..<12 { users.append(try await scim.createUser("count\(n)@example.com")) }
        let group = try await scim.createGroup("counts")

        let six = "[" + (0..<6).map { #"{"op":"replace","path":"title","value":"t\#($0)"}"# }.joined(separator: ",") + "]"
        let tooMany = try await scim.patch("/Users/\(users[0])", operations: six)
        Self.expectError(tooMany, 400, nil, "6 operations")
        #expect(tooMany.detail.contains("6") && tooMany.detail.contains("5"), "names the count and the limit: \(tooMany.detail)")
        #expect(try await scim.get("/Users/\(users[0])").doc["title"] == nil)
        let five = "[" + (0..<5).map { #"{"op":"replace","path":"title","value":"t\#($0)"}"# }.joined(separator: ",") + "]"
        let atLimit = try await scim.patch("/Users/\(users[0])", operations: five)
        #expect(atLimit.status == 200 && atLimit.doc["title"] == .string("t4"), "\(atLimit.summary)")
        let groupOps = try await scim.patch(
            "/Groups/\(group)", operations: "[" + (0..<6).map { _ in #"{"op":"replace","path":"displayName","value":"x"}"# }.joined(separator: ",") + "]")
        Self.expectError(groupOps, 400, nil, "6 group operations")

        let eleven = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":\#(SCIM.memberValues(Array(users.prefix(11))))}]"#)
        Self.expectError(eleven, 400, nil, "11 members in one PATCH")
        #expect(eleven.detail.contains("10"), "names the limit: \(eleven.detail)")
        let split = try await scim.patch(
            "/Groups/\(group)",
            operations: #"[{"op":"add","path":"members","value":\#(SCIM.memberValues(Array(users[0..<6])))},{"op":"add","path":"members","value":\#(SCIM.memberValues(Array(users[6..<12])))}]"#
        )
        Self.expectError(split, 400, nil, "12 members over two operations")
        #expect(try await scim.members(group).isEmpty, "nothing of a refused PATCH applies")
        #expect(try scim.check(user: .id(users[0]), group: .id(group)).reason == .notMember)

        let postEleven = try await scim.post("/Groups", #"{"displayName":"too big","members":\#(SCIM.memberValues(Array(users.prefix(11))))}"#)
        Self.expectError(postEleven, 400, nil, "POST with 11 members")
        #expect(try await scim.filter("Groups", #"displayName eq "too big""#).doc["totalResults"] == .int(0))
        let putEleven = try await scim.put("/Groups/\(group)", #"{"displayName":"counts","members":\#(SCIM.memberValues(Array(users.prefix(11))))}"#)
        Self.expectError(putEleven, 400, nil, "PUT with 11 members")
        #expect(try await scim.members(group).isEmpty)

        let ten = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":\#(SCIM.memberValues(Array(users.prefix(10))))}]"#)
        #expect(ten.status == 200, "10 members is within the limit: \(ten.summary)")
        #expect(try await scim.members(group) == Set(users.prefix(10)))

        // --max-page-size 3: count is clamped and advertised.
        let page = try await scim.get("/Users", [("count", "50")])
        #expect(page.doc["itemsPerPage"] == .int(3) && page.doc["totalResults"] == .int(12), "\(page.summary)")
        let config = try await scim.get("/ServiceProviderConfig")
        #expect(config.doc["filter"]?["maxResults"] == .int(3))
        try await Self.expectServing(scim)
    }

    @Test("a PATCH whose 3rd operation fails leaves the resource exactly as it was")
    func nothingHalfApplied() async throws {
        let scim = try SCIM.fresh("limits-atomic")
        let a = try await scim.createUser("atomic-a@example.com", extra: #""displayName":"Before""#)
        let b = try await scim.createUser("atomic-b@example.com")
        let group = try await scim.createGroup("atomic", members: [b])
        let userBefore = try await scim.get("/Users/\(a)")
        let groupBefore = try await scim.get("/Groups/\(group)")
        let revisionBefore = try scim.revision()

        for (label, operations) in [
            (
                "3rd op changes meta",
                #"[{"op":"replace","path":"displayName","value":"After"},{"op":"add","path":"emails","value":[{"value":"x@example.com"}]},{"op":"replace","path":"meta.created","value":"2001-01-01T00:00:00Z"}]"#
            ),
            (
                "3rd op has a bad value",
                #"[{"op":"replace","path":"displayName","value":"After"},{"op":"add","path":"title","value":"T"},{"op":"replace","path":"active","value":"perhaps"}]"#
            ),
            (
                "3rd op removes userName",
                #"[{"op":"replace","path":"displayName","value":"After"},{"op":"replace","path":"active","value":false},{"op":"remove","path":"userName"}]"#
            ),
            (
                "3rd op takes another user's userName",
                #"[{"op":"replace","path":"displayName","value":"After"},{"op":"replace","path":"active","value":false},{"op":"replace","path":"userName","value":"ATOMIC-B@example.com"}]"#
            ),
        ] {
            let response = try await scim.patch("/Users/\(a)", operations: operations)
            #expect(response.status == 400 || response.status == 409, "\(label): \(response.summary)")
            let now = try await scim.get("/Users/\(a)")
            #expect(now.doc == userBefore.doc && now.etag == userBefore.etag, "\(label): the user changed:\n\(now.text)")
        }
        for (label, operations) in [
            (
                "3rd op has an unsupported members filter",
                #"[{"op":"replace","path":"displayName","value":"renamed"},{"op":"add","path":"members","value":[{"value":\#(jsonString(a))}]},{"op":"remove","path":"members[display eq \"x\"]"}]"#
            ),
            (
                "3rd op adds a user that does not exist",
                #"[{"op":"replace","path":"displayName","value":"renamed"},{"op":"remove","path":"members[value eq \"\#(b)\"]"},{"op":"add","path":"members","value":[{"value":\#(jsonString(a))},{"value":"ghost"}]}]"#
            ),
        ] {
            let response = try await scim.patch("/Groups/\(group)", operations: operations)
            #expect(response.status == 400, "\(label): \(response.summary)")
            let now = try await scim.get("/Groups/\(group)")
            #expect(now.doc == groupBefore.doc && now.etag == groupBefore.etag, "\(label): the group changed:\n\(now.text)")
            #expect(try scim.check(user: .id(a), group: .id(group)).reason == .notMember, "\(label)")
            #expect(try scim.check(user: .id(b), group: .name("atomic")).reason == .member, "\(label)")
        }
        #expect(try scim.check(user: .id(a), group: .name("renamed")).reason == .groupUnknown)
        let events = try await scim.events(after: revisionBefore)
        #expect(events.isEmpty, "refused requests emit no event: \(events.map(\.brief))")
        try await Self.expectServing(scim)
    }

    @Test("a U+0000 in an identifier is refused with a clear 400 that shows no SQL")
    func nulIdentifierRefused() async throws {
        let scim = try SCIM.fresh("limits-internal")
        let first = try await scim.post("/Users", #"{"userName":"x\u0000first@example.com"}"#)
        Self.expectError(first, 400, "invalidValue", "U+0000")
        #expect(first.detail.contains("U+0000"), "the detail names the character: \(first.summary)")
        for leak in ["INSERT", "SELECT", "SQLite", "UNIQUE", "users.", "user_name"] {
            #expect(!first.text.contains(leak), "the error leaks '\(leak)': \(first.text)")
        }
        let list = try await scim.filter("Users", #"userName sw "x""#)
        #expect(list.doc["totalResults"] == .int(0), "nothing was stored: \(list.summary)")
        try await Self.expectServing(scim)
    }

    @Test("after all of it the daemon still serves, and verify is clean")
    func stillServing() async throws {
        let scim = try SCIM.fresh("limits-final")
        let garbage = try await scim.request("FOO", "/Users")
        #expect(garbage.status == 405 || garbage.status == 400 || garbage.status == 501, "\(garbage.summary)")
        try await Self.expectServing(scim)
        let health = try await scim.daemon.http("GET", "/healthz", token: nil)
        #expect(health.status == 200 && health.doc["status"] == .string("SERVING"), "\(health.summary)")
        var verify = Roster_V1_RequestFrame()
        verify.verify = .init()
        let report = try LookupConnection(path: scim.daemon.socketPath).call(verify)
        #expect(report.status.code == .ok)
        #expect(report.verify.ok, "verify: \(report.verify.differences)")
    }
}
