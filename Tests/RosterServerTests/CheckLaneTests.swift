import Glibc
import NIOCore
import RosterClient
import RosterCore
import RosterProtocol
import ServiceLifecycle
import Testing

@testable import RosterServer

/// The check lane (`CheckLane`) serves plain Checks on its own epoll loop and hands a connection
/// to SwiftNIO on its first other frame. These tests run real servers on real sockets: one with
/// the lane, one without (`checkLanes = 0`), and compare what clients see.
@Suite("Check lane", .timeLimit(.minutes(2)))
struct CheckLaneTests {
    typealias Fixture = InPlaceCheckTests

    @Test("the same byte streams, mutated and cut anywhere, get the same answers with and without the lane")
    func parityWithNIO() async throws {
        let backend = try Fixture.makeBackend()
        var generator = SystemRandomNumberGenerator()
        try await withServer(backend, configure: { $0.checkLanes = 1 }) { lane in
            try await withServer(backend, configure: { $0.checkLanes = 0 }) { nio in
                var handedOver = 0
                var closedByError = 0
                for round in 0..<150 {
                    let stream = Self.mixedStream(round: round, using: &generator)
                    let chunks = Self.randomCuts(stream.count, using: &generator)
                    let fromLane = try await Self.exchange(lane.path, stream, chunks)
                    let fromNIO = try await Self.exchange(nio.path, stream, chunks)
                    #expect(fromLane == fromNIO, "round \(round): the lane answered differently from NIO")
                    if fromNIO.contains(where: { $0.callID == 0 }) { closedByError += 1 }
                    handedOver = Int(lane.server.checkLaneHandovers)
                }
                // The streams exercised the lane, the handover and the connection errors.
                #expect(handedOver > 20)
                #expect(handedOver < 150)
                #expect(closedByError > 5)
                #expect(nio.server.checkLaneHandovers == 0)
            }
        }
    }

    @Test("plain Checks stay on the lane; the first other frame hands over once and every answer arrives in order")
    func handoverKeepsOrder() async throws {
        try await Self.withConnection { running, socket, _ in
            var first = ByteBuffer()
            for call in 1...100 {
                try first.writeRosterFrame(Fixture.byID(UInt64(call), "one", call % 2 == 0 ? Fixture.alice : Fixture.carol, Fixture.admins))
            }
            #expect(socket.send(Array(first.readableBytesView)))
            var answers = try await Self.receive(socket, frames: 100)
            #expect(answers.map(\.callID) == Array(1...100))
            #expect(answers.map(\.check.allowed) == (1...100).map { $0 % 2 == 0 })
            #expect(running.server.checkLaneHandovers == 0)

            // Checks, a Health in the middle, more Checks: one write, so one read on the lane.
            var mixed = ByteBuffer()
            for call in 101...150 { try mixed.writeRosterFrame(Fixture.byID(UInt64(call), "one", Fixture.alice, Fixture.admins)) }
            try mixed.writeRosterFrame(Roster_V1_RequestFrame.method(151, .health(Roster_V1_HealthRequest())))
            for call in 152...200 { try mixed.writeRosterFrame(Fixture.byID(UInt64(call), "two", Fixture.erin, Fixture.staff)) }
            #expect(socket.send(Array(mixed.readableBytesView)))
            answers = try await Self.receive(socket, frames: 100)
            #expect(answers.map(\.callID) == Array(101...200))
            #expect(answers[50].health.status == "SERVING")
            #expect(answers.filter { $0.callID != 151 }.allSatisfy { $0.check.allowed })
            #expect(running.server.checkLaneHandovers == 1)

            // The connection goes on being served, by NIO now; a new connection starts on the lane.
            #expect(socket.send(Array(encode(Fixture.byID(201, "one", Fixture.bob, Fixture.admins)).readableBytesView)))
            #expect(try await Self.receive(socket, frames: 1).first?.check.reason == .userSuspended)
            let client = try await RosterClient.connect(socketPath: running.path)
            #expect(try await client.check(directoryID: "one", user: .id(Fixture.alice), group: .id(Fixture.admins)).allowed)
            #expect(running.server.checkLaneHandovers == 1)
            await client.close()
        }
    }

    @Test("a write published between two reads is seen by the next Check on the same lane connection")
    func seesNewSnapshots() async throws {
        try await Self.withConnection { running, socket, backend in
            #expect(socket.send(Array(encode(Fixture.byID(1, "one", Fixture.alice, Fixture.admins)).readableBytesView)))
            let before = try await Self.receive(socket, frames: 1)
            #expect(before.first?.check.allowed == true)
            try backend.setActive(Fixture.alice, false, in: "one")
            #expect(socket.send(Array(encode(Fixture.byID(2, "one", Fixture.alice, Fixture.admins)).readableBytesView)))
            let after = try await Self.receive(socket, frames: 1)
            #expect(after.first?.check.reason == .userSuspended)
            #expect(after.first!.check.revision > before.first!.check.revision)
            #expect(running.server.checkLaneHandovers == 0)
        }
    }

    @Test("a frame split into single bytes is answered once whole; Stats counts the lane's frames")
    func byteByByte() async throws {
        try await Self.withConnection { running, socket, _ in
            let bytes = Array(
                encode(Fixture.byID(1, "one", Fixture.alice, Fixture.admins), Fixture.byID(2, "one", Fixture.carol, Fixture.admins))
                    .readableBytesView)
            for byte in bytes {
                #expect(socket.send([byte]))
                try await Task.sleep(for: .microseconds(200))  // separate reads
            }
            let answers = try await Self.receive(socket, frames: 2)
            #expect(answers.map(\.check.reason) == [.member, .notMember])
            #expect(running.server.checkLaneHandovers == 0)
            let client = try await RosterClient.connect(socketPath: running.path)
            #expect(try await eventually { try await client.stats().callsTotal >= 3 })
            await client.close()
        }
    }

    @Test("a frame announcing more than 64 KiB goes to NIO with its bytes: a 5,000-check BatchCheck is answered")
    func largeFrameHandedOver() async throws {
        try await Self.withConnection { running, socket, _ in
            var batch = Roster_V1_RequestFrame()
            batch.callID = 7
            batch.batchCheck.directoryID = "one"
            for item in 0..<5000 {
                var check = Roster_V1_CheckItem()
                check.user.id = item % 2 == 0 ? Fixture.alice : Fixture.carol
                check.group.id = Fixture.admins
                batch.batchCheck.checks.append(check)
            }
            let bytes = Array(encode(Fixture.byID(6, "one", Fixture.alice, Fixture.admins), batch).readableBytesView)
            #expect(bytes.count > CheckLane.maxLaneFrame)
            #expect(socket.send(bytes))
            let answers = try await Self.receive(socket, frames: 2)
            #expect(answers.map(\.callID) == [6, 7])
            #expect(answers[1].batchCheck.results.count == 5000)
            #expect(answers[1].batchCheck.results.enumerated().allSatisfy { $0.element.allowed == ($0.offset % 2 == 0) })
            #expect(running.server.checkLaneHandovers == 1)
        }
    }

    @Test("a client that reads late gets every answer: the lane waits for the socket to drain, then reads on")
    func lateReader() async throws {
        try await Self.withConnection { running, socket, _ in
            var frames = ByteBuffer()
            let count = 100_000
            for call in 1...count {
                try frames.writeRosterFrame(Fixture.byID(UInt64(call), "one", call % 3 == 0 ? Fixture.alice : Fixture.carol, Fixture.admins))
            }
            let bytes = Array(frames.readableBytesView)
            // Far more answers than socket buffers hold: the sender blocks until we read.
            let sender = Task { try await Self.sendAll(socket, bytes) }
            try await Task.sleep(for: .milliseconds(300))
            let answers = try await Self.receive(socket, frames: count)
            #expect(try await sender.value)
            let misplaced = answers.enumerated().filter { $0.element.callID != UInt64($0.offset + 1) }
            #expect(misplaced.isEmpty, "\(misplaced.count) answers out of order")
            let wrong = answers.enumerated().filter { $0.element.check.allowed != (($0.offset + 1) % 3 == 0) }
            #expect(wrong.isEmpty, "\(wrong.count) wrong answers")
            #expect(running.server.checkLaneHandovers == 0)
        }
    }

    @Test("several lanes share the listening socket: 200 connections are all served")
    func severalLanes() async throws {
        let backend = try Fixture.makeBackend()
        try await withServer(backend, configure: { $0.checkLanes = 4 }) { running in
            let allowed = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<200 {
                    group.addTask {
                        let socket = RawSocket()
                        defer { socket.close() }
                        guard socket.connect(running.path) else { return -1 }
                        var frames = ByteBuffer()
                        for call in 1...20 {
                            try frames.writeRosterFrame(
                                Fixture.byID(UInt64(call), "one", (worker + call) % 2 == 0 ? Fixture.alice : Fixture.bob, Fixture.admins))
                        }
                        guard socket.send(Array(frames.readableBytesView)) else { return -1 }
                        return try await Self.receive(socket, frames: 20).filter(\.check.allowed).count
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(allowed.count == 200)
            #expect(allowed.allSatisfy { $0 == 10 })
            #expect(running.server.checkLaneHandovers == 0)
            #expect(try await eventually { running.server.connectionCount == 0 })
        }
    }

    @Test("graceful shutdown closes the lane's connections and the run ends; the socket file goes away")
    func gracefulShutdown() async throws {
        try await Self.withConnection { (running: RunningServer, socket: RawSocket, _: FakeBackend) async throws -> Void in
            #expect(socket.send(Array(encode(Fixture.byID(1, "one", Fixture.alice, Fixture.admins)).readableBytesView)))
            #expect(try await Self.receive(socket, frames: 1).first?.check.allowed == true)
            await running.group.triggerGracefulShutdown()
            // The lane closes an idle connection at once: the client reads end-of-file.
            #expect(try await Self.readToEnd(socket).isEmpty)
            #expect(try await eventually { access(running.path, F_OK) != 0 })
            #expect(running.server.connectionCount == 0)
        }
    }

    @Test("a client that pipelines, then half-closes, gets every answer (a revision wait included) before the close", arguments: [0, 1])
    func halfClose(lanes: Int) async throws {
        let backend = try Fixture.makeBackend()
        try await withServer(backend, configure: { $0.checkLanes = lanes }) { running in
            let socket = RawSocket()
            defer { socket.close() }
            try #require(socket.connect(running.path))
            var frames = ByteBuffer()
            let count = 20_000
            for call in 1...count {
                try frames.writeRosterFrame(Fixture.byID(UInt64(call), "one", call % 2 == 0 ? Fixture.alice : Fixture.carol, Fixture.admins))
            }
            // Last, a Check that waits for a revision that never comes: DEADLINE_EXCEEDED in 300 ms.
            var waiting = Fixture.byID(UInt64(count + 1), "one", Fixture.alice, Fixture.admins)
            waiting.check.minRevision = backend.publisher.current.revision + 100
            waiting.timeoutMs = 300
            try frames.writeRosterFrame(waiting)
            let bytes = Array(frames.readableBytesView)
            let sender = Task {
                let sent = try await Self.sendAll(socket, bytes)
                shutdown(socket.fd, Int32(SHUT_WR))
                return sent
            }
            try await Task.sleep(for: .milliseconds(200))
            var received = ByteBuffer(bytes: try await Self.readToEnd(socket))
            #expect(try await sender.value)
            var answers: [Roster_V1_ResponseFrame] = []
            while let payload = try FrameDecoder.decodeFrame(from: &received, maxFrameSize: .max) {
                answers.append(try Roster_V1_ResponseFrame(framePayload: payload))
            }
            #expect(answers.count == count + 1)
            let wrong = answers.prefix(count).enumerated().filter { $0.element.check.allowed != (($0.offset + 1) % 2 == 0) }
            #expect(wrong.isEmpty, "\(wrong.count) wrong answers")
            #expect(answers.last?.callID == UInt64(count + 1))
            #expect(answers.last?.status.code == .deadlineExceeded)
        }
    }

    @Test("graceful shutdown does not wait past the grace period for a client that never reads its answers")
    func graceDeadline() async throws {
        let backend = try Fixture.makeBackend()
        try await withServer(backend, configure: { $0.shutdownGracePeriod = .milliseconds(300) }) {
            (running: RunningServer) async throws -> Void in
            let socket = RawSocket()
            defer { socket.close() }
            try #require(socket.connect(running.path))
            socket.setNonBlocking()
            var frames = ByteBuffer()
            for call in 1...1000 { try frames.writeRosterFrame(Fixture.byID(UInt64(call), "one", Fixture.alice, Fixture.admins)) }
            let bytes = Array(frames.readableBytesView)
            // Send until the server stops reading (its answers are stuck in our receive buffer).
            _ = try await socket.sendUntilPeerStopsReading(bytes, idleRounds: 20)
            let started = ContinuousClock.now
            await running.group.triggerGracefulShutdown()
            #expect(try await eventually(timeout: .seconds(5)) { running.server.connectionCount == 0 })
            #expect(ContinuousClock.now - started >= .milliseconds(250), "closed before the grace period")
        }
    }

    @Test("cancelling run() closes lane and NIO connections at once and removes the socket file")
    func cancellation() async throws {
        let backend = try Fixture.makeBackend()
        try await withTemporaryDirectory { directory in
            let path = directory + "/roster.sock"
            let server = RosterServer(configuration: .init(socketPath: path), backend: backend, logger: testLogger)
            let run = Task { try await server.run() }
            try await server.waitUntilListening()
            let onLane = RawSocket()
            let onNIO = RawSocket()
            defer {
                onLane.close()
                onNIO.close()
            }
            try #require(onLane.connect(path) && onNIO.connect(path))
            #expect(onLane.send(Array(encode(Fixture.byID(1, "one", Fixture.alice, Fixture.admins)).readableBytesView)))
            #expect(onNIO.send(Array(encode(.method(1, .health(Roster_V1_HealthRequest()))).readableBytesView)))
            #expect(try await Self.receive(onLane, frames: 1).first?.check.allowed == true)
            #expect(try await Self.receive(onNIO, frames: 1).first?.health.status == "SERVING")
            #expect(server.checkLaneHandovers == 1)
            run.cancel()
            try await run.value
            #expect(try await Self.readToEnd(onLane).isEmpty)
            #expect(try await Self.readToEnd(onNIO).isEmpty)
            #expect(access(path, F_OK) != 0)
            #expect(server.connectionCount == 0)
        }
    }

    // MARK: Connections and streams

    /// A server with the lane on the fixture's backend and one raw connection to it.
    /// A server with the lane and one raw connection to it. The frame timeout is far out of
    /// reach: these tests send frames in pieces on purpose, and a loaded machine (the whole suite
    /// in parallel on two cores) can stretch their short pauses past the 10 s default.
    static func withConnection(_ body: (RunningServer, RawSocket, FakeBackend) async throws -> Void) async throws {
        let backend = try Fixture.makeBackend()
        try await withServer(backend, configure: { $0.frameTimeout = .seconds(600) }) { (running: RunningServer) async throws -> Void in
            let socket = RawSocket()
            defer { socket.close() }
            try #require(socket.connect(running.path))
            try await body(running, socket, backend)
        }
    }

    /// Checks by id and by name, Health calls and unknown directories, then a few random byte
    /// changes: some streams stay on the lane, some are handed over, some end in a connection
    /// error. Nothing that waits (min_revision ahead) unless a mutation makes it so.
    static func mixedStream(round: Int, using generator: inout SystemRandomNumberGenerator) -> [UInt8] {
        var frames = ByteBuffer()
        for call in 1...10 {
            var frame: Roster_V1_RequestFrame
            switch Int.random(in: 0..<20, using: &generator) {
            case 0:
                frame = .method(UInt64(call), .health(Roster_V1_HealthRequest()))
            case 1:
                frame = Fixture.byID(UInt64(call), "nope", Fixture.alice, Fixture.admins)
            case 2, 3:
                frame = Fixture.byID(UInt64(call), "one", Fixture.alice, Fixture.admins)
                frame.check.user.userName = ["\(Fixture.alice)@one", "carol@one", "x\(round)"].randomElement(using: &generator)!
            default:
                frame = Fixture.byID(
                    UInt64(call), Bool.random(using: &generator) ? "one" : "two",
                    [Fixture.alice, Fixture.bob, Fixture.carol, Fixture.dave, Fixture.erin, Fixture.unknown]
                        .randomElement(using: &generator)!,
                    [Fixture.admins, Fixture.staff, Fixture.unknown].randomElement(using: &generator)!)
            }
            try! frames.writeRosterFrame(frame)
        }
        var bytes = Array(frames.readableBytesView)
        if Int.random(in: 0..<3, using: &generator) > 0 {
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
        }
        return bytes
    }

    /// Where to split a stream of `count` bytes into writes.
    static func randomCuts(_ count: Int, using generator: inout SystemRandomNumberGenerator) -> [Int] {
        var cuts: [Int] = []
        var offset = 0
        while offset < count {
            offset = min(count, offset + Int.random(in: 1...200, using: &generator))
            cuts.append(offset)
        }
        return cuts
    }

    /// Sends `bytes` in the given pieces (with a pause between, so they are separate reads),
    /// closes the sending side and returns every answer until the server closes.
    static func exchange(_ path: String, _ bytes: [UInt8], _ cuts: [Int]) async throws -> [Roster_V1_ResponseFrame] {
        let socket = RawSocket()
        defer { socket.close() }
        guard socket.connect(path) else { throw RosterStatus(.unavailable, "connect failed") }
        var start = 0
        for cut in cuts {
            if !socket.send(Array(bytes[start..<cut])) { break }  // the server closed on an error
            start = cut
            try await Task.sleep(for: .microseconds(100))
        }
        shutdown(socket.fd, Int32(SHUT_WR))
        var received = ByteBuffer(bytes: try await readUntilQuiet(socket))
        var frames: [Roster_V1_ResponseFrame] = []
        while let payload = try FrameDecoder.decodeFrame(from: &received, maxFrameSize: .max) {
            frames.append(try Roster_V1_ResponseFrame(framePayload: payload))
        }
        #expect(received.readableBytes == 0, "a partial answer frame")
        return frames
    }

    /// The next bytes the server sent (empty at end-of-file or on an error), or nil when
    /// `deadline` passes first. Polls without blocking a cooperative thread: the server's
    /// shutdown handler may need one.
    static func nextBytes(_ socket: RawSocket, until deadline: ContinuousClock.Instant) async throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) >= 0 else { return [] }
            if poller.revents == 0 {
                try await Task.sleep(for: .milliseconds(1))
                continue
            }
            let count = chunk.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
            return count <= 0 ? [] : Array(chunk[..<count])
        }
        return nil
    }

    /// Sends all of `bytes` without blocking a cooperative thread (two blocked senders would
    /// stall every reader in the test process); false on an error.
    static func sendAll(_ socket: RawSocket, _ bytes: [UInt8]) async throws -> Bool {
        socket.setNonBlocking()
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { socket.trySend($0) }
            if sent < 0 { return false }
            if sent == 0 {
                try await Task.sleep(for: .milliseconds(1))
            } else {
                offset += sent
            }
        }
        return true
    }

    /// Reads until end-of-file or until nothing arrives for half a second. A half-closed
    /// connection stays open while a call waits for a revision (a mutation can make one), so
    /// end-of-file is not guaranteed; both servers are read the same way.
    static func readUntilQuiet(_ socket: RawSocket) async throws -> [UInt8] {
        var all: [UInt8] = []
        while let bytes = try await nextBytes(socket, until: ContinuousClock.now + .milliseconds(500)) {
            if bytes.isEmpty { return all }
            all += bytes
        }
        return all
    }

    /// Reads until end-of-file (at most 10 s).
    static func readToEnd(_ socket: RawSocket) async throws -> [UInt8] {
        let deadline = ContinuousClock.now + .seconds(10)
        var all: [UInt8] = []
        while let bytes = try await nextBytes(socket, until: deadline) {
            if bytes.isEmpty { return all }
            all += bytes
        }
        throw RosterStatus(.deadlineExceeded, "the server did not close the connection")
    }

    /// Reads exactly `frames` answers (at most 10 s).
    static func receive(_ socket: RawSocket, frames wanted: Int) async throws -> [Roster_V1_ResponseFrame] {
        // Generous: these tests check what arrives, not how fast (a debug build sharing two cores
        // with the rest of the suite decodes 100,000 answers in well over 10 s).
        let deadline = ContinuousClock.now + .seconds(max(10, wanted / 1_000))
        var buffer = ByteBuffer()
        var frames: [Roster_V1_ResponseFrame] = []
        while frames.count < wanted, let bytes = try await nextBytes(socket, until: deadline), !bytes.isEmpty {
            buffer.writeBytes(bytes)
            while let payload = try FrameDecoder.decodeFrame(from: &buffer, maxFrameSize: .max) {
                frames.append(try Roster_V1_ResponseFrame(framePayload: payload))
            }
        }
        guard frames.count == wanted else {
            throw RosterStatus(.deadlineExceeded, "got \(frames.count) of \(wanted) answers")
        }
        return frames
    }
}
