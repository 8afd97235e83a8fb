/// A user's group keys, sorted ascending, kept inside the user's slot of the check table when
/// there are at most `inlineCapacity` of them.
///
/// Why: a check reads the user's slot (one cache miss on a large index) and then the group
/// keys. In a separate array that second read was a second dependent miss plus a retain: 40% of
/// a check at a million users. Inline, the keys sit in the same slot (the next cache line at
/// worst, which the CPU fetches with the first). Users in more groups keep them in an array
/// (`spill`), as before.
///
/// The capacity balances slot size against coverage: ten keys make `UserHot` 64 bytes and a
/// check-table slot 80, smaller than the slot plus the separate array it replaces.
struct GroupKeys: Sendable, RandomAccessCollection {
    static let inlineCapacity = 10

    // Field order is the layout: the tuple, the array reference, then the count.
    private var inline: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    /// Every key, when there are more than `inlineCapacity`; nil otherwise.
    private var spill: [UInt32]?
    private var inlineCount: UInt8

    /// `keys` must be sorted ascending without duplicates.
    init(_ keys: [UInt32]) {
        inline = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if keys.count > Self.inlineCapacity {
            spill = keys
            inlineCount = 0
            return
        }
        spill = nil
        inlineCount = UInt8(keys.count)
        withUnsafeMutableBytes(of: &inline) { raw in
            for (position, key) in keys.enumerated() {
                raw.storeBytes(of: key, toByteOffset: position * 4, as: UInt32.self)
            }
        }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { spill?.count ?? Int(inlineCount) }

    subscript(position: Int) -> UInt32 {
        if let spill { return spill[position] }
        precondition(position >= 0 && position < Int(inlineCount), "GroupKeys index out of range")
        return withUnsafeBytes(of: inline) { $0.load(fromByteOffset: position * 4, as: UInt32.self) }
    }

    /// The keys as an array (for the write path, which edits them).
    var array: [UInt32] { spill ?? Array(self) }

    /// Whether `key` is one of the keys: a scan of at most ten inline values, else a binary
    /// search of the spilled array.
    @inline(__always)
    func containsSorted(_ key: UInt32) -> Bool {
        if let spill { return MembershipIndex.sortedContains(spill, key) }
        let count = Int(inlineCount)
        return withUnsafeBytes(of: inline) { raw in
            for position in 0..<count where raw.load(fromByteOffset: position * 4, as: UInt32.self) == key {
                return true
            }
            return false
        }
    }
}
