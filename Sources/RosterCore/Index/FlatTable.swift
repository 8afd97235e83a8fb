/// A key whose hash is cheap and well mixed enough for open addressing.
protocol FlatHashable: Hashable, Sendable {
    var flatHash: UInt64 { get }
}

/// Finalizer of splitmix64: spreads any 64-bit input over all bits.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

extension UInt32: FlatHashable {
    var flatHash: UInt64 { mix64(UInt64(self)) }
}

/// An immutable open-addressing hash table (linear probing, load ≤ 3/4) whose slots hold the key
/// and the value side by side, so a lookup usually touches one cache line — where Swift's
/// `Dictionary` keeps bitmap, keys and values in three arrays (three misses on a cold index).
/// Built once, read many times: the base layer of `LayeredMap`.
struct FlatTable<Key: FlatHashable, Value: Sendable>: Sendable {
    private struct Slot: Sendable {
        var key: Key
        var value: Value
    }

    private let slots: ContiguousArray<Slot?>
    let count: Int

    init() {
        slots = [nil]
        count = 0
    }

    /// The home slot of a hash: a multiply-shift range reduction, so the capacity need not be a
    /// power of two and the load stays near 3/4 instead of anywhere from 3/8 to 3/4.
    @inline(__always)
    private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(slots.count)).high)
    }

    @inline(__always)
    private func next(_ index: Int) -> Int {
        index + 1 == slots.count ? 0 : index + 1
    }

    /// Builds a table from `entries` (the last value wins for a repeated key).
    init(_ entries: [(Key, Value)]) {
        let capacity = max(2, entries.count + entries.count / 3 + 1)
        var slots = ContiguousArray<Slot?>(repeating: nil, count: capacity)
        var count = 0
        for (key, value) in entries {
            var index = Int(truncatingIfNeeded: key.flatHash.multipliedFullWidth(by: UInt64(capacity)).high)
            while true {
                if let existing = slots[index] {
                    if existing.key == key {
                        slots[index] = Slot(key: key, value: value)
                        break
                    }
                    index = index + 1 == capacity ? 0 : index + 1
                } else {
                    slots[index] = Slot(key: key, value: value)
                    count += 1
                    break
                }
            }
        }
        self.slots = slots
        self.count = count
    }

    subscript(key: Key) -> Value? {
        var index = home(key.flatHash)
        while let slot = slots[index] {
            if slot.key == key { return slot.value }
            index = next(index)
        }
        return nil
    }

    func contains(_ key: Key) -> Bool {
        var index = home(key.flatHash)
        while let slot = slots[index] {
            if slot.key == key { return true }
            index = next(index)
        }
        return false
    }

    func forEach(_ body: (Key, Value) throws -> Void) rethrows {
        for case let slot? in slots { try body(slot.key, slot.value) }
    }
}
