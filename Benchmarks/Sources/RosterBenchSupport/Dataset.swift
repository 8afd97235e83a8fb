import RosterCore

/// The size of a synthetic directory: `users` users, `groups` groups, each user in exactly
/// `groupsPerUser` distinct random groups (so `users × groupsPerUser` memberships).
public struct DatasetShape: Sendable, Hashable, CustomStringConvertible {
    public var users: Int
    public var groups: Int
    public var groupsPerUser: Int
    public var seed: UInt64

    public init(users: Int, groups: Int, groupsPerUser: Int = 10, seed: UInt64 = 0x5EED) {
        precondition(users > 0 && groups >= groupsPerUser && groupsPerUser > 0)
        self.users = users
        self.groups = groups
        self.groupsPerUser = groupsPerUser
        self.seed = seed
    }

    public var memberships: Int { users * groupsPerUser }

    /// 1M users, 100k groups, 10M memberships: the size the targets in docs/BENCHMARKS.md are set for.
    public static let full = DatasetShape(users: 1_000_000, groups: 100_000)
    public static let medium = DatasetShape(users: 100_000, groups: 10_000)
    public static let small = DatasetShape(users: 10_000, groups: 1_000)

    public var description: String {
        "\(Self.short(users)) users, \(Self.short(groups)) groups, \(Self.short(memberships)) memberships"
    }

    static func short(_ n: Int) -> String {
        if n >= 1_000_000 && n % 1_000_000 == 0 { return "\(n / 1_000_000)M" }
        if n >= 1_000 && n % 1_000 == 0 { return "\(n / 1_000)k" }
        return "\(n)"
    }
}

/// The deterministic synthetic data. Every id is a pure function of (seed, kind, ordinal), so the
/// C comparison program (`Benchmarks/c-hashset`) generates byte-identical ids and the same pairs.
///
/// - user `u` (0-based): key `u + 1`, id `uuid(seed, 1, u)`, userName `user%06d@example.com`;
/// - group `g`: key `g + 1`, id `uuid(seed, 2, g)`, displayName `group g`;
/// - the groups of user `u`: `groupsPerUser` distinct draws from a SplitMix64 stream seeded
///   with `seed ^ 0xA5A5_0000_0000 ^ u × 0x9E37_79B9`, each `next() % groups`.
public struct DatasetSpec: Sendable {
    public let shape: DatasetShape
    public let directoryID = "dir-bench"

    public init(_ shape: DatasetShape) { self.shape = shape }

    public func userID(_ u: Int) -> String { Self.uuid(shape.seed, kind: 1, UInt64(u)) }
    public func groupID(_ g: Int) -> String { Self.uuid(shape.seed, kind: 2, UInt64(g)) }
    public func userName(_ u: Int) -> String {
        var digits = String(u)
        if digits.utf8.count < 6 { digits = String(repeating: "0", count: 6 - digits.utf8.count) + digits }
        return "user" + digits + "@example.com"
    }

    /// The groups user `u` belongs to, in draw order.
    public func groupsOf(_ u: Int) -> [Int] {
        var rng = SplitMix64(state: shape.seed ^ 0xA5A5_0000_0000 ^ (UInt64(u) &* 0x9E37_79B9))
        var picked: [Int] = []
        picked.reserveCapacity(shape.groupsPerUser)
        while picked.count < shape.groupsPerUser {
            let g = Int(rng.next() % UInt64(shape.groups))
            if !picked.contains(g) { picked.append(g) }
        }
        return picked
    }

    /// The extra user that is in exactly `count` groups (spread over the key space), for the
    /// suspension benchmark. Its ordinal is `users` (one past the regular users).
    public var suspendTargetOrdinal: Int { shape.users }
    public func suspendTargetGroups(count: Int = 1_000) -> [Int] {
        let n = Swift.min(count, shape.groups)
        return (0..<n).map { $0 * (shape.groups / n) }
    }

    /// A UUID-like lowercase 36-character id (8-4-4-4-12 hex digits).
    public static func uuid(_ seed: UInt64, kind: UInt64, _ ordinal: UInt64) -> String {
        let base = seed ^ (kind << 56) ^ (ordinal &* 2)
        let a = SplitMix64.mix(base)
        let b = SplitMix64.mix(base ^ 1)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var out = 0
            for (i, word) in [a, b].enumerated() {
                for nibble in 0..<16 {
                    let position = i * 16 + nibble
                    if position == 8 || position == 12 || position == 16 || position == 20 {
                        buffer[out] = UInt8(ascii: "-")
                        out += 1
                    }
                    buffer[out] = hex[Int((word >> UInt64(60 - nibble * 4)) & 0xF)]
                    out += 1
                }
            }
            return out
        }
    }

    public var directory: Directory {
        Directory(id: directoryID, name: "Benchmark", provider: .generic, policy: .revoke, createdAt: 0)
    }

    /// Builds the index with `MembershipIndexBuilder`, adding the suspension target when there
    /// are at least 1,000 groups.
    public func build(withSuspendTarget: Bool = true) -> MembershipIndex {
        let withTarget = withSuspendTarget && shape.groups >= 1_000
        var builder = MembershipIndexBuilder(
            revision: 1, expectedUsers: shape.users + (withTarget ? 1 : 0), expectedGroups: shape.groups)
        builder.add(directory)
        for g in 0..<shape.groups {
            builder.add(
                GroupRecord(
                    key: UInt32(g + 1), id: groupID(g), directoryID: directoryID, displayName: "group \(g)",
                    externalID: nil, version: 1))
        }
        for u in 0..<shape.users {
            builder.add(
                UserRecord(
                    key: UInt32(u + 1), id: userID(u), directoryID: directoryID, userName: userName(u),
                    externalID: nil, displayName: nil, state: .active, version: 1))
            for g in groupsOf(u) {
                builder.addMembership(groupKey: UInt32(g + 1), userKey: UInt32(u + 1))
            }
        }
        if withTarget {
            let t = suspendTargetOrdinal
            builder.add(
                UserRecord(
                    key: UInt32(t + 1), id: userID(t), directoryID: directoryID, userName: userName(t),
                    externalID: nil, displayName: nil, state: .active, version: 1))
            for g in suspendTargetGroups() {
                builder.addMembership(groupKey: UInt32(g + 1), userKey: UInt32(t + 1))
            }
        }
        return builder.build()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and trivially identical in C.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finalize(state)
    }

    /// `next()` of a generator whose state is `x` (a stateless hash of `x`).
    public static func mix(_ x: UInt64) -> UInt64 { finalize(x &+ 0x9E37_79B9_7F4A_7C15) }

    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
