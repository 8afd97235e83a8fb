import ArgumentParser
import Foundation
import RosterClient
import RosterProtocol

/// `rosterctl fleet status|wait`: the instances of a fleet (rosterd --database-url) as the shared
/// database sees them. Any instance answers for the whole fleet.
struct Fleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The instances of a fleet on PostgreSQL, and waiting until all of them applied a revision.",
        subcommands: [FleetStatusCommand.self, FleetWait.self])
}

struct FleetStatusCommand: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The head revision and every live instance (heartbeat within 10 s) with its applied revision and lag.",
        discussion: """
            --json prints {"head_revision": N, "instances": [{"name","pid","applied_revision","lag_revisions", \
            "last_seen_unix_ms"}, …]}. A daemon without --database-url answers FAILED_PRECONDITION (exit 2).
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let status = try await global.withClient { client in try await client.fleetStatus(timeout: global.deadline()) }
        global.output.emit(status.json) {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let rows = status.instances.map { instance in
                [
                    instance.name, String(instance.pid), String(instance.appliedRevision), String(instance.lagRevisions),
                    String(format: "%.1fs ago", Double(max(0, now - instance.lastSeenUnixMs)) / 1000),
                ]
            }
            return "head revision \(status.headRevision)\n"
                + Text.table(["NAME", "PID", "APPLIED", "LAG", "SEEN"], rows)
        }
    }
}

struct FleetWait: AsyncParsableCommand, RosterCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Return once every live instance has applied REVISION (e.g. a deprovisioning's Roster-Revision).",
        discussion: """
            Exit 0 with --json {"revision": N, "instances": K} once all K live instances applied it; exit 4 when \
            --timeout (default 30 s) passes first, naming the instances still behind.
            """)

    @Argument(help: ArgumentHelp("The revision every instance must reach.", valueName: "revision"))
    var revision: UInt64

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let revision = self.revision
        let seconds = global.timeout ?? 30
        let deadline = ContinuousClock.now + .milliseconds(Int64((seconds * 1000).rounded(.up)))
        let behind: [Roster_V1_FleetInstance] = try await global.withClient { client in
            while true {
                let status = try await client.fleetStatus(timeout: .seconds(5))
                let behind = status.instances.filter { $0.appliedRevision < revision }
                if behind.isEmpty && !status.instances.isEmpty {
                    global.output.emit(.object([("revision", .uint(revision)), ("instances", .uint(UInt64(status.instances.count)))])) {
                        "all \(status.instances.count) live instances applied revision \(revision)"
                    }
                    return []
                }
                if ContinuousClock.now >= deadline { return behind }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        if !behind.isEmpty {
            let names = behind.map { "\($0.name) at \($0.appliedRevision)" }.joined(separator: ", ")
            global.output.note("timed out after \(seconds) s waiting for revision \(revision): \(names)")
            throw ExitCode(ExitStatus.unavailable.rawValue)
        }
    }
}

extension Roster_V1_FleetStatusResponse {
    var json: JSON {
        .object([
            ("head_revision", .uint(headRevision)),
            (
                "instances",
                .array(
                    instances.map { instance in
                        .object([
                            ("name", .string(instance.name)), ("pid", .uint(UInt64(instance.pid))),
                            ("applied_revision", .uint(instance.appliedRevision)), ("lag_revisions", .uint(instance.lagRevisions)),
                            ("last_seen_unix_ms", .int(instance.lastSeenUnixMs)),
                        ])
                    })
            ),
        ])
    }
}
