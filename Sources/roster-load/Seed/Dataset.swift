/// A deterministic pseudo-random generator (SplitMix64), so a seed number names a dataset.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Which users are in which group, by index; and the query mix drawn from it.
///
/// Memberships are spread evenly: group g gets ⌊E/M⌋ members (one more for the first E mod M
/// groups), drawn uniformly without repetition from the users. Each group's member list is
/// sorted, so "is u in g" is a binary search.
struct Dataset {
    let users: Int
    let groups: Int
    /// members[g]: sorted user indexes.
    let members: [[Int32]]
    /// prefix[g] = memberships of groups 0..<g (prefix[groups] = E).
    let prefix: [Int]

    var memberships: Int { prefix[groups] }

    init(users: Int, groups: Int, memberships: Int, rng: inout SplitMix64) {
        precondition(users > 0 && groups > 0)
        self.users = users
        self.groups = groups
        var members: [[Int32]] = []
        members.reserveCapacity(groups)
        var prefix = [0]
        prefix.reserveCapacity(groups + 1)
        let base = memberships / groups
        let extra = memberships % groups
        for group in 0..<groups {
            let size = min(users, base + (group < extra ? 1 : 0))
            var chosen: [Int32]
            if size * 2 <= users {
                var seen = Set<Int32>(minimumCapacity: size)
                while seen.count < size { seen.insert(Int32(rng.next() % UInt64(users))) }
                chosen = Array(seen)
            } else {
                var all = (0..<Int32(users)).map { $0 }
                for i in 0..<size {
                    let j = i + Int(rng.next() % UInt64(users - i))
                    all.swapAt(i, j)
                }
                chosen = Array(all[0..<size])
            }
            chosen.sort()
            members.append(chosen)
            prefix.append(prefix[prefix.count - 1] + size)
        }
        self.members = members
        self.prefix = prefix
    }

    func isMember(user: Int32, group: Int) -> Bool {
        var low = 0
        var high = members[group].count
        let list = members[group]
        while low < high {
            let mid = (low + high) / 2
            if list[mid] < user { low = mid + 1 } else { high = mid }
        }
        return low < list.count && list[low] == user
    }

    /// `count` (user, group, allow) triples: a share `allowFraction` drawn uniformly from the
    /// memberships, the rest uniform (user, group) pairs that are not memberships.
    func queries(count: Int, allowFraction: Double, rng: inout SplitMix64) -> [(user: Int32, group: Int, allow: Bool)] {
        var out: [(user: Int32, group: Int, allow: Bool)] = []
        out.reserveCapacity(count)
        let threshold = UInt64(max(0, min(1, allowFraction)) * Double(1 << 53))
        let canAllow = memberships > 0
        let canDeny = memberships < users * groups
        for _ in 0..<count {
            let wantAllow = (rng.next() >> 11) < threshold
            if (wantAllow && canAllow) || !canDeny {
                let pick = Int(rng.next() % UInt64(memberships))
                // The group whose prefix range holds `pick`.
                var low = 0
                var high = groups
                while low < high {
                    let mid = (low + high) / 2
                    if prefix[mid + 1] <= pick { low = mid + 1 } else { high = mid }
                }
                out.append((members[low][pick - prefix[low]], low, true))
            } else {
                while true {
                    let group = Int(rng.next() % UInt64(groups))
                    let user = Int32(rng.next() % UInt64(users))
                    if !isMember(user: user, group: group) {
                        out.append((user, group, false))
                        break
                    }
                }
            }
        }
        return out
    }
}

/// The two JSON operations seeding needs, on bytes: quoting a string and reading a top-level
/// string member of an object.
enum TinyJSON {
    static func quote(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// The value of `"key": "…"` at depth 1 of a JSON object (escapes other than `\"` and `\\`
    /// are kept verbatim: SCIM ids are plain ASCII).
    static func topLevelString(_ key: String, in bytes: [UInt8]) -> String? {
        let wanted = Array(key.utf8)
        var depth = 0
        var index = 0
        var expectingKey = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                depth += 1
                expectingKey = depth == 1
                index += 1
            case UInt8(ascii: "["):
                depth += 1
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
            case UInt8(ascii: ","):
                expectingKey = depth == 1
                index += 1
            case UInt8(ascii: "\""):
                let (text, next) = readString(bytes, from: index)
                index = next
                if depth == 1 && expectingKey {
                    expectingKey = false
                    if text == wanted {
                        // Skip to the value.
                        while index < bytes.count, bytes[index] == UInt8(ascii: ":") || bytes[index] == 32
                            || bytes[index] == 9 || bytes[index] == 10 || bytes[index] == 13
                        {
                            index += 1
                        }
                        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
                        return String(decoding: readString(bytes, from: index).0, as: UTF8.self)
                    }
                }
            default:
                index += 1
            }
        }
        return nil
    }

    private static func readString(_ bytes: [UInt8], from start: Int) -> ([UInt8], Int) {
        var out: [UInt8] = []
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                let escaped = bytes[index + 1]
                if escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") || escaped == UInt8(ascii: "/") {
                    out.append(escaped)
                } else {
                    out.append(byte)
                    out.append(escaped)
                }
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { return (out, index + 1) }
            out.append(byte)
            index += 1
        }
        return (out, index)
    }
}
