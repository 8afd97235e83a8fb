import Glibc
import RosterClient
import RosterProtocol
import Testing

@Suite("Client", .timeLimit(.minutes(1)))
struct ClientTests {
    @Test("the local deadline fires when the server never answers")
    func localDeadline() async throws {
        try await withTemporaryDirectory { directory in
            // A listening socket that never accepts: connect succeeds, nothing is ever read.
            let path = directory + "/mute.sock"
            let mute = RawSocket()
            #expect(mute.bind(path) && mute.listen())
            defer { mute.close() }
            var configuration = RosterClient.Configuration()
            configuration.localDeadlineGrace = .milliseconds(10)
            let client = try await RosterClient.connect(socketPath: path, configuration: configuration)
            let started = ContinuousClock.now
            let error = await #expect(throws: RosterClientError.self) {
                try await client.health(timeout: .milliseconds(100))
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(error?.statusCode == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(3))
            await client.close()
        }
    }

    @Test("calls in flight fail with connectionClosed (UNAVAILABLE) when the connection drops")
    func connectionDrop() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/drop.sock"
            let listener = RawSocket()
            #expect(listener.bind(path) && listener.listen())
            let client = try await RosterClient.connect(socketPath: path)
            let pending = Task { try await client.health(timeout: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(50))
            // Closing a listening socket resets the connections waiting in its backlog.
            listener.close()
            let error = await #expect(throws: RosterClientError.self) { try await pending.value }
            #expect(error?.code == .connectionClosed)
            #expect(error?.statusCode == .unavailable)
            // Later calls fail at once.
            await #expect(throws: RosterClientError.self) { try await client.health() }
            await client.close()
        }
    }

    @Test("connecting to a missing socket is connectionFailed (UNAVAILABLE)")
    func connectFailure() async throws {
        let error = await #expect(throws: RosterClientError.self) {
            try await RosterClient.connect(socketPath: "/tmp/roster-test-no-such-dir/roster.sock")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.statusCode == .unavailable)
    }

    @Test("many tasks pipeline on one connection and each gets its own answer")
    func pipelinedTasks() async throws {
        let backend = try makeAcme()
        try await withServer(backend) { running in
            let client = try await RosterClient.connect(socketPath: running.path)
            let users = ["alice@example.com", "bob@example.com", "carol@example.com", "nobody@example.com"]
            let expected: [Roster_V1_Reason] = [.member, .userSuspended, .notMember, .userUnknown]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<32 {
                    group.addTask {
                        for n in 0..<100 {
                            let pick = (task + n) % users.count
                            let answer = try await client.check(
                                directoryID: "dir_acme", user: .userName(users[pick]), group: .displayName("admins"))
                            #expect(answer.reason == expected[pick])
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.stats().callsTotal >= 3200)
            await client.close()
        }
    }
}
