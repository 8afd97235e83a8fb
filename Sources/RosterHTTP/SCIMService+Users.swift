import RosterCore
import RosterSCIM
import RosterStore

/// An error the writer already recorded in the audit trail.
struct WriterRefusal: Error {
    var underlying: any Error
}

extension SCIMService {
    /// Sends a write through the store's single writer; failures come back already audited.
    func commit(_ request: WriteRequest) async throws -> WriteOutcome {
        do {
            return try await store.write(request)
        } catch {
            throw WriterRefusal(underlying: error)
        }
    }

    // MARK: Reads

    func getUser(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let projection = try AttributeProjection(
            attributes: parameter(context, "attributes"), excludedAttributes: parameter(context, "excludedAttributes"))
        guard let user = try await store.user(directoryID: context.directoryID, id: id) else {
            throw SCIMError.notFound("no user with id '\(id)' in this directory")
        }
        if notModified(context.request, version: user.record.version) {
            return SCIMHTTPResponse(status: 304, headers: [("ETag", SCIMResources.etag(version: Int64(user.record.version)))])
        }
        let index = store.publisher.current
        return .json(
            200, projection.apply(to: render(user, index: index, baseURL: context.baseURL)),
            headers: [("ETag", SCIMResources.etag(version: Int64(user.record.version))), ("Roster-Revision", "\(index.revision)")])
    }

    func parameter(_ context: RequestContext, _ name: String) -> String? {
        context.request.queryParameters.last { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The user as returned, with its groups (read-only, from the index).
    func render(_ user: StoredUser, index: MembershipIndex, baseURL: String) -> JSONObject {
        var output = SCIMResources.user(
            id: user.record.id, attributes: user.resource,
            meta: Self.meta(created: user.created, lastModified: user.lastModified, version: user.record.version),
            baseURL: baseURL)
        let groupIDs = index.groupIDs(ofUser: user.record.id).sorted()
        if !groupIDs.isEmpty {
            output["groups"] = .array(
                groupIDs.map { groupID in
                    var entry: JSONObject = ["value": .string(groupID)]
                    if let group = try? index.group(directoryID: user.record.directoryID, .id(groupID)) {
                        entry["display"] = .string(group.displayName)
                    }
                    entry["$ref"] = .string(SCIMResources.groupLocation(id: groupID, baseURL: baseURL))
                    entry["type"] = .string("direct")
                    return .object(entry)
                })
        }
        return output
    }

    /// - Parameter plusKeptFilter: for a GET, the filter read with a raw `+` kept (see
    ///   `fallbackFilters`); nil for POST `/.search`, whose body is exact.
    func listUsers(_ context: RequestContext, parameters: [(String, String)], plusKeptFilter: String? = nil) async throws
        -> SCIMHTTPResponse
    {
        var query = try ListQuery(
            parameters: parameters, limits: .init(maxPageSize: configuration.maxPageSize, filter: filterLimits))
        let response: SCIMHTTPResponse
        let total: Int
        do {
            (response, total) = try await listUsers(context, query: query)
        } catch let refused as SearchBounds.Refused {
            return .error(
                SCIMError(status: 503, scimType: nil, detail: refused.detail),
                headers: [("Retry-After", "\(refused.retryAfterSeconds)")])
        }
        // Microsoft's validator percent-encodes values inside the quotes, and some clients leave a
        // '+' raw: only when the filter as written matches nothing are other readings tried, so a
        // real '%' is still found.
        if total == 0 {
            for fallback in fallbackFilters(for: query.filter, plusKept: plusKeptFilter) {
                query.filter = fallback
                let (other, count) = try await listUsers(context, query: query)
                if count > 0 { return other }
            }
        }
        return response
    }

    private func listUsers(_ context: RequestContext, query: ListQuery) async throws -> (response: SCIMHTTPResponse, total: Int) {
        let index = store.publisher.current
        var matches: [StoredUser] = []
        var total = 0
        if let filter = query.filter, let lookup = filter.simpleEquality, let ids = indexedUserIDs(lookup, index, context) {
            // The index answers the provider's lookup-before-create without a scan; the filter is
            // still evaluated on the stored resource so the answer is exactly the filter's.
            for id in ids {
                if let user = try await store.user(directoryID: context.directoryID, id: id),
                    filter.matches(render(user, index: index, baseURL: context.baseURL), schema: .user)
                {
                    matches.append(user)
                }
            }
            total = matches.count
        } else if query.filter == nil && query.sort == nil {
            total = index.directoryStats(context.directoryID)?.users ?? 0
            let range = query.pageRange(totalResults: total)
            matches = range.isEmpty ? [] : try await store.users(directoryID: context.directoryID, offset: range.lowerBound, limit: range.count)
            let resources = matches.map { query.projection.apply(to: render($0, index: index, baseURL: context.baseURL)) }
            return (
                .json(
                    200, ListResponse.build(resources: resources, totalResults: total, startIndex: query.startIndex),
                    headers: [("Roster-Revision", "\(index.revision)")]), total
            )
        } else {
            // A scan: bounded in concurrency per directory and in time (SearchBounds). The body
            // runs on the store's scan threads: rendering, filtering and choosing the page happen
            // there too, keeping only what can land on the page.
            var selection = PageSelection<StoredUser>(query: query, schema: .user)
            try await searches.scan(directoryID: context.directoryID) { clock in
                var scanned = 0
                try await store.scanUsers(directoryID: context.directoryID) { user in
                    scanned += 1
                    if scanned % 256 == 0 { try clock.check() }
                    let resource = render(user, index: index, baseURL: context.baseURL)
                    if query.filter?.matches(resource, schema: .user) ?? true {
                        selection.offer(user) { resource }
                    }
                    return true
                }
            }
            let page = selection.page().map { query.projection.apply(to: render($0, index: index, baseURL: context.baseURL)) }
            return (
                .json(
                    200, ListResponse.build(resources: page, totalResults: selection.total, startIndex: query.startIndex),
                    headers: [("Roster-Revision", "\(index.revision)")]), selection.total
            )
        }
        var rendered = matches.map { render($0, index: index, baseURL: context.baseURL) }
        if let sort = query.sort { rendered = sort.sorted(rendered, schema: .user) }
        let range = query.pageRange(totalResults: total)
        let page = rendered[range].map { query.projection.apply(to: $0) }
        return (
            .json(
                200, ListResponse.build(resources: Array(page), totalResults: total, startIndex: query.startIndex),
                headers: [("Roster-Revision", "\(index.revision)")]), total
        )
    }

    /// Ids the index can name for a simple equality filter, or nil when it must be a scan.
    private func indexedUserIDs(_ lookup: IndexedLookup, _ index: MembershipIndex, _ context: RequestContext) -> [String]? {
        let reference: UserReference
        switch lookup.attribute {
        case .id: reference = .id(lookup.value)
        case .userName: reference = .userName(lookup.value)
        case .externalId: reference = .externalID(lookup.value)
        default: return nil
        }
        guard let user = index.user(directoryID: context.directoryID, reference), user.state != .deleted else { return [] }
        return [user.id]
    }

    // MARK: Writes

    func createUser(_ context: RequestContext) async throws -> SCIMHTTPResponse {
        let body = try UserRequest(body: parseBody(context.request))
        let directoryID = context.directoryID
        let id = Self.newID()
        let draft = UserDraft(
            userName: body.fields.userName, externalID: body.fields.externalId, displayName: body.fields.displayName,
            active: body.fields.active, resource: body.attributes, groupIDs: body.requestedGroupIDs ?? [])
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 201)) { _ in
                .createUser(directoryID: directoryID, id: id, draft)
            })
        return try userWriteResponse(context, outcome, status: 201)
    }

    func replaceUser(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let body = try UserRequest(body: parseBody(context.request))
        let directoryID = context.directoryID
        let request = context.request
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 200)) { [self] write in
                guard let current = try write.user(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no user with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                let draft = UserDraft(
                    userName: body.fields.userName, externalID: body.fields.externalId,
                    displayName: body.fields.displayName, active: body.fields.active, resource: body.attributes,
                    groupIDs: body.requestedGroupIDs ?? [])
                return .replaceUser(directoryID: directoryID, id: id, draft, previous: current.resource)
            })
        return try userWriteResponse(context, outcome, status: 200)
    }

    func patchUser(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let patch = try PatchRequest(body: parseBody(context.request), limits: patchLimits)
        let directoryID = context.directoryID
        let request = context.request
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 200)) { [self] write in
                guard let current = try write.user(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no user with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                // The stored resource has no `id`; pass it so that replacing `id` with itself is a no-op.
                let patched = try UserPatch.apply(patch, to: current.resource, id: id)
                let fields = try UserFields.extract(from: patched)
                let draft = UserDraft(
                    userName: fields.userName, externalID: fields.externalId, displayName: fields.displayName,
                    active: fields.active, resource: patched)
                return .replaceUser(directoryID: directoryID, id: id, draft, previous: current.resource)
            })
        return try userWriteResponse(context, outcome, status: 200)
    }

    func deleteUser(_ context: RequestContext, id: String) async throws -> SCIMHTTPResponse {
        let directoryID = context.directoryID
        let request = context.request
        let outcome = try await commit(
            WriteRequest(directoryID: directoryID, audit: audit(context, success: 204)) { [self] write in
                guard let current = try write.user(directoryID: directoryID, id: id) else {
                    throw SCIMError.notFound("no user with id '\(id)' in this directory")
                }
                try checkIfMatch(request, version: current.record.version)
                return .deleteUser(directoryID: directoryID, id: id)
            })
        return SCIMHTTPResponse(status: 204, headers: [("Roster-Revision", "\(outcome.revision)"), ("Roster-Audited", "1")])
    }

    var patchLimits: PatchRequest.Limits {
        var limits = PatchRequest.Limits()
        limits.maxOperations = configuration.maxPatchOperations
        return limits
    }

    private func userWriteResponse(_ context: RequestContext, _ outcome: WriteOutcome, status: Int) throws -> SCIMHTTPResponse {
        guard let user = outcome.user else {
            throw SCIMError(status: 500, scimType: nil, detail: "the write committed but its user could not be read back")
        }
        var headers = Self.writeHeaders(revision: outcome.revision, version: user.record.version)
        let location = SCIMResources.userLocation(id: user.record.id, baseURL: context.baseURL)
        if status == 201 { headers.append(("Location", location)) }
        if wantsMinimal(context.request) {
            return SCIMHTTPResponse(status: status == 201 ? 201 : 204, headers: headers)
        }
        return .json(status, render(user, index: store.publisher.current, baseURL: context.baseURL), headers: headers)
    }
}
