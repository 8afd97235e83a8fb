import ArgumentParser
import Dispatch
import Foundation
import RosterClient
import RosterProtocol

/// `rosterctl watch`: follows the change stream, one event per line, until Ctrl-C.
struct Watch: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the change events, one per line, until interrupted (Ctrl-C ends it cleanly, exit 0).",
        discussion: """
            Without --from, starts at rosterd's current revision (new events only); --from 0 replays the whole \
            history first. --json prints one object per event: {"revision","seq","directory_id","kind","user_id", \
            "group_id","cause","time_unix_ms","time"}. If rosterd ends the stream (e.g. it shuts down), rosterctl \
            exits 4 and says which --from resumes without a gap.
            """)

    @Option(
        name: .customLong("from"),
        help: ArgumentHelp("Print the events after this revision (default: the current revision).", valueName: "rev"))
    var fromRevision: UInt64?

    @Option(
        name: [.customLong("directory"), .customShort("d")],
        help: ArgumentHelp("Only this directory's events (default: all directories).", valueName: "id"))
    var directoryID: String?

    @Option(help: ArgumentHelp("Stop after this many events.", valueName: "n"))
    var count: Int?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1 (got \(count))") }
        if let directoryID, directoryID.isEmpty { throw ValidationError("--directory must not be empty") }
    }

    func run() async throws {
        let output = global.output
        let (fromRevision, directoryID, count) = (self.fromRevision, self.directoryID, self.count)
        try await global.withClient { client in
            var start = fromRevision ?? 0
            if fromRevision == nil { start = try await client.health(timeout: global.deadline()).revision }
            output.note(
                "watching \(directoryID.map { "directory \($0)" } ?? "all directories") after revision \(start) "
                    + "(Ctrl-C to stop)")
            let consumer = Task { () async throws -> Void in
                var printed = 0
                var last: (revision: UInt64, seq: UInt32)?
                do {
                    for try await event in client.watch(fromRevision: start, directoryID: directoryID) {
                        output.emit(event.json) { event.line }
                        last = (event.revision, event.seq)
                        printed += 1
                        if let count, printed >= count { return }
                    }
                } catch is CancellationError {
                    return
                } catch let error as RosterClientError {
                    // Everything up to the revision before the last event's is complete.
                    let resume = last.map { $0.revision - 1 } ?? start
                    var failure = CLIFailure.from(error, socketPath: global.socketPath)
                    failure.message += "; resume with `rosterctl watch --from \(resume)`"
                    throw failure
                }
            }
            let trap = SignalTrap([SIGINT, SIGTERM]) { consumer.cancel() }
            defer { trap.cancel() }
            try await consumer.value
        }
    }
}

extension Roster_V1_WatchEvent {
    var json: JSON {
        .object([
            ("revision", .uint(revision)), ("seq", .uint(UInt64(seq))), ("directory_id", .string(directoryID)),
            ("kind", .string(kind)), ("user_id", .string(userID)), ("group_id", .string(groupID)),
            ("cause", .string(cause)), ("time_unix_ms", .int(timeUnixMs)), ("time", .string(Text.time(unixMs: timeUnixMs))),
        ])
    }

    /// `12.0  2025-06-01T12:00:00.123Z  dir_x  group.user_removed    user=u1 group=g1 cause=user_suspended`
    var line: String {
        var subject: [String] = []
        if !userID.isEmpty { subject.append("user=\(userID)") }
        if !groupID.isEmpty { subject.append("group=\(groupID)") }
        if !cause.isEmpty { subject.append("cause=\(cause)") }
        return [
            "\(revision).\(seq)".padding(toLength: 8, withPad: " ", startingAt: 0),
            Text.time(unixMs: timeUnixMs), directoryID,
            kind.padding(toLength: 19, withPad: " ", startingAt: 0),
            subject.joined(separator: " "),
        ].joined(separator: "  ").trimmingTrailingSpaces()
    }
}

/// Runs `handler` when one of `signals` arrives, instead of the default action (terminating).
struct SignalTrap {
    private let sources: [any DispatchSourceSignal]

    init(_ signals: [Int32], handler: @escaping @Sendable () -> Void) {
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// `rosterctl stats`: counters.
struct Stats: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show rosterd's counters: revision, directories, users, groups, memberships, connections.",
        discussion: """
            --json prints {"revision","directories","users","active_users","groups","memberships","connections", \
            "calls_total","uptime_seconds","version"}.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let stats = try await global.withClient { client in try await client.stats(timeout: global.deadline()) }
        global.output.emit(
            .object([
                ("revision", .uint(stats.revision)), ("directories", .uint(stats.directories)),
                ("users", .uint(stats.users)), ("active_users", .uint(stats.activeUsers)), ("groups", .uint(stats.groups)),
                ("memberships", .uint(stats.memberships)), ("connections", .uint(stats.connections)),
                ("calls_total", .uint(stats.callsTotal)), ("uptime_seconds", .double(stats.uptimeSeconds)),
                ("version", .string(stats.version)),
            ])
        ) {
            Text.fields([
                ("version", Text.cell(stats.version)), ("uptime", Text.duration(seconds: stats.uptimeSeconds)),
                ("revision", String(stats.revision)), ("directories", String(stats.directories)),
                ("users", "\(stats.users) (\(stats.activeUsers) active)"), ("groups", String(stats.groups)),
                ("memberships", String(stats.memberships)), ("connections", String(stats.connections)),
                ("calls", String(stats.callsTotal)),
            ])
        }
    }
}

/// `rosterctl health`: exit 0 while rosterd serves.
struct Health: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Is rosterd serving? (exit 0 if so, 4 if not or unreachable)",
        discussion: "--json prints {\"status\":\"SERVING\",\"revision\":…}.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let health = try await global.withClient { client in try await client.health(timeout: global.deadline()) }
        global.output.emit(.object([("status", .string(health.status)), ("revision", .uint(health.revision))])) {
            "\(health.status) at revision \(health.revision) (\(global.socketPath))"
        }
        if health.status != "SERVING" { throw ExitCode(ExitStatus.unavailable.rawValue) }
    }
}
