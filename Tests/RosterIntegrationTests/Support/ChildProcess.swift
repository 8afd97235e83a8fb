import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for the live tests.
///
/// Why not Foundation's `Process`: on Linux, swift-corelibs-foundation's `Process.run()` reads
/// `/proc/self/fd` entries past the end of glibc's buffer (swift-corelibs-foundation PR #5472)
/// and crashes the test runner intermittently when many descriptors are open — which is exactly
/// what a suite of live daemons, sockets and HTTP connections does (seen in CI here).
/// Standard input is /dev/null; standard output and error go to files (or /dev/null), so a
/// child can never block on a full pipe.
final class ChildProcess: @unchecked Sendable {
    let executable: String
    let arguments: [String]
    let environment: [String: String]
    let currentDirectory: String?
    let standardOutputPath: String
    let standardErrorPath: String
    private(set) var processIdentifier: pid_t = 0
    private var exitStatus: Int32?
    private let lock = NSLock()

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(
        executable: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String? = nil, standardOutputPath: String = "/dev/null", standardErrorPath: String = "/dev/null"
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.standardOutputPath = standardOutputPath
        self.standardErrorPath = standardErrorPath
    }

    deinit {
        if isRunning { kill(processIdentifier, SIGKILL) }
        _ = reap(blocking: false)
    }

    func run() throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, standardErrorPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        // Nothing else: a child that inherited another test's socket (NIO's client sockets are not
        // close-on-exec) would keep that connection open after the test closed its end.
        // glibc 2.34+ has closefrom for spawn; Swift's Glibc module does not show it, so look it up.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        // glibc's posix_spawn_file_actions_addchdir_np is not visible from Swift here: change the
        // directory through /bin/sh, which then execs the program with the same arguments.
        var program = executable
        var words = [executable] + arguments
        if let currentDirectory {
            program = "/bin/sh"
            words = ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, currentDirectory, executable] + arguments
        }
        let argv = words.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, nil, argv, envp)
        guard result == 0 else {
            throw Failure(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
    }

    var isRunning: Bool {
        processIdentifier != 0 && reap(blocking: false) == nil
    }

    /// The exit code, or the signal number for a child killed by a signal (as `Process` reports).
    var terminationStatus: Int32 { reap(blocking: false) ?? -1 }

    /// Collects the child's status once it has exited (nil while it runs).
    private func reap(blocking: Bool) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        guard processIdentifier != 0 else { return nil }
        var status: Int32 = 0
        let result = waitpid(processIdentifier, &status, blocking ? 0 : WNOHANG)
        guard result == processIdentifier else { return nil }
        let signal = status & 0x7F
        exitStatus = signal == 0 ? (status >> 8) & 0xFF : signal
        return exitStatus
    }
}
