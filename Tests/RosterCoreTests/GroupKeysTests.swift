import Testing

@testable import RosterCore

@Suite("GroupKeys")
struct GroupKeysTests {
    @Test("any sorted key list round-trips, inline or spilled, and membership agrees with the array")
    func roundTrip() {
        var rng = SystemRandomNumberGenerator()
        for count in 0...25 {
            for _ in 0..<20 {
                var set = Set<UInt32>()
                while set.count < count { set.insert(UInt32.random(in: 1...200, using: &rng)) }
                let keys = set.sorted()
                let packed = GroupKeys(keys)
                #expect(Array(packed) == keys)
                #expect(packed.array == keys)
                #expect(packed.count == count)
                for probe in UInt32(0)...201 {
                    #expect(packed.containsSorted(probe) == set.contains(probe), "\(keys) \(probe)")
                }
            }
        }
    }

    @Test("a user's check-table slot stays within 80 bytes")
    func layout() {
        #expect(MemoryLayout<UserHot>.size <= 64)
        #expect(MemoryLayout<UserHot?>.size <= 64)
    }
}
