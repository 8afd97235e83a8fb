import RosterCore

/// The stored form of a `ChangeLogEntry`'s changes and token changes: one JSON document per
/// revision (readable with `psql` when something needs explaining), written by the instance that
/// committed the revision and read by every other one. Field names are short because a large
/// group's replacement is one entry with a change per member.
///
/// Compatibility: an entry written by this release is readable by every later one; a reader that
/// meets a change kind it does not know refuses the entry (`StoreError(.corrupt)`) rather than
/// skipping it, since skipping would serve a state that no writer decided.
enum ChangeLogCodec {
    static func encode(_ entry: ChangeLogEntry) -> String {
        var changes: [JSONValue] = []
        changes.reserveCapacity(entry.changes.count)
        for change in entry.changes {
            switch change {
            case .putDirectory(let d):
                changes.append(
                    .object([
                        "k": .string("dir"), "id": .string(d.id), "name": .string(d.name), "provider": .string(d.provider.rawValue),
                        "policy": .string(d.policy.rawValue), "created": .int(d.createdAt),
                    ]))
            case .deleteDirectory(let id):
                changes.append(.object(["k": .string("-dir"), "id": .string(id)]))
            case .putUser(let u, let resource):
                var object: JSONObject = [
                    "k": .string("user"), "key": .int(Int64(u.key)), "id": .string(u.id), "dir": .string(u.directoryID),
                    "userName": .string(u.userName), "state": .string(u.state.rawValue), "version": .int(Int64(u.version)),
                ]
                if let external = u.externalID { object["externalId"] = .string(external) }
                if let display = u.displayName { object["displayName"] = .string(display) }
                if let resource { object["resource"] = .object(resource) }
                changes.append(.object(object))
            case .putGroup(let g, let resource):
                var object: JSONObject = [
                    "k": .string("group"), "key": .int(Int64(g.key)), "id": .string(g.id), "dir": .string(g.directoryID),
                    "displayName": .string(g.displayName), "version": .int(Int64(g.version)),
                ]
                if let external = g.externalID { object["externalId"] = .string(external) }
                if let resource { object["resource"] = .object(resource) }
                changes.append(.object(object))
            case .deleteGroup(let id):
                changes.append(.object(["k": .string("-group"), "id": .string(id)]))
            case .addMember(let groupKey, let userKey):
                changes.append(.array([.int(Int64(groupKey)), .int(Int64(userKey))]))
            case .removeMember(let groupKey, let userKey):
                changes.append(.array([.int(-Int64(groupKey)), .int(Int64(userKey))]))
            }
        }
        var document: JSONObject = ["c": .array(changes)]
        if !entry.tokens.isEmpty {
            document["t"] = .array(
                entry.tokens.map { token in
                    switch token {
                    case .set(let id, let hash): .object(["k": .string("set"), "id": .string(id), "hash": .string(Hex.encode(hash))])
                    case .rotate(let id, let hash): .object(["k": .string("rotate"), "id": .string(id), "hash": .string(Hex.encode(hash))])
                    }
                })
        }
        return JSONSerializer.serializeToString(.object(document))
    }

    /// - Throws: `StoreError(.corrupt)` naming the revision and what is wrong with it.
    static func decode(_ text: String, revision: UInt64) throws(StoreError) -> ChangeLogEntry {
        func corrupt(_ why: String) -> StoreError {
            StoreError(.corrupt, "change-log entry of revision \(revision) is unreadable: \(why)")
        }
        let document: JSONObject
        do {
            // Resources nest inside the document: allow their depth and more, the writer made it.
            guard case .object(let object) = try JSONParser.parse(text, limits: .init(maxDepth: 256)) else {
                throw corrupt("not a JSON object")
            }
            document = object
        } catch let error as StoreError {
            throw error
        } catch {
            throw corrupt("\(error)")
        }
        guard case .array(let rawChanges)? = document["c"] else { throw corrupt("no change list") }
        var changes: [StoreChange] = []
        changes.reserveCapacity(rawChanges.count)
        for raw in rawChanges {
            switch raw {
            case .array(let pair):
                guard pair.count == 2, case .int(let signedGroup) = pair[0], case .int(let user) = pair[1],
                    let groupKey = UInt32(exactly: abs(signedGroup)), let userKey = UInt32(exactly: user)
                else { throw corrupt("a membership change is not a pair of keys") }
                changes.append(
                    signedGroup >= 0
                        ? .addMember(groupKey: groupKey, userKey: userKey) : .removeMember(groupKey: groupKey, userKey: userKey))
            case .object(let object):
                changes.append(try change(object, corrupt))
            default:
                throw corrupt("a change is neither an object nor a pair")
            }
        }
        var tokens: [TokenChange] = []
        if case .array(let rawTokens)? = document["t"] {
            for case .object(let token) in rawTokens {
                guard let id = token["id"]?.stringValue, let hash = token["hash"]?.stringValue.flatMap({ Hex.decode($0) }) else {
                    throw corrupt("a token change has no directory or hash")
                }
                switch token["k"]?.stringValue {
                case "set": tokens.append(.set(directoryID: id, hash: hash))
                case "rotate": tokens.append(.rotate(directoryID: id, hash: hash))
                default: throw corrupt("unknown token change \(token["k"]?.stringValue ?? "?")")
                }
            }
        }
        return ChangeLogEntry(revision: revision, changes: changes, tokens: tokens)
    }

    private static func change(_ object: JSONObject, _ corrupt: (String) -> StoreError) throws(StoreError) -> StoreChange {
        func string(_ key: String) throws(StoreError) -> String {
            guard let value = object[key]?.stringValue else { throw corrupt("\(key) missing") }
            return value
        }
        func integer(_ key: String) throws(StoreError) -> Int64 {
            guard case .int(let value)? = object[key] else { throw corrupt("\(key) missing") }
            return value
        }
        func key(_ name: String) throws(StoreError) -> UInt32 {
            guard let value = UInt32(exactly: try integer(name)) else { throw corrupt("\(name) out of range") }
            return value
        }
        let resource = object["resource"]?.objectValue
        switch object["k"]?.stringValue {
        case "dir":
            guard let provider = ProviderKind(rawValue: try string("provider")),
                let policy = MembershipPolicy(rawValue: try string("policy"))
            else { throw corrupt("unknown provider or policy") }
            return .putDirectory(
                Directory(id: try string("id"), name: try string("name"), provider: provider, policy: policy, createdAt: try integer("created")))
        case "-dir":
            return .deleteDirectory(id: try string("id"))
        case "user":
            guard let state = UserState(rawValue: try string("state")) else { throw corrupt("unknown user state") }
            let record = UserRecord(
                key: try key("key"), id: try string("id"), directoryID: try string("dir"), userName: try string("userName"),
                externalID: object["externalId"]?.stringValue, displayName: object["displayName"]?.stringValue, state: state,
                version: UInt64(clamping: try integer("version")))
            return .putUser(record, resource: resource)
        case "group":
            let record = GroupRecord(
                key: try key("key"), id: try string("id"), directoryID: try string("dir"), displayName: try string("displayName"),
                externalID: object["externalId"]?.stringValue, version: UInt64(clamping: try integer("version")))
            return .putGroup(record, resource: resource)
        case "-group":
            return .deleteGroup(id: try string("id"))
        default:
            throw corrupt("unknown change kind \(object["k"]?.stringValue ?? "?")")
        }
    }
}
