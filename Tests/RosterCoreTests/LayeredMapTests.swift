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
}
