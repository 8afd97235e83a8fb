import HashTreeCollections

/// A persistent hash map tuned for a read-mostly index: a large flat `FlatTable` (the base)
/// under a small persistent `TreeDictionary` of recent changes (the delta).
///
/// Why not one `TreeDictionary`: at a million keys a hash trie walks four or five nodes per
/// lookup, each a likely cache miss, while a flat dictionary probes one slot. Why not one
/// `Dictionary`: deriving the next snapshot would copy it whole on every write. Here a write
/// touches only the delta (O(log n) path copy, shared with older snapshots), and the delta is
/// folded into a new base once it reaches 1/8 of the base, so the copy is amortized to a constant
/// per write. Readers see a consistent value: snapshots are immutable.
struct LayeredMap<Key: FlatHashable, Value: Sendable>: Sendable {
    private var base: FlatTable<Key, Value>
    /// `.some(nil)` marks a key removed since the base was built.
    private var delta: TreeDictionary<Key, Value?>
    /// Keys present in the map, kept so `count` is O(1).
    private(set) var count: Int

    init() {
        base = FlatTable()
        delta = [:]
        count = 0
    }

    /// A map whose base is `base` (the builder makes large tables directly, without a
    /// `Dictionary` in between).
    init(base: FlatTable<Key, Value>) {
        self.base = base
        delta = [:]
        count = base.count
    }

    init(_ dictionary: [Key: Value]) {
        base = FlatTable(Array(dictionary.lazy.map { ($0.key, $0.value) }))
        delta = [:]
        count = base.count
    }

    /// Whether `key` is present, without copying its value out.
    func contains(_ key: Key) -> Bool {
        if !delta.isEmpty, let changed = delta[key] { return changed != nil }
        return base.contains(key)
    }

    subscript(key: Key) -> Value? {
        get {
            if !delta.isEmpty, let changed = delta[key] { return changed }
            return base[key]
        }
        set {
            let inBase = base.contains(key)
            let existed: Bool
            if let changed = delta[key] { existed = changed != nil } else { existed = inBase }
            switch (existed, newValue != nil) {
            case (false, true): count += 1
            case (true, false): count -= 1
            default: break
            }
            if newValue == nil, !inBase {
                delta[key] = nil
            } else {
                delta[key] = .some(newValue)
            }
            foldIfLarge()
        }
    }

    /// Every key and value, base first (order unspecified).
    func forEach(_ body: (Key, Value) throws -> Void) rethrows {
        try base.forEach { key, value in
            if delta.isEmpty || delta[key] == nil { try body(key, value) }
        }
        for (key, value) in delta {
            if let value { try body(key, value) }
        }
    }

    var isEmpty: Bool { count == 0 }

    /// The number of pending changes above the base (exposed for benchmarks and tests).
    var deltaCount: Int { delta.count }

    private mutating func foldIfLarge() {
        guard delta.count > Swift.max(256, base.count / 8) else { return }
        fold()
    }

    /// Rebuilds the base with the delta applied. O(n); called rarely (see the type comment).
    mutating func fold() {
        base = base.applying(delta.lazy.map { (key: $0.key, value: $0.value) }, changeCount: delta.count)
        delta = [:]
    }
}
