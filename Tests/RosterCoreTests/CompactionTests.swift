import Foundation
import Testing

@testable import RosterCore

@Suite("Compaction")
struct CompactionTests {
    @Test("a compacted index holds no pending changes and answers exactly as the original")
    func sameAnswers() throws {
        var harness = try Harness()
        #expect(harness.index.compacted() == nil)
        let users = (0..<600).map { _ in UUID().uuidString.lowercased() }
        let groups = (0..<40).map { _ in UUID().uuidString.lowercased() }
        for (n, user) in users.enumerated() { try harness.createUser(user, "User\(n)@Example.com", externalID: "ext-\(n)") }
        for (n, group) in groups.enumerated() {
            try harness.createGroup(group, "group \(n % 30)", members: Array(users.shuffled().prefix(25)), externalID: "g-\(n)")
        }
        for user in users.prefix(60) { try harness.setActive(user, false) }
        for user in users.dropFirst(60).prefix(30) { try harness.apply(.deleteUser(directoryID: "d1", id: user)) }
        // A new user under a deleted user's name: the name maps to the new user, the tombstone stays.
        try harness.createUser(UUID().uuidString.lowercased(), "user70@example.com")

        let original = harness.index
        #expect(original.pendingChangeCount > 0)
        let compacted = try #require(original.compacted())
        #expect(compacted.pendingChangeCount == 0)
        #expect(compacted.revision == original.revision)
        #expect(compacted.differences(from: original).isEmpty)
        #expect(original.differences(from: compacted).isEmpty)
        #expect(compacted.invariantViolations().isEmpty)
        #expect(compacted.compacted() == nil)
        for user in users + ["00000000-0000-4000-8000-000000000001"] {
            for group in groups.prefix(8) {
                #expect(
                    try compacted.check(directoryID: "d1", user: .id(user), group: .id(group))
                        == original.check(directoryID: "d1", user: .id(user), group: .id(group)))
            }
            #expect(compacted.user(directoryID: "d1", .id(user)) == original.user(directoryID: "d1", .id(user)))
        }
        for n in [0, 65, 100, 599] {
            #expect(
                try compacted.check(directoryID: "d1", user: .userName("user\(n)@example.com"), group: .externalID("g-3"))
                    == original.check(directoryID: "d1", user: .userName("user\(n)@example.com"), group: .externalID("g-3")))
        }
        // Writes go on from a compacted index as from the original.
        var next = compacted
        let applied = try next.apply(.deleteGroup(directoryID: "d1", id: groups[0], cause: .request), now: harness.now + 1)
        #expect(applied.revision == original.revision + 1)
    }
}
