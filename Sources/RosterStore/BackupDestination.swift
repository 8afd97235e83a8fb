#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a backup is written to: created here, new and private, before SQLite writes into it.
///
/// SQLite opens a database path with a plain `open(O_CREAT)`: it follows a symbolic link (a
/// dangling one has its target created, wherever it points), creates the file with mode 0644
/// (a backup holds every user and the token hashes), and its errors name no path ("SQLite error
/// 14"). So the destination is created first, exclusively and without following anything in
/// its last component (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), and only then handed to
/// SQLite, which opens the existing empty file as an empty database and keeps its mode. The
/// descriptor stays open: the size reported is that of the file written, and after the copy the
/// path must still name that same file (nobody swapped it meanwhile).
final class BackupDestination: Sendable {
    let path: String
    private let descriptor: Int32
    private let device: UInt64
    private let inode: UInt64

    /// Creates `path` as a new, empty file readable by rosterd's uid only.
    /// - Throws: `StoreError.exists` when anything is at `path` already (a file, a directory, a
    ///   symbolic link even if dangling); `StoreError.invalidPath` when the file cannot be created
    ///   there (missing or unwritable directory, read-only file system, not a directory on the
    ///   way); `StoreError.io` when the file system is full or failing.
    init(creating path: String) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.creationError(path: path, errno: errno) }
        // The mode given to open is reduced by the umask, never widened; set it exactly.
        _ = fchmod(fd, 0o600)
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            unlink(path)
            throw StoreError(.io, "cannot read back the backup file \(path) just created: \(Self.describe(code))")
        }
        self.path = path
        descriptor = fd
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit { close(descriptor) }

    /// After SQLite wrote the copy: flushes it to disk and returns its size in bytes.
    /// - Throws: `StoreError.io` if the path no longer names the file created (it was replaced
    ///   while the copy ran: the copy went elsewhere) or the flush failed; the file is removed.
    func finish() throws(StoreError) -> UInt64 {
        guard stillOurs() else {
            throw StoreError(.io, "\(path) was replaced while the backup was being written; the backup is not there — try again with a new path")
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            abandon()
            throw StoreError(.io, "cannot flush the backup \(path) to disk: \(Self.describe(code))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return 0 }
        return UInt64(info.st_size)
    }

    /// Removes the file after a failed copy, if the path still names it, so the same path can be
    /// used again.
    func abandon() {
        if stillOurs() { unlink(path) }
    }

    private func stillOurs() -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Names what is wrong with the path, in words that say what to do.
    static func creationError(path: String, errno code: Int32) -> StoreError {
        let directory = parentDirectory(of: path)
        switch code {
        case EEXIST, ELOOP:
            var info = stat()
            let kind: String
            if lstat(path, &info) == 0 {
                switch info.st_mode & S_IFMT {
                case S_IFLNK: kind = "is a symbolic link (rosterd never follows one for a backup)"
                case S_IFDIR: kind = "is a directory"
                default: kind = "already exists"
                }
            } else {
                kind = "already exists"
            }
            return StoreError(.exists, "\(path) \(kind); rosterd never overwrites a file — pass a new path (e.g. with a date in it)")
        case ENOENT:
            return StoreError(.invalidPath, "cannot create the backup \(path): the directory \(directory) does not exist on rosterd's host")
        case ENOTDIR:
            return StoreError(.invalidPath, "cannot create the backup \(path): a component of the path is not a directory")
        case EACCES, EPERM:
            return StoreError(
                .invalidPath,
                "cannot create the backup \(path): rosterd (uid \(getuid())) may not create files in \(directory) — choose a directory it can write to")
        case EROFS:
            return StoreError(.invalidPath, "cannot create the backup \(path): \(directory) is on a read-only file system")
        case ENAMETOOLONG:
            return StoreError(.invalidPath, "cannot create the backup: the path is too long")
        case ENOSPC, EDQUOT, EIO:
            return StoreError(.io, "cannot create the backup \(path): \(describe(code))")
        default:
            return StoreError(.invalidPath, "cannot create the backup \(path): \(describe(code))")
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
