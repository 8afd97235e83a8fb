import Foundation
import RosterCore
import RosterProtocol
import Testing

/// Microsoft Entra ID's SCIM traffic (PROVIDERS.md), verbatim, against a live daemon.
@Suite("Provider flows: Entra ID", .sharedDaemon(), .timeLimit(.minutes(3)))
struct EntraFlowTests {
    /// The deactivation shapes Entra sends: default, lower-case string, boolean, `Add`, and the
    /// `?aadOptscim062020` flag's RFC form.
    static let deactivations: [(label: String, operations: String, query: [(String, String)])] = [
        ("Replace \"False\"", #"[{"op":"Replace","path":"active","value":"False"}]"#, []),
        ("Replace \"false\"", #"[{"op":"Replace","path":"active","value":"false"}]"#, []),
        ("Replace false", #"[{"op":"Replace","path":"active","value":false}]"#, []),
        ("Add \"False\"", #"[{"op":"Add","path":"active","value":"False"}]"#, []),
        ("aadOptscim062020 replace false", #"[{"op":"replace","path":"active","value":false}]"#, [("aadOptscim062020", "")]),
    ]

    @Test("deactivation in every Entra shape removes all memberships in one revision", arguments: 0..<5)
    func deactivation(_ variant: Int) async throws {
        let (label, operations, query) = Self.deactivations[variant]
        let scim = try SCIM.fresh("entra-deactivate-\(variant)", provider: "entra")
        let user = try await scim.createUser("adele\(variant)@contoso.test", externalId: "ext-\(variant)")
        let stays = try await scim.createUser("stays\(variant)@contoso.test")
        var groups: [String] = []
        for n in 0..<3 { groups.append(try await scim.createGroup("entra-\(variant)-\(n)", members: [user, stays])) }
        for group in groups { #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member) }
        let before = try scim.revision()

        let response = try await scim.patch("/Users/\(user)", operations: operations, query: query)
        #expect(response.status == 200, "\(label): \(response.summary)")
        #expect(response.doc["active"] == .bool(false), "\(label): active is returned as a JSON boolean: \(response.summary)")
        let revision = try #require(response.revision)
        for group in groups {
            let decision = try scim.check(user: .id(user), group: .id(group))
            #expect(decision.reason == .userSuspended && !decision.allowed && decision.revision >= revision, "\(label): \(decision)")
            #expect(try await scim.members(group) == [stays], "\(label)")
        }
        #expect(try await scim.get("/Users/\(user)").doc["active"] == .bool(false))

        let events = try await scim.events(after: before)
        let removals = events.filter { $0.kind == "group.user_removed" }
        #expect(removals.count == 3 && Set(removals.map(\.groupID)) == Set(groups), "\(label): \(events.map(\.brief))")
        #expect(removals.allSatisfy { $0.revision == revision && $0.cause == "user_suspended" }, "one revision: \(events.map(\.brief))")
        #expect(events.filter { $0.kind == "user.suspended" }.map(\.revision) == [revision], "\(events.map(\.brief))")
        #expect(Set(events.map(\.revision)) == [revision], "the PATCH was one write: \(events.map(\.brief))")

        // Reactivation with Entra's "True": the same id, active, in no group (Entra re-adds).
        let reactivated = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Replace","path":"active","value":"True"}]"#)
        #expect(reactivated.status == 200 && reactivated.doc["active"] == .bool(true), "\(label): \(reactivated.summary)")
        for group in groups {
            #expect(try scim.check(user: .id(user), group: .id(group)).reason == .notMember, "\(label)")
        }
    }

    @Test("directory policy retain: memberships kept but inert while suspended, live again on reactivation")
    func retainPolicy() async throws {
        let scim = try SCIM.fresh("entra-retain", provider: "entra", policy: "retain")
        let user = try await scim.createUser("kept@contoso.test")
        let group = try await scim.createGroup("entra-retain", members: [user])
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)

        let suspended = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Replace","path":"active","value":"False"}]"#)
        #expect(suspended.status == 200, "\(suspended.summary)")
        let decision = try scim.check(user: .id(user), group: .id(group))
        #expect(decision.reason == .userSuspended && !decision.allowed, "checks always deny an inactive user: \(decision)")
        let late = try await scim.createGroup("entra-retain-late")
        let addWhileSuspended = try await scim.patch(
            "/Groups/\(late)", operations: #"[{"op":"Add","path":"members","value":[{"$ref":null,"value":\#(jsonString(user))}]}]"#)
        #expect(addWhileSuspended.status == 200)
        #expect(try scim.check(user: .id(user), group: .id(late)).reason == .userSuspended)

        let reactivated = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Replace","path":"active","value":"True"}]"#)
        #expect(reactivated.status == 200, "\(reactivated.summary)")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member, "retain: live again on reactivation")
        #expect(try scim.check(user: .id(user), group: .id(late)).reason == .member)

        // Deletion removes memberships whatever the policy.
        let deleted = try await scim.delete("/Users/\(user)")
        #expect(deleted.status == 204)
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .userDeleted)
        #expect(try await scim.members(group).isEmpty)
        #expect(try await scim.members(late).isEmpty)
    }

    @Test("soft delete (active False) then hard delete 30 days later: USER_DELETED, 404")
    func softThenHardDelete() async throws {
        let scim = try SCIM.fresh("entra-harddelete", provider: "entra")
        let user = try await scim.createUser("soft@contoso.test", externalId: "soft-1")
        let group = try await scim.createGroup("entra-soft", members: [user])
        let soft = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Replace","path":"active","value":"False"}]"#)
        #expect(soft.status == 200)
        #expect(try scim.check(user: .external("soft-1"), group: .id(group)).reason == .userSuspended)
        let hard = try await scim.delete("/Users/\(user)")
        #expect(hard.status == 204, "\(hard.summary)")
        #expect(try scim.check(user: .external("soft-1"), group: .id(group)).reason == .userDeleted)
        #expect(try await scim.get("/Users/\(user)").status == 404)
        #expect(try await scim.filter("Users", #"externalId eq "soft-1""#).doc["totalResults"] == .int(0))
    }

    @Test("group create with the ADSCIM schema URN; lookup by displayName without members")
    func groupCreateWithADSCIM() async throws {
        let scim = try SCIM.fresh("entra-groups", provider: "entra")
        let lookup = try await scim.filter("Groups", #"displayName eq "displayName""#, [("excludedAttributes", "members")])
        #expect(lookup.status == 200 && lookup.doc["Resources"] == .array([]) && lookup.doc["totalResults"] == .int(0), "\(lookup.summary)")

        let created = try await scim.post(
            "/Groups",
            """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
             "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}
            """)
        #expect(created.status == 201, "\(created.summary)")
        let group = try #require(created.doc["id"]?.string)
        #expect(created.doc["schemas"]?[0] == .string("urn:ietf:params:scim:schemas:core:2.0:Group"))
        #expect(created.doc["externalId"] == .string("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"))
        #expect(created.doc["meta"]?["location"]?.string?.hasSuffix("/Groups/\(group)") == true, "meta is the server's: \(created.summary)")

        let user = try await scim.createUser("gm@contoso.test")
        let add = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"Add","path":"members","value":[{"$ref":null,"value":\#(jsonString(user))}]}]"#)
        #expect(add.status == 200, "\(add.summary)")
        #expect(try scim.check(user: .id(user), group: .external("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")).reason == .member)

        let found = try await scim.filter("Groups", #"displayName eq "displayName""#, [("excludedAttributes", "members")])
        #expect(found.status == 200 && found.resourceIDs == [group], "\(found.summary)")
        #expect(found.doc["Resources"]?[0]?["members"] == nil, "excludedAttributes=members: \(found.summary)")
        #expect(found.doc["Resources"]?[0]?["displayName"] == .string("displayName"))
        let byExternal = try await scim.filter("Groups", #"externalId eq "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159""#)
        #expect(byExternal.resourceIDs == [group])
        #expect(byExternal.doc["Resources"]?[0]?["members"]?[0]?["value"] == .string(user))
    }

    @Test("Add / Remove several members at once: a value array removes exactly those, never all")
    func severalMembersAtOnce() async throws {
        let scim = try SCIM.fresh("entra-members", provider: "entra")
        var users: [String] = []
        for n in 0..<5 { users.append(try await scim.createUser("m\(n)@contoso.test")) }
        let group = try await scim.createGroup("entra-many")

        let add = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"Add","path":"members","value":\#(SCIM.memberValues(users, ref: true))}]"#)
        #expect(add.status == 200, "\(add.summary)")
        #expect(try await scim.members(group) == Set(users))
        for user in users { #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member) }

        let remove = try await scim.patch(
            "/Groups/\(group)",
            operations: #"[{"op":"Remove","path":"members","value":\#(SCIM.memberValues([users[0], users[2]], ref: true))}]"#)
        #expect(remove.status == 200, "\(remove.summary)")
        #expect(try await scim.members(group) == [users[1], users[3], users[4]], "exactly the listed members leave")
        #expect(try scim.check(user: .id(users[0]), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .id(users[2]), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .id(users[1]), group: .id(group)).reason == .member)

        let removeOne = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"Remove","path":"members","value":[{"$ref":null,"value":\#(jsonString(users[1]))}]}]"#)
        #expect(removeOne.status == 200)
        #expect(try await scim.members(group) == [users[3], users[4]])

        let removeNone = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"Remove","path":"members","value":[]}]"#)
        #expect(removeNone.status == 200, "\(removeNone.summary)")
        #expect(try await scim.members(group) == [users[3], users[4]], "an empty value array removes nobody")
        #expect(try scim.check(user: .id(users[4]), group: .id(group)).reason == .member)

        // A member that is not a user of the directory is refused, and nothing of the request applies.
        let unknown = try await scim.patch(
            "/Groups/\(group)",
            operations: #"[{"op":"Add","path":"members","value":[{"$ref":null,"value":\#(jsonString(users[0]))},{"$ref":null,"value":"no-such-user"}]}]"#)
        #expect(unknown.status == 400, "\(unknown.summary)")
        #expect(try await scim.members(group) == [users[3], users[4]], "a refused PATCH adds nobody")
    }

    @Test("legacy multi-attribute update, then the flagged no-path form with dotted and URN keys")
    func multiAttributeUpdate() async throws {
        let scim = try SCIM.fresh("entra-attrs", provider: "entra")
        let user = try await scim.createUser("attrs@contoso.test")

        let legacy = try await scim.patch(
            "/Users/\(user)",
            operations: """
                [{"op":"Replace","path":"displayName","value":"Pvlo"},
                 {"op":"Replace","path":"emails[type eq \\"work\\"].value","value":"TestBcwqnm@test.microsoft.com"},
                 {"op":"Replace","path":"name.givenName","value":"Gtfd"},
                 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]
                """)
        #expect(legacy.status == 200, "\(legacy.summary)")
        for response in [legacy, try await scim.get("/Users/\(user)")] {
            let doc = response.doc
            #expect(doc["displayName"] == .string("Pvlo"))
            #expect(
                doc["emails"] == .array([.object(["type": .string("work"), "value": .string("TestBcwqnm@test.microsoft.com")])]),
                "the filtered path creates the missing email: \(response.summary)")
            #expect(doc["name"]?["givenName"] == .string("Gtfd"))
            #expect(doc[enterpriseURN]?["employeeNumber"] == .string("Eqpj"), "\(response.summary)")
            #expect(doc["schemas"]?.array?.contains(.string(enterpriseURN)) == true)
        }
        let byEmail = try await scim.filter("Users", #"emails[type eq "work"].value eq "TestBcwqnm@test.microsoft.com""#)
        #expect(byEmail.resourceIDs == [user], "\(byEmail.summary)")

        let flagged = try await scim.patch(
            "/Users/\(user)",
            operations: """
                [{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]
                """)
        #expect(flagged.status == 200, "\(flagged.summary)")
        for response in [flagged, try await scim.get("/Users/\(user)")] {
            let doc = response.doc
            #expect(doc["displayName"] == .string("Bjfe"))
            #expect(doc["name"]?["givenName"] == .string("Kkom"))
            #expect(doc[enterpriseURN]?["employeeNumber"] == .string("Aklq"))
            #expect(doc["name.givenName"] == nil, "a dotted key is a path, not an attribute: \(response.summary)")
            #expect(doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"] == nil)
            #expect(doc["emails"]?[0]?["value"] == .string("TestBcwqnm@test.microsoft.com"), "untouched")
        }
        // Replacing the work email again edits it in place (no second work email).
        let again = try await scim.patch(
            "/Users/\(user)", operations: #"[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"second@test.microsoft.com"}]"#)
        #expect(again.doc["emails"]?.array?.count == 1 && again.doc["emails"]?[0]?["value"] == .string("second@test.microsoft.com"), "\(again.summary)")
    }

    @Test("manager in every shape Entra sends, stored as {value: id}; and removed")
    func manager() async throws {
        let scim = try SCIM.fresh("entra-manager", provider: "entra")
        let boss = try await scim.createUser("boss@contoso.test")
        let boss2 = try await scim.createUser("boss2@contoso.test")
        let user = try await scim.createUser(
            "worker@contoso.test", extra: #""schemas":["urn:ietf:params:scim:schemas:core:2.0:User","\#(enterpriseURN)"],"\#(enterpriseURN)":{"manager":\#(jsonString(boss))}"#)
        func manager() async throws -> JSONValue? {
            try await scim.get("/Users/\(user)").doc[enterpriseURN]?["manager"]
        }
        #expect(try await manager() == .object(["value": .string(boss)]), "a string manager on create")

        let shapes: [(String, String, String)] = [
            ("path + string", #"[{"op":"Add","path":"\#(enterpriseURN):manager","value":\#(jsonString(boss2))}]"#, boss2),
            ("path + {value}", #"[{"op":"Replace","path":"\#(enterpriseURN):manager","value":{"value":\#(jsonString(boss))}}]"#, boss),
            (
                "no path, URN key, [{$ref, value}]",
                #"[{"op":"replace","value":{"\#(enterpriseURN):manager":[{"$ref":"../Users/\#(boss2)","value":\#(jsonString(boss2))}]}}]"#,
                boss2
            ),
            ("no path, plain key, string", #"[{"op":"replace","value":{"manager":\#(jsonString(boss))}}]"#, boss),
            ("path manager.value", #"[{"op":"replace","path":"\#(enterpriseURN):manager.value","value":\#(jsonString(boss2))}]"#, boss2),
        ]
        for (label, operations, expected) in shapes {
            let response = try await scim.patch("/Users/\(user)", operations: operations)
            #expect(response.status == 200, "\(label): \(response.summary)")
            let stored = try await manager()
            #expect(stored?.objectValue != nil && stored?["value"] == .string(expected), "\(label): \(String(describing: stored))")
            #expect(response.doc["manager"] == nil, "\(label): manager lives in the enterprise extension: \(response.summary)")
        }

        let removeByFilter = try await scim.patch(
            "/Users/\(user)", operations: #"[{"op":"Remove","path":"manager[value eq \"\#(boss2)\"]"}]"#)
        #expect(removeByFilter.status == 200, "\(removeByFilter.summary)")
        #expect(try await manager() == nil, "removed by manager[value eq id]")

        for (label, emptyValue) in [("empty string", "\"\""), ("{value: \"\"}", #"{"value":""}"#), ("null", "null")] {
            _ = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Add","path":"\#(enterpriseURN):manager","value":\#(jsonString(boss))}]"#)
            #expect(try await manager() == .object(["value": .string(boss)]))
            let cleared = try await scim.patch(
                "/Users/\(user)", operations: #"[{"op":"Replace","path":"\#(enterpriseURN):manager","value":\#(emptyValue)}]"#)
            #expect(cleared.status == 200, "\(label): \(cleared.summary)")
            #expect(try await manager() == nil, "Replace with \(label) removes the manager")
        }
    }

    @Test("lookups: externalId, emails[type eq work].value, nothing-matching, URL-encoded values, application/json")
    func lookups() async throws {
        let scim = try SCIM.fresh("entra-lookups", provider: "entra")
        let create = try await scim.post(
            "/Users",
            """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
             "userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1","active":true,
             "emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b@testuser.com"}],
             "meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
             "roles":[]}
            """,
            contentType: "application/json")
        #expect(create.status == 201, "Content-Type application/json is accepted: \(create.summary)")
        let id = try #require(create.doc["id"]?.string)
        #expect(create.doc["roles"] == nil, "an empty roles list is unassigned")

        for filter in [
            #"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1""#,
            #"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            #"emails[type eq "work"].value eq "Test_User_fd0ea19b@testuser.com""#,
            #"emails[type eq "work"].value eq "test_user_FD0EA19B@testuser.com""#,
        ] {
            let found = try await scim.filter("Users", filter)
            #expect(found.status == 200 && found.resourceIDs == [id] && found.doc["totalResults"] == .int(1), "\(filter): \(found.summary)")
        }
        for filter in [
            #"userName eq "nobody@contoso.test""#,
            #"externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF""#,  // externalId is caseExact
            #"emails[type eq "home"].value eq "Test_User_fd0ea19b@testuser.com""#,
        ] {
            let none = try await scim.filter("Users", filter)
            #expect(none.status == 200, "\(filter): \(none.summary)")
            #expect(none.doc["Resources"] == .array([]) && none.doc["totalResults"] == .int(0), "\(filter): \(none.summary)")
        }
        // Microsoft's validator leaves values URL-encoded inside the quotes (checklist item 10).
        let doubleEncoded = try await scim.filter("Users", #"emails[type eq "work"].value eq "Test_User_fd0ea19b%40testuser.com""#)
        #expect(doubleEncoded.resourceIDs == [id], "a percent-encoded value inside quotes still finds the user: \(doubleEncoded.summary)")
        let doubleEncodedName = try await scim.filter("Users", #"userName eq "Test_User_ab6490ee%2D1e48-479e-a20b-2d77186b5dd1""#)
        #expect(doubleEncodedName.resourceIDs == [id], "\(doubleEncodedName.summary)")

        // A PATCH with application/json.
        let patched = try await scim.request(
            "PATCH", "/Users/\(id)",
            body: #"{"schemas":["\#(patchOpURN)"],"Operations":[{"op":"Replace","path":"displayName","value":"Renamed"}]}"#,
            contentType: "application/json")
        #expect(patched.status == 200 && patched.doc["displayName"] == .string("Renamed"), "\(patched.summary)")
    }
}
