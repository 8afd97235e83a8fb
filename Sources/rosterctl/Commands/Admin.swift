import ArgumentParser
import Foundation
import RosterClient
import RosterProtocol

/// `rosterctl directory …`: one directory per identity-provider connection.
struct Directory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, rotate the SCIM token of, or delete directories.",
        subcommands: [Create.self, List.self, RotateToken.self, Delete.self])

    enum Provider: String, ExpressibleByArgument, CaseIterable {
        case okta, entra, onelogin, jumpcloud, generic
    }

    enum Policy: String, ExpressibleByArgument, CaseIterable {
        case revoke, retain
    }

    struct Create: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a directory; prints its id, SCIM base URL and bearer token (shown once).",
            discussion: """
                --json prints {"id":…,"scim_base_url":…,"token":…}.

                A name already in use is ALREADY_EXISTS (exit 2).
                """)

        @Argument(help: ArgumentHelp("A unique label, e.g. the identity provider's tenant.", valueName: "name"))
        var name: String

        @Option(help: "The identity provider: selects its SCIM dialect.")
        var provider: Provider

        @Option(
            help: ArgumentHelp(
                "revoke: a suspended user loses its memberships (default); retain: they are kept but inert."))
        var policy: Policy = .revoke

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard !name.isEmpty else { throw ValidationError("the directory name must not be empty") }
        }

        func run() async throws {
            var hints = CLIFailure.Hints()
            hints.invalidArgument = "see `rosterctl directory create --help`"
            let created = try await global.withClient(hints: hints) { client in
                do {
                    return try await client.createDirectory(
                        name: name, provider: provider.rawValue, policy: policy.rawValue, timeout: global.deadline(default: 30))
                } catch let error as RosterClientError where error.statusCode == .alreadyExists {
                    throw CLIFailure(
                        .usage, code: error.codeName,
                        "\(error.message) — `rosterctl directory list` shows the directories; choose another name")
                }
            }
            let directory = created.directory
            global.output.emit(
                .object([
                    ("id", .string(directory.id)), ("scim_base_url", .string(created.scimBaseURL)),
                    ("token", .string(created.token)),
                ])
            ) {
                Text.fields([
                    ("id", directory.id), ("name", directory.name), ("provider", directory.provider),
                    ("policy", directory.policy), ("scim base url", created.scimBaseURL), ("token", created.token),
                ]) + "\n\nConfigure \(directory.provider) with the SCIM base URL and the token (sent as "
                    + "`Authorization: Bearer <token>`).\nThe token is shown only once; "
                    + "`rosterctl directory rotate-token \(directory.id)` issues a new one."
            }
        }
    }

    struct List: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the directories with their counts.",
            discussion: """
                --json prints {"directories":[{"id","name","provider","policy","created_unix_ms","created", \
                "users","groups","memberships"}]}.
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let directories = try await global.withClient { client in
                try await client.listDirectories(timeout: global.deadline())
            }
            global.output.emit(
                .object([
                    (
                        "directories",
                        .array(
                            directories.map { directory in
                                .object([
                                    ("id", .string(directory.id)), ("name", .string(directory.name)),
                                    ("provider", .string(directory.provider)), ("policy", .string(directory.policy)),
                                    ("created_unix_ms", .int(directory.createdUnixMs)),
                                    ("created", .string(Text.time(unixMs: directory.createdUnixMs))),
                                    ("users", .uint(directory.users)), ("groups", .uint(directory.groups)),
                                    ("memberships", .uint(directory.memberships)),
                                ])
                            })
                    )
                ])
            ) {
                guard !directories.isEmpty else {
                    return "no directories — create one with `rosterctl directory create NAME --provider okta`"
                }
                return Text.table(
                    ["ID", "NAME", "PROVIDER", "POLICY", "USERS", "GROUPS", "MEMBERSHIPS", "CREATED"],
                    directories.map {
                        [
                            $0.id, $0.name, $0.provider, $0.policy, String($0.users), String($0.groups),
                            String($0.memberships), Text.time(unixMs: $0.createdUnixMs),
                        ]
                    })
            }
        }
    }

    struct RotateToken: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-token",
            abstract: "Issue a new SCIM bearer token; the previous one stays valid until the next rotation.",
            discussion: """
                So: rotate, configure the new token in the identity provider, and rotate again later to retire \
                the old one. --json prints {"directory_id":…,"token":…,"live_tokens":…}.
                """)

        @Argument(help: ArgumentHelp("The directory id.", valueName: "directory"))
        var directoryID: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let rotated = try await global.withClient { client in
                try await client.rotateToken(directoryID: directoryID, timeout: global.deadline(default: 30))
            }
            global.output.emit(
                .object([
                    ("directory_id", .string(directoryID)), ("token", .string(rotated.token)),
                    ("live_tokens", .uint(UInt64(rotated.liveTokens))),
                ])
            ) {
                Text.fields([
                    ("directory", directoryID), ("token", rotated.token),
                    ("live tokens", "\(rotated.liveTokens) (the new one and the previous one, until the next rotation)"),
                ]) + "\n\nThe token is shown only once: configure it in the identity provider now."
            }
        }
    }

    struct Delete: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a directory with all its users, groups, memberships and tokens (no undo).",
            discussion: "--json prints {\"directory_id\":…,\"revision\":…}.")

        @Argument(help: ArgumentHelp("The directory id.", valueName: "directory"))
        var directoryID: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let revision = try await global.withClient { client in
                try await client.deleteDirectory(directoryID: directoryID, timeout: global.deadline(default: 30))
            }
            global.output.emit(.object([("directory_id", .string(directoryID)), ("revision", .uint(revision))])) {
                "deleted directory \(directoryID) at revision \(revision)"
            }
        }
    }
}

extension Group {
    /// `rosterctl group delete D G`: for providers that never send a SCIM DELETE.
    struct Delete: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a group and its memberships, as a SCIM DELETE would.",
            discussion: """
                Name the group by id (the argument or --group-id), --group NAME or --group-external-id X.

                --json prints {"directory_id":…,"revision":…,"memberships_removed":…}.
                """)

        @Argument(help: ArgumentHelp("The directory id.", valueName: "directory"))
        var directoryID: String

        @Argument(help: ArgumentHelp("The group's id (or use one of the options below).", valueName: "group"))
        var groupID: String?

        @OptionGroup(title: "Group (instead of the argument)") var group: GroupReference
        @OptionGroup var global: GlobalOptions

        func validate() throws { try group.validateReference(positionalID: groupID) }

        func run() async throws {
            let reference = group.ref(positionalID: groupID)
            var hints = CLIFailure.Hints()
            hints.notFound = "`rosterctl groups` and `rosterctl group` show group ids"
            let deleted = try await global.withClient(hints: hints) { client in
                try await client.deleteGroup(directoryID: directoryID, group: reference, timeout: global.deadline(default: 30))
            }
            global.output.emit(
                .object([
                    ("directory_id", .string(directoryID)), ("revision", .uint(deleted.revision)),
                    ("memberships_removed", .uint(UInt64(deleted.membershipsRemoved))),
                ])
            ) {
                "deleted \(reference.label) from directory \(directoryID) at revision \(deleted.revision): "
                    + Text.count(Int(deleted.membershipsRemoved), "membership") + " removed"
            }
        }
    }
}

/// `rosterctl verify`: index against store and invariants. Exit 1 when differences are found.
struct Verify: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the in-memory index against the store and the invariants (exit 1 on differences).",
        discussion: """
            --json prints {"ok","differences":[…],"users_checked","groups_checked","memberships_checked","revision"}.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let report = try await global.withClient { client in
            try await client.verify(timeout: global.deadline(default: 600))
        }
        global.output.emit(
            .object([
                ("ok", .bool(report.ok)), ("differences", .array(report.differences.map { .string($0) })),
                ("users_checked", .uint(report.usersChecked)), ("groups_checked", .uint(report.groupsChecked)),
                ("memberships_checked", .uint(report.membershipsChecked)), ("revision", .uint(report.revision)),
            ])
        ) {
            let counted =
                "\(Text.count(Int(report.usersChecked), "user")), \(Text.count(Int(report.groupsChecked), "group")), "
                + "\(Text.count(Int(report.membershipsChecked), "membership")) checked at revision \(report.revision)"
            guard !report.ok else { return "ok: " + counted }
            return (["DIFFERENCES FOUND: " + counted] + report.differences.map { "  - " + $0 }
                + ["Keep rosterd's log and a `rosterctl backup` for the investigation."])
                .joined(separator: "\n")
        }
        if !report.ok { throw ExitCode(ExitStatus.denied.rawValue) }
    }
}

/// `rosterctl backup PATH`: a consistent online copy of the database.
struct Backup: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database to a new file, while rosterd runs.",
        discussion: """
            rosterd writes the file itself, on its own host and file system; a relative PATH is made absolute \
            here first. The file must not exist, and PATH must not be a symbolic link: ALREADY_EXISTS (exit 2) \
            otherwise. A directory that does not exist or that rosterd may not write to is INVALID_ARGUMENT \
            (exit 2). The copy is created with mode 0600 (it holds every user and the token hashes).

            --json prints {"path":…,"bytes":…,"revision":…}.
            """)

    @Argument(help: ArgumentHelp("The file to create.", valueName: "path"))
    var path: String

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !path.isEmpty else { throw ValidationError("the backup path must not be empty") }
    }

    func run() async throws {
        let target = GlobalOptions.absolute(path)
        // rosterd checks too, on its own file system (and it alone decides, creating the file
        // exclusively); checking here first gives the clear message without a round trip in the
        // usual case of a daemon on this host. lstat, not stat: a dangling symlink is refused.
        var info = stat()
        if lstat(target, &info) == 0 {
            let what = (info.st_mode & S_IFMT) == S_IFLNK ? "is a symbolic link (rosterd never follows one for a backup)" : "already exists"
            throw CLIFailure(
                .usage, code: "ALREADY_EXISTS",
                "\(target) \(what); rosterd never overwrites a file — pass a new path (e.g. with a date in it)")
        }
        let result = try await global.withClient { client in
            do {
                return try await client.backup(path: target, timeout: global.deadline(default: 600))
            } catch let error as RosterClientError where error.statusCode == .alreadyExists {
                throw CLIFailure(.usage, code: "ALREADY_EXISTS", error.message)
            }
        }
        global.output.emit(
            .object([("path", .string(result.path)), ("bytes", .uint(result.bytes)), ("revision", .uint(result.revision))])
        ) {
            "backup written to \(result.path): \(Text.bytes(result.bytes)), revision \(result.revision)"
        }
    }
}

extension Text {
    /// `850µs`, `12.3ms`, `1.20s`.
    static func microseconds(_ value: UInt64) -> String {
        if value < 1000 { return "\(value)µs" }
        if value < 1_000_000 { return String(format: "%.1fms", Double(value) / 1000) }
        return String(format: "%.2fs", Double(value) / 1_000_000)
    }
}
