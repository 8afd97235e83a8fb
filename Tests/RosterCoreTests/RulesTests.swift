import Testing
@testable import RosterCore

@Suite("Normalization rules")
struct RulesTests {
    @Test("suspension removes every membership in one step, with a cause on each event")
    func suspensionRevokes() throws {
        var h = try Harness()
        try h.createUser("u1", "alice@example.com")
        try h.createGroup("g1", "admins", members: ["u1"])
        try h.createGroup("g2", "staff", members: ["u1"])
        #expect(try h.check("u1", "g1") == CheckResult(allowed: true, reason: .member))

        let applied = try h.setActive("u1", false)
        let removed = applied.events.filter { $0.kind == .groupUserRemoved }
        #expect(removed.count == 2)
        #expect(removed.allSatisfy { $0.cause == .userSuspended && $0.revision == applied.revision })
        #expect(applied.events.contains { $0.kind == .userSuspended })
        #expect(try h.check("u1", "g1") == CheckResult(allowed: false, reason: .userSuspended))
        #expect(h.index.memberCount(ofGroup: "g1") == 0)
        #expect(h.index.invariantViolations().isEmpty)
    }

    @Test("reactivation restores nothing under revoke; the provider re-pushes")
    func reactivationRestoresNothing() throws {
        var h = try Harness(provider: .okta)
        try h.createUser("u1", "alice")
        try h.createGroup("g1", "admins", members: ["u1"])
        try h.setActive("u1", false)
        let applied = try h.setActive("u1", true)
        #expect(applied.events.map(\.kind) == [.userReactivated])
        #expect(try h.check("u1", "g1") == CheckResult(allowed: false, reason: .notMember))
        try h.members("g1", [.add(["u1"])])
        #expect(try h.check("u1", "g1").allowed)
    }

    @Test("a member add for a suspended user is acknowledged and changes nothing")
    func addWhileSuspendedIgnored() throws {
        var h = try Harness()
        try h.createUser("u1", "alice", active: false)
        try h.createGroup("g1", "admins")
        let before = h.index.revision
        let applied = try h.members("g1", [.add(["u1"])])
        #expect(applied.revision == before + 1)
        #expect(applied.events.isEmpty)
        #expect(applied.notes.contains { $0.contains("suspended") })
        #expect(h.index.memberCount(ofGroup: "g1") == 0)
    }

    @Test("Entra: Replace active False while the user sits in groups")
    func entraSuspend() throws {
        var h = try Harness(provider: .entra)
        try h.createUser("u1", "bob@contoso.com", externalID: "f648f8d5")
        try h.createGroup("g1", "Finance", members: ["u1"], externalID: "8aa1a0c0")
        try h.setActive("u1", false)
        #expect(try h.index.check(directoryID: "d1", user: .externalID("f648f8d5"), group: .externalID("8aa1a0c0"))
            == CheckResult(allowed: false, reason: .userSuspended))
        #expect(h.index.groupIDs(ofUser: "u1").isEmpty)
    }

    @Test("OneLogin: delete then re-add with the same userName makes a new user")
    func oneLoginReAdd() throws {
        var h = try Harness(provider: .onelogin)
        try h.createUser("u1", "Carol@Example.com", externalID: "ol-1")
        try h.createGroup("g1", "eng", members: ["u1"])
        let deleted = try h.apply(.deleteUser(directoryID: "d1", id: "u1"))
        #expect(deleted.events.map(\.kind) == [.groupUserRemoved, .userDeleted])
        #expect(deleted.events.first?.cause == .userDeleted)
        #expect(try h.index.check(directoryID: "d1", user: .userName("carol@example.com"), group: .id("g1")).reason == .userDeleted)

        try h.createUser("u2", "carol@example.com", externalID: "ol-1")
        #expect(try h.index.check(directoryID: "d1", user: .userName("CAROL@example.com"), group: .id("g1")).reason == .notMember)
        #expect(try h.check("u1", "g1").reason == .userDeleted)
        #expect(h.index.user(directoryID: "d1", .id("u1"))?.state == .deleted)
    }

    @Test("a create matching a live user is a uniqueness conflict, in any letter case")
    func uniqueness() throws {
        var h = try Harness()
        try h.createUser("u1", "dave@example.com", externalID: "x1")
        #expect(throws: RosterError(.uniqueness, "")) { try h.createUser("u2", "DAVE@example.com") }
        #expect(throws: RosterError(.uniqueness, "")) { try h.createUser("u3", "other", externalID: "x1") }
        // A suspended user still holds its name.
        try h.setActive("u1", false)
        #expect(throws: RosterError(.uniqueness, "")) { try h.createUser("u4", "dave@example.com") }
        #expect(h.index.revision == 3)
    }

    @Test("JumpCloud: removal from the provisioning group, then suspension")
    func jumpCloud() throws {
        var h = try Harness(provider: .jumpcloud)
        try h.createUser("u1", "erin")
        try h.createGroup("g1", "provisioned", members: ["u1"])
        try h.createGroup("g2", "extra", members: ["u1"])
        try h.members("g1", [.remove(["u1"])])
        #expect(try h.check("u1", "g2").allowed)
        let applied = try h.setActive("u1", false)
        #expect(applied.events.filter { $0.kind == .groupUserRemoved }.map(\.groupID) == ["g2"])
        #expect(try !h.check("u1", "g2").allowed)
    }

    @Test("group delete cascades to every membership with events")
    func groupDelete() throws {
        var h = try Harness()
        try h.createUser("u1", "a")
        try h.createUser("u2", "b")
        try h.createGroup("g1", "all", members: ["u1", "u2"])
        let applied = try h.apply(.deleteGroup(directoryID: "d1", id: "g1", cause: .request))
        #expect(applied.events.map(\.kind) == [.groupUserRemoved, .groupUserRemoved, .groupDeleted])
        #expect(applied.events.prefix(2).allSatisfy { $0.cause == .groupDeleted })
        #expect(h.index.groupIDs(ofUser: "u1").isEmpty)
        #expect(try h.check("u1", "g1").reason == .groupUnknown)
        #expect(h.index.membershipCount == 0)
    }

    @Test("retain keeps memberships inert while suspended and live again on reactivation")
    func retainPolicy() throws {
        var h = try Harness(policy: .retain)
        try h.createUser("u1", "frank")
        try h.createGroup("g1", "ops", members: ["u1"])
        let suspended = try h.setActive("u1", false)
        #expect(!suspended.events.contains { $0.kind == .groupUserRemoved })
        #expect(try h.check("u1", "g1").reason == .userSuspended)
        try h.setActive("u1", true)
        #expect(try h.check("u1", "g1").reason == .member)
        // Deletion still removes them.
        try h.apply(.deleteUser(directoryID: "d1", id: "u1"))
        #expect(h.index.memberCount(ofGroup: "g1") == 0)
        #expect(h.index.invariantViolations().isEmpty)
    }

    @Test("a retried replace changes nothing and emits no event")
    func idempotentReplace() throws {
        var h = try Harness()
        let draft = UserDraft(userName: "gina", displayName: "Gina", resource: ["userName": .string("gina")])
        try h.apply(.createUser(directoryID: "d1", id: "u1", draft))
        var changed = draft
        changed.displayName = "Gina G"
        changed.resource["displayName"] = .string("Gina G")
        let first = try h.apply(.replaceUser(directoryID: "d1", id: "u1", changed, previous: draft.resource))
        #expect(first.events.map(\.kind) == [.userUpdated])
        let again = try h.apply(.replaceUser(directoryID: "d1", id: "u1", changed, previous: changed.resource))
        #expect(again.events.isEmpty)
        #expect(again.revision == first.revision + 1)
    }

    @Test("references: userName case-insensitive, ambiguous display names are an error")
    func references() throws {
        var h = try Harness()
        try h.createUser("u1", "Hank@Example.com", externalID: "ext-h")
        try h.createGroup("g1", "Admins", members: ["u1"])
        #expect(try h.index.check(directoryID: "d1", user: .userName("hank@example.COM"), group: .displayName("admins")).allowed)
        try h.createGroup("g2", "ADMINS")
        #expect(throws: RosterError(.ambiguousReference, "")) {
            try h.index.check(directoryID: "d1", user: .id("u1"), group: .displayName("admins"))
        }
        #expect(throws: RosterError(.directoryNotFound, "")) {
            try h.index.check(directoryID: "nope", user: .id("u1"), group: .id("g1"))
        }
        #expect(try h.index.check(directoryID: "d1", user: .id("zz"), group: .id("g1")).reason == .userUnknown)
    }

    @Test("directories are isolated: a reference never crosses into another directory")
    func isolation() throws {
        var h = try Harness()
        try h.apply(.createDirectory(Directory(id: "d2", name: "two", provider: .okta, createdAt: 1)))
        try h.createUser("u1", "ivy", in: "d1")
        try h.createUser("u2", "ivy", in: "d2")
        try h.createGroup("g2", "team", members: ["u2"], in: "d2")
        #expect(try h.index.check(directoryID: "d1", user: .id("u2"), group: .id("g2")).reason == .userUnknown)
        #expect(throws: RosterError(.unknownMember, "")) { try h.members("g2", [.add(["u1"])], in: "d2") }
        #expect(try h.index.check(directoryID: "d2", user: .userName("ivy"), group: .id("g2")).allowed)
    }

    @Test("rule violations are typed errors and leave the index unchanged")
    func errorsLeaveStateUnchanged() throws {
        var h = try Harness()
        try h.createUser("u1", "jack")
        try h.createGroup("g1", "g")
        let revision = h.index.revision
        #expect(throws: RosterError(.unknownMember, "")) { try h.members("g1", [.add(["u1", "ghost"])]) }
        #expect(h.index.memberCount(ofGroup: "g1") == 0)  // u1 was not half-added
        #expect(throws: RosterError(.invalidValue, "")) { try h.createUser("u9", "  ") }
        #expect(throws: RosterError(.groupNotFound, "")) { try h.members("nope", [.add(["u1"])]) }
        #expect(throws: RosterError(.userNotFound, "")) { try h.apply(.deleteUser(directoryID: "d1", id: "nope")) }
        #expect(h.index.revision == revision)
    }

    @Test("directory delete removes everything in it, and only it")
    func directoryDelete() throws {
        var h = try Harness()
        try h.apply(.createDirectory(Directory(id: "d2", name: "two", provider: .okta, createdAt: 1)))
        try h.createUser("u1", "a")
        try h.createGroup("g1", "g", members: ["u1"])
        try h.createUser("u2", "a", in: "d2")
        try h.createGroup("g2", "g", members: ["u2"], in: "d2")
        try h.apply(.deleteDirectory(id: "d1"))
        #expect(h.index.directory("d1") == nil)
        #expect(h.index.membershipCount == 1)
        #expect(try h.index.check(directoryID: "d2", user: .id("u2"), group: .id("g2")).allowed)
        #expect(h.index.invariantViolations().isEmpty)
    }

    @Test("replaceAll emits events for the changes only")
    func replaceAllDiff() throws {
        var h = try Harness()
        for u in ["u1", "u2", "u3"] { try h.createUser(u, u) }
        try h.createGroup("g1", "g", members: ["u1", "u2"])
        let applied = try h.members("g1", [.replaceAll(["u2", "u3"])])
        #expect(applied.events.map(\.kind) == [.groupUserRemoved, .groupUserAdded])
        #expect(applied.events.map(\.userID) == ["u1", "u3"])
        let again = try h.members("g1", [.replaceAll(["u2", "u3"])])
        #expect(again.events.isEmpty)
    }

    @Test("paging a group's members and a user's groups is stable and complete")
    func paging() throws {
        var h = try Harness()
        var ids: [String] = []
        for i in 0..<25 {
            try h.createUser("u\(i)", "user\(i)")
            ids.append("u\(i)")
        }
        try h.createGroup("g1", "big", members: ids)
        var seen: [String] = []
        var cursor: String? = nil
        repeat {
            let page = h.index.groupMembers(groupID: "g1", after: cursor, limit: 7)
            seen += page.items.map(\.id)
            cursor = page.nextCursor
            #expect(page.total == 25)
        } while cursor != nil
        #expect(seen == ids)
    }
}
