import ArgumentParser
import Foundation

/// rosterctl: the operator's debugging CLI for rosterd, over the lookup socket.
///
/// Commands are subcommands (as in swift-argument-parser's `Examples/math`); each leaf includes
/// `GlobalOptions`. `main` is spelled out to give rosterctl its own exit codes (`ExitStatus`)
/// instead of ArgumentParser's (64 for usage errors), and to print failures as JSON in `--json`
/// mode.
@main
struct Rosterctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rosterctl",
        abstract: "Ask rosterd questions and run its admin operations, over its Unix socket.",
        discussion: """
            Every command takes --socket PATH, --json and --timeout SECONDS, anywhere after the command words \
            (or before them).

            Exit codes: 0 ok/allowed, 1 denied (or verify found differences), 2 usage or invalid request, \
            3 not found, 4 rosterd unavailable, 5 permission denied, 6 other server error.

            With --json, the last line of standard output is one JSON object; failures are \
            {"error":{"code":…,"message":…,"exit_code":…}}. See docs/CLI.md.
            """,
        groupedSubcommands: [
            CommandGroup(name: "Lookups", subcommands: [Check.self, User.self, Group.self, Groups.self, Members.self]),
            CommandGroup(name: "Daemon", subcommands: [Watch.self, Stats.self, Health.self, Fleet.self]),
            CommandGroup(
                name: "Admin (rosterd's uid, root or --admin-uid)",
                subcommands: [Directory.self, Audit.self, Verify.self, Backup.self]),
        ])

    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let status = await execute(arguments)
        terminate(status)
    }

    /// Parses and runs one command line; returns the process exit code.
    static func execute(_ arguments: [String]) async -> Int32 {
        let arguments = movingLeadingGlobalOptions(arguments)
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            return report(parseError: error, arguments: arguments)
        }
        let output = Output(json: (command as? any RosterCommand)?.global.json ?? false)
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return ExitStatus.ok.rawValue
        } catch let failure as CLIFailure {
            output.fail(failure)
            return failure.exitStatus.rawValue
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            // Help for a command group with no leaf (`rosterctl directory`), or an unexpected error.
            let code = exitCode(for: error)
            if code == .success {
                Output.write(fullMessage(for: error) + "\n", to: .stdout)
                return 0
            }
            output.fail(CLIFailure(.failed, code: "UNKNOWN", message(for: error)))
            return ExitStatus.failed.rawValue
        }
    }

    /// `rosterctl --socket S --json check …` → `rosterctl check … --socket S --json`.
    ///
    /// The shared options belong to the leaf commands (so they are accepted anywhere after the
    /// command words); this also accepts them before, as people type them.
    static func movingLeadingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--json" {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--socket" || first == "--timeout" {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--socket=") || first.hasPrefix("--timeout=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var result = Array(rest)
        result.insert(contentsOf: leading, at: result.firstIndex(of: "--") ?? result.endIndex)
        return result
    }

    /// Help and version go to standard output with status 0; everything else is a usage error
    /// (exit 2) with ArgumentParser's message and usage on standard error.
    private static func report(parseError error: any Error, arguments: [String]) -> Int32 {
        if exitCode(for: error) == .success {
            Output.write(fullMessage(for: error) + "\n", to: .stdout)
            return 0
        }
        let operands = arguments.prefix { $0 != "--" }
        let output = Output(json: operands.contains("--json"))
        var text = fullMessage(for: error)
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        Output.write("rosterctl: " + text + "\n", to: .stderr)
        if output.json {
            Output.write(CLIFailure.usage(message(for: error)).json.serialized + "\n", to: .stdout)
        }
        return ExitStatus.usage.rawValue
    }
}

/// Ends the process with `status` (output is unbuffered: nothing is left to flush).
func terminate(_ status: Int32) -> Never {
    exit(status)
}
