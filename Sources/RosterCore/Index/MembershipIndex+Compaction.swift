extension MembershipIndex {
    /// The same index with every map's pending changes folded into its flat base, or nil when
    /// nothing is pending. O(size of the maps with changes): for a background thread.
    ///
    /// Why: after a burst of writes (a provider's sync) each map keeps up to 1/8 of its entries in
    /// a persistent delta above the flat base, and every lookup probes that delta (a hash and a
    /// trie walk) before the base, for as long as no further write folds it. Writes are bursty and
    /// reads constant, so the store publishes a compacted copy once writes pause.
    public func compacted() -> MembershipIndex? {
        guard pendingChangeCount > 0 else { return nil }
        var copy = self
        copy.users.foldAll()
        copy.groups.foldAll()
        copy.liveUserNames.fold()
        copy.liveUserExternalIDs.fold()
        copy.deletedUserNames.fold()
        copy.deletedUserExternalIDs.fold()
        copy.groupExternalIDs.fold()
        copy.groupNames.fold()
        return copy
    }

    /// Entries held above the flat bases of the maps (0 right after a build or a compaction).
    public var pendingChangeCount: Int {
        users.hot.deltaCount + users.records.deltaCount + groups.hot.deltaCount + groups.entries.deltaCount
            + liveUserNames.deltaCount + liveUserExternalIDs.deltaCount + deletedUserNames.deltaCount
            + deletedUserExternalIDs.deltaCount + groupExternalIDs.deltaCount + groupNames.deltaCount
    }
}
