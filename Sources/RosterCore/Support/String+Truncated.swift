extension String {
    /// The string cut to at most `bytes` UTF-8 bytes on a character boundary, ending in "…" when
    /// cut (the marker's 3 bytes are within the bound). For values a client controls that reach
    /// logs or stored rows (paths, ids), so that their size is bounded by us, not by the client.
    public func truncated(toUTF8Bytes bytes: Int) -> String {
        guard utf8.count > bytes else { return self }
        let budget = Swift.max(0, bytes - 3)
        var end = startIndex
        var used = 0
        for index in indices {
            let next = self[index].utf8.count
            if used + next > budget { break }
            used += next
            end = self.index(after: index)
        }
        return String(self[..<end]) + "…"
    }
}
