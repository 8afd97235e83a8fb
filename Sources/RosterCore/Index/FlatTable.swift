/// A key whose hash is cheap and well mixed enough for open addressing.
protocol FlatHashable: Hashable, Sendable {
    var flatHash: UInt64 { get }
    /// A value no real key ever takes: it marks an empty slot.
    static var emptySlot: Self { get }
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
    /// Index keys are assigned from 1 and never reach UInt32.max (the rules refuse it).
    static var emptySlot: UInt32 { .max }
}

/// An immutable open-addressing hash table (linear probing, load ≤ 3/4) whose slots hold the key
/// and the value side by side, so a lookup usually touches one cache line — where Swift's
/// `Dictionary` keeps bitmap, keys and values in three arrays (three misses on a cold index).
/// Probing compares keys in place (an empty slot holds `Key.emptySlot`), so a probe never copies,
/// and never retains, a value that is not the one asked for. Built once, read many times: the
/// base layer of `LayeredMap`.
struct FlatTable<Key: FlatHashable, Value: Sendable>: Sendable {
    private struct Slot: Sendable {
        var key: Key
        var value: Value?
    }

    private var slots: ContiguousArray<Slot>
    private(set) var count: Int

    init() {
        slots = [Slot(key: .emptySlot, value: nil)]
        count = 0
    }

    /// Builds a table from `entries` (the last value wins for a repeated key).
    init(_ entries: [(Key, Value)], minimumCapacity: Int = 0) {
        self.init(entries, count: entries.count, minimumCapacity: minimumCapacity)
    }

    /// Builds a table from a sequence of about `count` entries (sizes the table; more are fine),
    /// so a caller can pass a lazy map over its own storage instead of materializing an array
    /// of pairs first (at a million records that array alone is over 100 MB).
    init<Entries: Sequence<(Key, Value)>>(_ entries: Entries, count expected: Int, minimumCapacity: Int = 0) {
        let capacity = max(2, expected + expected / 3 + 1, minimumCapacity)
        let empty = Slot(key: .emptySlot, value: nil)
        var slots = ContiguousArray<Slot>(unsafeUninitializedCapacity: capacity) { buffer, initialized in
            // Large tables are read at random: ask for transparent huge pages before the first
            // touch, so a lookup costs one cache miss instead of a miss plus a (nested, on a VM)
            // page walk. Advice only; without THP nothing changes.
            HugePages.advise(UnsafeMutableRawBufferPointer(buffer))
            buffer.initialize(repeating: empty)
            initialized = capacity
        }
        var count = 0
        for (key, value) in entries where key != .emptySlot {
            // Past the sizing estimate: grow (rebuild) before the load passes 3/4.
            if (count + 1) * 4 > slots.count * 3 {
                var grown = FlatTable(slots: slots, count: count).rehashed(minimumCapacity: slots.count * 2)
                grown.insert(key, value)
                slots = grown.slots
                count = grown.count
                continue
            }
            let capacity = slots.count
            var index = Int(truncatingIfNeeded: key.flatHash.multipliedFullWidth(by: UInt64(capacity)).high)
            while true {
                if slots[index].key == key {
                    slots[index].value = value
                    break
                }
                if slots[index].key == .emptySlot {
                    slots[index] = Slot(key: key, value: value)
                    count += 1
                    break
                }
                index = index + 1 == capacity ? 0 : index + 1
            }
        }
        self.slots = slots
        self.count = count
    }

    private init(slots: ContiguousArray<Slot>, count: Int) {
        self.slots = slots
        self.count = count
    }

    private func rehashed(minimumCapacity: Int) -> FlatTable {
        var entries: [(Key, Value)] = []
        entries.reserveCapacity(count)
        forEach { entries.append(($0, $1)) }
        return FlatTable(entries, minimumCapacity: minimumCapacity)
    }

    /// The home slot of a hash: a multiply-shift range reduction, so the capacity need not be a
    /// power of two and the load stays near 3/4.
    @inline(__always)
    private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(slots.count)).high)
    }

    @inline(__always)
    private func find(_ key: Key) -> Int? {
        var index = home(key.flatHash)
        while true {
            let stored = slots[index].key
            if stored == key { return index }
            if stored == .emptySlot { return nil }
            index = index + 1 == slots.count ? 0 : index + 1
        }
    }

    subscript(key: Key) -> Value? {
        guard key != .emptySlot, let index = find(key) else { return nil }
        return slots[index].value
    }

    func contains(_ key: Key) -> Bool {
        key != .emptySlot && find(key) != nil
    }

    func forEach(_ body: (Key, Value) throws -> Void) rethrows {
        for slot in slots {
            if let value = slot.value { try body(slot.key, value) }
        }
    }

    /// This table with `changes` applied (nil removes): an O(n) copy of the slots plus O(1) per
    /// change, or a rebuild with room to grow when the changes would push the load past 3/4.
    func applying(_ changes: some Sequence<(key: Key, value: Value?)>, changeCount: Int) -> FlatTable {
        var table: FlatTable
        if (count + changeCount) * 4 > slots.count * 3 {
            var entries: [(Key, Value)] = []
            entries.reserveCapacity((count + changeCount) * 3 / 2)
            forEach { entries.append(($0, $1)) }
            // Room for the changes and as many again, so growth stays amortized.
            table = FlatTable(entries, minimumCapacity: (count + 2 * changeCount) * 4 / 3 + 1)
        } else {
            table = self
        }
        for (key, value) in changes where key != .emptySlot {
            if let value { table.insert(key, value) } else { table.remove(key) }
        }
        return table
    }

    private mutating func insert(_ key: Key, _ value: Value) {
        var index = home(key.flatHash)
        while true {
            if slots[index].key == key {
                slots[index].value = value
                return
            }
            if slots[index].key == .emptySlot {
                slots[index] = Slot(key: key, value: value)
                count += 1
                return
            }
            index = index + 1 == slots.count ? 0 : index + 1
        }
    }

    /// Linear-probing removal with backward shift: no tombstones, so lookups stay short.
    private mutating func remove(_ key: Key) {
        guard var hole = find(key) else { return }
        slots[hole] = Slot(key: .emptySlot, value: nil)
        count -= 1
        var index = hole
        while true {
            index = index + 1 == slots.count ? 0 : index + 1
            let moving = slots[index].key
            if moving == .emptySlot { return }
            let home = home(moving.flatHash)
            // Leave the entry where it is if its home lies cyclically in (hole, index].
            let stays = hole <= index ? (hole < home && home <= index) : (hole < home || home <= index)
            if stays { continue }
            slots[hole] = slots[index]
            slots[index] = Slot(key: .emptySlot, value: nil)
            hole = index
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

enum HugePages {
    static let size = 2 << 20

    /// `madvise(MADV_HUGEPAGE)` on the 2 MiB-aligned part of a region of at least 4 MiB.
    static func advise(_ region: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        guard let base = region.baseAddress, region.count >= 2 * size else { return }
        let start = (Int(bitPattern: base) + size - 1) & ~(size - 1)
        let end = (Int(bitPattern: base) + region.count) & ~(size - 1)
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, MADV_HUGEPAGE)
        #endif
    }
}
