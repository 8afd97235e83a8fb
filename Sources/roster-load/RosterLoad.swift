import ArgumentParser

/// roster-load: load generator and dataset seeder for rosterd's lookup socket.
///
/// ```sh
/// roster-load seed --socket S --users 100000 --groups 10000 --memberships 1000000 --queries q.tsv
/// roster-load run --socket S --directory D --queries q.tsv --connections 50 --pipeline 16 --duration 10 --json
/// ```
@main
struct RosterLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster-load",
        abstract: "Load generator and dataset seeder for rosterd's lookup API.",
        discussion: """
            `seed` creates a directory, loads users, groups and memberships through the real SCIM endpoint and \
            writes a queries file (userId<TAB>groupId<TAB>allow|deny) whose expected decisions come from what was \
            seeded. `run` replays a queries file over the Unix socket with C connections × P calls in flight and \
            checks every answer against the expected decision.
            """,
        subcommands: [RunCommand.self, SeedCommand.self])
}
