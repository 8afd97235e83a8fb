import Testing

@testable import RosterCore

/// A follower that replays each revision's row effects (`replay`) must hold exactly the index the
/// writer built by running the rules (`apply`): same records, memberships, lookups by name and
/// externalId, tombstones, counts and next keys. Random sequences over two directories, renames,
/// externalIds, suspensions under both policies, deletions of users, groups and directories.
@Suite("Replay of row effects")
struct ReplayTests {
    static let directories = ["d1", "d2"]

    @Test("a replica that replays every revision equals the writer after every step", arguments: [1, 2, 3, 4] as [UInt64])
    func replicaFollowsWriter(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        var writer = MembershipIndex()
        var replica = MembershipIndex()
        var now: Int64 = 1_700_000_000_000
        let users = (0..<10).map { "u\($0)" }
        let groups = (0..<5).map { "g\($0)" }
        var accepted = 0
        for step in 0..<3_000 {
            let mutation = Self.randomMutation(&rng, users: users, groups: groups)
            now += 1
            guard let applied = try? writer.apply(mutation, now: now) else { continue }
            accepted += 1
            try replica.replay(applied.changes, revision: applied.revision)
            let problems = Self.differences(writer, replica, users: users, groups: groups)
            #expect(problems.isEmpty, "step \(step) after \(mutation): \(problems)")
            if !problems.isEmpty { return }
        }
        #expect(accepted > 600, "the sequence exercised the rules (\(accepted) accepted)")
    }

    @Test("replay refuses a revision out of order and a change that names what is not there; the index is unchanged")
    func refusesGaps() throws {
        var writer = MembershipIndex()
        let created = try writer.apply(
            .createDirectory(Directory(id: "d1", name: "d1", provider: .generic, policy: .revoke, createdAt: 1)), now: 1)
        let user = try writer.apply(.createUser(directoryID: "d1", id: "u1", UserDraft(userName: "a")), now: 2)
        var replica = MembershipIndex()
        #expect(throws: RosterError.self) { try replica.replay(user.changes, revision: user.revision) }
        #expect(replica.revision == 0)
        try replica.replay(created.changes, revision: created.revision)
        #expect(throws: RosterError.self) {
            try replica.replay([.addMember(groupKey: 9, userKey: 1)], revision: 2)
        }
        #expect(replica.revision == 1 && replica.userCount == 0)
        try replica.replay(user.changes, revision: user.revision)
        #expect(replica.differences(from: writer).isEmpty)
    }

    /// Everything `differences(from:)` compares, and what it does not: invariants, per-directory
    /// counts, the next keys, and every lookup by name and externalId (live and deleted).
    static func differences(_ a: MembershipIndex, _ b: MembershipIndex, users: [String], groups: [String]) -> [String] {
        var problems = a.differences(from: b)
        problems += b.invariantViolations().map { "replica: \($0)" }
        if a.nextUserKey != b.nextUserKey || a.nextGroupKey != b.nextGroupKey || a.nextDirectoryKey != b.nextDirectoryKey {
            problems.append("next keys differ")
        }
        for directory in directories {
            if a.directoryStats(directory) != b.directoryStats(directory) {
                problems.append("stats of \(directory): \(String(describing: a.directoryStats(directory))) ≠ \(String(describing: b.directoryStats(directory)))")
            }
            for n in 0..<8 {
                for reference in [UserReference.userName("Name\(n)"), .externalID("x\(n)")] {
                    for group in groups {
                        let left = try? a.check(directoryID: directory, user: reference, group: .id(group))
                        let right = try? b.check(directoryID: directory, user: reference, group: .id(group))
                        if left != right { problems.append("check(\(reference), \(group)) in \(directory): \(String(describing: left)) ≠ \(String(describing: right))") }
                    }
                }
                for reference in [GroupReference.displayName("group\(n)"), .externalID("gx\(n)")] {
                    for user in users {
                        let left = try? a.check(directoryID: directory, user: .id(user), group: reference)
                        let right = try? b.check(directoryID: directory, user: .id(user), group: reference)
                        if left != right { problems.append("check(\(user), \(reference)) in \(directory): \(String(describing: left)) ≠ \(String(describing: right))") }
                    }
                }
            }
        }
        return problems
    }

    static func randomMutation(_ rng: inout SplitMix, users: [String], groups: [String]) -> Mutation {
        func pick<T>(_ values: [T]) -> T { values[Int(rng.next() % UInt64(values.count))] }
        let directory = pick(directories)
        let user = pick(users) + "-" + directory
        let other = pick(users) + "-" + directory
        let group = pick(groups) + "-" + directory
        let name = "name\(rng.next() % 8)"
        let external: String? = rng.next() % 3 == 0 ? nil : "x\(rng.next() % 8)"
        let active = rng.next() % 3 != 0
        switch rng.next() % 16 {
        case 0:
            let policy: MembershipPolicy = rng.next() % 2 == 0 ? .revoke : .retain
            return .createDirectory(Directory(id: directory, name: directory, provider: .generic, policy: policy, createdAt: 1))
        case 1 where rng.next() % 16 == 0:
            return .deleteDirectory(id: directory)
        case 2, 3:
            return .createUser(directoryID: directory, id: user, UserDraft(userName: name, externalID: external, active: active))
        case 4, 5:
            return .replaceUser(
                directoryID: directory, id: user, UserDraft(userName: name, externalID: external, active: active), previous: nil)
        case 6:
            return .deleteUser(directoryID: directory, id: user)
        case 7:
            let draft = GroupDraft(displayName: "group\(rng.next() % 8)", externalID: rng.next() % 2 == 0 ? nil : "gx\(rng.next() % 8)")
            return .createGroup(directoryID: directory, id: group, draft, members: [user, other])
        case 8:
            let draft = GroupDraft(displayName: "group\(rng.next() % 8)", externalID: rng.next() % 2 == 0 ? nil : "gx\(rng.next() % 8)")
            return .updateGroup(directoryID: directory, id: group, draft: draft, previous: nil, memberOps: [], cause: .request)
        case 9:
            return .deleteGroup(directoryID: directory, id: group, cause: .request)
        case 10:
            return .updateGroup(directoryID: directory, id: group, draft: nil, previous: nil, memberOps: [.remove([user])], cause: .request)
        case 11:
            return .updateGroup(directoryID: directory, id: group, draft: nil, previous: nil, memberOps: [.replaceAll([other, user])], cause: .request)
        case 12:
            return .updateGroup(directoryID: directory, id: group, draft: nil, previous: nil, memberOps: [.removeAll, .add([user])], cause: .request)
        case 13:
            return .none(directoryID: directory)
        default:
            return .updateGroup(directoryID: directory, id: group, draft: nil, previous: nil, memberOps: [.add([user, other])], cause: .request)
        }
    }
}
