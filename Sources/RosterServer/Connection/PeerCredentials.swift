import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix domain socket connection, as the kernel reports it
/// (SO_PEERCRED on Linux): the credentials of the process that called `connect`.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "uid \(uid) (pid \(pid))" }

    /// Reads the peer's credentials from an accepted socket channel; nil where the platform or
    /// the channel cannot tell (an EmbeddedChannel, a non-Linux system).
    ///
    /// NIOPosix's socket channels conform to `SocketOptionProvider`, whose `getsockopt` passthrough
    /// reads SO_PEERCRED into a `struct ucred`-shaped value (`ucred` itself is hidden behind
    /// `_GNU_SOURCE` in Swift's Glibc module).
    static func read(from channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
            .recover { _ in nil }
        #else
        return channel.eventLoop.makeSucceededFuture(nil)
        #endif
    }

    /// Linux's `struct ucred { pid_t pid; uid_t uid; gid_t gid; }`.
    private struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
}
