import ArgumentParser
import Histogram
import NIOCore
import NIOPosix
import RosterProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `roster-load run`: replays a queries file against the lookup socket.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Replay a queries file over the lookup socket and measure throughput and latency.",
        discussion: """
            Opens C connections and keeps P calls in flight on each (a new call is sent as soon as an answer \
            frees a slot). Each call is a Check, or with --batch B a BatchCheck of B consecutive queries. Every \
            answer is compared with the expected decision of its query: mismatches are counted as `wrong`, \
            failed calls and transport errors as `errors`. Latency is measured per call, from the write of \
            the request to the read of its answer, in an HdrHistogram (3 significant digits).

            Exit status: 0 when every answer was right, 3 when any was wrong or failed, 1 on a setup error.
            """)

    @Option(help: "Unix socket path of rosterd's lookup API.")
    var socket: String

    @Option(help: "Directory id the queries belong to.")
    var directory: String

    @Option(help: "Queries file: one `userId<TAB>groupId<TAB>allow|deny` per line (SCIM ids).")
    var queries: String

    @Option(help: "Connections to open.")
    var connections: Int = 1

    @Option(help: "Calls kept in flight on each connection (pipeline depth).")
    var pipeline: Int = 1

    @Option(help: "Checks per BatchCheck call; 1 sends single Check calls.")
    var batch: Int = 1

    @Option(help: "Seconds to measure, after the warm-up.")
    var duration: Double = 10

    @Option(help: "Total calls to send instead of a duration (split evenly over the connections; no warm-up).")
    var requests: Int?

    @Option(help: "Seconds of load before measuring (answers are checked, not counted).")
    var warmup: Double = 1

    @Option(help: "Threads of the load client (connections are spread over them).")
    var threads: Int = 1

    @Option(
        help: ArgumentHelp(
            "How the client drives its sockets: epoll (plain epoll loops, the leaner) or nio (SwiftNIO channels). Both use the same call bookkeeping and checks.",
            valueName: "epoll|nio"))
    var io: IOMode = .epoll

    enum IOMode: String, ExpressibleByArgument, Sendable {
        case epoll, nio
    }

    @Option(help: "Seconds to wait for the answers still in flight after the end.")
    var drain: Double = 5

    @Option(name: .customLong("server-pid"), help: "Sample this process's resident memory (VmRSS) once a second.")
    var serverPID: Int32?

    @Option(help: "A label copied into the JSON object.")
    var label: String?

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard (1...65_536).contains(pipeline) else { throw ValidationError("--pipeline must be from 1 to 65536") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be from 1 to 10000 (the server's default limit)") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard warmup >= 0, drain >= 0 else { throw ValidationError("--warmup and --drain must not be negative") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let requests, requests < connections {
            throw ValidationError("--requests must be at least --connections (\(connections))")
        }
    }

    func run() async throws {
        let plan: LoadPlan
        do {
            plan = try LoadPlan(queries: try QueryFile.read(path: queries), directoryID: directory, batchSize: batch)
        } catch {
            throw ValidationError(error.description)
        }
        switch io {
        case .epoll:
            try await runOnEpoll(plan: plan)
        case .nio:
            let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
            do {
                try await runOnNIO(plan: plan, group: group)
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
            try? await group.shutdownGracefully()
        }
    }

    /// Where connection `index` starts in the plan (connections do not all ask the same question
    /// at once).
    private func firstUnit(_ index: Int, _ plan: LoadPlan) -> Int {
        index * max(1, plan.unitCount / connections)
    }

    /// The run's timeline, starting now: warm-up, measurement, stop.
    private func makeSchedule() -> LoadSchedule {
        let now = MonotonicClock.nanoseconds()
        let warmupNanos = requests == nil ? UInt64(warmup * 1e9) : 0
        return LoadSchedule(
            start: now, recordFrom: now + warmupNanos, stopAt: now + warmupNanos + UInt64(duration * 1e9),
            callsPerConnection: requests.map { ($0 + connections - 1) / connections },
            drainNanoseconds: UInt64(drain * 1e9))
    }

    private func runOnEpoll(plan: LoadPlan) async throws {
        let fds: [Int32]
        do {
            fds = try EpollDriver.connect(socket, count: connections)
        } catch {
            throw ValidationError(error.description)
        }
        let maxFrameSize = FrameDecoder.defaultMaxFrameSize
        let connections = fds.enumerated().map { index, fd in
            let capacity = min(plan.maxFrameBytes * pipeline, 256 * 1024)
            return EpollDriver.Connection(
                fd: fd,
                state: LoadConnectionHandler.State(
                    plan: plan, pipeline: pipeline, firstUnit: firstUnit(index, plan), maxFrameSize: maxFrameSize,
                    output: ByteBufferAllocator().buffer(capacity: capacity)))
        }
        let threadCount = min(threads, connections.count)
        let shares = (0..<threadCount).map { thread in
            UncheckedShare(connections: stride(from: thread, to: connections.count, by: threadCount).map { connections[$0] })
        }
        let schedule = makeSchedule()
        let sampler = serverPID.map { MemorySampler(pid: $0, start: schedule.recordFrom) }
        let samplingTask = sampler.map { sampler in Task { await sampler.run() } }
        let results = ResultBox(count: threadCount)
        // The drivers block their threads in epoll_wait: OS threads, not the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Workers.spawn {
                Workers.run(threadCount) { thread in
                    results.store(thread, EpollDriver.run(shares[thread].connections, schedule: schedule))
                }
                continuation.resume()
            }
        }
        let end = MonotonicClock.nanoseconds()
        samplingTask?.cancel()
        _ = await samplingTask?.value
        try await report(results.all.flatMap { $0 }, plan: plan, schedule: schedule, end: end, memory: await sampler?.summary())
    }

    private func runOnNIO(plan: LoadPlan, group: MultiThreadedEventLoopGroup) async throws {
        // Connect everything first, then start every connection at the same moment.
        var channels: [any Channel] = []
        var results: [EventLoopFuture<ConnectionStats>] = []
        let maxFrameSize = FrameDecoder.defaultMaxFrameSize
        let pipeline = self.pipeline
        for index in 0..<connections {
            let loop = group.next()
            let done = loop.makePromise(of: ConnectionStats.self)
            let firstUnit = firstUnit(index, plan)
            do {
                let channel = try await ClientBootstrap(group: loop)
                    .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 64 * 1024))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                LoadConnectionHandler(
                                    plan: plan, pipeline: pipeline, firstUnit: firstUnit, maxFrameSize: maxFrameSize,
                                    done: done))
                        }
                    }
                    .connect(unixDomainSocketPath: socket).get()
                channels.append(channel)
                results.append(done.futureResult)
            } catch {
                done.fail(error)
                for channel in channels { try? await channel.close() }
                throw ValidationError("cannot connect to \(socket): \(error)")
            }
        }

        let schedule = makeSchedule()
        let sampler = serverPID.map { MemorySampler(pid: $0, start: schedule.recordFrom) }
        let samplingTask = sampler.map { sampler in Task { await sampler.run() } }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(LoadStartEvent(schedule: schedule))
        }
        var stats: [ConnectionStats] = []
        for future in results { stats.append(try await future.get()) }
        let end = MonotonicClock.nanoseconds()
        samplingTask?.cancel()
        _ = await samplingTask?.value
        for channel in channels { try? await channel.close() }
        try await report(stats, plan: plan, schedule: schedule, end: end, memory: await sampler?.summary())
    }

    /// Adds the connections' figures up and prints the summary or the JSON object.
    private func report(
        _ stats: [ConnectionStats], plan: LoadPlan, schedule: LoadSchedule, end: UInt64, memory: MemorySummary?
    ) async throws {
        var total = ConnectionStats()
        for stats in stats {
            total.histogram.add(stats.histogram)
            total.calls += stats.calls
            total.checks += stats.checks
            total.answeredCalls += stats.answeredCalls
            total.answeredChecks += stats.answeredChecks
            total.allowAnswers += stats.allowAnswers
            total.errors += stats.errors
            total.wrong += stats.wrong
            total.firstErrors.append(contentsOf: stats.firstErrors.prefix(max(0, 5 - total.firstErrors.count)))
            if stats.firstAnswer != 0 {
                total.firstAnswer = total.firstAnswer == 0 ? stats.firstAnswer : min(total.firstAnswer, stats.firstAnswer)
            }
            total.lastAnswer = max(total.lastAnswer, stats.lastAnswer)
        }
        let seconds: Double
        if requests != nil {
            seconds = Double(max(1, total.lastAnswer &- schedule.start)) / 1e9
        } else {
            // The window ends at stopAt, or earlier if every connection failed before it.
            seconds = Double(min(schedule.stopAt, max(end, schedule.recordFrom + 1)) - schedule.recordFrom) / 1e9
        }
        let report = LoadReport(
            label: label, connections: connections, pipeline: pipeline, batch: batch, threads: threads, seconds: seconds,
            queries: plan.expected.count, expectedAllow: plan.allowCount, stats: total, memory: memory)
        if json {
            print(report.json())
        } else {
            print(report.summary())
        }
        if total.errors > 0 || total.wrong > 0 {
            throw ExitCode(3)
        }
    }
}

/// One driver thread's connections, handed to it once and used by it alone.
private struct UncheckedShare: @unchecked Sendable {
    let connections: [EpollDriver.Connection]
}

/// Each driver thread's results, collected after all of them have ended.
private final class ResultBox: Sendable {
    private let results: Mutex<[[ConnectionStats]]>

    init(count: Int) { results = Mutex(Array(repeating: [], count: count)) }

    func store(_ index: Int, _ stats: [ConnectionStats]) {
        results.withLock { $0[index] = stats }
    }

    var all: [[ConnectionStats]] { results.withLock { $0 } }
}

/// Samples a process's VmRSS once a second.
actor MemorySampler {
    let pid: Int32
    let start: UInt64
    private var samples: [Int] = []

    init(pid: Int32, start: UInt64) {
        self.pid = pid
        self.start = start
    }

    func run() async {
        let now = MonotonicClock.nanoseconds()
        if start > now { try? await Task.sleep(for: .nanoseconds(Int64(start - now))) }
        while !Task.isCancelled {
            if let value = ProcessMemory.residentKilobytes(pid: pid) { samples.append(value) }
            try? await Task.sleep(for: .seconds(1))
        }
        if let value = ProcessMemory.residentKilobytes(pid: pid) { samples.append(value) }
    }

    func summary() -> MemorySummary? {
        guard let first = samples.first, let last = samples.last, let top = samples.max() else { return nil }
        return MemorySummary(startKB: first, endKB: last, maxKB: top, samples: samples.count)
    }
}

struct MemorySummary: Sendable {
    var startKB: Int
    var endKB: Int
    var maxKB: Int
    var samples: Int
}
