import Foundation
import RosterClient
import RosterProtocol

/// rosterctl's exit codes: a contract for scripts (docs/CLI.md lists them).
enum ExitStatus: Int32, Sendable {
    /// Success; for `check`, allowed; for `verify`, no difference found.
    case ok = 0
    /// The answer is no: `check` denied, `verify` found differences.
    case denied = 1
    /// The command line or the request is wrong: bad flags, INVALID_ARGUMENT,
    /// FAILED_PRECONDITION (an ambiguous display name), ALREADY_EXISTS, OUT_OF_RANGE.
    case usage = 2
    /// NOT_FOUND: unknown directory, user or group.
    case notFound = 3
    /// rosterd cannot be reached or cannot answer now (UNAVAILABLE, DEADLINE_EXCEEDED,
    /// RESOURCE_EXHAUSTED, a dropped connection); retrying later may work.
    case unavailable = 4
    /// PERMISSION_DENIED or UNAUTHENTICATED: not an admin, or not allowed on the socket.
    case permissionDenied = 5
    /// Anything else: INTERNAL, DATA_LOSS, UNIMPLEMENTED, UNKNOWN, a protocol violation.
    case failed = 6

    /// The exit code for a status code of the lookup API.
    init(_ code: Roster_V1_Code) {
        switch code {
        case .ok: self = .ok
        case .invalidArgument, .failedPrecondition, .alreadyExists, .outOfRange: self = .usage
        case .notFound: self = .notFound
        case .unavailable, .deadlineExceeded, .resourceExhausted, .aborted: self = .unavailable
        case .permissionDenied, .unauthenticated: self = .permissionDenied
        default: self = .failed
        }
    }
}

/// Why a command failed: the exit code, the status code name for `--json` and a message that
/// ends with what to do next.
struct CLIFailure: Error, Sendable, CustomStringConvertible {
    var exitStatus: ExitStatus
    /// A status code name (`NOT_FOUND`, `UNAVAILABLE`, ...); `INVALID_ARGUMENT` for usage errors.
    var code: String
    var message: String

    init(_ exitStatus: ExitStatus, code: String, _ message: String) {
        self.exitStatus = exitStatus
        self.code = code
        self.message = message
    }

    var description: String { message }

    /// `{"error":{"code":…,"message":…,"exit_code":…}}`
    var json: JSON {
        .object([
            (
                "error",
                .object([
                    ("code", .string(code)), ("message", .string(message)),
                    ("exit_code", .int(Int64(exitStatus.rawValue))),
                ])
            )
        ])
    }

    static func usage(_ message: String) -> CLIFailure {
        CLIFailure(.usage, code: "INVALID_ARGUMENT", message)
    }

    /// The socket could not be connected to: says why, and what to do.
    static func unreachable(socketPath: String, clientMessage: String) -> CLIFailure {
        switch SocketProbe.probe(socketPath) {
        case .missing:
            return CLIFailure(
                .unavailable, code: "UNAVAILABLE",
                "cannot reach rosterd at \(socketPath): no socket file there — is it running? "
                    + "start it with scripts/run or pass --socket (or set ROSTER_SOCKET)")
        case .notASocket:
            return CLIFailure(
                .unavailable, code: "UNAVAILABLE",
                "cannot reach rosterd at \(socketPath): the file is not a socket — pass --socket with rosterd's socket path")
        case .noAccess(let detail):
            return CLIFailure(
                .permissionDenied, code: "PERMISSION_DENIED",
                "cannot reach rosterd at \(socketPath): permission denied (\(detail)) — run rosterctl as rosterd's user "
                    + "or as a member of the socket's group (rosterd --socket-mode sets the file mode)")
        case .present:
            var detail = clientMessage
            if let range = detail.range(of: "cannot connect to \(socketPath): ") { detail.removeSubrange(range) }
            if detail.contains("refused") {
                detail = "connection refused (the socket file is left over from a rosterd that is not running)"
            }
            return CLIFailure(
                .unavailable, code: "UNAVAILABLE",
                "cannot reach rosterd at \(socketPath): \(detail) — is it running? start it with scripts/run or pass --socket")
        }
    }

    /// Translates an error of the client into an exit code and a message with a next step.
    /// - Parameters:
    ///   - error: what a `RosterClient` call threw.
    ///   - socketPath: the socket, named in connection errors.
    ///   - hints: what to suggest for errors the command can explain better.
    static func from(_ error: any Error, socketPath: String, hints: Hints = Hints()) -> CLIFailure {
        if let failure = error as? CLIFailure { return failure }
        guard let error = error as? RosterClientError else {
            return CLIFailure(.failed, code: "UNKNOWN", "\(error)")
        }
        if error.code == .connectionFailed {
            return unreachable(socketPath: socketPath, clientMessage: error.message)
        }
        let status = ExitStatus(error.statusCode)
        var message = error.message.isEmpty ? error.codeName : error.message
        var hint: String?
        switch error.statusCode {
        case .notFound:
            hint =
                message.hasPrefix("no directory")
                ? "`rosterctl directory list` shows the directory ids" : hints.notFound
        case .permissionDenied:
            if error.code == .connectionClosed {
                hint = "rosterd accepts this socket only from the uids given with its --allow-uid"
            } else {
                hint =
                    "run rosterctl as a uid in rosterd's admin allow-list (by default rosterd's own uid and root), "
                    + "or add yours with rosterd --admin-uid \(getuid())"
            }
        case .deadlineExceeded:
            hint = hints.deadline ?? "rosterd did not answer in time; pass a larger --timeout"
        case .unavailable where error.code == .connectionClosed:
            message = "lost the connection to rosterd at \(socketPath): \(message)"
            hint = "is it still running? check its log, then retry"
        case .unavailable:
            hint = "rosterd is shutting down or its store is unreachable; retry once it is back"
        case .invalidArgument:
            hint = hints.invalidArgument
        case .internal, .dataLoss:
            hint = "this is a rosterd bug or a damaged store: check rosterd's log and run `rosterctl verify`"
        case .unimplemented:
            hint = "this rosterd is older than rosterctl; upgrade rosterd"
        default:
            break
        }
        if let hint { message += " — " + hint }
        return CLIFailure(status, code: error.codeName, message)
    }

    /// Command-specific suggestions, used when the server's message alone does not say what to do.
    struct Hints: Sendable {
        var notFound: String? = nil
        var deadline: String? = nil
        var invalidArgument: String? = nil
    }
}

/// What is at a socket path, to explain a failed connect.
enum SocketProbe {
    case missing, notASocket, noAccess(String), present

    static func probe(_ path: String) -> SocketProbe {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == EACCES ? .noAccess("cannot search a directory on the path") : .missing
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { return .notASocket }
        if access(path, R_OK | W_OK) != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            return .noAccess("mode 0\(mode), owner uid \(info.st_uid) gid \(info.st_gid); you are uid \(getuid())")
        }
        return .present
    }
}
