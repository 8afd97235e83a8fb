import RosterCore
import RosterProtocol

/// The calls answered from one index snapshot: pure functions of (request, snapshot), run on
/// the event loop with no lock, no await and no allocation beyond the answer itself.
enum Lookups {
    static func directoryID(_ value: String) throws(RosterStatus) -> String {
        guard !value.isEmpty else { throw RosterStatus(.invalidArgument, "directory_id is required") }
        return value
    }

    /// One check; unknown users and groups are answers, an unknown directory is NOT_FOUND.
    static func check(_ request: Roster_V1_CheckRequest, in index: MembershipIndex) throws(RosterStatus)
        -> CheckResult
    {
        let directory = try directoryID(request.directoryID)
        let user = try UserReference(request.user, field: "check.user")
        let group = try GroupReference(request.group, field: "check.group")
        do {
            return try index.check(directoryID: directory, user: user, group: group)
        } catch {
            throw StatusMapping.status(for: error)
        }
    }

    /// Many checks at one revision. Item errors (an empty or ambiguous reference) are reported
    /// per item; an unknown directory or an oversized batch fails the call.
    static func batchCheck(
        _ request: Roster_V1_BatchCheckRequest, in index: MembershipIndex, maxBatchSize: Int,
        record: (CheckReason?) -> Void = { _ in }
    ) throws(RosterStatus) -> Roster_V1_BatchCheckResponse {
        let directory = try directoryID(request.directoryID)
        guard request.checks.count <= maxBatchSize else {
            throw RosterStatus(
                .invalidArgument,
                "batch of \(request.checks.count) checks exceeds the maximum \(maxBatchSize); split it into smaller batches"
            )
        }
        guard index.directory(directory) != nil else {
            throw RosterStatus(.notFound, "no directory with id '\(directory)'")
        }
        var response = Roster_V1_BatchCheckResponse()
        response.revision = index.revision
        response.results.reserveCapacity(request.checks.count)
        for (position, item) in request.checks.enumerated() {
            var result = Roster_V1_CheckResult()
            do throws(RosterStatus) {
                let user = try UserReference(item.user, field: "checks[\(position)].user")
                let group = try GroupReference(item.group, field: "checks[\(position)].group")
                let answer: CheckResult
                do {
                    answer = try index.check(directoryID: directory, user: user, group: group)
                } catch {
                    throw StatusMapping.status(for: error)
                }
                result.allowed = answer.allowed
                result.reason = Roster_V1_Reason(answer.reason)
                record(answer.reason)
            } catch {
                result.error = error.proto
                record(nil)
            }
            response.results.append(result)
        }
        return response
    }

    static func listUserGroups(
        _ request: Roster_V1_ListUserGroupsRequest, in index: MembershipIndex, pageSize: Int
    ) throws(RosterStatus) -> Roster_V1_ListUserGroupsResponse {
        let directory = try directoryID(request.directoryID)
        let reference = try UserReference(request.user, field: "list_user_groups.user")
        guard index.directory(directory) != nil else {
            throw RosterStatus(.notFound, "no directory with id '\(directory)'")
        }
        guard let user = index.user(directoryID: directory, reference) else {
            throw RosterStatus(.notFound, "no user \(describe(reference)) in directory '\(directory)'")
        }
        let cursor = try PageToken.cursor(request.pageToken, kind: "ug", id: user.id, isValidCursor: PageToken.isGroupIDCursor)
        let page = index.userGroups(userID: user.id, after: cursor, limit: pageSize)
        var response = Roster_V1_ListUserGroupsResponse()
        response.revision = index.revision
        response.groups = page.items.map { group in
            var summary = Roster_V1_GroupSummary()
            summary.id = group.id
            summary.displayName = group.displayName
            summary.externalID = group.externalID ?? ""
            summary.memberCount = UInt64(index.memberCount(ofGroup: group.id))
            return summary
        }
        if let next = page.nextCursor {
            response.nextPageToken = PageToken.make(kind: "ug", id: user.id, cursor: next)
        }
        return response
    }

    static func listGroupMembers(
        _ request: Roster_V1_ListGroupMembersRequest, in index: MembershipIndex, pageSize: Int
    ) throws(RosterStatus) -> Roster_V1_ListGroupMembersResponse {
        let directory = try directoryID(request.directoryID)
        let group = try resolveGroup(request.group, field: "list_group_members.group", directory, in: index)
        let cursor = try PageToken.cursor(request.pageToken, kind: "gm", id: group.id, isValidCursor: PageToken.isMemberKeyCursor)
        let page = index.groupMembers(groupID: group.id, after: cursor, limit: pageSize)
        var response = Roster_V1_ListGroupMembersResponse()
        response.revision = index.revision
        response.members = page.items.map { user in
            var summary = Roster_V1_UserSummary()
            summary.id = user.id
            summary.userName = user.userName
            summary.externalID = user.externalID ?? ""
            summary.state = Roster_V1_UserState(user.state)
            return summary
        }
        if let next = page.nextCursor {
            response.nextPageToken = PageToken.make(kind: "gm", id: group.id, cursor: next)
        }
        return response
    }

    /// The user a GetUser names, with everything but the stored resource (the back end adds it).
    static func userDetail(_ request: Roster_V1_GetUserRequest, in index: MembershipIndex) throws(RosterStatus)
        -> (detail: Roster_V1_UserDetail, directoryID: String)
    {
        let directory = try directoryID(request.directoryID)
        let reference = try UserReference(request.user, field: "get_user.user")
        guard index.directory(directory) != nil else {
            throw RosterStatus(.notFound, "no directory with id '\(directory)'")
        }
        guard let user = index.user(directoryID: directory, reference) else {
            throw RosterStatus(.notFound, "no user \(describe(reference)) in directory '\(directory)'")
        }
        var detail = Roster_V1_UserDetail()
        detail.id = user.id
        detail.userName = user.userName
        detail.externalID = user.externalID ?? ""
        detail.displayName = user.displayName ?? ""
        detail.state = Roster_V1_UserState(user.state)
        detail.groupIds = index.groupIDs(ofUser: user.id).sorted()
        detail.version = user.version
        return (detail, directory)
    }

    /// The group a GetGroup names, with everything but the stored resource.
    static func groupDetail(_ request: Roster_V1_GetGroupRequest, in index: MembershipIndex) throws(RosterStatus)
        -> (detail: Roster_V1_GroupDetail, directoryID: String)
    {
        let directory = try directoryID(request.directoryID)
        let group = try resolveGroup(request.group, field: "get_group.group", directory, in: index)
        var detail = Roster_V1_GroupDetail()
        detail.id = group.id
        detail.displayName = group.displayName
        detail.externalID = group.externalID ?? ""
        detail.memberCount = UInt64(index.memberCount(ofGroup: group.id))
        detail.version = group.version
        return (detail, directory)
    }

    /// A group reference resolved to its record: NOT_FOUND for an unknown directory or group,
    /// FAILED_PRECONDITION for an ambiguous display name.
    static func resolveGroup(
        _ ref: Roster_V1_GroupRef, field: String, _ directory: String, in index: MembershipIndex
    ) throws(RosterStatus) -> GroupRecord {
        let reference = try GroupReference(ref, field: field)
        guard index.directory(directory) != nil else {
            throw RosterStatus(.notFound, "no directory with id '\(directory)'")
        }
        let group: GroupRecord?
        do {
            group = try index.group(directoryID: directory, reference)
        } catch {
            throw StatusMapping.status(for: error)
        }
        guard let group else {
            throw RosterStatus(.notFound, "no group \(describe(reference)) in directory '\(directory)'")
        }
        return group
    }

    static func listDirectories(in index: MembershipIndex) -> Roster_V1_ListDirectoriesResponse {
        var response = Roster_V1_ListDirectoriesResponse()
        response.directories = index.allDirectories.map(Roster_V1_Directory.init)
        return response
    }

    static func describe(_ reference: UserReference) -> String {
        switch reference {
        case .id(let value): "with id '\(value)'"
        case .userName(let value): "with userName '\(value)'"
        case .externalID(let value): "with externalId '\(value)'"
        }
    }

    static func describe(_ reference: GroupReference) -> String {
        switch reference {
        case .id(let value): "with id '\(value)'"
        case .externalID(let value): "with externalId '\(value)'"
        case .displayName(let value): "with displayName '\(value)'"
        }
    }
}
