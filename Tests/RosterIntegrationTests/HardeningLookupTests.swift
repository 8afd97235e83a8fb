import Foundation
import RosterProtocol
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue #20, the lookup socket against a live daemon: one uid's share of the connections, and
/// the deadline for a frame that never arrives whole. Each runs with the check lanes accepting
/// (`1`) and with SwiftNIO alone (`0`).
@Suite("Hardening the lookup socket", .serialized, .timeLimit(.minutes(6)))
struct HardeningLookupTests {
    static func healthFrame(_ callID: UInt64 = 1) -> Roster_V1_RequestFrame {
        var frame = Roster_V1_RequestFrame()
        frame.callID = callID
        frame.timeoutMs = 5_000
        frame.health = .init()
        return frame
    }

    /// Connects and sends a Health call: the answer is OK, or the connection-level refusal.
    /// A refused connection may be closed by rosterd before the call is even written (the
    /// refusal frame is then already waiting): a failed send still reads what arrived.
    static func connectAndAsk(_ path: String) throws -> (LookupConnection, Roster_V1_ResponseFrame?) {
        let connection = try LookupConnection(path: path)
        do {
            try connection.send(healthFrame())
        } catch {
            return (connection, try? connection.receive())
        }
        return (connection, try connection.receive())
    }

    /// Retries (a closed connection is released asynchronously) until a new connection is served.
    static func connectWhenServed(_ path: String) async throws -> LookupConnection? {
        for _ in 0..<100 {
            let (connection, answer) = try connectAndAsk(path)
            if answer?.callID == 1, answer?.status.code == .ok { return connection }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test("one uid holds at most --max-connections-per-uid connections, counted on the lanes, after handover and on NIO, and freed on close", arguments: ["1", "0"])
    func perUIDShare(checkLanes: String) async throws {
        let daemon = LiveDaemon(extraArguments: [
            "--max-connections", "10", "--max-connections-per-uid", "3", "--check-lanes", checkLanes,
        ])
        try await daemon.start()
        let path = daemon.socketPath
        // Two that only ever connect (they stay on a lane when there is one), one that calls
        // Health (handed over to SwiftNIO when it started on a lane).
        var quiet: [LookupConnection?] = try (0..<2).map { _ in try LookupConnection(path: path) }
        var (handedOver, first): (LookupConnection?, Roster_V1_ResponseFrame?) = try Self.connectAndAsk(path)
        #expect(first?.status.code == .ok, "\(String(describing: first))")
        _ = handedOver

        for _ in 0..<3 {
            let (_, refused) = try Self.connectAndAsk(path)
            #expect(refused?.callID == 0 && refused?.status.code == .resourceExhausted, "\(String(describing: refused))")
            #expect(refused?.status.message.contains("--max-connections-per-uid 3") == true, "\(refused?.status.message ?? "")")
        }

        // Closing the handed-over (or NIO) connection frees its slot ...
        handedOver = nil
        let replacement = try await Self.connectWhenServed(path)
        #expect(replacement != nil, "a slot is free again after a NIO connection closed")
        let (_, full) = try Self.connectAndAsk(path)
        #expect(full?.status.code == .resourceExhausted, "and the share is full again: \(String(describing: full))")
        // ... and so does closing one that never left its lane.
        quiet[0] = nil
        let another = try await Self.connectWhenServed(path)
        #expect(another != nil, "a slot is free again after a lane connection closed")
        _ = quiet

        let lines = daemon.logTail().split(separator: "\n").filter { $0.contains("share of connections") }
        #expect((1...3).contains(lines.count), "refusals log once per episode: \(lines)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("the per-uid share defaults to half of --max-connections")
    func perUIDShareDefault() async throws {
        let daemon = LiveDaemon(extraArguments: ["--max-connections", "4"])
        try await daemon.start()
        let held = try (0..<2).map { _ in try Self.connectAndAsk(daemon.socketPath) }
        #expect(held.allSatisfy { $0.1?.status.code == .ok })
        let (_, refused) = try Self.connectAndAsk(daemon.socketPath)
        #expect(refused?.status.code == .resourceExhausted && refused?.status.message.contains("--max-connections-per-uid 2") == true,
                "\(String(describing: refused))")
        #expect(try await daemon.stop() == 0)
    }

    @Test("a frame begun and not finished within --frame-timeout closes the connection with an error frame; idle between frames stays open", arguments: ["1", "0"])
    func frameTimeout(checkLanes: String) async throws {
        let daemon = LiveDaemon(extraArguments: ["--frame-timeout", "1", "--check-lanes", checkLanes])
        try await daemon.start()
        let path = daemon.socketPath

        // Two bytes of a length; a whole header and part of a payload; and, after a served call
        // (which moves a lane connection to SwiftNIO), half of the next frame.
        let header = try LookupConnection(path: path)
        try header.writeAll([0, 0])
        let payload = try LookupConnection(path: path)
        try payload.writeAll([0, 0, 0, 40, 8, 1])
        let afterCall = try LookupConnection(path: path)
        #expect(try afterCall.call(Self.healthFrame()).status.code == .ok)
        try afterCall.writeAll([0, 0, 0, 40, 8])
        // Idle between whole frames: pooled connections must stay open.
        let idle = try LookupConnection(path: path)
        #expect(try idle.call(Self.healthFrame()).status.code == .ok)

        for (name, connection) in [("header", header), ("payload", payload), ("after a call", afterCall)] {
            let ending = try await HardeningLimitsTests.readUntilClosed(dup(connection.fd), timeout: 8)
            #expect(ending.closed, "\(name): closed by the server (\(ending))")
            #expect(ending.seconds < 4, "\(name): within a few seconds of the 1 s timeout (\(ending))")
            #expect(ending.text.contains("--frame-timeout 1"), "\(name): the error frame names the flag (\(ending))")
        }
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(try idle.call(Self.healthFrame(2)).status.code == .ok, "an idle connection between frames stays open")
        let lines = daemon.logTail().split(separator: "\n").filter { $0.contains("frame timeout") }
        #expect((1...2).contains(lines.count), "logged once per episode: \(lines)")
        #expect(try await daemon.stop() == 0)
    }

    // MARK: Clients that do not read

    static func residentMegabytes(_ pid: Int32) -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
        }
        return 0
    }

    @Test("clients pipelining GetUser, listings and BatchCheck without reading leave rosterd's memory bounded, and it returns after they close")
    func nonReadingClients() async throws {
        let daemon = LiveDaemon()
        try await daemon.start()
        let scim = SCIM(daemon: daemon, directory: try daemon.createDirectory(name: "hostile"))
        var users: [String] = []
        for index in 0..<40 { users.append(try await scim.createUser("user\(index)@example.com")) }
        let group = try await scim.createGroup("everyone", members: users)
        let pid = try #require(daemon.process?.processIdentifier)

        func request(_ kind: Int, _ callID: UInt64) throws -> [UInt8] {
            var frame = Roster_V1_RequestFrame()
            frame.callID = callID
            let user = users[Int(callID % UInt64(users.count))]
            switch kind {
            case 0: frame.getUser = .with { $0.directoryID = scim.id; $0.user.id = user }
            case 1: frame.listGroupMembers = .with { $0.directoryID = scim.id; $0.group.id = group }
            default:
                frame.batchCheck = .with { batch in
                    batch.directoryID = scim.id
                    batch.checks = users.map { id in .with { $0.user.id = id; $0.group.id = group } }
                }
            }
            let payload: [UInt8] = try frame.serializedBytes()
            let length = UInt32(payload.count)
            return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
        }

        // Warm up with a client that reads, so first allocations are not counted as growth.
        let warm = try LookupConnection(path: daemon.socketPath)
        for callID in 1...100 {
            var frame = Roster_V1_RequestFrame()
            frame.getUser = .with { $0.directoryID = scim.id; $0.user.id = users[callID % users.count] }
            #expect(try warm.call(frame).status.code == .ok)
        }
        try await Task.sleep(for: .seconds(1))
        let before = Self.residentMegabytes(pid)

        // 36 clients, a third each GetUser, ListGroupMembers (40 members) and BatchCheck (40
        // items), each sending as fast as the socket takes and never reading.
        struct Client { var connection: LookupConnection; var kind: Int; var pending: [UInt8] = []; var next: UInt64 = 1 }
        var clients = try (0..<36).map { Client(connection: try LookupConnection(path: daemon.socketPath), kind: $0 % 3) }
        var peak = before
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(5) {
            for position in clients.indices {
                for _ in 0..<32 {
                    if clients[position].pending.isEmpty {
                        for _ in 0..<16 {
                            clients[position].pending += try request(clients[position].kind, clients[position].next)
                            clients[position].next += 1
                        }
                    }
                    let sent = clients[position].pending.withUnsafeBytes {
                        Glibc.send(clients[position].connection.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                    }
                    if sent <= 0 { break }
                    clients[position].pending.removeFirst(sent)
                }
            }
            peak = max(peak, Self.residentMegabytes(pid))
            try await Task.sleep(for: .milliseconds(20))
        }
        peak = max(peak, Self.residentMegabytes(pid))
        clients = []
        try await Task.sleep(for: .seconds(3))
        let after = Self.residentMegabytes(pid)
        let summary = String(format: "RSS %.0f MB before, %.0f MB at peak, %.0f MB after the clients closed", before, peak, after)
        print("nonReadingClients: \(summary)")
        #expect(peak - before < 40, "36 non-reading clients grow RSS by < 40 MB: \(summary)")
        #expect(after < before * 1.5, "RSS returns within 1.5x of its start: \(summary)")
        let probe = try LookupConnection(path: daemon.socketPath)
        let asked = ContinuousClock.now
        #expect(try probe.call(Self.healthFrame()).status.code == .ok)
        #expect(ContinuousClock.now - asked < .seconds(1), "rosterd answers at once afterwards: \(summary)")
        #expect(try await daemon.stop() == 0)
    }
}
