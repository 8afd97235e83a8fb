import RosterBenchSupport
import RosterCore

/// What-if layouts for `check`, built straight from the dataset (not from RosterCore), to put
/// numbers on the suggestions in docs/BENCHMARKS.md. Both keep what a persistent index needs to
/// stay cheap to update (one small array of group keys per user), and drop what `check` does not
/// read: no record is copied out, so nothing but the user's group array is retained.
///
/// - "string keys": `[String: UInt32]` id → key maps, plus dense per-key arrays;
/// - "uuid keys": the same with the canonical UUID text parsed to 16 bytes stored inline (Roster
///   assigns ids as lowercase UUIDs), so a probe compares two words instead of chasing a pointer.
struct UUIDKey: Hashable {
    var high: UInt64
    var low: UInt64

    /// Parses `8-4-4-4-12` hex (either case); nil for anything else (which would fall back to a
    /// String-keyed map in a real index).
    @inline(__always)
    init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    @inline(__always)
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> UUIDKey? {
        guard bytes.count == 36 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        var nibbles = 0
        for (i, byte) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            if nibbles < 16 {
                words.0 = words.0 << 4 | UInt64(value)
            } else {
                words.1 = words.1 << 4 | UInt64(value)
            }
            nibbles += 1
        }
        return UUIDKey(high: words.0, low: words.1)
    }

    private init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

final class CompactLayout<Key: Hashable> {
    var userKeys: [Key: UInt32] = [:]
    var groupKeys: [Key: UInt32] = [:]
    var userActive: [Bool] = []
    var userGroups: [[UInt32]] = []

    init(_ spec: DatasetSpec, key: (String) -> Key) {
        let shape = spec.shape
        userKeys.reserveCapacity(shape.users)
        groupKeys.reserveCapacity(shape.groups)
        userActive = Array(repeating: true, count: shape.users + 1)
        userGroups = Array(repeating: [], count: shape.users + 1)
        for g in 0..<shape.groups { groupKeys[key(spec.groupID(g))] = UInt32(g + 1) }
        for u in 0..<shape.users {
            userKeys[key(spec.userID(u))] = UInt32(u + 1)
            userGroups[u + 1] = spec.groupsOf(u).map { UInt32($0 + 1) }.sorted()
        }
    }

    @inline(__always)
    func check(user: Key, group: Key) -> Bool {
        guard let u = userKeys[user], let g = groupKeys[group], userActive[Int(u)] else { return false }
        return userGroups[Int(u)].withUnsafeBufferPointer { keys in
            var low = 0
            var high = keys.count
            while low < high {
                let mid = (low + high) / 2
                if keys[mid] < g { low = mid + 1 } else { high = mid }
            }
            return low < keys.count && keys[low] == g
        }
    }
}

/// The same with every user's group keys in one flat array (CSR offsets): nothing is retained
/// per check. Not persistent as it stands (an update would copy the whole array); it shows what
/// per-check reference counting costs.
final class FlatLayout {
    var userKeys: [UUIDKey: UInt32] = [:]
    var groupKeys: [UUIDKey: UInt32] = [:]
    var offsets: [UInt32] = [0]
    var flat: [UInt32] = []

    init(_ spec: DatasetSpec) {
        let shape = spec.shape
        userKeys.reserveCapacity(shape.users)
        groupKeys.reserveCapacity(shape.groups)
        flat.reserveCapacity(shape.memberships)
        for g in 0..<shape.groups { groupKeys[UUIDKey(spec.groupID(g))!] = UInt32(g + 1) }
        offsets.append(0)  // key 0 is unused
        for u in 0..<shape.users {
            userKeys[UUIDKey(spec.userID(u))!] = UInt32(u + 1)
            flat.append(contentsOf: spec.groupsOf(u).map { UInt32($0 + 1) }.sorted())
            offsets.append(UInt32(flat.count))
        }
    }

    @inline(__always)
    func check(user: UUIDKey, group: UUIDKey) -> Bool {
        guard let u = userKeys[user], let g = groupKeys[group] else { return false }
        var low = Int(offsets[Int(u)])
        var high = Int(offsets[Int(u) + 1])
        let end = high
        while low < high {
            let mid = (low + high) / 2
            if flat[mid] < g { low = mid + 1 } else { high = mid }
        }
        return low < end && flat[low] == g
    }
}

func layouts(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    let queries = spec.queries(count: options.queries)
    let ids: [(String, String)] = queries.map { q in
        guard case .id(let u) = q.user, case .id(let g) = q.group else { fatalError() }
        return (u, g)
    }
    func measure(_ name: String, _ body: (Int) -> Bool) {
        let (samples, hits) = measureBatches(count: queries.count, passes: options.passes, body)
        print("\(name): \(LatencySummary(samples)) (hits \(hits))")
    }
    do {
        let layout = CompactLayout<String>(spec) { $0 }
        measure("what-if: [String: UInt32] maps + dense arrays") { layout.check(user: ids[$0].0, group: ids[$0].1) }
    }
    do {
        let layout = CompactLayout<UUIDKey>(spec) { UUIDKey($0)! }
        measure("what-if: [UUIDKey: UInt32] maps + dense arrays (parse included)") { i in
            guard let u = UUIDKey(ids[i].0), let g = UUIDKey(ids[i].1) else { return false }
            return layout.check(user: u, group: g)
        }
    }
    do {
        let layout = FlatLayout(spec)
        measure("what-if: [UUIDKey: UInt32] maps + one flat key array (parse included)") { i in
            guard let u = UUIDKey(ids[i].0), let g = UUIDKey(ids[i].1) else { return false }
            return layout.check(user: u, group: g)
        }
    }
}
