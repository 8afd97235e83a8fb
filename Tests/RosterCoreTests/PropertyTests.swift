import Testing
@testable import RosterCore

/// Drives random mutation sequences through the index and a naive model written the obvious way,
/// and checks after every step that the invariants hold and both agree on every check.
@Suite("Property: random mutation sequences")
struct PropertyTests {
    struct NaiveModel {
        var policy: MembershipPolicy
        var state: [String: UserState] = [:]
        var names: [String: String] = [:]
        var groups: Set<String> = []
        var members: Set<[String]> = []  // [group, user]

        mutating func apply(_ m: Mutation) -> Bool {
            switch m {
            case .createUser(_, let id, let d):
                if state[id] != nil { return false }
                if names.contains(where: { $0.value.lowercased() == d.userName.lowercased() && state[$0.key] != .deleted }) {
                    return false
                }
                state[id] = d.active ? .active : .suspended
                names[id] = d.userName
            case .replaceUser(_, let id, let d, _):
                guard let s = state[id], s != .deleted else { return false }
                if names.contains(where: {
                    $0.key != id && $0.value.lowercased() == d.userName.lowercased() && state[$0.key] != .deleted
                }) { return false }
                let new: UserState = d.active ? .active : .suspended
                if new == .suspended && policy == .revoke { members = members.filter { $0[1] != id } }
                state[id] = new
                names[id] = d.userName
            case .deleteUser(_, let id):
                guard let s = state[id], s != .deleted else { return false }
                state[id] = .deleted
                members = members.filter { $0[1] != id }
            case .createGroup(_, let id, _, let add):
                if groups.contains(id) { return false }
                if add.contains(where: { state[$0] == nil }) { return false }
                groups.insert(id)
                for u in add where allowedToJoin(u) { members.insert([id, u]) }
            case .updateGroup(_, let id, _, _, let ops, _):
                guard groups.contains(id) else { return false }
                var copy = members
                for op in ops {
                    switch op {
                    case .add(let us):
                        if us.contains(where: { state[$0] == nil }) { return false }
                        for u in us where allowedToJoin(u) { copy.insert([id, u]) }
                    case .remove(let us): for u in us { copy.remove([id, u]) }
                    case .removeAll: copy = copy.filter { $0[0] != id }
                    case .replaceAll(let us):
                        if us.contains(where: { state[$0] == nil }) { return false }
                        copy = copy.filter { $0[0] != id || us.contains($0[1]) }
                        for u in us where allowedToJoin(u) { copy.insert([id, u]) }
                    }
                }
                members = copy
            case .deleteGroup(_, let id, _):
                guard groups.contains(id) else { return false }
                groups.remove(id)
                members = members.filter { $0[0] != id }
            default: return true
            }
            return true
        }

        func allowedToJoin(_ u: String) -> Bool {
            state[u] == .active || (state[u] == .suspended && policy == .retain)
        }

        func expected(_ u: String, _ g: String) -> CheckReason {
            guard let s = state[u] else { return .userUnknown }
            if s == .deleted { return .userDeleted }
            if !groups.contains(g) { return .groupUnknown }
            if s == .suspended { return .userSuspended }
            return members.contains([g, u]) ? .member : .notMember
        }
    }

    @Test("index equals the naive model after every step", arguments: [MembershipPolicy.revoke, .retain], [1, 2, 3])
    func randomSequences(policy: MembershipPolicy, seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        var h = try Harness(policy: policy)
        var model = NaiveModel(policy: policy)
        let userIDs = (0..<12).map { "u\($0)" }
        let groupIDs = (0..<5).map { "g\($0)" }
        for step in 0..<600 {
            let m = randomMutation(&rng, users: userIDs, groups: groupIDs)
            let before = h.index
            let modelAccepted = model.apply(m)
            do {
                try h.apply(m)
                #expect(modelAccepted, "step \(step): index accepted \(m) but the model refused it")
            } catch {
                #expect(!modelAccepted, "step \(step): index refused \(m): \(error)")
                #expect(h.index.revision == before.revision)
            }
            let violations = h.index.invariantViolations()
            #expect(violations.isEmpty, "step \(step): \(violations)")
            for u in userIDs {
                for g in groupIDs {
                    let reason = try h.check(u, g).reason
                    #expect(reason == model.expected(u, g), "step \(step) after \(m): check(\(u), \(g))")
                }
            }
        }
        // A rebuild from the index's own rows equals the live index.
        var builder = MembershipIndexBuilder(revision: h.index.revision)
        if let d = h.index.directory("d1") { builder.add(d) }
        h.index.users.forEach { _, e in builder.add(e.record) }
        h.index.groups.forEach { _, e in
            builder.add(e.record)
            for m in e.memberKeys { builder.addMembership(groupKey: e.key, userKey: m) }
        }
        let rebuilt = builder.build()
        #expect(rebuilt.differences(from: h.index).isEmpty)
        #expect(rebuilt.invariantViolations().isEmpty)
    }

    func randomMutation(_ rng: inout SplitMix, users: [String], groups: [String]) -> Mutation {
        let u = users[Int(rng.next() % UInt64(users.count))]
        let u2 = users[Int(rng.next() % UInt64(users.count))]
        let g = groups[Int(rng.next() % UInt64(groups.count))]
        let name = "name\(rng.next() % 14)"
        let active = rng.next() % 3 != 0
        switch rng.next() % 10 {
        case 8: return .updateGroup(directoryID: "d1", id: g, draft: nil, previous: nil, memberOps: [.replaceAll([u2, u])], cause: .request)
        case 0: return .createUser(directoryID: "d1", id: u, UserDraft(userName: name, active: active))
        case 1: return .replaceUser(directoryID: "d1", id: u, UserDraft(userName: name, active: active), previous: nil)
        case 2: return .deleteUser(directoryID: "d1", id: u)
        case 3: return .createGroup(directoryID: "d1", id: g, GroupDraft(displayName: g), members: [u])
        case 4: return .deleteGroup(directoryID: "d1", id: g, cause: .request)
        case 5: return .updateGroup(directoryID: "d1", id: g, draft: nil, previous: nil, memberOps: [.remove([u])], cause: .request)
        case 6: return .updateGroup(directoryID: "d1", id: g, draft: nil, previous: nil, memberOps: [.removeAll, .add([u, u2])], cause: .request)
        default: return .updateGroup(directoryID: "d1", id: g, draft: nil, previous: nil, memberOps: [.add([u])], cause: .request)
        }
    }
}

/// A deterministic generator so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
