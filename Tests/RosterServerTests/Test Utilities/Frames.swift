import NIOCore
import RosterProtocol

func hex(_ string: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    var chars = Array(string.utf8)[...]
    while chars.count >= 2 {
        buffer.writeInteger(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
        chars = chars.dropFirst(2)
    }
    return buffer
}

func hexString(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { byte in
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }.joined()
}

func encode(_ frames: Roster_V1_RequestFrame...) -> ByteBuffer {
    var buffer = ByteBuffer()
    for frame in frames { try! buffer.writeRosterFrame(frame) }
    return buffer
}

/// Splits server output into response frames.
func decodeResponses(_ buffers: [ByteBuffer]) throws -> [Roster_V1_ResponseFrame] {
    var all = ByteBuffer()
    for var buffer in buffers { all.writeBuffer(&buffer) }
    var frames: [Roster_V1_ResponseFrame] = []
    while let payload = try FrameDecoder.decodeFrame(from: &all, maxFrameSize: .max) {
        frames.append(try Roster_V1_ResponseFrame(framePayload: payload))
    }
    return frames
}

extension Roster_V1_RequestFrame {
    static func check(
        _ callID: UInt64, directory: String = "dir_acme", userName: String = "alice@example.com",
        group: String = "admins", minRevision: UInt64 = 0, timeoutMs: UInt32 = 0
    ) -> Self {
        var frame = Self()
        frame.callID = callID
        frame.timeoutMs = timeoutMs
        frame.check.directoryID = directory
        frame.check.user.userName = userName
        frame.check.group.displayName = group
        frame.check.minRevision = minRevision
        return frame
    }

    static func method(_ callID: UInt64, _ method: Roster_V1_RequestFrame.OneOf_Method?, timeoutMs: UInt32 = 0) -> Self {
        var frame = Self()
        frame.callID = callID
        frame.method = method
        frame.timeoutMs = timeoutMs
        return frame
    }
}

/// A directory `dir_acme` with alice (member of admins), bob (suspended) and carol (not a member).
func makeAcme() throws -> FakeBackend {
    let backend = FakeBackend()
    try backend.createDirectory("dir_acme")
    try backend.createUser("usr_alice", "alice@example.com", externalID: "00u1", in: "dir_acme")
    try backend.createUser("usr_bob", "bob@example.com", in: "dir_acme")
    try backend.createUser("usr_carol", "carol@example.com", in: "dir_acme")
    try backend.createGroup("grp_admins", "admins", members: ["usr_alice", "usr_bob"], externalID: "00g1", in: "dir_acme")
    try backend.setActive("usr_bob", false, in: "dir_acme")
    return backend
}
