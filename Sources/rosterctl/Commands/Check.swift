import ArgumentParser
import RosterClient

/// `rosterctl check`: is the user an active member of the group? Exit 0 allowed, 1 denied.
struct Check: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Is the user an active member of the group? (exit 0 allowed, 1 denied)",
        discussion: """
            Prints the decision, the reason (MEMBER, NOT_MEMBER, USER_SUSPENDED, USER_DELETED, USER_UNKNOWN, \
            GROUP_UNKNOWN) and the revision it was computed at. An unknown user or group is an answer \
            (denied), an unknown directory an error (exit 3).

            --json prints {"allowed":…,"reason":…,"revision":…}.
            """)

    @OptionGroup(title: "Directory") var directory: DirectoryOption
    @OptionGroup(title: "User (one of)") var user: UserReference
    @OptionGroup(title: "Group (one of)") var group: GroupReference
    @OptionGroup var revision: RevisionOption
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try user.validateReference()
        try group.validateReference()
    }

    func run() async throws {
        let answer = try await global.withClient(hints: .lookup(minRevision: revision.minRevision)) { client in
            try await client.check(
                directoryID: directory.id, user: user.ref, group: group.ref(), minRevision: revision.minRevision,
                timeout: global.deadline())
        }
        global.output.emit(
            .object([
                ("allowed", .bool(answer.allowed)), ("reason", .string(answer.reason.name)),
                ("revision", .uint(answer.revision)),
            ])
        ) {
            Text.fields([
                ("decision", answer.allowed ? "allowed" : "denied"),
                ("reason", "\(answer.reason.name) — \(answer.reason.explanation)"),
                ("revision", String(answer.revision)),
            ])
        }
        if !answer.allowed { throw ExitCode(ExitStatus.denied.rawValue) }
    }
}

extension CLIFailure.Hints {
    /// For lookups: a deadline with `--min-revision` usually means the revision was not reached.
    static func lookup(minRevision revision: UInt64) -> Self {
        var hints = Self()
        if revision > 0 {
            hints.deadline =
                "rosterd had not reached revision \(revision) in time: is the revision from this rosterd "
                + "(`rosterctl health` shows its current one)? Wait longer with --timeout"
        }
        hints.notFound = "check the user and group references: `rosterctl members` and `rosterctl groups` list them"
        return hints
    }
}
