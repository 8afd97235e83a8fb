import Foundation
import RosterCore
import RosterProtocol
import Testing

/// OneLogin: deletes users and re-adds them as new ones, sends `emails` as an object, and
/// `members` (or a user's `groups`) on create.
@Suite("Provider flows: OneLogin", .sharedDaemon(), .timeLimit(.minutes(3)))
struct OneLoginFlowTests {
    static func body(_ userName: String, externalId: String) -> String {
        """
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":\(jsonString(userName)),
         "externalId":\(jsonString(externalId)),"name":{"givenName":"Ona","familyName":"Login"},
         "emails":[{"value":\(jsonString(userName)),"primary":true}],"active":true}
        """
    }

    @Test("delete, then re-add with the same userName and externalId: a new user (201, not 409)")
    func deleteThenReAdd() async throws {
        let scim = try SCIM.fresh("onelogin-readd", provider: "onelogin")
        let first = try await scim.post("/Users", Self.body("ona@onelogin.test", externalId: "ol-1"))
        #expect(first.status == 201, "\(first.summary)")
        let old = try #require(first.doc["id"]?.string)
        let group = try await scim.createGroup("ol-group", members: [old])
        #expect(try scim.check(user: .name("ona@onelogin.test"), group: .id(group)).reason == .member)

        let deleted = try await scim.delete("/Users/\(old)")
        #expect(deleted.status == 204, "\(deleted.summary)")
        #expect(deleted.body.isEmpty)
        let deleteRevision = try #require(deleted.revision)
        let gone = try await scim.get("/Users/\(old)")
        #expect(gone.status == 404, "\(gone.summary)")
        #expect(gone.doc["schemas"] == .array([.string(errorURN)]) && !gone.detail.isEmpty)
        let decision = try scim.check(user: .id(old), group: .id(group))
        #expect(decision.reason == .userDeleted && decision.revision >= deleteRevision, "\(decision)")
        #expect(try scim.check(user: .name("ona@onelogin.test"), group: .id(group)).reason == .userDeleted)
        #expect(try await scim.members(group).isEmpty, "deletion removes every membership")
        #expect(try await scim.filter("Users", #"userName eq "ona@onelogin.test""#).doc["totalResults"] == .int(0))

        let again = try await scim.post("/Users", Self.body("ona@onelogin.test", externalId: "ol-1"))
        #expect(again.status == 201, "a re-added user is a new user: \(again.summary)")
        let new = try #require(again.doc["id"]?.string)
        #expect(new != old)
        #expect(try await scim.get("/Users/\(old)").status == 404, "the old id stays gone")
        #expect(try await scim.delete("/Users/\(old)").status == 404, "deleting twice answers 404")
        // Lookups by name and externalId now name the new user, who starts in no group.
        #expect(try scim.check(user: .name("ona@onelogin.test"), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .external("ol-1"), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .id(old), group: .id(group)).reason == .userDeleted)
        #expect(try await scim.filter("Users", #"userName eq "ona@onelogin.test""#).resourceIDs == [new])
        #expect(try await scim.filter("Users", #"externalId eq "ol-1""#).resourceIDs == [new])
        #expect(try await scim.get("/Users").resourceIDs == [new], "the tombstone is not listed")

        let add = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(new))}]}]"#)
        #expect(add.status == 200)
        #expect(try scim.check(user: .name("ona@onelogin.test"), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .id(old), group: .id(group)).reason == .userDeleted)
        // Adding the deleted id is not possible any more; the new user is unaffected.
        let addOld = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(old))}]}]"#)
        #expect(addOld.status == 200 || addOld.status == 400, "\(addOld.summary)")
        #expect(try await scim.members(group) == [new])
    }

    @Test("emails sent as an object, on POST and PUT")
    func emailsAsObject() async throws {
        let scim = try SCIM.fresh("onelogin-emails", provider: "onelogin")
        let created = try await scim.post(
            "/Users",
            #"{"userName":"obj@onelogin.test","emails":{"value":"obj@onelogin.test","type":"work","primary":true},"active":true}"#)
        #expect(created.status == 201, "\(created.summary)")
        let id = try #require(created.doc["id"]?.string)
        #expect(
            created.doc["emails"] == .array([.object(["value": .string("obj@onelogin.test"), "type": .string("work"), "primary": .bool(true)])]),
            "an object becomes a one-element array: \(created.summary)")
        let put = try await scim.put(
            "/Users/\(id)", #"{"userName":"obj@onelogin.test","emails":{"value":"new@onelogin.test","type":"work"},"active":true}"#)
        #expect(put.status == 200, "\(put.summary)")
        #expect(put.doc["emails"]?.array?.count == 1 && put.doc["emails"]?[0]?["value"] == .string("new@onelogin.test"))
        let found = try await scim.filter("Users", #"emails.value eq "new@onelogin.test""#)
        #expect(found.resourceIDs == [id])
    }

    @Test("members on group POST; groups on user POST")
    func membersOnCreate() async throws {
        let scim = try SCIM.fresh("onelogin-members", provider: "onelogin")
        let a = try await scim.createUser("a@onelogin.test")
        let b = try await scim.createUser("b@onelogin.test")
        let created = try await scim.post(
            "/Groups",
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"OneLogin Role","members":[{"value":\#(jsonString(a)),"display":"a@onelogin.test"},{"value":\#(jsonString(b))}]}"#)
        #expect(created.status == 201, "\(created.summary)")
        let group = try #require(created.doc["id"]?.string)
        #expect(Set((created.doc["members"]?.array ?? []).compactMap { $0["value"]?.string }) == [a, b])
        let revision = try #require(created.revision)
        #expect(try scim.check(user: .id(a), group: .name("OneLogin Role"), minRevision: revision).reason == .member)
        #expect(try scim.check(user: .id(b), group: .id(group)).reason == .member)

        // A user's groups on create (OneLogin may send them).
        let withGroups = try await scim.post(
            "/Users", #"{"userName":"c@onelogin.test","groups":[{"value":\#(jsonString(group)),"display":"OneLogin Role"}]}"#)
        #expect(withGroups.status == 201, "\(withGroups.summary)")
        let c = try #require(withGroups.doc["id"]?.string)
        #expect(try scim.check(user: .id(c), group: .id(group)).reason == .member)
        #expect(try await scim.members(group) == [a, b, c])
        #expect(withGroups.doc["groups"]?[0]?["value"] == .string(group), "\(withGroups.summary)")

        // An unknown member refuses the whole create.
        let bad = try await scim.post("/Groups", #"{"displayName":"Broken","members":[{"value":\#(jsonString(a))},{"value":"nobody"}]}"#)
        #expect(bad.status == 400, "\(bad.summary)")
        #expect(try await scim.filter("Groups", #"displayName eq "Broken""#).doc["totalResults"] == .int(0), "nothing half-created")
        #expect(try scim.check(user: .id(a), group: .name("Broken")).reason == .groupUnknown)
    }
}

/// JumpCloud: a connection test that creates and deletes, lowercase ops, group deletes.
@Suite("Provider flows: JumpCloud", .sharedDaemon(), .timeLimit(.minutes(3)))
struct JumpCloudFlowTests {
    @Test("connection test: create and delete a test user and group")
    func connectionTest() async throws {
        let scim = try SCIM.fresh("jumpcloud-conn", provider: "jumpcloud")
        let witness = try await scim.createUser("witness@jumpcloud.test")
        let user = try await scim.createUser("jc-test-user@jumpcloud.test")
        let group = try await scim.createGroup("jc-test-group", members: [user, witness])
        #expect(try await scim.get("/Users/\(user)").status == 200)
        #expect(try await scim.get("/Groups/\(group)").status == 200)

        let deleteUser = try await scim.delete("/Users/\(user)")
        #expect(deleteUser.status == 204, "\(deleteUser.summary)")
        #expect(try await scim.members(group) == [witness])
        let deleteGroup = try await scim.delete("/Groups/\(group)")
        #expect(deleteGroup.status == 204, "\(deleteGroup.summary)")
        for path in ["/Users/\(user)", "/Groups/\(group)"] {
            let gone = try await scim.get(path)
            #expect(gone.status == 404 && gone.doc["schemas"] == .array([.string(errorURN)]), "\(path): \(gone.summary)")
        }
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .userDeleted)
        #expect(try scim.check(user: .id(witness), group: .id(group)).reason == .groupUnknown)
        #expect(try scim.check(user: .id(witness), group: .name("jc-test-group")).reason == .groupUnknown)
        // A second connection test with the same names works.
        let user2 = try await scim.createUser("jc-test-user@jumpcloud.test")
        let group2 = try await scim.createGroup("jc-test-group", members: [user2])
        #expect(try scim.check(user: .name("jc-test-user@jumpcloud.test"), group: .name("jc-test-group")).reason == .member)
        #expect(try await scim.delete("/Users/\(user2)").status == 204)
        #expect(try await scim.delete("/Groups/\(group2)").status == 204)
    }

    @Test("lowercase add path members; top-level rename")
    func lowercaseAddAndRename() async throws {
        let scim = try SCIM.fresh("jumpcloud-ops", provider: "jumpcloud")
        let a = try await scim.createUser("a@jumpcloud.test")
        let group = try await scim.createGroup("jc-engineering")
        let add = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(a))}]}]"#)
        #expect(add.status == 200, "\(add.summary)")
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .member)

        let rename = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"replace","path":"displayName","value":"jc-eng"}]"#)
        #expect(rename.status == 200 && rename.doc["displayName"] == .string("jc-eng"), "\(rename.summary)")
        #expect(try scim.check(user: .id(a), group: .name("jc-eng")).reason == .member)
        let rename2 = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"replace","value":{"displayName":"jc-engineering-2"}}]"#)
        #expect(rename2.status == 200 && rename2.doc["displayName"] == .string("jc-engineering-2"), "\(rename2.summary)")
        #expect(try scim.check(user: .id(a), group: .name("jc-engineering-2")).reason == .member)
        #expect(try scim.check(user: .id(a), group: .name("jc-eng")).reason == .groupUnknown)
        #expect(try await scim.members(group) == [a])
    }

    @Test("group delete: members lose access (GROUP_UNKNOWN), with events in one revision")
    func groupDelete() async throws {
        let scim = try SCIM.fresh("jumpcloud-gdel", provider: "jumpcloud")
        let a = try await scim.createUser("ga@jumpcloud.test")
        let b = try await scim.createUser("gb@jumpcloud.test")
        let group = try await scim.createGroup("jc-doomed", members: [a, b])
        let keep = try await scim.createGroup("jc-keep", members: [a])
        let before = try scim.revision()

        let deleted = try await scim.delete("/Groups/\(group)")
        #expect(deleted.status == 204, "\(deleted.summary)")
        let revision = try #require(deleted.revision)
        for user in [a, b] {
            let decision = try scim.check(user: .id(user), group: .id(group))
            #expect(decision.reason == .groupUnknown && !decision.allowed && decision.revision >= revision, "\(decision)")
            #expect(try scim.check(user: .id(user), group: .name("jc-doomed")).reason == .groupUnknown)
        }
        #expect(try scim.check(user: .id(a), group: .id(keep)).reason == .member, "other groups are untouched")
        let userA = try await scim.get("/Users/\(a)")
        #expect((userA.doc["groups"]?.array ?? []).compactMap { $0["value"]?.string } == [keep], "\(userA.summary)")
        #expect(try await scim.filter("Groups", #"displayName eq "jc-doomed""#).doc["totalResults"] == .int(0))

        let events = try await scim.events(after: before)
        let removals = events.filter { $0.kind == "group.user_removed" }
        #expect(Set(removals.map(\.userID)) == [a, b] && removals.count == 2, "\(events.map(\.brief))")
        #expect(removals.allSatisfy { $0.cause == "group_deleted" && $0.revision == revision }, "\(events.map(\.brief))")
        #expect(events.filter { $0.kind == "group.deleted" && $0.groupID == group }.map(\.revision) == [revision])
    }

    @Test("removed from the provisioning group, then suspended, then deleted")
    func removeThenSuspend() async throws {
        let scim = try SCIM.fresh("jumpcloud-offboard", provider: "jumpcloud")
        let a = try await scim.createUser("off@jumpcloud.test")
        let group = try await scim.createGroup("jc-provisioning", members: [a])
        let removed = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"remove","path":"members[value eq \"\#(a)\"]"}]"#)
        #expect(removed.status == 200, "\(removed.summary)")
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .notMember)
        #expect(try await scim.members(group).isEmpty)

        let suspended = try await scim.patch("/Users/\(a)", operations: #"[{"op":"replace","path":"active","value":false}]"#)
        #expect(suspended.status == 200 && suspended.doc["active"] == .bool(false), "\(suspended.summary)")
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .userSuspended)
        #expect(try await scim.get("/Users/\(a)").doc["active"] == .bool(false))

        let deleted = try await scim.delete("/Users/\(a)")
        #expect(deleted.status == 204)
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .userDeleted)
        #expect(try await scim.get("/Users/\(a)").status == 404)
    }
}

/// The same request twice changes nothing the second time: same resource, no new events.
@Suite("Idempotence", .sharedDaemon(), .timeLimit(.minutes(3)))
struct IdempotenceTests {
    @Test("the same membership PATCH twice: same resource, one event per change")
    func samePatchTwice() async throws {
        let scim = try SCIM.fresh("idem-members", provider: "okta")
        let a = try await scim.createUser("ia@idem.test")
        let b = try await scim.createUser("ib@idem.test")
        let group = try await scim.createGroup("idem")
        let before = try scim.revision()

        let add = #"[{"op":"add","path":"members","value":\#(SCIM.memberValues([a, b]))}]"#
        let first = try await scim.patch("/Groups/\(group)", operations: add)
        let second = try await scim.patch("/Groups/\(group)", operations: add)
        #expect(first.status == 200 && second.status == 200, "\(first.summary) / \(second.summary)")
        #expect(first.doc == second.doc, "the same resource, meta included:\n\(first.text)\n\(second.text)")
        #expect(first.etag == second.etag)
        let (r1, r2) = (try #require(first.revision), try #require(second.revision))
        #expect(r2 > r1, "every accepted request gets its own revision")

        let remove = #"[{"op":"remove","path":"members[value eq \"\#(a)\"]"}]"#
        let third = try await scim.patch("/Groups/\(group)", operations: remove)
        let fourth = try await scim.patch("/Groups/\(group)", operations: remove)
        #expect(third.status == 200 && fourth.status == 200, "a retried removal succeeds: \(fourth.summary)")
        #expect(third.doc == fourth.doc)

        let entraAdd = #"[{"op":"Add","path":"members","value":[{"$ref":null,"value":\#(jsonString(b))}]}]"#
        let fifth = try await scim.patch("/Groups/\(group)", operations: entraAdd)
        #expect(fifth.status == 200 && fifth.doc == fourth.doc, "\(fifth.summary)")
        #expect(try scim.check(user: .id(b), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .notMember)

        let events = try await scim.events(after: before)
        let memberships = events.filter { $0.kind.hasPrefix("group.") }
        #expect(
            memberships.map { "\($0.kind) \($0.userID)" } == ["group.user_added \(a)", "group.user_added \(b)", "group.user_removed \(a)"],
            "\(events.map(\.brief))")
        #expect(Set(events.map(\.revision)).isSubset(of: [r1, try #require(third.revision)]), "\(events.map(\.brief))")
    }

    @Test("the same user PATCHes twice (deactivate, attributes): no second event")
    func sameUserPatchTwice() async throws {
        let scim = try SCIM.fresh("idem-users", provider: "entra")
        let user = try await scim.createUser("iu@idem.test")
        let group = try await scim.createGroup("idem-u", members: [user])
        let before = try scim.revision()

        let attributes = #"[{"op":"Replace","path":"displayName","value":"Same"},{"op":"Add","path":"emails","value":[{"type":"work","value":"iu@idem.test"}]}]"#
        let first = try await scim.patch("/Users/\(user)", operations: attributes)
        let second = try await scim.patch("/Users/\(user)", operations: attributes)
        #expect(first.status == 200 && second.status == 200)
        #expect(first.doc == second.doc, "\(first.text)\n\(second.text)")
        #expect(second.doc["emails"]?.array?.count == 1, "an add of an existing value does not duplicate it")

        let deactivate = #"[{"op":"Replace","path":"active","value":"False"}]"#
        let third = try await scim.patch("/Users/\(user)", operations: deactivate)
        let fourth = try await scim.patch("/Users/\(user)", operations: deactivate)
        #expect(third.status == 200 && fourth.status == 200)
        #expect(third.doc == fourth.doc, "\(third.text)\n\(fourth.text)")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .userSuspended)

        let events = try await scim.events(after: before)
        #expect(
            events.map(\.kind) == ["user.updated", "group.user_removed", "user.suspended"]
                || events.map(\.kind) == ["user.updated", "user.suspended", "group.user_removed"],
            "\(events.map(\.brief))")
        #expect(events.filter { $0.kind == "user.updated" }.map(\.revision) == [try #require(first.revision)])
    }

    @Test("the same PUT twice: no second event")
    func samePutTwice() async throws {
        let scim = try SCIM.fresh("idem-put", provider: "okta")
        let a = try await scim.createUser("pa@idem.test")
        let group = try await scim.createGroup("idem-put")
        let before = try scim.revision()
        let body = #"{"displayName":"idem-put","members":[{"value":\#(jsonString(a))}]}"#
        let first = try await scim.put("/Groups/\(group)", body)
        let second = try await scim.put("/Groups/\(group)", body)
        #expect(first.status == 200 && second.status == 200, "\(first.summary)")
        #expect(first.doc == second.doc)
        let events = try await scim.events(after: before)
        #expect(events.filter { $0.kind.hasPrefix("group.user_") }.map(\.kind) == ["group.user_added"], "\(events.map(\.brief))")
        // The first PUT may record group.updated (its body differs from the create's); the second none.
        let secondRevision = try #require(second.revision)
        #expect(events.filter { $0.revision == secondRevision }.isEmpty, "\(events.map(\.brief))")
    }
}
