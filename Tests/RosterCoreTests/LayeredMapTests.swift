import Testing
@testable import RosterCore

@Suite("LayeredMap")
struct LayeredMapTests {
    @Test("agrees with Dictionary through inserts, updates, removals and folds; old snapshots stay intact")
    func matchesDictionary() {
        var rng = SplitMix(seed: 7)
        var map = LayeredMap<UInt32, Int>()
        var reference: [UInt32: Int] = [:]
        var snapshots: [(LayeredMap<UInt32, Int>, [UInt32: Int])] = []
        for step in 0..<20_000 {
            let key = UInt32(rng.next() % 3000)
            if rng.next() % 4 == 0 {
                map[key] = nil
                reference[key] = nil
            } else {
                map[key] = step
                reference[key] = step
            }
            if step % 2500 == 0 { snapshots.append((map, reference)) }
        }
        #expect(map.count == reference.count)
        for key in UInt32(0)..<3000 { #expect(map[key] == reference[key]) }
        for (snapshot, expected) in snapshots {
            #expect(snapshot.count == expected.count)
            var seen = 0
            snapshot.forEach { key, value in
                seen += 1
                #expect(expected[key] == value)
            }
            #expect(seen == expected.count)
        }
    }

    @Test("background folds: every snapshot agrees with Dictionary before, during and after a merge")
    func backgroundFolds() async throws {
        var rng = SplitMix(seed: 19)
        // Every fold goes to the background here (the default keeps small maps in place).
        var map = LayeredMap<UInt32, Int>(backgroundFoldMinimum: 0)
        var reference: [UInt32: Int] = [:]
        var snapshots: [(LayeredMap<UInt32, Int>, [UInt32: Int])] = []
        var sawFold = false
        for step in 0..<60_000 {
            let key = UInt32(rng.next() % 6_000)
            if rng.next() % 4 == 0 {
                map[key] = nil
                reference[key] = nil
            } else {
                map[key] = step
                reference[key] = step
            }
            sawFold = sawFold || map.isFolding
            if step % 3_000 == 0 { snapshots.append((map, reference)) }
            // Let some merges finish between writes, and others be overtaken by more writes.
            if step % 5_000 == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(sawFold)
        #expect(map.count == reference.count)
        for key in UInt32(0)..<6_000 { #expect(map[key] == reference[key]) }
        for (snapshot, expected) in snapshots {
            #expect(snapshot.count == expected.count)
            var seen = 0
            snapshot.forEach { key, value in
                seen += 1
                #expect(expected[key] == value)
            }
            #expect(seen == expected.count)
            for key in UInt32(0)..<6_000 { #expect(snapshot.contains(key) == (expected[key] != nil)) }
        }
        // A synchronous fold waits for a running merge and leaves nothing pending.
        map.fold()
        #expect(!map.isFolding)
        #expect(map.deltaCount == 0)
        for key in UInt32(0)..<6_000 { #expect(map[key] == reference[key]) }
    }
}
