import Glibc
import Logging
import RosterProtocol
import RosterServer
import ServiceLifecycle
import Testing

/// Quiet unless ROSTER_TEST_LOG is set (then debug records go to stderr).
let testLogger: Logger = {
    if getenv("ROSTER_TEST_LOG") != nil {
        var logger = Logger(label: "roster.test", factory: { label in StreamLogHandler.standardError(label: label) })
        logger.logLevel = .debug
        return logger
    }
    return Logger(label: "roster.test", factory: { _ in SwiftLogNoOpLogHandler() })
}()

/// A fresh, short directory for socket files (sun_path holds 107 bytes).
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array("/tmp/roster-test-XXXXXX".utf8CString)
    guard let pointer = mkdtemp(&template) else { throw RosterStatus(.internal, "mkdtemp failed") }
    let path = String(cString: pointer)
    defer { removeTree(path) }
    return try await body(path)
}

private func removeTree(_ path: String) {
    guard let dir = opendir(path) else {
        unlink(path)
        return
    }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        var info = stat()
        if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            removeTree(child)
        } else {
            unlink(child)
        }
    }
    closedir(dir)
    rmdir(path)
}

/// A server running in a ServiceGroup for the duration of `body`, then shut down gracefully.
struct RunningServer {
    let server: RosterServer
    let group: ServiceGroup
    let path: String
    let directory: String
}

func withServer<T>(
    _ backend: FakeBackend, configure: (inout RosterServer.Configuration) -> Void = { _ in },
    _ body: (RunningServer) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        var configuration = RosterServer.Configuration(socketPath: directory + "/roster.sock")
        configure(&configuration)
        let server = RosterServer(configuration: configuration, backend: backend, logger: testLogger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: server)], logger: testLogger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await server.waitUntilListening()
            let outcome: Result<T, any Error>
            do {
                outcome = .success(
                    try await body(
                        RunningServer(server: server, group: group, path: configuration.socketPath, directory: directory)))
            } catch {
                outcome = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try outcome.get()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A blocking Unix socket for tests that must misbehave (never read, bind without listening).
struct RawSocket {
    let fd: Int32

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    init() {
        // Close-on-exec: a daemon a live test spawns must not inherit (and so keep open) this end.
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    func connect(_ path: String) -> Bool {
        var address = Self.address(path)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        } == 0
    }

    func bind(_ path: String) -> Bool {
        var address = Self.address(path)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        } == 0
    }

    func listen() -> Bool {
        Glibc.listen(fd, 16) == 0
    }

    func setNonBlocking() {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// One non-blocking send: bytes written, 0 when the socket would block, -1 on error.
    func trySend(_ bytes: UnsafeRawBufferPointer) -> Int {
        let written = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        if written < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1 }
        return written
    }

    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, 0) } == bytes.count
    }

    func close() {
        Glibc.close(fd)
    }
}

extension RawSocket {
    /// Sends `bytes` over and over on this non-blocking socket without reading any answer,
    /// until `idleRounds` sends in a row (10 ms apart) take nothing, or `budget` bytes went out.
    /// Returns the bytes sent and whether the peer stopped reading.
    func sendUntilPeerStopsReading(_ bytes: [UInt8], idleRounds: Int, budget: Int = .max) async throws
        -> (sent: Int, stopped: Bool)
    {
        var total = 0
        var offset = 0
        var idle = 0
        while total < budget && idle < idleRounds {
            let written = bytes[offset...].withUnsafeBytes { trySend($0) }
            #expect(written >= 0)
            if written <= 0 {
                idle += 1
                try await Task.sleep(for: .milliseconds(10))
            } else {
                idle = 0
                total += written
                offset = (offset + written) % bytes.count
            }
        }
        return (total, idle >= idleRounds)
    }
}
