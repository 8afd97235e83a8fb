import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<database>.lock`, holding the owner's pid, so that two daemons never
/// write the same database. The kernel drops the lock when the process dies, even by SIGKILL, so
/// a stale lock file never blocks a restart.
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    let path: String

    init(path: String) throws(StoreError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError(.unwritable, "cannot create lock file \(path): \(Self.errnoText()); check that the data directory exists and is writable")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.readPID(fd)
            close(fd)
            throw StoreError(
                .locked,
                "another rosterd\(holder.map { " (pid \($0))" } ?? "") is using this data directory (lock \(path)); stop it or choose another --data-dir"
            )
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    private static func readPID(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int(text)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

