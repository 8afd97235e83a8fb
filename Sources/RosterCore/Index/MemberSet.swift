import HashTreeCollections

/// The user keys of one group's members.
///
/// Most groups are small (about 100 members in the benchmark directory), and there a sorted
/// `[UInt32]` costs 4 bytes per member where a `TreeSet` costs about 34 (hash-trie nodes, each
/// allocated and reference counted). A write copies the array, which is cheap while it is small;
/// a huge group ("Everyone") would copy megabytes per write, so above `largeThreshold` members the
/// set switches to a persistent `TreeSet` (path copies, shared with older snapshots), and back to
/// an array once it shrinks below half of that (hysteresis, so a group at the edge does not
/// convert on every write).
struct MemberSet: Sendable, Sequence {
    static let largeThreshold = 2_048

    private enum Storage: Sendable {
        case small([UInt32])
        case large(TreeSet<UInt32>)
    }

    private var storage: Storage

    init() { storage = .small([]) }

    /// From keys in any order (duplicates are dropped).
    init(_ keys: [UInt32]) {
        var sorted = keys
        if !Self.isStrictlyAscending(sorted) {
            sorted.sort()
            sorted = Self.dedupedSorted(sorted)
        }
        self.init(sortedUnique: sorted)
    }

    /// From keys already sorted ascending without duplicates (the builder's fast path).
    init(sortedUnique keys: [UInt32]) {
        storage = keys.count > Self.largeThreshold ? .large(TreeSet(keys)) : .small(keys)
    }

    var count: Int {
        switch storage {
        case .small(let keys): keys.count
        case .large(let set): set.count
        }
    }

    var isEmpty: Bool { count == 0 }

    func contains(_ key: UInt32) -> Bool {
        switch storage {
        case .small(let keys): MembershipIndex.sortedContains(keys, key)
        case .large(let set): set.contains(key)
        }
    }

    /// Inserts `key`; returns whether it was new.
    @discardableResult
    mutating func insert(_ key: UInt32) -> Bool {
        switch storage {
        case .small(var keys):
            let index = MembershipIndex.lowerBound(keys, key, startingAbove: nil)
            if index < keys.count && keys[index] == key { return false }
            // Release the enum's reference first, so the array is uniquely held when not shared
            // with an older snapshot and the insert happens in place.
            storage = .small([])
            keys.insert(key, at: index)
            storage = keys.count > Self.largeThreshold ? .large(TreeSet(keys)) : .small(keys)
            return true
        case .large(var set):
            storage = .small([])
            let inserted = set.insert(key).inserted
            storage = .large(set)
            return inserted
        }
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    mutating func remove(_ key: UInt32) -> Bool {
        switch storage {
        case .small(var keys):
            let index = MembershipIndex.lowerBound(keys, key, startingAbove: nil)
            guard index < keys.count && keys[index] == key else { return false }
            storage = .small([])
            keys.remove(at: index)
            storage = .small(keys)
            return true
        case .large(var set):
            storage = .small([])
            let removed = set.remove(key) != nil
            storage = set.count < Self.largeThreshold / 2 ? .small(set.sorted()) : .large(set)
            return removed
        }
    }

    /// The keys in ascending order.
    func sorted() -> [UInt32] {
        switch storage {
        case .small(let keys): keys
        case .large(let set): set.sorted()
        }
    }

    struct Iterator: IteratorProtocol {
        fileprivate enum Inner {
            case small(IndexingIterator<[UInt32]>)
            case large(TreeSet<UInt32>.Iterator)
        }
        fileprivate var inner: Inner

        mutating func next() -> UInt32? {
            switch inner {
            case .small(var iterator):
                let key = iterator.next()
                inner = .small(iterator)
                return key
            case .large(var iterator):
                let key = iterator.next()
                inner = .large(iterator)
                return key
            }
        }
    }

    func makeIterator() -> Iterator {
        switch storage {
        case .small(let keys): Iterator(inner: .small(keys.makeIterator()))
        case .large(let set): Iterator(inner: .large(set.makeIterator()))
        }
    }

    /// Calls `body` with every key (ascending for small sets), without an iterator box.
    func forEach(_ body: (UInt32) throws -> Void) rethrows {
        switch storage {
        case .small(let keys): for key in keys { try body(key) }
        case .large(let set): for key in set { try body(key) }
        }
    }

    static func isStrictlyAscending<Keys: RandomAccessCollection<UInt32>>(_ keys: Keys) -> Bool where Keys.Index == Int {
        var index = keys.startIndex + 1
        while index < keys.endIndex {
            if keys[index - 1] >= keys[index] { return false }
            index += 1
        }
        return true
    }

    private static func dedupedSorted(_ keys: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(keys.count)
        for key in keys where out.last != key { out.append(key) }
        return out
    }
}
