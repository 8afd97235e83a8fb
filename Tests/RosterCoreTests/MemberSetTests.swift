import HashTreeCollections
import Testing
@testable import RosterCore

@Suite("MemberSet and FlatTable")
struct MemberSetTests {
    @Test("agrees with Set<UInt32> across the switch to a TreeSet and back; old copies stay intact")
    func matchesSet() {
        var rng = SplitMix(seed: 11)
        var members = MemberSet()
        var reference = Set<UInt32>()
        var snapshots: [(MemberSet, Set<UInt32>)] = []
        // Grow past the threshold, then shrink below half of it, then mix.
        let plan: [(steps: Int, insertOneIn: UInt64)] = [(6_000, 1), (6_000, 100), (4_000, 2)]
        for (steps, insertOneIn) in plan {
            for step in 0..<steps {
                let key = UInt32(rng.next() % 5_000) + 1
                if rng.next() % insertOneIn == 0 {
                    #expect(members.insert(key) == reference.insert(key).inserted)
                } else {
                    #expect(members.remove(key) == (reference.remove(key) != nil))
                }
                if step % 997 == 0 { snapshots.append((members, reference)) }
            }
            #expect(members.count == reference.count)
            #expect(members.sorted() == reference.sorted())
        }
        for (snapshot, expected) in snapshots {
            #expect(snapshot.count == expected.count)
            #expect(snapshot.sorted() == expected.sorted())
            #expect(Set(snapshot) == expected)
            var seen = Set<UInt32>()
            snapshot.forEach { seen.insert($0) }
            #expect(seen == expected)
            for key in UInt32(0)..<5_002 { #expect(snapshot.contains(key) == expected.contains(key)) }
        }
    }

    @Test("built from unsorted keys with duplicates, small and large")
    func fromUnsorted() {
        for size in [0, 1, 10, MemberSet.largeThreshold + 10] {
            let keys = (0..<size).map { UInt32(($0 * 7919) % (size + 1) + 1) } + (0..<size / 2).map { UInt32($0 + 1) }
            let set = MemberSet(keys)
            #expect(set.sorted() == Set(keys).sorted())
        }
    }

    @Test("a table built from a sequence longer than its size estimate grows and keeps every entry")
    func flatTableGrows() {
        let table = FlatTable((UInt32(1)...5_000).lazy.map { ($0, Int($0) * 2) }, count: 10)
        #expect(table.count == 5_000)
        for key in UInt32(1)...5_000 { #expect(table[key] == Int(key) * 2) }
        #expect(table[5_001] == nil)
    }

    @Test("lowercasedIfNeeded equals lowercased()")
    func lowercase() {
        for text in ["", "alice@example.com", "Alice@Example.com", "ÅSA", "straße", "ǅ", "user123"] {
            #expect(text.lowercasedIfNeeded() == text.lowercased())
        }
    }
}

@Suite("Builder and invariant check")
struct BuilderInvariantTests {
    static func built(_ extra: (inout MembershipIndexBuilder) -> Void = { _ in }) -> (MembershipIndex, [String]) {
        var builder = MembershipIndexBuilder(revision: 3)
        builder.add(Directory(id: "d1", name: "D", provider: .generic, createdAt: 0))
        for u in UInt32(1)...4 {
            builder.add(
                UserRecord(
                    key: u, id: "u\(u)", directoryID: "d1", userName: "User\(u)", externalID: nil, displayName: nil,
                    state: u == 4 ? .suspended : .active, version: 1))
        }
        for g in UInt32(1)...3 {
            builder.add(GroupRecord(key: g, id: "g\(g)", directoryID: "d1", displayName: "G\(g)", externalID: nil, version: 1))
        }
        // Out of order and group-major, as a store scan or a caller may add them.
        for (g, u) in [(3, 1), (1, 2), (1, 1), (2, 3), (3, 3)] as [(UInt32, UInt32)] {
            builder.addMembership(groupKey: g, userKey: u)
        }
        extra(&builder)
        let (index, rejected) = builder.buildReportingRejections()
        return (index, rejected)
    }

    @Test("a built index answers checks, counts and lookups, and is sound")
    func sound() throws {
        let (index, rejected) = Self.built()
        #expect(rejected.isEmpty)
        #expect(index.invariantViolations().isEmpty)
        #expect(index.membershipCount == 5)
        #expect(index.directoryStats("d1")?.memberships == 5)
        #expect(index.directoryStats("d1")?.activeUsers == 3)
        #expect(index.groupIDs(ofUser: "u1").sorted() == ["g1", "g3"])
        #expect(index.memberIDs(ofGroup: "g3").sorted() == ["u1", "u3"])
        #expect(try index.check(directoryID: "d1", user: .userName("user2"), group: .displayName("g1")).reason == .member)
        #expect(try index.check(directoryID: "d1", user: .id("u2"), group: .id("g2")).reason == .notMember)
        #expect(try index.check(directoryID: "d1", user: .id("u4"), group: .id("g2")).reason == .userSuspended)
    }

    @Test("memberships naming a missing user or group are rejected")
    func rejected() {
        let (_, rejected) = Self.built {
            $0.addMembership(groupKey: 1, userKey: 99)
            $0.addMembership(groupKey: 42, userKey: 1)
        }
        #expect(rejected.count == 2)
    }

    @Test("one-sided memberships are reported in either direction")
    func oneSided() {
        var (index, _) = Self.built()
        // The user forgets a group that still lists it.
        var user = index.users["u1"]!
        user.groups = [3]
        index.users["u1"] = user
        #expect(index.invariantViolations().contains { $0.contains("does not list the group") })
        // The user lists a group that does not list it.
        user.groups = [1, 2, 3]
        index.users["u1"] = user
        index.membershipCount = 6
        #expect(index.invariantViolations().contains { $0.contains("but the group does not list the user") })
    }
}
