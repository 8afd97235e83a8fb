// Benchmarks of RosterCore's MembershipIndex (docs/BENCHMARKS.md, "Membership index (RosterCore)").
//
// The benchmark tool runs every benchmark in its own process, so each one builds the dataset it
// needs in its setup hook (outside the measured region), once.
import Benchmark
import RosterBenchSupport
import RosterCore

/// A built index and a pre-generated query set; the cursor walks the queries round-robin.
final class CheckFixture: @unchecked Sendable {
    let spec: DatasetSpec
    let index: MembershipIndex
    let queries: [CheckQuery]
    var cursor = 0

    init(_ shape: DatasetShape, byUserName: Bool, queryCount: Int = 1_000_000) {
        spec = DatasetSpec(shape)
        index = spec.build()
        queries = spec.queries(count: queryCount, byUserName: byUserName)
        // Warm the snapshot once (page faults, TLB), as a running server's would be.
        _ = index.runChecks(queries, 0..<queries.count, directoryID: spec.directoryID)
    }

    /// The next `count` queries (count divides the query count).
    @inline(__always)
    func run(_ count: Int) -> Int {
        let start = cursor
        cursor = (cursor + count) % queries.count
        return index.runChecks(queries, start..<(start + count), directoryID: spec.directoryID)
    }
}

/// The lookup server's path: each query's ids as the 72 request bytes they arrive as (user id,
/// then group id), parsed into UUID keys and answered with a directory handle resolved once.
final class WireCheckFixture: @unchecked Sendable {
    let index: MembershipIndex
    let directory: DirectoryHandle
    let bytes: [UInt8]
    let count: Int
    var cursor = 0

    init(_ shape: DatasetShape, queryCount: Int = 1_000_000) {
        let spec = DatasetSpec(shape)
        index = spec.build()
        directory = index.directoryHandle(spec.directoryID)!
        var bytes: [UInt8] = []
        bytes.reserveCapacity(queryCount * 72)
        for query in spec.queries(count: queryCount, byUserName: false) {
            guard case .id(let user) = query.user, case .id(let group) = query.group else { fatalError("not by id") }
            bytes += Array(user.utf8) + Array(group.utf8)
        }
        self.bytes = bytes
        count = queryCount
        _ = run(queryCount)
    }

    /// Answers the next `n` queries; returns how many were allowed.
    @inline(__always)
    func run(_ n: Int) -> Int {
        var allowed = 0
        bytes.withUnsafeBytes { raw in
            for step in 0..<n {
                let offset = ((cursor + step) % count) * 72
                guard let user = UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 36)])),
                    let group = UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: raw[(offset + 36)..<(offset + 72)]))
                else { continue }
                if index.check(in: directory, userID: user, groupID: group).allowed { allowed += 1 }
            }
        }
        cursor = (cursor + n) % count
        return allowed
    }
}

/// A chain of snapshots: each iteration applies one change to the latest and publishes it.
final class PublishFixture: @unchecked Sendable {
    let spec: DatasetSpec
    var index: MembershipIndex
    let publisher: IndexPublisher
    let mutations: [Mutation]
    var cursor = 0

    init(_ shape: DatasetShape, changes: Int) {
        spec = DatasetSpec(shape)
        index = spec.build()
        publisher = IndexPublisher(index)
        var rng = SplitMix64(state: 0xFEED)
        let spec = self.spec
        mutations = (0..<changes).map { _ in
            let u = Int(rng.next() % UInt64(shape.users))
            let g = Int(rng.next() % UInt64(shape.groups))
            return .updateGroup(
                directoryID: spec.directoryID, id: spec.groupID(g), draft: nil, previous: nil,
                memberOps: [.add([spec.userID(u)])], cause: .request)
        }
    }

    @inline(__always)
    func step() throws {
        let mutation = mutations[cursor]
        cursor = (cursor + 1) % mutations.count
        let applied = try index.apply(mutation, now: 0)
        publisher.publish(index)
        blackHole(applied.revision)
    }
}

/// The base snapshot and the mutation that suspends the user who is in exactly 1,000 groups.
struct SuspendFixture: @unchecked Sendable {
    let index: MembershipIndex
    let mutation: Mutation

    init(_ shape: DatasetShape) {
        let spec = DatasetSpec(shape)
        index = spec.build()
        let t = spec.suspendTargetOrdinal
        mutation = .replaceUser(
            directoryID: spec.directoryID, id: spec.userID(t),
            UserDraft(userName: spec.userName(t), active: false), previous: [:])
    }
}

enum IndexMetrics {
    static let rssDeltaMiB = BenchmarkMetric.custom("RSS delta (MiB)", polarity: .prefersSmaller, useScalingFactor: false)
    static let bytesPerMembership = BenchmarkMetric.custom(
        "RSS bytes/membership", polarity: .prefersSmaller, useScalingFactor: false)
    static let heapBytesPerMembership = BenchmarkMetric.custom(
        "heap bytes/membership", polarity: .prefersSmaller, useScalingFactor: false)
}

let benchmarks: @Sendable () -> Void = {
    let full = DatasetShape.full

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        maxDuration: .seconds(10),
        maxIterations: 10_000
    )

    // Check latency: 1,000 checks per iteration (results are per check), random pairs over the
    // whole 10M-membership index, half of them members.
    let checkConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 20,
        scalingFactor: .kilo,
        maxDuration: .seconds(8),
        maxIterations: 5_000
    )
    Benchmark("check by id (1M users, 100k groups, 10M memberships)", configuration: checkConfiguration) {
        benchmark, fixture in
        blackHole(fixture.run(benchmark.scaledIterations.count))
    } setup: {
        CheckFixture(full, byUserName: false)
    }

    Benchmark(
        "check by id, the lookup server's path (UUID keys from request bytes; 1M users, 10M memberships)",
        configuration: checkConfiguration
    ) { benchmark, fixture in
        blackHole(fixture.run(benchmark.scaledIterations.count))
    } setup: {
        WireCheckFixture(full)
    }

    Benchmark("check by userName (1M users, 100k groups, 10M memberships)", configuration: checkConfiguration) {
        benchmark, fixture in
        blackHole(fixture.run(benchmark.scaledIterations.count))
    } setup: {
        CheckFixture(full, byUserName: true)
    }

    // Suspending a user in 1,000 groups (policy revoke: 1,000 membership removals, events and
    // store changes), on a copy of the same snapshot each iteration; includes freeing the copy.
    Benchmark(
        "apply suspension of a user in 1,000 groups (10M memberships)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 5,
            maxDuration: .seconds(8), maxIterations: 500)
    ) { benchmark, fixture in
        var copy = fixture.index
        do {
            blackHole(try copy.apply(fixture.mutation, now: 0).events.count)
        } catch {
            fatalError("suspension failed: \(error)")
        }
    } setup: {
        SuspendFixture(full)
    }

    // Publishing after a one-membership change, at three sizes: a chain of snapshots, each
    // iteration one `apply(.updateGroup(... .add([u]) ...))` on the latest plus `publish`. The
    // periodic LayeredMap fold (delta > base / 8) shows in the top percentiles; see the probe's
    // `publish` command for its amortized cost.
    for shape in [DatasetShape.small, .medium, .full] {
        Benchmark(
            "apply + publish one membership add (\(shape))",
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 100,
                maxDuration: .seconds(8), maxIterations: 50_000)
        ) { benchmark, fixture in
            do {
                try fixture.step()
            } catch {
                fatalError("apply failed: \(error)")
            }
        } setup: {
            PublishFixture(shape, changes: 60_000)
        }
    }

    // Memory: build the 10M-membership index once and report RSS (after malloc_trim) and the
    // live heap per membership. This process runs under the benchmark's malloc interposer, which
    // adds 16 bytes to every allocation; `index-probe memory` gives the figure without it.
    Benchmark(
        "build 10M-membership index (memory)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal, IndexMetrics.rssDeltaMiB,
                IndexMetrics.bytesPerMembership, IndexMetrics.heapBytesPerMembership],
            timeUnits: .milliseconds, warmupIterations: 0, maxDuration: .seconds(120), maxIterations: 1)
    ) { benchmark in
        let spec = DatasetSpec(full)
        ProcessProbe.trimHeap()
        let rssBefore = ProcessProbe.residentBytes()
        let heapBefore = ProcessProbe.heapInUseBytes()
        let index = spec.build(withSuspendTarget: false)
        ProcessProbe.trimHeap()
        let rssAfter = ProcessProbe.residentBytes()
        let heapAfter = ProcessProbe.heapInUseBytes()
        let memberships = Swift.max(index.membershipCount, 1)
        benchmark.measurement(IndexMetrics.rssDeltaMiB, (rssAfter - rssBefore) >> 20)
        benchmark.measurement(IndexMetrics.bytesPerMembership, (rssAfter - rssBefore) / memberships)
        benchmark.measurement(IndexMetrics.heapBytesPerMembership, (heapAfter - heapBefore) / memberships)
        blackHole(index)
    }
}
