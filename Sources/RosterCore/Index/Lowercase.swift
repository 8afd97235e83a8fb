extension String {
    /// `lowercased()`, but returns `self` (sharing its storage, no allocation) when the text is
    /// ASCII without capital letters, as almost every userName is. The index keeps one
    /// lowercased key per user, so this saves a second copy of the name per user, and a
    /// malloc/free per check by userName.
    func lowercasedIfNeeded() -> String {
        var needsWork = false
        if let known = utf8.withContiguousStorageIfAvailable({ bytes in
            for byte in bytes where byte >= 0x80 || (byte >= 0x41 && byte <= 0x5A) { return true }
            return false
        }) {
            needsWork = known
        } else {
            needsWork = utf8.contains { $0 >= 0x80 || ($0 >= 0x41 && $0 <= 0x5A) }
        }
        return needsWork ? lowercased() : self
    }
}
