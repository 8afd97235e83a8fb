import CRosterLinux
#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// The few system calls the check lane makes (through `CRosterLinux`), with errors as `IOError`
/// (errno and the call). Linux only: the lane is built on epoll and eventfd.
enum LaneSockets {
    /// A non-blocking Unix stream socket bound to `path` and listening.
    static func listen(path: String, backlog: Int32) throws -> Int32 {
        let fd = c_roster_listen_unix(path, backlog)
        guard fd >= 0 else {
            let code = errno
            if code == ENAMETOOLONG {
                throw IOError(errnoCode: code, reason: "bind: the socket path is \(path.utf8.count) bytes, at most 107 fit")
            }
            throw IOError(errnoCode: code, reason: "bind/listen")
        }
        return fd
    }

    /// The peer's credentials (SO_PEERCRED); nil if the kernel does not say.
    static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard c_roster_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    /// A connection from `listener`, non-blocking and close-on-exec; -1 with errno if none.
    static func accept(_ listener: Int32) -> Int32 {
        c_roster_accept_nonblocking(listener)
    }

    static func epollCreate() throws -> Int32 {
        let fd = c_roster_epoll_create()
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "epoll_create1") }
        return fd
    }

    static func eventFD() throws -> Int32 {
        let fd = c_roster_eventfd()
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "eventfd") }
        return fd
    }

    /// Adds (`add`), modifies (`modify`) or removes (`remove`) `fd` in `epoll`.
    @discardableResult
    static func control(_ epoll: Int32, _ operation: Int32, _ fd: Int32, events: UInt32) -> Bool {
        c_roster_epoll_control(epoll, operation, fd, events) == 0
    }

    static let add = Int32(c_roster_epoll_add)
    static let modify = Int32(c_roster_epoll_modify)
    static let remove = Int32(c_roster_epoll_remove)

    static let readable = UInt32(c_roster_epoll_in)
    static let writable = UInt32(c_roster_epoll_out)
    static let exclusive = UInt32(c_roster_epoll_exclusive)
}
