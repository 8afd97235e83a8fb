#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket file on disk: stale-file detection before bind, permissions after, removal on exit.
enum SocketFile {
    enum Preparation: Equatable {
        /// Nothing was at the path.
        case free
        /// A socket file nobody listened on was removed.
        case removedStale
    }

    /// Makes `path` free for bind, or explains why it is not.
    ///
    /// - A socket that accepts a connection belongs to a live daemon: `addressInUse`.
    /// - A socket that refuses it (ECONNREFUSED) is left over from a daemon that died: removed.
    /// - Anything that is not a socket is never removed: `notASocket`.
    static func prepare(path: String) throws(RosterServerError) -> Preparation {
        var info = stat()
        if lstat(path, &info) != 0 {
            let error = errno
            if error == ENOENT { return .free }
            throw RosterServerError(.socketSetup, "cannot inspect socket path \(path): \(describe(error))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw RosterServerError(
                .notASocket, "\(path) exists and is not a socket; refusing to remove it (choose another socket path)")
        }
        switch probe(path: path) {
        case .live:
            throw RosterServerError(
                .addressInUse,
                "a live daemon is already listening on \(path); stop it first or choose another socket path")
        case .gone:
            return .free
        case .refused:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw RosterServerError(.socketSetup, "cannot remove stale socket \(path): \(describe(errno))")
            }
            return .removedStale
        case .failed(let error):
            throw RosterServerError(.socketSetup, "cannot probe socket \(path): \(describe(error))")
        }
    }

    enum Probe: Equatable {
        case live, refused, gone
        case failed(Int32)
    }

    /// Tries to connect (without blocking) to the socket at `path`.
    static func probe(path: String) -> Probe {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return .failed(ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return .failed(errno) }
        defer { close(fd) }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result == 0 { return .live }
        switch errno {
        case ECONNREFUSED: return .refused
        case ENOENT: return .gone
        // A full backlog: someone is listening.
        case EAGAIN, EINPROGRESS: return .live
        case let error: return .failed(error)
        }
    }

    /// Which file a path named when it was checked: the socket we bound, not a later one.
    typealias Identity = (device: UInt64, inode: UInt64)

    /// The file's identity, to remove it on exit only if it is still ours.
    static func identity(path: String) -> Identity? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    static func chmod(path: String, mode: UInt32) throws(RosterServerError) {
        #if canImport(Glibc)
        let result = Glibc.chmod(path, mode_t(mode))
        #else
        let result = Darwin.chmod(path, mode_t(mode))
        #endif
        guard result == 0 else {
            throw RosterServerError(
                .socketSetup, "cannot set mode \(String(mode, radix: 8)) on \(path): \(describe(errno))")
        }
    }

    static func remove(path: String, ifIdentity identity: Identity?) {
        guard let identity, let current = Self.identity(path: path), current == identity else { return }
        unlink(path)
    }

    static func describe(_ error: Int32) -> String {
        guard let message = strerror(error) else { return "errno \(error)" }
        return "\(String(cString: message)) (errno \(error))"
    }
}
