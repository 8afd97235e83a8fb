import Dispatch
import HashTreeCollections
import Synchronization

/// A persistent hash map tuned for a read-mostly index: a large flat `FlatTable` (the base)
/// under a small persistent `TreeDictionary` of recent changes (the delta).
///
/// Why not one `TreeDictionary`: at a million keys a hash trie walks four or five nodes per
/// lookup, each a likely cache miss, while a flat dictionary probes one slot. Why not one
/// `Dictionary`: deriving the next snapshot would copy it whole on every write. Here a write
/// touches only the delta (O(log n) path copy, shared with older snapshots), and the delta is
/// folded into a new base once it reaches 1/8 of the base, so the copy is amortized to a constant
/// per write. Readers see a consistent value: snapshots are immutable.
///
/// Folding a large map is not done on the writer: copying a million-entry base took up to 2.4 s
/// (retains of every value's references), and every write queued behind it. Instead the full
/// delta is frozen (`folding`) and merged into a copy of the base on a background thread, while
/// new writes go to a fresh delta above it; the first write after the merge finishes swaps the
/// merged table in as the base. Lookups probe delta, then folding, then base, so every
/// snapshot answers the same before, during and after a fold. Small maps fold in place, where
/// a thread hop would cost more than the copy.
struct LayeredMap<Key: FlatHashable, Value: Sendable>: Sendable {
    private var base: FlatTable<Key, Value>
    /// Changes being merged into a new base in the background (empty when no fold runs).
    /// `.some(nil)` marks a removal, as in `delta`.
    private var folding: TreeDictionary<Key, Value?>
    /// `.some(nil)` marks a key removed since the base (and `folding`) were built.
    private var delta: TreeDictionary<Key, Value?>
    /// The background merge of `base` and `folding`, while it runs or waits to be swapped in.
    private var job: FoldJob<Key, Value>?
    /// Bases at least this large fold in the background (a parameter so tests can reach it).
    private let backgroundFoldMinimum: Int
    /// Keys present in the map, kept so `count` is O(1).
    private(set) var count: Int

    /// Measured with bench/ab-scim-creates.sh (16 connections creating users, 0 to 70k users):
    /// at 65,536 the in-place folds of the user maps (several fold in the same write) set the
    /// p99 of creates to 42-45 ms and the max to ~100 ms; at 4,096, p99 6-7 ms, max 13-15 ms,
    /// with the same throughput. Below it a fold copies little, and a thread hop would cost more.
    static var defaultBackgroundFoldMinimum: Int { 1 << 12 }

    init(backgroundFoldMinimum: Int = Self.defaultBackgroundFoldMinimum) {
        base = FlatTable()
        folding = [:]
        delta = [:]
        count = 0
        self.backgroundFoldMinimum = backgroundFoldMinimum
    }

    /// A map whose base is `base` (the builder makes large tables directly, without a
    /// `Dictionary` in between).
    init(base: FlatTable<Key, Value>) {
        self.base = base
        folding = [:]
        delta = [:]
        count = base.count
        backgroundFoldMinimum = Self.defaultBackgroundFoldMinimum
    }

    init(_ dictionary: [Key: Value]) {
        self.init(base: FlatTable(Array(dictionary.lazy.map { ($0.key, $0.value) })))
    }

    /// Whether `key` is present, without copying its value out.
    func contains(_ key: Key) -> Bool {
        if !delta.isEmpty, let changed = delta[key] { return changed != nil }
        if !folding.isEmpty, let changed = folding[key] { return changed != nil }
        return base.contains(key)
    }

    /// Whether the layers below the delta hold `key`.
    private func containedBelowDelta(_ key: Key) -> Bool {
        if !folding.isEmpty, let changed = folding[key] { return changed != nil }
        return base.contains(key)
    }

    subscript(key: Key) -> Value? {
        get {
            if !delta.isEmpty, let changed = delta[key] { return changed }
            if !folding.isEmpty, let changed = folding[key] { return changed }
            return base[key]
        }
        set {
            let below = containedBelowDelta(key)
            let existed: Bool
            if let changed = delta[key] { existed = changed != nil } else { existed = below }
            switch (existed, newValue != nil) {
            case (false, true): count += 1
            case (true, false): count -= 1
            default: break
            }
            if newValue == nil, !below {
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
            if (delta.isEmpty || delta[key] == nil) && (folding.isEmpty || folding[key] == nil) { try body(key, value) }
        }
        for (key, value) in folding where delta.isEmpty || delta[key] == nil {
            if let value { try body(key, value) }
        }
        for (key, value) in delta {
            if let value { try body(key, value) }
        }
    }

    var isEmpty: Bool { count == 0 }

    /// The number of pending changes above the base (exposed for benchmarks and tests).
    var deltaCount: Int { delta.count + folding.count }

    /// Whether a background fold is running or waiting to be swapped in (for tests).
    var isFolding: Bool { job != nil }

    private mutating func foldIfLarge() {
        if let job {
            // Swap in a finished merge; the writer never waits for one.
            guard let merged = job.result else { return }
            // The old base and the merged changes are released off the writer (see `retire`).
            FoldJob<Key, Value>.retire((base, folding))
            base = merged
            folding = [:]
            self.job = nil
        }
        guard delta.count > Swift.max(256, base.count / 8) else { return }
        if base.count < backgroundFoldMinimum {
            base = base.applying(delta.lazy.map { (key: $0.key, value: $0.value) }, changeCount: delta.count)
            delta = [:]
            return
        }
        folding = delta
        delta = [:]
        job = FoldJob(base: base, changes: folding)
    }

    /// Rebuilds the base with every pending change applied, here and now (waiting for a
    /// background merge if one runs). O(n) when anything is pending; nothing otherwise.
    mutating func fold() {
        if let job {
            base = job.wait()
            self.job = nil
            folding = [:]
        }
        // Nothing pending: keep the base (an unchanged map is not copied by a compaction).
        guard !delta.isEmpty else { return }
        base = base.applying(delta.lazy.map { (key: $0.key, value: $0.value) }, changeCount: delta.count)
        delta = [:]
    }
}

/// One background merge of a base and a frozen delta. Shared by every snapshot taken while it
/// runs; its result never changes once set, so any of them may swap it in.
final class FoldJob<Key: FlatHashable, Value: Sendable>: Sendable {
    private let state = Mutex<FlatTable<Key, Value>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    private static var queue: DispatchQueue { DispatchQueue.global(qos: .utility) }

    init(base: FlatTable<Key, Value>, changes: TreeDictionary<Key, Value?>) {
        Self.queue.async { [self] in
            let merged = base.applying(changes.lazy.map { (key: $0.key, value: $0.value) }, changeCount: changes.count)
            state.withLock { $0 = merged }
            done.signal()
        }
    }

    /// The merged table once it is ready (nil while the merge runs).
    var result: FlatTable<Key, Value>? { state.withLock { $0 } }

    /// The merged table, waiting for it if needed.
    func wait() -> FlatTable<Key, Value> {
        if let merged = result { return merged }
        done.wait()
        done.signal()
        return result!
    }

    /// Lets go of a replaced base (and the delta merged into it) on a background thread, a little
    /// later: releasing a million entries (a release per reference they hold) would otherwise
    /// land on whichever thread drops the last snapshot holding them, usually the writer as it
    /// publishes. A reader still holding an older snapshot keeps them alive past this; only the
    /// last release frees them.
    static func retire(_ value: some Sendable) {
        queue.asyncAfter(deadline: .now() + .seconds(2)) { withExtendedLifetime(value) {} }
    }
}
