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
    static func connectAndAsk(_ path: String) throws -> (LookupConnection, Roster_V1_ResponseFrame?) {
        let connection = try LookupConnection(path: path)
        try connection.send(healthFrame())
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
}
