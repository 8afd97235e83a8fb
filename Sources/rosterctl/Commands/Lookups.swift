import ArgumentParser
import Foundation
import RosterClient
import RosterProtocol

/// `--min-revision N`, shared by the lookups.
struct RevisionOption: ParsableArguments {
    @Option(
        name: .customLong("min-revision"),
        help: ArgumentHelp(
            "Answer only once rosterd has reached this revision (the Roster-Revision header of a SCIM write).",
            valueName: "n"))
    var minRevision: UInt64 = 0
}

/// `--page-size`, `--page-token`, `--all`, shared by the listings.
struct PageOptions: ParsableArguments {
    @Option(name: .customLong("page-size"), help: ArgumentHelp("Entries per page, 1 to 1000 (default 100).", valueName: "n"))
    var pageSize: Int?

    @Option(
        name: .customLong("page-token"),
        help: ArgumentHelp("Continue a listing: the next_page_token of the previous page.", valueName: "token"))
    var pageToken: String = ""

    @Flag(help: "Follow the pages to the end and print them as one listing.")
    var all = false

    func validate() throws {
        if let pageSize, !(1...1000).contains(pageSize) {
            throw ValidationError("--page-size must be from 1 to 1000 (got \(pageSize))")
        }
    }

    /// Reads one page, or with `--all` every page from `--page-token` on, and concatenates them.
    /// - Parameter page: reads the page at a token; returns its items, next token and revision.
    /// - Returns: the items, the token of the next page (empty at the end) and the last page's revision.
    func collect<Item>(
        _ page: (_ token: String, _ size: Int) async throws -> (items: [Item], next: String, revision: UInt64)
    ) async throws -> (items: [Item], next: String, revision: UInt64) {
        var token = pageToken
        var items: [Item] = []
        var seen: Set<String> = [token]
        while true {
            let result = try await page(token, pageSize ?? 0)
            items += result.items
            guard all, !result.next.isEmpty else { return (items, result.next, result.revision) }
            guard seen.insert(result.next).inserted else {
                throw CLIFailure(.failed, code: "INTERNAL", "rosterd returned the page token '\(result.next)' twice; stopped following pages")
            }
            token = result.next
        }
    }
}

/// `rosterctl user`: one user with its state and groups.
struct User: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a user: state, group ids, version and SCIM resource.",
        discussion: """
            Deleted users are shown with state DELETED; an unknown user is NOT_FOUND (exit 3).

            --json prints {"user":{"id","user_name","external_id","display_name","state","version","group_ids", \
            "resource"},"revision"}.
            """)

    @OptionGroup(title: "Directory") var directory: DirectoryOption
    @OptionGroup(title: "User (one of)") var user: UserReference
    @OptionGroup var revision: RevisionOption
    @Flag(help: "Also print the SCIM resource as rosterd stores it (always in --json).")
    var resource = false
    @OptionGroup var global: GlobalOptions

    func validate() throws { try user.validateReference() }

    func run() async throws {
        let response = try await global.withClient(hints: .lookup(minRevision: revision.minRevision)) { client in
            try await client.getUser(
                directoryID: directory.id, user: user.ref, minRevision: revision.minRevision, timeout: global.deadline())
        }
        let detail = response.user
        global.output.emit(
            .object([
                (
                    "user",
                    .object([
                        ("id", .string(detail.id)), ("user_name", .string(detail.userName)),
                        ("external_id", .string(detail.externalID)), ("display_name", .string(detail.displayName)),
                        ("state", .string(detail.state.name)), ("version", .uint(detail.version)),
                        ("group_ids", .array(detail.groupIds.map { .string($0) })), ("resource", .raw(detail.resourceJson)),
                    ])
                ),
                ("revision", .uint(response.revision)),
            ])
        ) {
            var text = Text.fields([
                ("id", detail.id), ("userName", Text.cell(detail.userName)), ("externalId", Text.cell(detail.externalID)),
                ("displayName", Text.cell(detail.displayName)), ("state", detail.state.name),
                ("version", String(detail.version)),
                ("groups", detail.groupIds.isEmpty ? "none" : "\(detail.groupIds.count): " + detail.groupIds.joined(separator: ", ")),
                ("revision", String(response.revision)),
            ])
            if resource { text += "\nresource\n" + Text.prettyJSON(detail.resourceJson) }
            return text
        }
    }
}

/// `rosterctl group`: shows a group; `rosterctl group delete D G` deletes one.
struct Group: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a group (`group --directory D --group NAME`), or delete one (`group delete D G`).",
        subcommands: [Show.self, Delete.self],
        defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand, RosterCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group: member count, version and SCIM resource (the default of `group`).",
            discussion: """
                An unknown group is NOT_FOUND (exit 3); a display name shared by several groups is \
                FAILED_PRECONDITION (exit 2): use --group-id.

                --json prints {"group":{"id","display_name","external_id","member_count","version","resource"},"revision"}.
                """)

        @OptionGroup(title: "Directory") var directory: DirectoryOption
        @OptionGroup(title: "Group (one of)") var group: GroupReference
        @OptionGroup var revision: RevisionOption
        @Flag(help: "Also print the SCIM resource as rosterd stores it (always in --json).")
        var resource = false
        @OptionGroup var global: GlobalOptions

        func validate() throws { try group.validateReference() }

        func run() async throws {
            let response = try await global.withClient(hints: .lookup(minRevision: revision.minRevision)) { client in
                try await client.getGroup(
                    directoryID: directory.id, group: group.ref(), minRevision: revision.minRevision,
                    timeout: global.deadline())
            }
            let detail = response.group
            global.output.emit(
                .object([
                    (
                        "group",
                        .object([
                            ("id", .string(detail.id)), ("display_name", .string(detail.displayName)),
                            ("external_id", .string(detail.externalID)), ("member_count", .uint(detail.memberCount)),
                            ("version", .uint(detail.version)), ("resource", .raw(detail.resourceJson)),
                        ])
                    ),
                    ("revision", .uint(response.revision)),
                ])
            ) {
                var text = Text.fields([
                    ("id", detail.id), ("displayName", Text.cell(detail.displayName)),
                    ("externalId", Text.cell(detail.externalID)), ("members", String(detail.memberCount)),
                    ("version", String(detail.version)), ("revision", String(response.revision)),
                ])
                if resource { text += "\nresource\n" + Text.prettyJSON(detail.resourceJson) }
                return text
            }
        }
    }
}

/// `rosterctl groups`: the groups a user is in.
struct Groups: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the groups a user is a member of (suspended and deleted users have none).",
        discussion: """
            Paged: --page-size, --page-token, or --all to follow every page.

            --json prints {"groups":[{"id","display_name","external_id","member_count"}],"next_page_token","revision"}.
            """)

    @OptionGroup(title: "Directory") var directory: DirectoryOption
    @OptionGroup(title: "User (one of)") var user: UserReference
    @OptionGroup var revision: RevisionOption
    @OptionGroup(title: "Paging") var page: PageOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws { try user.validateReference() }

    func run() async throws {
        let listing = try await global.withClient(hints: .lookup(minRevision: revision.minRevision)) { client in
            try await page.collect { token, size in
                let response = try await client.listUserGroups(
                    directoryID: directory.id, user: user.ref, pageSize: size, pageToken: token,
                    minRevision: revision.minRevision, timeout: global.deadline())
                return (response.groups, response.nextPageToken, response.revision)
            }
        }
        global.output.emit(
            .object([
                (
                    "groups",
                    .array(
                        listing.items.map { group in
                            .object([
                                ("id", .string(group.id)), ("display_name", .string(group.displayName)),
                                ("external_id", .string(group.externalID)), ("member_count", .uint(group.memberCount)),
                            ])
                        })
                ),
                ("next_page_token", .string(listing.next)), ("revision", .uint(listing.revision)),
            ])
        ) {
            var lines: [String] = []
            if listing.items.isEmpty {
                lines.append("\(user.label) is in no group at revision \(listing.revision)")
            } else {
                lines.append(
                    Text.table(
                        ["ID", "DISPLAY NAME", "EXTERNAL ID", "MEMBERS"],
                        listing.items.map { [$0.id, Text.cell($0.displayName), Text.cell($0.externalID), String($0.memberCount)] }))
                lines.append("\(Text.count(listing.items.count, "group")) at revision \(listing.revision)")
            }
            if !listing.next.isEmpty { lines.append(Text.morePages(listing.next)) }
            return lines.joined(separator: "\n")
        }
    }
}

/// `rosterctl members`: a group's active members.
struct Members: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the active members of a group.",
        discussion: """
            Paged: --page-size, --page-token, or --all to follow every page.

            --json prints {"members":[{"id","user_name","external_id","state"}],"next_page_token","revision"}.
            """)

    @OptionGroup(title: "Directory") var directory: DirectoryOption
    @OptionGroup(title: "Group (one of)") var group: GroupReference
    @OptionGroup var revision: RevisionOption
    @OptionGroup(title: "Paging") var page: PageOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws { try group.validateReference() }

    func run() async throws {
        let listing = try await global.withClient(hints: .lookup(minRevision: revision.minRevision)) { client in
            try await page.collect { token, size in
                let response = try await client.listGroupMembers(
                    directoryID: directory.id, group: group.ref(), pageSize: size, pageToken: token,
                    minRevision: revision.minRevision, timeout: global.deadline())
                return (response.members, response.nextPageToken, response.revision)
            }
        }
        global.output.emit(
            .object([
                (
                    "members",
                    .array(
                        listing.items.map { member in
                            .object([
                                ("id", .string(member.id)), ("user_name", .string(member.userName)),
                                ("external_id", .string(member.externalID)), ("state", .string(member.state.name)),
                            ])
                        })
                ),
                ("next_page_token", .string(listing.next)), ("revision", .uint(listing.revision)),
            ])
        ) {
            var lines: [String] = []
            if listing.items.isEmpty {
                lines.append("\(group.ref().label) has no active member at revision \(listing.revision)")
            } else {
                lines.append(
                    Text.table(
                        ["ID", "USERNAME", "EXTERNAL ID", "STATE"],
                        listing.items.map { [$0.id, Text.cell($0.userName), Text.cell($0.externalID), $0.state.name] }))
                lines.append("\(Text.count(listing.items.count, "member")) at revision \(listing.revision)")
            }
            if !listing.next.isEmpty { lines.append(Text.morePages(listing.next)) }
            return lines.joined(separator: "\n")
        }
    }
}

extension Text {
    /// `1 group`, `3 groups`.
    static func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }

    static func morePages(_ token: String) -> String {
        "more: repeat with --page-token \(token) (or pass --all)"
    }

    /// A JSON text indented for reading; the text itself when it does not parse.
    static func prettyJSON(_ text: String) -> String {
        guard let data = text.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data),
            let pretty = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
            let result = String(data: pretty, encoding: .utf8)
        else { return text }
        return result
    }
}
