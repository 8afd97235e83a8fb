import ArgumentParser
import Foundation

/// The options every command takes: where rosterd is, how to print, how long to wait.
///
/// Each leaf command includes them with `@OptionGroup`, so they are accepted anywhere after the
/// command words: `rosterctl check --directory D --user U --group G --socket S --json`.
struct GlobalOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Path of rosterd's Unix socket.",
            discussion: "Default: $ROSTER_SOCKET, else $ROSTER_DATA_DIR/roster.sock, else ./roster-data/roster.sock.",
            valueName: "path"))
    var socket: String?

    @Flag(help: "Machine-readable output: one JSON object on the last line of standard output (one per line for watch).")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Seconds to wait for rosterd's answer; 0 waits forever.",
            discussion: "Default: 10; directory and group changes and audit: 30; verify and backup: 600. watch has none.",
            valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if let timeout, !(timeout >= 0 && timeout.isFinite) {
            throw ValidationError("--timeout must be a number of seconds, 0 or more (got \(timeout))")
        }
        if let socket, socket.isEmpty {
            throw ValidationError("--socket must not be empty")
        }
    }

    /// The socket path, resolved as rosterd resolves its own default, made absolute.
    var socketPath: String {
        let environment = ProcessInfo.processInfo.environment
        if let socket { return Self.absolute(socket) }
        if let path = environment["ROSTER_SOCKET"], !path.isEmpty { return Self.absolute(path) }
        let dataDir = environment["ROSTER_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./roster-data"
        return Self.absolute(dataDir) + "/roster.sock"
    }

    /// The call deadline: `--timeout`, else the command's default; nil = none.
    func deadline(default seconds: Double = 10) -> Duration? {
        let value = timeout ?? seconds
        return value == 0 ? nil : .milliseconds(Int64((value * 1000).rounded(.up)))
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        while relative.hasSuffix("/") { relative = relative.dropLast() }
        return relative.isEmpty ? cwd : cwd + "/" + relative
    }
}
