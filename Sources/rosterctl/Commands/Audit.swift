import ArgumentParser
import Foundation
import RosterClient
import RosterProtocol
import Synchronization

/// `rosterctl audit D`: the SCIM requests rosterd received, to explain a membership.
struct Audit: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the SCIM audit trail of a directory: what the provider sent and what rosterd did.",
        discussion: """
            Answers "why is this user not in that group?": --user and --group keep the requests that concern \
            the user or the group: those naming its id (in the path or the outcome detail) and those whose \
            revision produced an event about it (a group POST that added the user, a PATCH that suspended it \
            and removed its memberships).

            Records are printed oldest first: the newest --limit since --since.

            --json prints {"records":[{"revision","time_unix_ms","time","directory_id","method","path", \
            "http_status","outcome","detail","duration_us"}]}.
            """)

    @Argument(help: ArgumentHelp("The directory id.", valueName: "directory"))
    var directoryID: String

    @Option(
        help: ArgumentHelp(
            "Only records from this time on: ISO 8601 (2025-06-01T12:00:00Z), a duration back from now (15m, 2h, 7d) "
                + "or Unix ms.", valueName: "time"))
    var since: Since?

    @Option(help: ArgumentHelp("Most records to read, 1 to 1000 (default 100; 1000 with --user or --group).", valueName: "n"))
    var limit: Int?

    @OptionGroup(title: "Only records about this user (optional, one of)") var user: UserReference
    @OptionGroup(title: "Only records about this group (optional, one of)") var group: GroupReference
    @OptionGroup var global: GlobalOptions

    var filtered: Bool { !user.given.isEmpty || !group.given.isEmpty }

    func validate() throws {
        if let limit, !(1...1000).contains(limit) {
            throw ValidationError("--limit must be from 1 to 1000 (got \(limit))")
        }
        try user.validateReference(required: false)
        try group.validateReference(required: false)
    }

    func run() async throws {
        let sinceMs = since?.unixMs() ?? 0
        var hints = CLIFailure.Hints()
        hints.notFound = "`rosterctl members` and `rosterctl groups` list the users and groups"
        let (shown, ids) = try await global.withClient(hints: hints) { client in
            // The audit trail names users and groups by id: resolve the references first.
            var ids: Set<String> = []
            if !user.given.isEmpty {
                ids.insert(try await client.getUser(directoryID: directoryID, user: user.ref, timeout: global.deadline()).user.id)
            }
            if !group.given.isEmpty {
                ids.insert(
                    try await client.getGroup(directoryID: directoryID, group: group.ref(), timeout: global.deadline()).group.id)
            }
            let records = try await client.audit(
                directoryID: directoryID, sinceUnixMs: sinceMs, limit: limit ?? (filtered ? 1000 : 0),
                timeout: global.deadline(default: 30))
            let oldestFirst = Array(records.reversed())
            guard !ids.isEmpty else { return (oldestFirst, ids) }
            let revisions = oldestFirst.map(\.revision).filter { $0 > 0 }
            let touching =
                revisions.isEmpty
                ? []
                : try await EventIndex.revisions(
                    naming: ids, directoryID: directoryID, in: revisions.min()!...revisions.max()!, client: client,
                    timeout: global.deadline(default: 30))
            let matching = oldestFirst.filter { record in
                touching.contains(record.revision) || ids.contains { record.path.contains($0) || record.detail.contains($0) }
            }
            return (matching, ids)
        }
        global.output.emit(
            .object([
                (
                    "records",
                    .array(
                        shown.map { record in
                            .object([
                                ("revision", .uint(record.revision)), ("time_unix_ms", .int(record.timeUnixMs)),
                                ("time", .string(Text.time(unixMs: record.timeUnixMs))),
                                ("directory_id", .string(record.directoryID)), ("method", .string(record.method)),
                                ("path", .string(record.path)), ("http_status", .uint(UInt64(record.httpStatus))),
                                ("outcome", .string(record.outcome)), ("detail", .string(record.detail)),
                                ("duration_us", .uint(record.durationUs)),
                            ])
                        })
                )
            ])
        ) {
            guard !shown.isEmpty else {
                return "no SCIM requests recorded for directory \(directoryID)"
                    + (since == nil ? "" : " since \(Text.time(unixMs: sinceMs))")
                    + (filtered ? " about \(ids.sorted().joined(separator: " or "))" : "")
            }
            return Text.table(
                ["TIME", "REVISION", "METHOD", "PATH", "STATUS", "OUTCOME", "DURATION", "DETAIL"],
                shown.map {
                    [
                        Text.time(unixMs: $0.timeUnixMs), $0.revision == 0 ? "-" : String($0.revision), $0.method, $0.path,
                        String($0.httpStatus), $0.outcome, Text.microseconds($0.durationUs), Text.cell($0.detail),
                    ]
                })
        }
    }
}

/// Which revisions changed a given user or group: read from the Watch history.
enum EventIndex {
    /// The revisions in `range` with an event of `directoryID` whose user or group is in `ids`.
    ///
    /// Reads the Watch stream from just before `range`. It stops at the first event after the
    /// range; or once the stream pauses after the range's last revision (the history is sent in
    /// one burst, so a pause means it is all there), 300 ms, or 1 s in any case; or at the deadline.
    static func revisions(
        naming ids: Set<String>, directoryID: String, in range: ClosedRange<UInt64>, client: RosterClient,
        timeout: Duration?
    ) async throws -> Set<UInt64> {
        let progress = Progress()
        let reader = Task {
            defer { progress.state.withLock { $0.finished = true } }
            for try await event in client.watch(fromRevision: range.lowerBound - 1, directoryID: directoryID) {
                if event.revision > range.upperBound { return }
                let names = ids.contains(event.userID) || ids.contains(event.groupID)
                progress.state.withLock {
                    if names { $0.found.insert(event.revision) }
                    $0.lastEvent = .now
                    if event.revision == range.upperBound { $0.reachedEnd = true }
                }
            }
        }
        let deadline = ContinuousClock.now + (timeout ?? .seconds(3600))
        while true {
            let state = progress.state.withLock { $0 }
            if state.finished { break }
            // History arrives in one burst: once it pauses, the rest (if any) is live.
            let quiet = ContinuousClock.now - state.lastEvent
            if (state.reachedEnd && quiet > .milliseconds(300)) || quiet > .seconds(1) {
                reader.cancel()
                break
            }
            if ContinuousClock.now > deadline {
                reader.cancel()
                throw CLIFailure(
                    .unavailable, code: "DEADLINE_EXCEEDED",
                    "reading the change events of revisions \(range.lowerBound)...\(range.upperBound) took longer than "
                        + "the timeout — pass a larger --timeout, or a later --since")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if case .failure(let error) = await reader.result, !(error is CancellationError) { throw error }
        return progress.state.withLock { $0.found }
    }
}

private final class Progress: Sendable {
    struct State {
        var found: Set<UInt64> = []
        var lastEvent = ContinuousClock.now
        var reachedEnd = false
        var finished = false
    }
    let state = Mutex(State())
}
