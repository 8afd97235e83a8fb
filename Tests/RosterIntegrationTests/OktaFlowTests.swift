import Foundation
import RosterCore
import RosterProtocol
import Testing

/// Okta's SCIM 2.0 traffic, replayed verbatim (shapes from PROVIDERS.md) against a live daemon.
/// After every step both views are checked: what SCIM returns, and what the membership index
/// answers on the lookup socket.
@Suite("Provider flows: Okta", .sharedDaemon(), .timeLimit(.minutes(3)))
struct OktaFlowTests {
    /// Okta's create body, verbatim except for the names a test picks.
    static func createBody(userName: String = "test.user@okta.local", externalId: String = "00ujl29u0le5T6Aj10h7") -> String {
        """
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":\(jsonString(userName)),
         "name":{"givenName":"Test","familyName":"User"},
         "emails":[{"primary":true,"value":\(jsonString(userName)),"type":"work"}],
         "displayName":"Test User","locale":"en-US","externalId":\(jsonString(externalId)),
         "groups":[],"password":"1mz050nq","active":true}
        """
    }

    static let deactivate = #"[{"op":"replace","value":{"active":false}}]"#
    static let reactivate = #"[{"op":"replace","value":{"active":true}}]"#

    static func addMembers(_ scim: SCIM, _ group: String, _ users: [String]) async throws {
        let response = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":\#(SCIM.memberValues(users))}]"#)
        #expect(response.status == 200, "add members: \(response.summary)")
    }

    @Test("lookup before create: empty ListResponse, then Okta's exact create body")
    func lookupThenCreate() async throws {
        let scim = try SCIM.fresh("okta-create", provider: "okta")
        let lookup = try await scim.get(
            "/Users", [("filter", #"userName eq "test.user@okta.local""#), ("startIndex", "1"), ("count", "100")])
        #expect(lookup.status == 200, "\(lookup.summary)")
        #expect(lookup.contentType.hasPrefix("application/scim+json"))
        #expect(lookup.doc["schemas"] == .array([.string(listResponseURN)]))
        #expect(lookup.doc["totalResults"] == .int(0))
        #expect(lookup.doc["startIndex"] == .int(1))
        #expect(lookup.doc["itemsPerPage"] == .int(0))
        #expect(lookup.doc["Resources"] == .array([]), "Okta needs an empty Resources list: \(lookup.summary)")

        let created = try await scim.post("/Users", Self.createBody())
        #expect(created.status == 201, "\(created.summary)")
        let user = created.doc
        let id = try #require(user["id"]?.string)
        #expect(user["userName"] == .string("test.user@okta.local"))
        #expect(user["externalId"] == .string("00ujl29u0le5T6Aj10h7"))
        #expect(user["active"] == .bool(true))
        #expect(user["name"]?["givenName"] == .string("Test"))
        #expect(user["emails"]?[0]?["value"] == .string("test.user@okta.local"))
        #expect(user["password"] == nil, "the password must never be stored or returned")
        #expect(!created.text.contains("1mz050nq"), "the password leaked: \(created.text)")
        #expect(user["groups"] == nil, "a user in no group has no groups attribute")
        #expect(user["meta"]?["resourceType"] == .string("User"))
        let location = try #require(created.headers["location"])
        #expect(location == user["meta"]?["location"]?.string)
        #expect(location.hasSuffix("/scim/v2/\(scim.id)/Users/\(id)"))
        #expect(created.etag != nil && created.etag == user["meta"]?["version"]?.string)
        let revision = try #require(created.revision, "every write answers with Roster-Revision")

        let again = try await scim.get(
            "/Users", [("filter", #"userName eq "test.user@okta.local""#), ("startIndex", "1"), ("count", "100")])
        #expect(again.doc["totalResults"] == .int(1))
        #expect(again.resourceIDs == [id])
        let read = try await scim.get("/Users/\(id)")
        #expect(read.status == 200)
        #expect(read.doc["password"] == nil)

        // The index knows the user by id, userName (any case) and externalId.
        let group = try await scim.createGroup("okta-everyone")
        for ref in [LookupConnection.Ref.id(id), .name("TEST.USER@okta.local"), .external("00ujl29u0le5T6Aj10h7")] {
            let decision = try scim.check(user: ref, group: .id(group))
            #expect(decision.reason == .notMember && !decision.allowed, "\(ref): \(decision)")
            #expect(decision.revision >= revision)
        }
        #expect(try scim.check(user: .id(id), group: .name("no such group")).reason == .groupUnknown)
        #expect(try scim.check(user: .name("nobody@okta.local"), group: .id(group)).reason == .userUnknown)
    }

    @Test("duplicate create: 409 uniqueness, in any letter case and for externalId")
    func duplicateCreate() async throws {
        let scim = try SCIM.fresh("okta-dup", provider: "okta")
        let first = try await scim.post("/Users", Self.createBody())
        #expect(first.status == 201, "\(first.summary)")
        for (label, body) in [
            ("same body", Self.createBody()),
            ("userName in another case", Self.createBody(userName: "Test.User@OKTA.local", externalId: "other-external")),
            ("same externalId", Self.createBody(userName: "someone.else@okta.local")),
        ] {
            let duplicate = try await scim.post("/Users", body)
            #expect(duplicate.status == 409, "\(label): \(duplicate.summary)")
            #expect(duplicate.scimType == "uniqueness", "\(label): Okta stops on anything but uniqueness: \(duplicate.summary)")
            #expect(duplicate.doc["schemas"] == .array([.string(errorURN)]))
            #expect(duplicate.doc["status"] == .string("409"))
            #expect(!duplicate.detail.isEmpty)
        }
        let list = try await scim.get("/Users")
        #expect(list.doc["totalResults"] == .int(1), "a refused create must not have created anything: \(list.summary)")

        // A suspended user still holds its userName: only deletion frees it.
        let id = try #require(first.doc["id"]?.string)
        #expect(try await scim.patch("/Users/\(id)", operations: Self.deactivate).status == 200)
        let whileSuspended = try await scim.post("/Users", Self.createBody())
        #expect(whileSuspended.status == 409 && whileSuspended.scimType == "uniqueness", "\(whileSuspended.summary)")
    }

    @Test("PATCH deactivate: USER_SUSPENDED, gone from every group, still readable; reactivation restores nothing")
    func patchDeactivate() async throws {
        let scim = try SCIM.fresh("okta-deactivate", provider: "okta")
        let user = try await scim.createUser("dee@okta.local", externalId: "00u-dee")
        let other = try await scim.createUser("other@okta.local")
        let groups = [try await scim.createGroup("okta-a"), try await scim.createGroup("okta-b")]
        for group in groups { try await Self.addMembers(scim, group, [user, other]) }
        for group in groups { #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member) }
        let before = try scim.revision()

        let suspended = try await scim.patch("/Users/\(user)", operations: Self.deactivate)
        #expect(suspended.status == 200, "\(suspended.summary)")
        #expect(suspended.doc["active"] == .bool(false))
        #expect(suspended.doc["groups"] == nil, "a suspended user is in no group: \(suspended.summary)")
        let revision = try #require(suspended.revision)
        for group in groups {
            let decision = try scim.check(user: .id(user), group: .id(group))
            #expect(decision.reason == .userSuspended && !decision.allowed, "\(decision)")
            #expect(decision.revision >= revision)
            #expect(try await scim.members(group) == [other], "the suspended user must leave every group")
            #expect(try scim.check(user: .id(other), group: .id(group)).reason == .member, "other members are untouched")
        }
        // Suspended users stay readable, by id and by filter, with active false.
        let read = try await scim.get("/Users/\(user)")
        #expect(read.status == 200)
        #expect(read.doc["active"] == .bool(false))
        let byName = try await scim.filter("Users", #"userName eq "dee@okta.local""#)
        #expect(byName.resourceIDs == [user])
        #expect(byName.doc["Resources"]?[0]?["active"] == .bool(false))

        // One revision carries the suspension and both removals.
        let events = try await scim.events(after: before)
        let atSuspension = events.filter { $0.revision == revision }
        #expect(atSuspension.filter { $0.kind == "user.suspended" && $0.userID == user }.count == 1, "\(events.map(\.brief))")
        let removals = atSuspension.filter { $0.kind == "group.user_removed" }
        #expect(Set(removals.map(\.groupID)) == Set(groups) && removals.count == 2, "\(events.map(\.brief))")
        #expect(removals.allSatisfy { $0.cause == "user_suspended" && $0.userID == user }, "\(removals.map(\.brief))")
        #expect(events.filter { $0.kind == "group.user_removed" }.count == 2, "no other removal: \(events.map(\.brief))")

        // While suspended, a membership add is acknowledged and ignored.
        try await Self.addMembers(scim, groups[0], [user])
        #expect(try await scim.members(groups[0]) == [other])
        #expect(try scim.check(user: .id(user), group: .id(groups[0])).reason == .userSuspended)

        // Reactivation: the same id, active again, in no group.
        let reactivated = try await scim.patch("/Users/\(user)", operations: Self.reactivate)
        #expect(reactivated.status == 200, "\(reactivated.summary)")
        #expect(reactivated.doc["id"] == .string(user))
        #expect(reactivated.doc["active"] == .bool(true))
        for group in groups {
            let decision = try scim.check(user: .id(user), group: .id(group))
            #expect(decision.reason == .notMember && !decision.allowed, "reactivation restores nothing: \(decision)")
            #expect(try await scim.members(group) == [other])
        }
        // The provider re-pushes what it wants.
        try await Self.addMembers(scim, groups[1], [user])
        #expect(try scim.check(user: .name("dee@okta.local"), group: .id(groups[1])).reason == .member)
        #expect(try scim.check(user: .external("00u-dee"), group: .id(groups[0])).reason == .notMember)
    }

    @Test("PUT deactivate (custom AIW apps): full body with active false")
    func putDeactivate() async throws {
        let scim = try SCIM.fresh("okta-put", provider: "okta")
        let created = try await scim.post("/Users", Self.createBody(userName: "aiw@okta.local", externalId: "00u-aiw"))
        let user = try #require(created.doc["id"]?.string)
        let group = try await scim.createGroup("okta-aiw")
        try await Self.addMembers(scim, group, [user])
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)

        let deactivated = """
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":\(jsonString(user)),"userName":"aiw@okta.local",
             "name":{"givenName":"Test","familyName":"User"},
             "emails":[{"primary":true,"value":"aiw@okta.local","type":"work"}],
             "displayName":"Test User","locale":"en-US","externalId":"00u-aiw","groups":[],"password":"1mz050nq","active":false}
            """
        let put = try await scim.put("/Users/\(user)", deactivated)
        #expect(put.status == 200, "\(put.summary)")
        #expect(put.doc["active"] == .bool(false))
        #expect(put.doc["id"] == .string(user))
        let revision = try #require(put.revision)
        let decision = try scim.check(user: .id(user), group: .id(group))
        #expect(decision.reason == .userSuspended && decision.revision >= revision, "\(decision)")
        #expect(try await scim.members(group).isEmpty)
        let read = try await scim.get("/Users/\(user)")
        #expect(read.status == 200 && read.doc["active"] == .bool(false), "\(read.summary)")

        let reactivate = try await scim.put("/Users/\(user)", deactivated.replacingOccurrences(of: "\"active\":false", with: "\"active\":true"))
        #expect(reactivate.status == 200 && reactivate.doc["active"] == .bool(true), "\(reactivate.summary)")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .notMember)
        #expect(try await scim.members(group).isEmpty)
    }

    @Test("a user's groups never removes a membership: PUT with groups [] and PATCH of groups are no-ops for members")
    func userGroupsAttributeIsNotAuthoritative() async throws {
        let scim = try SCIM.fresh("okta-groups-attr", provider: "okta")
        let created = try await scim.post("/Users", Self.createBody(userName: "keep@okta.local", externalId: "00u-keep"))
        let user = try #require(created.doc["id"]?.string)
        let group = try await scim.createGroup("okta-keep", members: [user])
        let other = try await scim.createGroup("okta-other")

        // Okta's AIW PUT carries groups: [] (and never the memberships): nothing is removed.
        let put = try await scim.put("/Users/\(user)", Self.createBody(userName: "keep@okta.local", externalId: "00u-keep"))
        #expect(put.status == 200, "\(put.summary)")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)
        #expect(put.doc["groups"]?[0]?["value"] == .string(group), "groups is read from the index: \(put.summary)")

        // groups is read-only on a User: PATCHes of it change no membership either way.
        for operations in [
            #"[{"op":"remove","path":"groups"}]"#,
            #"[{"op":"replace","path":"groups","value":[]}]"#,
            #"[{"op":"add","path":"groups","value":[{"value":\#(jsonString(other))}]}]"#,
            #"[{"op":"replace","value":{"groups":[{"value":\#(jsonString(other))}]}}]"#,
        ] {
            let response = try await scim.patch("/Users/\(user)", operations: operations)
            #expect(response.status == 200, "\(operations): \(response.summary)")
            #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member, "\(operations)")
            #expect(try scim.check(user: .id(user), group: .id(other)).reason == .notMember, "\(operations)")
        }
        #expect(try await scim.members(group) == [user])
    }

    @Test("renames: userName and externalId changes move the lookups; the old names answer USER_UNKNOWN")
    func renames() async throws {
        let scim = try SCIM.fresh("okta-renames", provider: "okta")
        let user = try await scim.createUser("before@okta.local", externalId: "00u-before")
        let group = try await scim.createGroup("okta-renames", members: [user])
        let renamed = try await scim.patch(
            "/Users/\(user)",
            operations: #"[{"op":"replace","value":{"userName":"after@okta.local","externalId":"00u-after"}}]"#)
        #expect(renamed.status == 200 && renamed.doc["userName"] == .string("after@okta.local"), "\(renamed.summary)")
        #expect(try scim.check(user: .name("after@okta.local"), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .external("00u-after"), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .name("before@okta.local"), group: .id(group)).reason == .userUnknown)
        #expect(try scim.check(user: .external("00u-before"), group: .id(group)).reason == .userUnknown)
        #expect(try await scim.filter("Users", #"userName eq "before@okta.local""#).doc["totalResults"] == .int(0))
        #expect(try await scim.filter("Users", #"userName eq "after@okta.local""#).resourceIDs == [user])
        // The old names are free again.
        let reuse = try await scim.createUser("before@okta.local", externalId: "00u-before")
        #expect(try scim.check(user: .name("before@okta.local"), group: .id(group)).reason == .notMember)
        #expect(reuse != user)
        // A case-only rename is allowed (the user keeps its own name).
        let caseOnly = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","path":"userName","value":"AFTER@okta.local"}]"#)
        #expect(caseOnly.status == 200 && caseOnly.doc["userName"] == .string("AFTER@okta.local"), "\(caseOnly.summary)")
        #expect(try scim.check(user: .name("after@okta.local"), group: .id(group)).reason == .member)
    }

    @Test("profile update: no-path replace merges complex attributes and replaces multi-valued ones")
    func profileUpdate() async throws {
        let scim = try SCIM.fresh("okta-profile", provider: "okta")
        let created = try await scim.post("/Users", Self.createBody(userName: "prof@okta.local", externalId: "00u-prof"))
        let user = try #require(created.doc["id"]?.string)
        let group = try await scim.createGroup("okta-prof", members: [user])
        let updated = try await scim.patch(
            "/Users/\(user)",
            operations: #"[{"op":"replace","value":{"name":{"givenName":"Renamed"},"emails":[{"primary":true,"value":"new@okta.local","type":"work"}],"displayName":"Renamed User"}}]"#
        )
        #expect(updated.status == 200, "\(updated.summary)")
        #expect(updated.doc["name"] == .object(["givenName": .string("Renamed"), "familyName": .string("User")]), "sub-attributes not given are kept: \(updated.summary)")
        #expect(updated.doc["emails"] == .array([.object(["primary": .bool(true), "value": .string("new@okta.local"), "type": .string("work")])]))
        #expect(updated.doc["displayName"] == .string("Renamed User"))
        #expect(updated.doc["active"] == .bool(true) && updated.doc["locale"] == .string("en-US"), "untouched attributes stay")
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member, "a profile update keeps the memberships")
        let found = try await scim.filter("Users", #"emails[type eq "work"].value eq "new@okta.local""#)
        #expect(found.resourceIDs == [user])
    }

    @Test("a user created inactive is USER_SUSPENDED and cannot be added until activated")
    func createdInactive() async throws {
        let scim = try SCIM.fresh("okta-inactive", provider: "okta")
        let body = Self.createBody(userName: "staged@okta.local", externalId: "00u-staged").replacingOccurrences(of: #""active":true"#, with: #""active":false"#)
        let created = try await scim.post("/Users", body)
        #expect(created.status == 201 && created.doc["active"] == .bool(false), "\(created.summary)")
        let user = try #require(created.doc["id"]?.string)
        let group = try await scim.createGroup("okta-staged", members: [user])
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .userSuspended)
        #expect(try await scim.members(group).isEmpty, "an inactive user is never a member")
        _ = try await scim.patch("/Users/\(user)", operations: Self.reactivate)
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .notMember)
        try await Self.addMembers(scim, group, [user])
        #expect(try scim.check(user: .id(user), group: .id(group)).reason == .member)
    }

    @Test("membership PATCH: remove members[value eq id] plus add, in one request")
    func twoOperationMembershipPatch() async throws {
        let scim = try SCIM.fresh("okta-members", provider: "okta")
        let a = try await scim.createUser("a@okta.local")
        let b = try await scim.createUser("b@okta.local")
        let c = try await scim.createUser("c@okta.local")
        let group = try await scim.createGroup("okta-team", members: [a, b])
        #expect(try await scim.members(group) == [a, b])

        let response = try await scim.patch(
            "/Groups/\(group)",
            operations: """
                [{"op":"remove","path":"members[value eq \\"\(a)\\"]"},
                 {"op":"add","path":"members","value":[{"value":\(jsonString(c)),"display":"c@okta.local"}]}]
                """)
        #expect(response.status == 200, "\(response.summary)")
        let returned = Set((response.doc["members"]?.array ?? []).compactMap { $0["value"]?.string })
        #expect(returned == [b, c], "PATCH answers with the resource: \(response.summary)")
        #expect(try await scim.members(group) == [b, c])
        let revision = try #require(response.revision)
        #expect(try scim.check(user: .id(a), group: .id(group), minRevision: revision).reason == .notMember)
        #expect(try scim.check(user: .id(b), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .id(c), group: .name("okta-team")).reason == .member)
        // The user side shows the group too.
        let userC = try await scim.get("/Users/\(c)")
        #expect(userC.doc["groups"]?[0]?["value"] == .string(group), "\(userC.summary)")
        let userA = try await scim.get("/Users/\(a)")
        #expect(userA.doc["groups"] == nil)
    }

    @Test("group rename with the read-only id inside the value; rename + remove + add in one PATCH")
    func renameWithID() async throws {
        let scim = try SCIM.fresh("okta-rename", provider: "okta")
        let a = try await scim.createUser("ra@okta.local")
        let b = try await scim.createUser("rb@okta.local")
        let group = try await scim.createGroup("Test SCIM", members: [a])

        let renamed = try await scim.patch(
            "/Groups/\(group)",
            operations: #"[{"op":"replace","value":{"id":\#(jsonString(group)),"displayName":"Test SCIMv2"}}]"#)
        #expect(renamed.status == 200, "\(renamed.summary)")
        #expect(renamed.doc["displayName"] == .string("Test SCIMv2"))
        #expect(renamed.doc["id"] == .string(group))
        #expect(try await scim.members(group) == [a], "a rename keeps the members")
        #expect(try scim.check(user: .id(a), group: .name("Test SCIMv2")).reason == .member)
        #expect(try scim.check(user: .id(a), group: .name("Test SCIM")).reason == .groupUnknown)

        // Okta sends the rename with every membership update.
        let combined = try await scim.patch(
            "/Groups/\(group)",
            operations: """
                [{"op":"replace","value":{"id":\(jsonString(group)),"displayName":"Test SCIMv3"}},
                 {"op":"remove","path":"members[value eq \\"\(a)\\"]"},
                 {"op":"add","path":"members","value":[{"value":\(jsonString(b)),"display":"rb@okta.local"}]}]
                """)
        #expect(combined.status == 200, "\(combined.summary)")
        #expect(combined.doc["displayName"] == .string("Test SCIMv3"))
        #expect(try await scim.members(group) == [b])
        #expect(try scim.check(user: .id(b), group: .name("Test SCIMv3")).reason == .member)
        #expect(try scim.check(user: .id(a), group: .name("Test SCIMv3")).reason == .notMember)
        let byName = try await scim.filter("Groups", #"displayName eq "Test SCIMv3""#)
        #expect(byName.resourceIDs == [group])
    }

    @Test("replace path members: the full list; members who stay produce no events")
    func replaceAllMembers() async throws {
        let scim = try SCIM.fresh("okta-replace", provider: "okta")
        let a = try await scim.createUser("pa@okta.local")
        let b = try await scim.createUser("pb@okta.local")
        let c = try await scim.createUser("pc@okta.local")
        let group = try await scim.createGroup("okta-replace", members: [a, b])
        let before = try scim.revision()

        let replaced = try await scim.patch(
            "/Groups/\(group)",
            operations: #"[{"op":"replace","path":"members","value":\#(SCIM.memberValues([b, c]))}]"#)
        #expect(replaced.status == 200, "\(replaced.summary)")
        #expect(try await scim.members(group) == [b, c])
        #expect(try scim.check(user: .id(a), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .id(b), group: .id(group)).reason == .member)
        #expect(try scim.check(user: .id(c), group: .id(group)).reason == .member)
        let events = try await scim.events(after: before).filter { $0.kind.hasPrefix("group.user_") }
        #expect(
            events.map { "\($0.kind) \($0.userID)" }.sorted() == ["group.user_added \(c)", "group.user_removed \(a)"],
            "b stayed, so b has no event: \(events.map(\.brief))")

        let emptied = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"replace","path":"members","value":[]}]"#)
        #expect(emptied.status == 200, "\(emptied.summary)")
        #expect(try await scim.members(group).isEmpty)
        #expect(try scim.check(user: .id(b), group: .id(group)).reason == .notMember)
    }
}
