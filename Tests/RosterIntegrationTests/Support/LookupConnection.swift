import Foundation
import RosterProtocol
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately plain, blocking client for the lookup socket, written from docs/PROTOCOL.md
/// without RosterClient, so that the live tests check the server against the spec and not
/// against our own client's interpretation of it.
final class LookupConnection {
    let fd: Int32
    private var nextCallID: UInt64 = 1

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(path: String) throws {
        // Close-on-exec: a daemon another test spawns must not inherit (and so keep open) this end.
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw Failure(description: "connect(\(path)): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ frame: Roster_V1_RequestFrame) throws {
        try sendRaw(try frame.serializedBytes())
    }

    /// Writes a 4-byte big-endian length and the payload.
    func sendRaw(_ payload: [UInt8], declaredLength: UInt32? = nil) throws {
        let length = declaredLength ?? UInt32(payload.count)
        var bytes: [UInt8] = [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        bytes += payload
        try writeAll(bytes)
    }

    func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a daemon that closed the connection (a refusal, a limit) is an error
            // to report, not a SIGPIPE that kills the whole test process.
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw Failure(description: "write: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads one response frame (nil at end of stream).
    func receive() throws -> Roster_V1_ResponseFrame? {
        guard let header = try readExactly(4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard let payload = try readExactly(length) else { throw Failure(description: "connection closed mid-frame") }
        return try Roster_V1_ResponseFrame(serializedBytes: payload)
    }

    private func readExactly(_ count: Int) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = buffer[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 {
                if offset == 0 { return nil }
                throw Failure(description: "connection closed mid-frame")
            }
            if n < 0 { throw Failure(description: "read: \(String(cString: strerror(errno)))") }
            offset += n
        }
        return buffer
    }

    /// Sends one call and waits for its (first) response.
    func call(_ frame: Roster_V1_RequestFrame) throws -> Roster_V1_ResponseFrame {
        var frame = frame
        if frame.callID == 0 {
            frame.callID = nextCallID
            nextCallID += 1
        }
        try send(frame)
        while let response = try receive() {
            if response.callID == frame.callID || response.callID == 0 { return response }
        }
        throw Failure(description: "connection closed before the answer to call \(frame.callID)")
    }

    struct Decision: Equatable, CustomStringConvertible {
        var allowed: Bool
        var reason: Roster_V1_Reason
        var revision: UInt64
        var description: String { "\(allowed ? "allowed" : "denied") \(reason) @\(revision)" }
    }

    enum Ref {
        case id(String), name(String), external(String)
    }

    func check(_ directory: String, user: Ref, group: Ref, minRevision: UInt64 = 0, timeoutMs: UInt32 = 5000) throws
        -> Decision
    {
        var frame = Roster_V1_RequestFrame()
        frame.timeoutMs = timeoutMs
        frame.check = .with {
            $0.directoryID = directory
            $0.minRevision = minRevision
            switch user {
            case .id(let v): $0.user.id = v
            case .name(let v): $0.user.userName = v
            case .external(let v): $0.user.externalID = v
            }
            switch group {
            case .id(let v): $0.group.id = v
            case .name(let v): $0.group.displayName = v
            case .external(let v): $0.group.externalID = v
            }
        }
        let response = try call(frame)
        guard response.status.code == .ok else {
            throw Failure(description: "check failed: \(response.status.code) \(response.status.message)")
        }
        return Decision(allowed: response.check.allowed, reason: response.check.reason, revision: response.check.revision)
    }
}
