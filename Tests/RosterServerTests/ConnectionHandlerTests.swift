import Logging
import NIOCore
import NIOEmbedded
import RosterCore
import RosterProtocol
import SwiftProtobuf
import Testing

@testable import RosterServer

/// The connection handler on an EmbeddedChannel: exact bytes in, exact bytes out, no sockets.
/// Synchronous tests: the embedded event loop belongs to the test's thread.
@Suite("Connection handler")
struct ConnectionHandlerTests {
    static func makeChannel(
        _ backend: FakeBackend, peerUID: UInt32 = 0,
        configure: (inout RosterServer.Configuration) -> Void = { _ in }
    ) throws -> EmbeddedChannel {
        var configuration = RosterServer.Configuration(socketPath: "/nonexistent")
        configuration.adminUIDs = [0]
        configure(&configuration)
        let server = ServerContext(
            backend: backend, configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            RosterConnectionHandler(server: server, peer: PeerCredentials(pid: 1, uid: peerUID, gid: 0), connectionID: 1))
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/nonexistent")).wait()
        return channel
    }

    static func outbound(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
        return buffers
    }

    @Test("a Check is answered with exactly the expected bytes")
    func checkBytes() throws {
        let backend = try makeAcme()
        #expect(backend.revision == 6)
        let channel = try Self.makeChannel(backend)
        try channel.writeInbound(encode(.check(1)))
        let out = try Self.outbound(channel)
        // ResponseFrame { call_id: 1, check { allowed: true, reason: MEMBER, revision: 6 } }
        #expect(out.map(hexString) == ["0000000a08011a06080110011806"])
        _ = try channel.finish()
    }

    @Test("answers of one read burst leave in one write and one flush")
    func batchedFlush() throws {
        let backend = try makeAcme()
        let channel = try Self.makeChannel(backend)
        try channel.writeInbound(
            encode(.check(1), .check(2, userName: "bob@example.com"), .check(3, userName: "nobody")))
        let out = try Self.outbound(channel)
        #expect(out.count == 1)
        let frames = try decodeResponses(out)
        #expect(frames.map(\.callID) == [1, 2, 3])
        #expect(frames.map(\.check.reason) == [.member, .userSuspended, .userUnknown])
        _ = try channel.finish()
    }

    @Test("a frame that is not a RequestFrame gets a call-0 INVALID_ARGUMENT and the connection closes")
    func garbageFrame() throws {
        let channel = try Self.makeChannel(try makeAcme())
        try channel.writeInbound(hex("000000020f01"))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.count == 1)
        #expect(frames.first?.callID == 0)
        #expect(frames.first?.status.code == .invalidArgument)
        #expect(frames.first?.status.message.hasPrefix("frame 2 bytes is not a RequestFrame: ") == true)
        #expect(!channel.isActive)
    }

    @Test("an oversized length gets the connection_error_frame_too_large vector and a close")
    func oversizedFrame() throws {
        let channel = try Self.makeChannel(try makeAcme())
        _ = try? channel.writeInbound(hex("00400001"))
        let out = try Self.outbound(channel)
        #expect(
            out.map(hexString) == [
                "0000004e124c080812486672616d65206c656e6774682034313934333035206578636565647320746865206d6178696d756d20343139343330343b20636c6f73696e672074686520636f6e6e656374696f6e"
            ])
        #expect(!channel.isActive)
    }

    @Test("a configured frame limit is enforced the same way")
    func configuredFrameLimit() throws {
        let channel = try Self.makeChannel(try makeAcme()) { $0.maxFrameSize = 3 }
        _ = try? channel.writeInbound(hex("00000004080d5a00"))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.first?.status.code == .resourceExhausted)
        #expect(frames.first?.status.message == "frame length 4 exceeds the maximum 3; closing the connection")
        #expect(!channel.isActive)
    }

    @Test("a frame without a method, with an unknown method, or with a duplicate call id fails that call only")
    func callErrors() throws {
        let backend = try makeAcme()
        let channel = try Self.makeChannel(backend)
        try channel.writeInbound(encode(.method(5, nil)))
        // A newer client's method (an unknown field number, here 99) is UNIMPLEMENTED.
        try channel.writeInbound(hex("00000005080a9a0600"))
        try channel.writeInbound(encode(.check(6, minRevision: 100), .check(6, minRevision: 100)))
        try channel.writeInbound(encode(.method(7, .health(.init()))))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.map(\.callID) == [5, 10, 6, 7])
        #expect(frames[0].status.code == .invalidArgument)
        #expect(frames[1].status.code == .unimplemented)
        #expect(frames[2].status.code == .invalidArgument)
        #expect(frames[2].status.message == "call_id 6 is already in flight on this connection")
        #expect(frames[3].health.status == "SERVING")
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test("call_id 0 is a connection error")
    func callIDZero() throws {
        let channel = try Self.makeChannel(try makeAcme())
        try channel.writeInbound(hex("00000000"))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.first?.callID == 0)
        #expect(frames.first?.status.code == .invalidArgument)
        #expect(!channel.isActive)
    }

    @Test("past the in-flight limit a call gets RESOURCE_EXHAUSTED; others keep working")
    func inFlightLimit() throws {
        let backend = try makeAcme()
        let channel = try Self.makeChannel(backend) { $0.maxInFlightCallsPerConnection = 2 }
        try channel.writeInbound(encode(.check(1, minRevision: 7), .check(2, minRevision: 7), .check(3, minRevision: 7)))
        try channel.writeInbound(encode(.check(4)))
        var frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.map(\.callID) == [3, 4])
        #expect(frames[0].status.code == .resourceExhausted)
        #expect(frames[0].status.message.contains("the maximum is 2"))
        #expect(frames[1].check.allowed)

        try backend.createUser("usr_dave", "dave@example.com", in: "dir_acme")  // revision 7
        channel.embeddedEventLoop.run()
        frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.map(\.callID).sorted() == [1, 2])
        #expect(frames.allSatisfy { $0.check.revision == 7 && $0.check.reason == .member })
        _ = try channel.finish()
    }

    @Test("a min_revision wait ends with DEADLINE_EXCEEDED naming both revisions")
    func deadline() throws {
        let backend = try makeAcme()
        let channel = try Self.makeChannel(backend)
        try channel.writeInbound(encode(.check(10, minRevision: 60, timeoutMs: 250)))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(249))
        #expect(try Self.outbound(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.count == 1)
        #expect(frames[0].callID == 10)
        #expect(frames[0].status.code == .deadlineExceeded)
        #expect(frames[0].status.message == "index at revision 6 did not reach min_revision 60 within 250 ms")
        _ = try channel.finish()
    }

    @Test("Cancel ends a waiting call with CANCELLED, then answers the Cancel itself")
    func cancel() throws {
        let channel = try Self.makeChannel(try makeAcme())
        var cancel = Roster_V1_CancelRequest()
        cancel.targetCallID = 11
        try channel.writeInbound(encode(.check(11, minRevision: 99), .method(12, .cancel(cancel))))
        let out = try Self.outbound(channel)
        let frames = try decodeResponses(out)
        #expect(frames.map(\.callID) == [11, 12])
        #expect(frames[0].status.code == .cancelled)
        #expect(frames[0].status.message == "cancelled by the client (call 12)")
        #expect(!frames[0].endOfStream)
        #expect(hexString(try Self.outbound(channel).first ?? ByteBuffer()).isEmpty)
        // The Cancel's own answer is the shared vector's bytes.
        var last = ByteBuffer()
        try last.writeRosterFrame(frames[1])
        #expect(hexString(last) == "00000004080c5200")
        _ = try channel.finish()
    }

    @Test("admin methods need an admin uid")
    func adminDenied() throws {
        let channel = try Self.makeChannel(try makeAcme(), peerUID: 4242)
        try channel.writeInbound(encode(.method(1, .listDirectories(.init())), .method(2, .verify(.init()))))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.map(\.status.code) == [.permissionDenied, .permissionDenied])
        #expect(frames[0].status.message == "ListDirectories is an admin method and uid 4242 is not in the daemon's admin allow-list")
        _ = try channel.finish()
    }

    @Test("an admin peer lists directories from the index")
    func adminListDirectories() throws {
        let channel = try Self.makeChannel(try makeAcme(), peerUID: 0)
        try channel.writeInbound(encode(.method(1, .listDirectories(.init()))))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames.first?.listDirectories.directories.map(\.id) == ["dir_acme"])
        #expect(frames.first?.listDirectories.directories.first?.users == 3)
        _ = try channel.finish()
    }

    @Test("batches over the limit are INVALID_ARGUMENT; item errors stay per item")
    func batchLimits() throws {
        let channel = try Self.makeChannel(try makeAcme()) { $0.maxBatchSize = 2 }
        var batch = Roster_V1_BatchCheckRequest()
        batch.directoryID = "dir_acme"
        var item = Roster_V1_CheckItem()
        item.user.userName = "alice@example.com"
        item.group.displayName = "admins"
        var empty = Roster_V1_CheckItem()
        empty.group.id = "grp_admins"
        batch.checks = [item, empty]
        var tooBig = batch
        tooBig.checks.append(item)
        try channel.writeInbound(encode(.method(1, .batchCheck(batch)), .method(2, .batchCheck(tooBig))))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames[0].batchCheck.results.count == 2)
        #expect(frames[0].batchCheck.results[0].reason == .member)
        #expect(frames[0].batchCheck.results[1].error.code == .invalidArgument)
        #expect(frames[1].status.code == .invalidArgument)
        #expect(frames[1].status.message.contains("exceeds the maximum 2"))
        _ = try channel.finish()
    }

    @Test("unknown directories are NOT_FOUND, ambiguous display names FAILED_PRECONDITION")
    func errorMapping() throws {
        let backend = try makeAcme()
        try backend.createGroup("grp_eng1", "eng", in: "dir_acme")
        try backend.createGroup("grp_eng2", "eng", in: "dir_acme")
        let channel = try Self.makeChannel(backend)
        try channel.writeInbound(encode(.check(1, directory: "dir_gone"), .check(2, group: "eng"), .check(3, group: "nope")))
        let frames = try decodeResponses(try Self.outbound(channel))
        #expect(frames[0].status.code == .notFound)
        #expect(frames[1].status.code == .failedPrecondition)
        #expect(frames[2].check.reason == .groupUnknown)
        _ = try channel.finish()
    }

    @Test("listings page with opaque tokens bound to their query")
    func paging() throws {
        let backend = try makeAcme()
        for n in 0..<5 { try backend.createUser("usr_m\(n)", "m\(n)@example.com", in: "dir_acme") }
        try backend.addMembers((0..<5).map { "usr_m\($0)" }, to: "grp_admins", in: "dir_acme")
        let channel = try Self.makeChannel(backend)
        var request = Roster_V1_ListGroupMembersRequest()
        request.directoryID = "dir_acme"
        request.group.id = "grp_admins"
        request.pageSize = 4
        var seen: [String] = []
        var token = ""
        var calls: UInt64 = 0
        repeat {
            calls += 1
            request.pageToken = token
            try channel.writeInbound(encode(.method(calls, .listGroupMembers(request))))
            let frame = try #require(try decodeResponses(try Self.outbound(channel)).first)
            #expect(!frame.hasStatus)
            seen += frame.listGroupMembers.members.map(\.id)
            token = frame.listGroupMembers.nextPageToken
        } while !token.isEmpty && calls < 10
        #expect(seen.count == 6)  // alice + m0...m4 (bob is suspended: no memberships)
        #expect(Set(seen).count == 6)

        var users = Roster_V1_ListUserGroupsRequest()
        users.directoryID = "dir_acme"
        users.user.id = "usr_alice"
        users.pageToken = PageToken.make(kind: "gm", id: "grp_admins", cursor: "1")
        try channel.writeInbound(encode(.method(99, .listUserGroups(users))))
        let frame = try #require(try decodeResponses(try Self.outbound(channel)).first)
        #expect(frame.status.code == .invalidArgument)
        _ = try channel.finish()
    }

    @Test("graceful quiesce: idle connections close at once, new calls get UNAVAILABLE")
    func quiesceIdle() throws {
        let channel = try Self.makeChannel(try makeAcme())
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}

@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = RosterConnectionHandler.StateMachine

    static func call(_ watch: Bool = false) -> RosterConnectionHandler.Call {
        RosterConnectionHandler.Call(method: watch ? .watch : .check, received: .now(), timeoutMs: 0, isWatch: watch)
    }

    @Test("admission order: call 0, shutdown, missing method, admin, cancel, duplicates")
    func admission() {
        var machine = Machine(maxInFlight: 4)
        let check = Roster_V1_RequestFrame.OneOf_Method.check(.init())
        #expect(
            { if case .connectionError = machine.receive(callID: 0, method: check, peerIsAdmin: true, peer: "p") { true } else { false } }())
        #expect(machine.receive(callID: 1, method: check, peerIsAdmin: false, peer: "p") == .dispatch)
        #expect(
            machine.receive(callID: 1, method: nil, peerIsAdmin: false, peer: "p")
                == .reject(RosterStatus(.invalidArgument, "request frame of call 1 has no method")))
        if case .reject(let status) = machine.receive(
            callID: 1, method: nil, peerIsAdmin: false, peer: "p", hasUnknownFields: true)
        {
            #expect(status.code == .unimplemented)
        } else {
            Issue.record("an unknown method was not rejected")
        }
        if case .reject(let status) = machine.receive(callID: 2, method: .verify(.init()), peerIsAdmin: false, peer: "uid 5") {
            #expect(status.code == .permissionDenied)
        } else {
            Issue.record("admin call by a non-admin was not rejected")
        }
        #expect(machine.receive(callID: 3, method: .cancel(.with { $0.targetCallID = 9 }), peerIsAdmin: false, peer: "p") == .cancel(target: 9))
        _ = machine.register(callID: 1, Self.call())
        if case .reject(let status) = machine.receive(callID: 1, method: check, peerIsAdmin: false, peer: "p") {
            #expect(status.code == .invalidArgument)
        } else {
            Issue.record("duplicate call id accepted")
        }
    }

    @Test("registration is limited; serials tell a reused id from the old call")
    func registration() throws {
        var machine = Machine(maxInFlight: 2)
        let first = try machine.register(callID: 1, Self.call()).get()
        _ = try machine.register(callID: 2, Self.call()).get()
        #expect(throws: RosterStatus.self) { try machine.register(callID: 3, Self.call()).get() }
        #expect(machine.finish(1, serial: first) != nil)
        let reused = try machine.register(callID: 1, Self.call()).get()
        #expect(reused != first)
        #expect(machine.finish(1, serial: first) == nil)  // a stale timer for the old call is ignored
        #expect(machine.call(1, serial: reused) != nil)
    }

    @Test("quiescing ends watches, rejects new calls, and closes once unary calls are done")
    func quiescing() throws {
        var machine = Machine(maxInFlight: 8)
        let unary = try machine.register(callID: 1, Self.call()).get()
        _ = try machine.register(callID: 2, Self.call(true)).get()
        let watches = machine.quiesce()
        #expect(watches.map(\.callID) == [2])
        #expect(machine.receive(callID: 3, method: .health(.init()), peerIsAdmin: false, peer: "p") == .reject(Machine.shuttingDown))
        #expect(!machine.shouldClose)
        _ = machine.finish(1, serial: unary)
        #expect(machine.shouldClose)
        #expect(machine.close().isEmpty)
        #expect(machine.lifecycle == .closed)
    }
}
