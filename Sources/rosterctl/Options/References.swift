import ArgumentParser
import RosterClient

/// `--directory D`: the directory a lookup reads.
struct DirectoryOption: ParsableArguments {
    @Option(
        name: [.customLong("directory"), .customShort("d")],
        help: ArgumentHelp("Directory id (`rosterctl directory list` shows them).", valueName: "id"))
    var id: String
}

/// Names one user: exactly one of `--user`, `--user-id`, `--user-external-id`.
struct UserReference: ParsableArguments {
    @Option(name: .customLong("user"), help: ArgumentHelp("The user's SCIM userName (case-insensitive).", valueName: "name"))
    var userName: String?

    @Option(name: .customLong("user-id"), help: ArgumentHelp("The user's SCIM id, as rosterd assigned it.", valueName: "id"))
    var id: String?

    @Option(
        name: .customLong("user-external-id"),
        help: ArgumentHelp("The user's externalId, the identity provider's key.", valueName: "id"))
    var externalID: String?

    var given: [String] { [userName, id, externalID].compactMap { $0 } }

    /// Checks that exactly one reference is given (at most one when `required` is false).
    ///
    /// Not `validate()`, which ArgumentParser would call on its own: commands where the user is
    /// optional (`audit`) need to decide. Each command calls this from its `validate()`.
    func validateReference(required: Bool = true) throws {
        if given.isEmpty && !required { return }
        guard given.count == 1 else {
            throw ValidationError(
                given.isEmpty
                    ? "name the user with --user NAME, --user-id ID or --user-external-id ID"
                    : "name the user with only one of --user, --user-id and --user-external-id")
        }
        guard !given[0].isEmpty else { throw ValidationError("the user reference must not be empty") }
    }

    var ref: RosterClient.UserRef {
        if let id { return .id(id) }
        if let externalID { return .externalID(externalID) }
        return .userName(userName ?? "")
    }

    /// `userName alice@example.com`, for messages.
    var label: String {
        switch ref {
        case .id(let value): "user id \(value)"
        case .userName(let value): "user \(value)"
        case .externalID(let value): "user externalId \(value)"
        }
    }
}

/// Names one group: exactly one of `--group`, `--group-id`, `--group-external-id` (or, for
/// `group delete`, the id as an argument).
struct GroupReference: ParsableArguments {
    @Option(
        name: .customLong("group"),
        help: ArgumentHelp(
            "The group's SCIM displayName (exact; when several groups share it, use --group-id).", valueName: "name"))
    var displayName: String?

    @Option(name: .customLong("group-id"), help: ArgumentHelp("The group's SCIM id, as rosterd assigned it.", valueName: "id"))
    var id: String?

    @Option(
        name: .customLong("group-external-id"),
        help: ArgumentHelp("The group's externalId, the identity provider's key.", valueName: "id"))
    var externalID: String?

    var given: [String] { [displayName, id, externalID].compactMap { $0 } }

    /// Checks that exactly one reference is given, counting an id passed as an argument.
    ///
    /// Not `validate()`: ArgumentParser would call that on its own, before the command could count
    /// its argument or say whether the group is optional; each command calls this from its
    /// `validate()`.
    func validateReference(positionalID: String? = nil, required: Bool = true) throws {
        let all = given + (positionalID.map { [$0] } ?? [])
        if all.isEmpty && !required { return }
        guard all.count == 1 else {
            throw ValidationError(
                all.isEmpty
                    ? "name the group with --group NAME, --group-id ID or --group-external-id ID"
                    : "name the group only once: one of --group, --group-id and --group-external-id")
        }
        guard !all[0].isEmpty else { throw ValidationError("the group reference must not be empty") }
    }

    /// The reference; `positionalID` is the id given as an argument, if the command takes one.
    func ref(positionalID: String? = nil) -> RosterClient.GroupRef {
        if let id = positionalID ?? id { return .id(id) }
        if let externalID { return .externalID(externalID) }
        return .displayName(displayName ?? "")
    }
}

extension RosterClient.GroupRef {
    /// `group admins`, for messages.
    var label: String {
        switch self {
        case .id(let value): "group id \(value)"
        case .displayName(let value): "group \(value)"
        case .externalID(let value): "group externalId \(value)"
        }
    }
}
