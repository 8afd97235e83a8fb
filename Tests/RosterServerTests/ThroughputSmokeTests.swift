import Glibc
import NIOCore
import RosterClient
import RosterProtocol
import Synchronization
import Testing

/// Opt-in throughput smoke test (ROSTER_SMOKE_THROUGHPUT=1): pipelined Checks on one
/// connection through the raw frame API, and through the async client from many tasks.
/// Prints the rates; asserts only that every answer arrived. Real numbers belong to roster-load.
@Suite("Throughput smoke", .enabled(if: getenv("ROSTER_SMOKE_THROUGHPUT") != nil), .timeLimit(.minutes(2)))
struct ThroughputSmokeTests {
    @Test("raw pipelined checks on one connection")
    func rawPipelined() async throws {
        let backend = try makeAcme()
        try await withServer(backend) { running in
            let total = 400_000
            let window = 2_000
            let received = Atomic<Int>(0)
            let done = AsyncStream<Void>.makeStream()
            let connection = try await RosterFrameConnection.connect(socketPath: running.path) { _ in
                let count = received.add(1, ordering: .relaxed).newValue
                if count % window == 0 || count == total { done.continuation.yield() }
            }
            var batch = ByteBuffer()
            for n in 0..<window { try batch.writeRosterFrame(Roster_V1_RequestFrame.check(UInt64(n + 1))) }
            let started = ContinuousClock.now
            connection.send(batch)
            connection.send(batch)
            var sent = 2 * window
            for await _ in done.stream {
                if sent < total {
                    connection.send(batch)
                    sent += window
                }
                if received.load(ordering: .relaxed) >= total { break }
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("raw pipelined: \(total) checks in \(elapsed), \(Int(Double(total) / seconds)) checks/s")
            #expect(received.load(ordering: .relaxed) == total)
            await connection.close()
        }
    }

    @Test("async client, 64 tasks sharing one connection")
    func asyncClient() async throws {
        let backend = try makeAcme()
        try await withServer(backend) { running in
            let client = try await RosterClient.connect(socketPath: running.path)
            let perTask = 2_000
            let tasks = 64
            let started = ContinuousClock.now
            let allowed = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        var allowed = 0
                        for _ in 0..<perTask {
                            let answer = try await client.check(
                                directoryID: "dir_acme", user: .userName("alice@example.com"), group: .displayName("admins"))
                            if answer.allowed { allowed += 1 }
                        }
                        return allowed
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("async client: \(tasks * perTask) checks in \(elapsed), \(Int(Double(tasks * perTask) / seconds)) checks/s")
            #expect(allowed == tasks * perTask)
            await client.close()
        }
    }
}
