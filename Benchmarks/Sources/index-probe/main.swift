// A plain driver for the membership index, without the benchmark framework and its malloc
// interposer (which adds a 16-byte header to every allocation): the memory figures, the fold
// amortization, and a loop to run under `perf record` or `valgrind --tool=callgrind`.
//
//   index-probe memory  [--users N --groups N --per-user N]
//   index-probe check   [--users N --groups N] [--by-username] [--queries N] [--passes N]
//   index-probe publish [--users N --groups N] [--changes N]
//   index-probe suspend [--users N --groups N] [--runs N]
//   index-probe baseline [--users N --groups N] [--queries N] [--passes N]
//   index-probe layouts  [--users N --groups N] [--queries N] [--passes N]
import RosterBenchSupport
import RosterCore

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var command = "memory"
    var shape = DatasetShape.full
    var byUserName = false
    /// Decode each query's strings from one contiguous byte buffer right before the check, as
    /// the server does from a received frame (instead of reading 2M cold, separately allocated
    /// Strings, which adds two cache misses per check that a server never pays).
    var wire = false
    /// With --wire: answer as the lookup server's in-place path does (UUID keys parsed from the
    /// bytes, a directory handle resolved once), instead of building Strings.
    var keys = false
    var queries = 1_000_000
    var passes = 5
    var changes = 0
    var runs = 200

    init(_ arguments: [String]) {
        var args = arguments.dropFirst()
        if let first = args.first, !first.hasPrefix("--") {
            command = first
            args = args.dropFirst()
        }
        var users = shape.users
        var groups = shape.groups
        var perUser = shape.groupsPerUser
        while let flag = args.popFirst() {
            func value() -> Int {
                guard let text = args.popFirst(), let v = Int(text.replacingOccurrences(of: "_", with: "")) else {
                    fatalError("\(flag) needs an integer")
                }
                return v
            }
            switch flag {
            case "--users": users = value()
            case "--groups": groups = value()
            case "--per-user": perUser = value()
            case "--by-username": byUserName = true
            case "--wire": wire = true
            case "--keys": keys = true
            case "--queries": queries = value()
            case "--passes": passes = value()
            case "--changes": changes = value()
            case "--runs": runs = value()
            default: fatalError("unknown option \(flag)")
            }
        }
        shape = DatasetShape(users: users, groups: groups, groupsPerUser: perUser)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

func mib(_ bytes: Int) -> String { format1(Double(bytes) / 1_048_576) + " MiB" }

func format1(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return String(scaled)
}

@inline(never)
func buildTimed(_ spec: DatasetSpec, withSuspendTarget: Bool = true) -> MembershipIndex {
    let start = ProcessProbe.nanos()
    let index = spec.build(withSuspendTarget: withSuspendTarget)
    let seconds = Double(ProcessProbe.nanos() - start) / 1e9
    print("built \(spec.shape) in \(format1(seconds)) s (\(index.membershipCount) memberships)")
    return index
}

func memory(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    ProcessProbe.trimHeap()
    let rssBefore = ProcessProbe.residentBytes()
    let heapBefore = ProcessProbe.heapInUseBytes()
    let index = buildTimed(spec, withSuspendTarget: false)
    ProcessProbe.trimHeap()
    let rssAfter = ProcessProbe.residentBytes()
    let heapAfter = ProcessProbe.heapInUseBytes()
    let m = Double(index.membershipCount)
    print("RSS before \(mib(rssBefore)), after \(mib(rssAfter)) (after malloc_trim)")
    print("RSS delta \(mib(rssAfter - rssBefore)) = \(format1(Double(rssAfter - rssBefore) / m)) bytes/membership")
    print("heap in use delta \(mib(heapAfter - heapBefore)) = \(format1(Double(heapAfter - heapBefore) / m)) bytes/membership")
    withExtendedLifetime(index) {}
}

func check(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    let index = buildTimed(spec)
    let queries = spec.queries(count: options.queries, byUserName: options.byUserName)
    print("measuring (pid \(getpid()))")
    fflush(nil)
    let kind = (options.byUserName ? "userName" : "id") + (options.wire ? " (decoded from a wire buffer)" : "")
    if options.wire {
        // One contiguous buffer: user bytes, group bytes, per query, with offsets.
        var bytes: [UInt8] = []
        var spans: [(Int, Int, Int, Int, Bool)] = []
        for q in queries {
            guard case .id(let u) = q.user, case .id(let g) = q.group else { fatalError("--wire supports id queries only") }
            let us = bytes.count
            bytes += Array(u.utf8)
            let gs = bytes.count
            bytes += Array(g.utf8)
            spans.append((us, gs - us, gs, bytes.count - gs, q.expectMember))
        }
        let directoryID = spec.directoryID
        if options.keys {
            guard let directory = index.directoryHandle(directoryID) else { fatalError("no directory") }
            let (samples, hits) = bytes.withUnsafeBytes { buffer in
                measureBatches(count: spans.count, passes: options.passes) { i in
                    let (us, ul, gs, gl, expected) = spans[i]
                    guard let user = RosterCore.UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: buffer[us..<(us + ul)])),
                        let group = RosterCore.UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: buffer[gs..<(gs + gl)]))
                    else { fatalError("query \(i) is not by UUID") }
                    let result = index.check(in: directory, userID: user, groupID: group)
                    guard result.allowed == expected else { fatalError("wrong answer for query \(i)") }
                    return result.allowed
                }
            }
            print("check by id (UUID keys parsed from a wire buffer, as the server does): \(LatencySummary(samples)) (allowed \(hits))")
            return
        }
        let (samples, hits) = bytes.withUnsafeBufferPointer { buffer in
            measureBatches(count: spans.count, passes: options.passes) { i in
                let (us, ul, gs, gl, expected) = spans[i]
                let user = String(decoding: UnsafeBufferPointer(rebasing: buffer[us..<(us + ul)]), as: UTF8.self)
                let group = String(decoding: UnsafeBufferPointer(rebasing: buffer[gs..<(gs + gl)]), as: UTF8.self)
                guard let result = try? index.check(directoryID: directoryID, user: .id(user), group: .id(group)),
                    result.allowed == expected
                else { fatalError("wrong answer for query \(i)") }
                return result.allowed
            }
        }
        print("check by \(kind): \(LatencySummary(samples)) (allowed \(hits))")
        return
    }
    let (samples, hits) = measureBatches(count: queries.count, passes: options.passes) { i in
        index.runCheck(queries[i], directoryID: spec.directoryID)
    }
    print("check by \(kind): \(LatencySummary(samples)) (allowed \(hits))")
}

func publish(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    var index = buildTimed(spec)
    let publisher = IndexPublisher(index)
    // Enough changes to cross at least one fold of the users map (delta > base / 8) by default.
    let changes = options.changes > 0 ? options.changes : Swift.max(20_000, spec.shape.users / 8 + spec.shape.users / 16)
    var rng = SplitMix64(state: 0xFEED)
    let mutations: [Mutation] = (0..<changes).map { _ in
        let u = Int(rng.next() % UInt64(spec.shape.users))
        let g = Int(rng.next() % UInt64(spec.shape.groups))
        return .updateGroup(
            directoryID: spec.directoryID, id: spec.groupID(g), draft: nil, previous: nil,
            memberOps: [.add([spec.userID(u)])], cause: .request)
    }
    var samples: [Double] = []
    samples.reserveCapacity(changes)
    let totalStart = ProcessProbe.nanos()
    for mutation in mutations {
        let start = ProcessProbe.nanos()
        do {
            _ = try index.apply(mutation, now: 0)
        } catch {
            fatalError("apply failed: \(error)")
        }
        publisher.publish(index)
        samples.append(Double(ProcessProbe.nanos() - start))
    }
    let mean = Double(ProcessProbe.nanos() - totalStart) / Double(changes)
    let summary = LatencySummary(samples)
    print("apply + publish of one membership add, \(changes) changes in a chain: \(summary)")
    print("amortized (total / changes, includes every fold): \(fmt(mean))")
    // Folds show as isolated spikes far above the median: report them apart.
    let threshold = Swift.max(summary.median * 50, 250_000)
    let spikes = samples.enumerated().filter { $0.element > threshold }
    let spikeTotal = spikes.reduce(0) { $0 + $1.element }
    let rest = LatencySummary(samples.filter { $0 <= threshold })
    print("without the \(spikes.count) spikes over \(fmt(threshold)): \(rest)")
    print("spikes (LayeredMap folds): \(spikes.count), \(LatencySummary(spikes.map(\.element)))")
    print("spike share of total time: \(format1(100 * spikeTotal / (mean * Double(changes))))%; amortized fold cost per change: \(fmt(spikeTotal / Double(changes)))")
    var byMagnitude: [Int: [Int]] = [:]
    for (i, value) in spikes { byMagnitude[Int(log10(value).rounded(.down)), default: []].append(i + 1) }
    for (magnitude, at) in byMagnitude.sorted(by: { $0.key < $1.key }) {
        print("  \(at.count) spike(s) of \(fmt(pow(10, Double(magnitude))))-\(fmt(pow(10, Double(magnitude + 1)))) at changes \(at.prefix(8).map(String.init).joined(separator: ", "))\(at.count > 8 ? ", ..." : "")")
    }
    withExtendedLifetime(publisher) {}
}

func suspend(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    let index = buildTimed(spec)
    let t = spec.suspendTargetOrdinal
    let mutation = Mutation.replaceUser(
        directoryID: spec.directoryID, id: spec.userID(t),
        UserDraft(userName: spec.userName(t), active: false), previous: [:])
    var samples: [Double] = []
    var events = 0
    print("measuring (pid \(getpid()))")
    fflush(nil)
    for _ in 0..<options.runs {
        let start = ProcessProbe.nanos()
        var copy = index
        do {
            events &+= try copy.apply(mutation, now: 0).events.count
        } catch {
            fatalError("apply failed: \(error)")
        }
        withExtendedLifetime(copy) {}
        samples.append(Double(ProcessProbe.nanos() - start))
    }
    print("suspend a user in 1,000 groups (\(events / options.runs) events): \(LatencySummary(samples))")
}

/// The same queries against plain Swift standard-library sets of the pairs, to separate the cost
/// of Swift hashing and memory layout from RosterCore's own structure.
func baseline(_ options: Options) {
    let spec = DatasetSpec(options.shape)
    var strings = Set<String>(minimumCapacity: spec.shape.memberships)
    var ints = Set<UInt64>(minimumCapacity: spec.shape.memberships)
    for u in 0..<spec.shape.users {
        let uid = spec.userID(u)
        for g in spec.groupsOf(u) {
            strings.insert(uid + "\t" + spec.groupID(g))
            ints.insert(UInt64(u + 1) << 32 | UInt64(g + 1))
        }
    }
    let queries = spec.queries(count: options.queries)
    let pairs = queries.map { q -> String in
        guard case .id(let u) = q.user, case .id(let g) = q.group else { fatalError() }
        return u + "\t" + g
    }
    let keys = queries.map { UInt64($0.userOrdinal + 1) << 32 | UInt64($0.groupOrdinal + 1) }
    func measure(_ name: String, _ body: (Int) -> Bool) {
        let (samples, hits) = measureBatches(count: queries.count, passes: options.passes, body)
        print("\(name): \(LatencySummary(samples)) (hits \(hits))")
    }
    measure("Swift Set<String> \"userId\\tgroupId\"") { strings.contains(pairs[$0]) }
    measure("Swift Set<UInt64> (userKey << 32 | groupKey)") { ints.contains(keys[$0]) }
}

let options = Options(CommandLine.arguments)
switch options.command {
case "memory": memory(options)
case "check": check(options)
case "publish": publish(options)
case "suspend": suspend(options)
case "baseline": baseline(options)
case "layouts": layouts(options)
default:
    print("usage: index-probe memory|check|publish|suspend|baseline|layouts [--users N --groups N --per-user N] [--by-username] [--queries N] [--passes N] [--changes N] [--runs N]")
    exit(2)
}
