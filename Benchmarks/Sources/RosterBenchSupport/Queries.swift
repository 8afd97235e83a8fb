import RosterCore

/// One pre-generated check. The reference strings are fresh copies (not the index's own String
/// storage), as they would be after decoding a request, so equality inside the index's hash
/// tables really compares bytes instead of taking the identical-storage shortcut.
public struct CheckQuery: Sendable {
    public var userOrdinal: Int
    public var groupOrdinal: Int
    public var user: UserReference
    public var group: GroupReference
    public var expectMember: Bool
}

extension DatasetSpec {
    /// `count` random (user, group) pairs over the whole index: even-numbered queries name one of
    /// the user's own groups (members), odd ones a uniformly random group (almost always not).
    /// The same stream as `c-hashset/hashset.c` (`make_queries`).
    public func queries(count: Int, byUserName: Bool = false, seed: UInt64 = 0xC0FFEE) -> [CheckQuery] {
        var rng = SplitMix64(state: shape.seed ^ seed)
        var result: [CheckQuery] = []
        result.reserveCapacity(count)
        for q in 0..<count {
            let u = Int(rng.next() % UInt64(shape.users))
            let own = groupsOf(u)
            let g: Int
            if q % 2 == 0 {
                g = own[Int(rng.next() % UInt64(own.count))]
            } else {
                g = Int(rng.next() % UInt64(shape.groups))
            }
            result.append(
                CheckQuery(
                    userOrdinal: u, groupOrdinal: g,
                    user: byUserName ? .userName(userName(u)) : .id(userID(u)),
                    group: .id(groupID(g)),
                    expectMember: own.contains(g)))
        }
        return result
    }
}

extension MembershipIndex {
    /// One check, trapping on a wrong answer; returns whether it was allowed.
    @inline(never)
    public func runCheck(_ query: CheckQuery, directoryID: String) -> Bool {
        let result: CheckResult
        do {
            result = try check(directoryID: directoryID, user: query.user, group: query.group)
        } catch {
            fatalError("check threw: \(error)")
        }
        if result.allowed != query.expectMember {
            fatalError("wrong answer: \(result) (expected member: \(query.expectMember))")
        }
        return result.allowed
    }

    /// Runs `queries[range]` through `check`, returning how many were allowed (to keep the work
    /// observable) and trapping on a wrong answer (to keep the benchmark honest).
    @inline(never)
    public func runChecks(_ queries: [CheckQuery], _ range: Range<Int>, directoryID: String) -> Int {
        var allowed = 0
        for i in range {
            let q = queries[i]
            let result: CheckResult
            do {
                result = try check(directoryID: directoryID, user: q.user, group: q.group)
            } catch {
                fatalError("check threw: \(error)")
            }
            if result.allowed != q.expectMember {
                fatalError("wrong answer for query \(i): \(result) (expected member: \(q.expectMember))")
            }
            if result.allowed { allowed &+= 1 }
        }
        return allowed
    }
}
