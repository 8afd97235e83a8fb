import RosterCore
import RosterSCIM
import RosterStore

extension SCIMService {
    // MARK: Reads

    func getGroup(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let projection = try AttributeProjection(
            attributes: parameter(context, "attributes"), excludedAttributes: parameter(context, "excludedAttributes"))
        guard let group = try await store.group(directoryID: context.directoryID, id: id) else {
            throw SCIMError.notFound("no group with id '\(id)' in this directory")
        }
        if notModified(context.request, version: group.record.version) {
            return SCIMHTTPResponse(status: 304, headers: [("ETag", SCIMResources.etag(version: Int64(group.record.version)))])
        }
        let index = store.publisher.current
        return .json(
            200,
            projection.apply(
                to: render(group, index: index, baseURL: context.baseURL, members: projection.includes(attribute: "members"), cap: nil)),
            headers: [("ETag", SCIMResources.etag(version: Int64(group.record.version))), ("Roster-Revision", "\(index.revision)")])
    }

    /// The group as returned. Members come from the index (never from the stored resource), are
    /// not loaded at all when excluded, and are capped at `cap` in list responses.
    func render(_ group: StoredGroup, index: MembershipIndex, baseURL: String, members: Bool, cap: Int?) -> JSONObject {
        var references: [GroupMemberReference]?
        if members {
            var ids = index.memberIDs(ofGroup: group.record.id)
            if let cap, ids.count > cap {
                ids = Array(ids.sorted().prefix(cap))
            } else {
                ids.sort()
            }
            references = ids.map { userID in
                GroupMemberReference(
                    userID: userID, display: index.user(directoryID: group.record.directoryID, .id(userID))?.userName)
            }
        }
        return SCIMResources.group(
            id: group.record.id, attributes: group.resource, members: references,
            meta: Self.meta(created: group.created, lastModified: group.lastModified, version: group.record.version),
            baseURL: baseURL)
    }

    func listGroups(_ context: RequestContext, parameters: [(String, String)], plusKeptFilter: String? = nil) async throws
        -> SCIMHTTPResponse
    {
        var query = try ListQuery(
            parameters: parameters, limits: .init(maxPageSize: configuration.maxPageSize, filter: filterLimits))
        let response: SCIMHTTPResponse
        let total: Int
        do {
            (response, total) = try await listGroups(context, query: query)
        } catch let refused as SearchBounds.Refused {
            return .error(
                SCIMError(status: 503, scimType: nil, detail: refused.detail),
                headers: [("Retry-After", "\(refused.retryAfterSeconds)")])
        }
        if total == 0 {  // as for users
            for fallback in fallbackFilters(for: query.filter, plusKept: plusKeptFilter) {
                query.filter = fallback
                let (other, count) = try await listGroups(context, query: query)
                if count > 0 { return other }
            }
        }
        return response
    }

    private func listGroups(_ context: RequestContext, query: ListQuery) async throws -> (response: SCIMHTTPResponse, total: Int) {
        let index = store.publisher.current
        let withMembers = query.projection.includes(attribute: "members")
        // Filters on members need them rendered; otherwise skip loading them for the match.
        let filterNeedsMembers = query.filter.map { "\($0)".lowercased().contains("members") } ?? false
        func rendered(_ group: StoredGroup, forFilter: Bool) -> JSONObject {
            render(
                group, index: index, baseURL: context.baseURL,
                members: forFilter ? filterNeedsMembers : withMembers, cap: forFilter ? nil : configuration.maxMembersInList)
        }
        var matches: [StoredGroup] = []
        if let filter = query.filter, let lookup = filter.simpleEquality, let ids = try indexedGroupIDs(lookup, index, context) {
            for id in ids {
                if let group = try await store.group(directoryID: context.directoryID, id: id),
                    filter.matches(rendered(group, forFilter: true), schema: .group)
                {
                    matches.append(group)
                }
            }
        } else if query.filter == nil && query.sort == nil {
            let total = index.directoryStats(context.directoryID)?.groups ?? 0
            let range = query.pageRange(totalResults: total)
            let page = range.isEmpty ? [] : try await store.groups(directoryID: context.directoryID, offset: range.lowerBound, limit: range.count)
            return (
                .json(
                    200,
                    ListResponse.build(
                        resources: page.map { query.projection.apply(to: rendered($0, forFilter: false)) },
                        totalResults: total, startIndex: query.startIndex),
                    headers: [("Roster-Revision", "\(index.revision)")]), total
            )
        } else {
            // A scan: bounded in concurrency per directory and in time (SearchBounds), rendering,
            // filtering and choosing the page on the store's scan threads (see listUsers).
            var selection = PageSelection<StoredGroup>(query: query, schema: .group)
            try await searches.scan(directoryID: context.directoryID) { clock in
                var scanned = 0
                try await store.scanGroups(directoryID: context.directoryID) { group in
                    scanned += 1
                    if scanned % 256 == 0 { try clock.check() }
                    let resource = rendered(group, forFilter: true)
                    if query.filter?.matches(resource, schema: .group) ?? true { selection.offer(group) { resource } }
                    return true
                }
            }
            let page = selection.page().map { query.projection.apply(to: rendered($0, forFilter: false)) }
            return (
                .json(
                    200, ListResponse.build(resources: page, totalResults: selection.total, startIndex: query.startIndex),
                    headers: [("Roster-Revision", "\(index.revision)")]), selection.total
            )
        }
        if let sort = query.sort {
            let order = sort.sorted(matches.map { rendered($0, forFilter: true) }, schema: .group).compactMap { $0["id"]?.stringValue }
            let byID = Dictionary(matches.map { ($0.record.id, $0) }, uniquingKeysWith: { a, _ in a })
            matches = order.compactMap { byID[$0] }
        }
        let range = query.pageRange(totalResults: matches.count)
        let page = matches[range].map { query.projection.apply(to: rendered($0, forFilter: false)) }
        return (
            .json(
                200, ListResponse.build(resources: Array(page), totalResults: matches.count, startIndex: query.startIndex),
                headers: [("Roster-Revision", "\(index.revision)")]), matches.count
        )
    }

    private func indexedGroupIDs(_ lookup: IndexedLookup, _ index: MembershipIndex, _ context: RequestContext) throws -> [String]? {
        switch lookup.attribute {
        case .id:
            return (try index.group(directoryID: context.directoryID, .id(lookup.value))).map { [$0.id] } ?? []
        case .externalId:
            return (try index.group(directoryID: context.directoryID, .externalID(lookup.value))).map { [$0.id] } ?? []
        case .displayName:
            do {
                return (try index.group(directoryID: context.directoryID, .displayName(lookup.value))).map { [$0.id] } ?? []
            } catch {
                return nil  // Several groups share the name: a scan lists them all.
            }
        default:
            return nil
        }
    }

    // MARK: Writes

    func createGroup(_ context: RequestContext) async throws -> SCIMHTTPResponse {
        let body = try GroupRequest(body: parseBody(context.request))
        let members = body.memberIDs ?? []
        try checkMemberCount(members.count)
        let directoryID = context.directoryID
        let id = Self.newID()
        let draft = GroupDraft(displayName: body.fields.displayName, externalID: body.fields.externalId, resource: body.attributes)
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 201)) { _ in
                .createGroup(directoryID: directoryID, id: id, draft, members: members)
            })
        return try groupWriteResponse(context, outcome, status: 201)
    }

    /// PUT replaces the attributes; `members` present replaces the members (events for changes
    /// only); `members` absent leaves them unchanged, since providers that PUT attributes only
    /// (e.g. a rename) do not mean "remove everyone".
    func replaceGroup(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let body = try GroupRequest(body: parseBody(context.request))
        try checkMemberCount(body.memberIDs?.count ?? 0)
        let directoryID = context.directoryID
        let request = context.request
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 200)) { [self] write in
                guard let current = try write.group(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no group with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                let draft = GroupDraft(
                    displayName: body.fields.displayName, externalID: body.fields.externalId, resource: body.attributes)
                let ops: [RosterCore.MemberOp] = body.memberIDs.map { [.replaceAll($0)] } ?? []
                return .updateGroup(
                    directoryID: directoryID, id: id, draft: draft, previous: current.resource, memberOps: ops, cause: .request)
            })
        return try groupWriteResponse(context, outcome, status: 200)
    }

    func patchGroup(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let patch = try PatchRequest(body: parseBody(context.request), limits: patchLimits)
        let directoryID = context.directoryID
        let request = context.request
        let maxMembers = configuration.maxMembersPerRequest
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 200)) { [self] write in
                guard let current = try write.group(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no group with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                let result = try GroupPatch.apply(patch, to: current.resource, id: id)
                let ops = Self.coreMemberOps(result.memberOps)
                let count = ops.reduce(0) { total, op in
                    switch op {
                    case .add(let ids), .remove(let ids), .replaceAll(let ids): return total + ids.count
                    case .removeAll: return total
                    }
                }
                if count > maxMembers {
                    throw SCIMError.invalidValue(
                        "this PATCH names \(count) members; the limit is \(maxMembers) per request (--max-members-per-request)")
                }
                let fields = try GroupFields.extract(from: result.attributes)
                let draft = GroupDraft(displayName: fields.displayName, externalID: fields.externalId, resource: result.attributes)
                return .updateGroup(
                    directoryID: directoryID, id: id, draft: draft, previous: current.resource, memberOps: ops, cause: .request)
            })
        return try groupWriteResponse(context, outcome, status: 200)
    }

    func deleteGroup(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let directoryID = context.directoryID
        let request = context.request
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 204)) { [self] write in
                guard let current = try write.group(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no group with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                return .deleteGroup(directoryID: directoryID, id: id, cause: .request)
            })
        return SCIMHTTPResponse(status: 204, headers: [("Roster-Revision", "\(outcome.revision)"), ("Roster-Audited", "1")])
    }

    /// The PATCH engine's member steps as the core's, with "remove all, then add these" read as
    /// one replacement so that members who stay produce no events.
    static func coreMemberOps(_ ops: [RosterSCIM.MemberOp]) -> [RosterCore.MemberOp] {
        var result: [RosterCore.MemberOp] = []
        var index = 0
        while index < ops.count {
            switch ops[index] {
            case .removeAll:
                if index + 1 < ops.count, case .add(let ids) = ops[index + 1] {
                    result.append(.replaceAll(ids))
                    index += 2
                    continue
                }
                result.append(.replaceAll([]))
            case .add(let ids):
                result.append(.add(ids))
            case .remove(let ids):
                result.append(.remove(ids))
            }
            index += 1
        }
        return result
    }

    func checkMemberCount(_ count: Int) throws {
        if count > configuration.maxMembersPerRequest {
            throw SCIMError.invalidValue(
                "this request names \(count) members; the limit is \(configuration.maxMembersPerRequest) per request (--max-members-per-request); send them in several PATCH requests")
        }
    }

    private func groupWriteResponse(_ context: RequestContext, _ outcome: WriteOutcome, status: Int) throws -> SCIMHTTPResponse {
        guard let group = outcome.group else {
            throw SCIMError(status: 500, scimType: nil, detail: "the write committed but its group could not be read back")
        }
        var headers = Self.writeHeaders(revision: outcome.revision, version: group.record.version)
        if status == 201 { headers.append(("Location", SCIMResources.groupLocation(id: group.record.id, baseURL: context.baseURL))) }
        if wantsMinimal(context.request) {
            return SCIMHTTPResponse(status: status == 201 ? 201 : 204, headers: headers)
        }
        let projection =
            (try? AttributeProjection(
                attributes: parameter(context, "attributes"), excludedAttributes: parameter(context, "excludedAttributes")))
            ?? AttributeProjection()
        // Providers do not reconcile from a write's response; a PATCH that adds one member to a
        // 100k-member group must not serialize all of them, so members are capped here as in
        // lists (a GET of the group returns them all).
        let body = render(
            group, index: store.publisher.current, baseURL: context.baseURL,
            members: projection.includes(attribute: "members"), cap: configuration.maxMembersInList)
        return .json(status, projection.apply(to: body), headers: headers)
    }
}
