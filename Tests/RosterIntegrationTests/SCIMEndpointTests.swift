import Foundation
import RosterCore
import RosterProtocol
import Testing

/// The SCIM 2.0 endpoint as RFC 7644 and the providers expect it: discovery, CRUD, lists,
/// filters, projections, sorting, ETags, authentication, methods, large groups, read-your-writes.
@Suite("SCIM endpoint", .sharedDaemon(), .timeLimit(.minutes(5)))
struct SCIMEndpointTests {
    // MARK: Discovery

    @Test("discovery: ServiceProviderConfig, ResourceTypes, Schemas, one schema by URN")
    func discovery() async throws {
        let scim = try SCIM.fresh("discovery")
        let config = try await scim.get("/ServiceProviderConfig")
        #expect(config.status == 200 && config.contentType.hasPrefix("application/scim+json"), "\(config.summary)")
        let doc = config.doc
        #expect(doc["schemas"] == .array([.string("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig")]))
        #expect(doc["patch"]?["supported"] == .bool(true))
        #expect(doc["filter"]?["supported"] == .bool(true))
        #expect(doc["filter"]?["maxResults"]?.int ?? 0 > 0)
        #expect(doc["bulk"]?["supported"] == .bool(false))
        #expect(doc["sort"]?["supported"] == .bool(true))
        #expect(doc["etag"]?["supported"] == .bool(true))
        #expect(doc["changePassword"]?["supported"] == .bool(false))
        #expect(doc["authenticationSchemes"]?[0]?["type"] == .string("oauthbearertoken"))

        let types = try await scim.get("/ResourceTypes")
        #expect(types.status == 200 && types.doc["schemas"] == .array([.string(listResponseURN)]))
        #expect(Set(types.resourceIDs) == ["User", "Group"], "\(types.summary)")
        #expect(types.doc["totalResults"] == .int(2))
        let userType = try await scim.get("/ResourceTypes/User")
        #expect(userType.status == 200 && userType.doc["endpoint"] == .string("/Users"))
        #expect(userType.doc["schemaExtensions"]?[0]?["schema"] == .string(enterpriseURN))

        let schemas = try await scim.get("/Schemas")
        #expect(schemas.status == 200)
        #expect(
            Set(schemas.resourceIDs)
                == ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group", enterpriseURN],
            "\(schemas.resourceIDs)")
        let userSchema = try await scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        #expect(userSchema.status == 200 && userSchema.doc["id"] == .string("urn:ietf:params:scim:schemas:core:2.0:User"))
        let attributeNames = (userSchema.doc["attributes"]?.array ?? []).compactMap { $0["name"]?.string }
        #expect(attributeNames.contains("userName") && attributeNames.contains("emails"), "\(attributeNames)")
        let enterprise = try await scim.get("/Schemas/\(enterpriseURN)")
        #expect(enterprise.status == 200)
        let unknown = try await scim.get("/Schemas/urn:example:nothing")
        #expect(unknown.status == 404 && unknown.doc["schemas"] == .array([.string(errorURN)]), "\(unknown.summary)")
        let bulk = try await scim.request("POST", "/Bulk", body: "{}")
        #expect(bulk.status == 501 && bulk.doc["schemas"] == .array([.string(errorURN)]), "\(bulk.summary)")
    }

    // MARK: CRUD

    @Test("User CRUD: 201 + Location + ETag, GET, PUT, PATCH, minimal, DELETE, 404")
    func userCRUD() async throws {
        let scim = try SCIM.fresh("crud-users")
        let created = try await scim.post("/Users", #"{"userName":"crud@example.com","displayName":"Crud","title":"Tester"}"#)
        #expect(created.status == 201, "\(created.summary)")
        #expect(created.contentType.hasPrefix("application/scim+json"))
        let id = try #require(created.doc["id"]?.string)
        let location = try #require(created.headers["location"])
        #expect(location == "\(scim.daemon.scimURL)/scim/v2/\(scim.id)/Users/\(id)", "an absolute Location: \(location)")
        let etag1 = try #require(created.etag)
        #expect(etag1.hasPrefix("W/\""))
        #expect(created.doc["meta"]?["version"] == .string(etag1))
        #expect(created.doc["meta"]?["created"]?.string != nil && created.doc["meta"]?["lastModified"]?.string != nil)

        let read = try await scim.get("/Users/\(id)")
        #expect(read.status == 200 && read.etag == etag1 && read.doc == created.doc, "\(read.summary)")

        let put = try await scim.put("/Users/\(id)", #"{"userName":"crud@example.com","displayName":"Crud 2"}"#)
        #expect(put.status == 200, "\(put.summary)")
        #expect(put.doc["displayName"] == .string("Crud 2"))
        #expect(put.doc["title"] == nil, "PUT replaces: attributes not sent are gone")
        let etag2 = try #require(put.etag)
        #expect(etag2 != etag1)
        #expect(put.doc["meta"]?["created"] == created.doc["meta"]?["created"])

        let patch = try await scim.patch("/Users/\(id)", operations: #"[{"op":"add","path":"title","value":"Again"}]"#)
        #expect(patch.status == 200 && patch.doc["title"] == .string("Again") && patch.doc["id"] == .string(id), "\(patch.summary)")
        #expect(patch.etag != etag2)

        let minimal = try await scim.patch(
            "/Users/\(id)", operations: #"[{"op":"replace","path":"title","value":"Quiet"}]"#, headers: ["Prefer": "return=minimal"])
        #expect(minimal.status == 204 && minimal.body.isEmpty, "\(minimal.summary)")
        #expect(minimal.etag != nil && minimal.revision != nil)
        #expect(try await scim.get("/Users/\(id)").doc["title"] == .string("Quiet"))
        let minimalPut = try await scim.put(
            "/Users/\(id)", #"{"userName":"crud@example.com","title":"Quiet"}"#, headers: ["Prefer": "return=minimal"])
        #expect(minimalPut.status == 204 && minimalPut.body.isEmpty, "\(minimalPut.summary)")

        let deleted = try await scim.delete("/Users/\(id)")
        #expect(deleted.status == 204 && deleted.body.isEmpty && deleted.revision != nil, "\(deleted.summary)")
        for method in ["GET", "PUT", "PATCH", "DELETE"] {
            let body: String? =
                switch method {
                case "PUT": #"{"userName":"crud@example.com"}"#
                case "PATCH": #"{"schemas":["\#(patchOpURN)"],"Operations":[{"op":"replace","path":"title","value":"x"}]}"#
                default: nil
                }
            let gone = try await scim.request(method, "/Users/\(id)", body: body)
            #expect(gone.status == 404, "\(method) after DELETE: \(gone.summary)")
            #expect(gone.doc["schemas"] == .array([.string(errorURN)]) && gone.doc["status"] == .string("404"))
            #expect(gone.detail.contains(id), "the detail names what is missing: \(gone.detail)")
            #expect(gone.contentType.hasPrefix("application/scim+json"))
        }
    }

    @Test("Group CRUD: 201 + Location + ETag, GET, PUT with and without members, PATCH, minimal, DELETE, 404")
    func groupCRUD() async throws {
        let scim = try SCIM.fresh("crud-groups")
        let a = try await scim.createUser("ga@example.com")
        let b = try await scim.createUser("gb@example.com")
        let created = try await scim.post("/Groups", #"{"displayName":"Crew","members":[{"value":\#(jsonString(a))}]}"#)
        #expect(created.status == 201, "\(created.summary)")
        let id = try #require(created.doc["id"]?.string)
        #expect(created.headers["location"]?.hasSuffix("/scim/v2/\(scim.id)/Groups/\(id)") == true)
        let etag1 = try #require(created.etag)
        #expect(created.doc["members"]?[0]?["value"] == .string(a))
        #expect(created.doc["members"]?[0]?["$ref"]?.string?.hasSuffix("/Users/\(a)") == true)

        let read = try await scim.get("/Groups/\(id)")
        #expect(read.status == 200 && read.etag == etag1 && read.doc == created.doc, "\(read.summary)")

        let rename = try await scim.put("/Groups/\(id)", #"{"displayName":"Crew 2"}"#)
        #expect(rename.status == 200 && rename.doc["displayName"] == .string("Crew 2"), "\(rename.summary)")
        #expect(try await scim.members(id) == [a], "a PUT without members keeps them")
        let replace = try await scim.put("/Groups/\(id)", #"{"displayName":"Crew 2","members":[{"value":\#(jsonString(b))}]}"#)
        #expect(replace.status == 200, "\(replace.summary)")
        #expect(try await scim.members(id) == [b], "a PUT with members replaces them")
        #expect(try scim.check(user: .id(a), group: .id(id)).reason == .notMember)
        #expect(try scim.check(user: .id(b), group: .id(id)).reason == .member)
        let empty = try await scim.put("/Groups/\(id)", #"{"displayName":"Crew 2","members":[]}"#)
        #expect(empty.status == 200 && empty.doc["members"] == nil)
        #expect(try scim.check(user: .id(b), group: .id(id)).reason == .notMember)

        let patch = try await scim.patch("/Groups/\(id)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(a))}]}]"#)
        #expect(patch.status == 200 && patch.doc["members"]?[0]?["value"] == .string(a), "\(patch.summary)")
        let minimal = try await scim.patch(
            "/Groups/\(id)", operations: #"[{"op":"replace","path":"displayName","value":"Crew 3"}]"#, headers: ["Prefer": "return=minimal"])
        #expect(minimal.status == 204 && minimal.body.isEmpty, "\(minimal.summary)")
        #expect(try scim.check(user: .id(a), group: .name("Crew 3")).reason == .member)

        let deleted = try await scim.delete("/Groups/\(id)")
        #expect(deleted.status == 204 && deleted.body.isEmpty)
        let gone = try await scim.get("/Groups/\(id)")
        #expect(gone.status == 404 && gone.doc["schemas"] == .array([.string(errorURN)]) && !gone.detail.isEmpty, "\(gone.summary)")
        #expect(try scim.check(user: .id(a), group: .id(id)).reason == .groupUnknown)
        #expect(try await scim.get("/Users/\(a)").doc["groups"] == nil)
    }

    // MARK: Lists

    @Test("paging: stable order across pages, startIndex echoed, count=0, integers")
    func paging() async throws {
        let scim = try SCIM.fresh("paging")
        var ids: [String] = []
        for n in 0..<25 { ids.append(try await scim.createUser(String(format: "page%02d@example.com", 24 - n))) }
        for n in 0..<3 { try await scim.createGroup("page-group-\(n)") }

        func page(_ start: Int, _ count: Int, _ extra: [(String, String)] = []) async throws -> LiveDaemon.HTTPResult {
            let response = try await scim.get("/Users", [("startIndex", "\(start)"), ("count", "\(count)")] + extra)
            #expect(response.status == 200, "\(response.summary)")
            #expect(response.doc["totalResults"] == .int(25), "totalResults is a JSON integer: \(response.summary)")
            #expect(response.doc["startIndex"] == .int(Int64(max(1, start))), "startIndex echoed")
            #expect(response.doc["itemsPerPage"] == .int(Int64(response.resourceIDs.count)))
            return response
        }
        for extra in [[], [("filter", #"userName sw "page""#)], [("sortBy", "userName")]] as [[(String, String)]] {
            var seen: [String] = []
            for start in stride(from: 1, through: 25, by: 10) {
                let response = try await page(start, 10, extra)
                #expect(response.resourceIDs.count == min(10, 25 - start + 1))
                seen += response.resourceIDs
            }
            #expect(seen.count == 25 && Set(seen) == Set(ids), "every user exactly once: \(extra)")
            let repeated = try await page(1, 10, extra).resourceIDs
            #expect(repeated == Array(seen.prefix(10)), "the same page twice is the same: \(extra)")
            if extra.first?.0 == "sortBy" {
                #expect(seen == ids.reversed(), "sorted by userName (created in reverse order)")
            }
        }
        let zero = try await page(1, 0)
        #expect(zero.doc["Resources"] == .array([]) && zero.doc["itemsPerPage"] == .int(0))
        let beyond = try await page(40, 10)
        #expect(beyond.doc["Resources"] == .array([]))
        let below = try await page(0, 5)
        #expect(below.doc["startIndex"] == .int(1) && below.resourceIDs.count == 5)
        let negative = try await scim.get("/Users", [("count", "-3")])
        #expect(negative.status == 200 && negative.doc["itemsPerPage"] == .int(0), "\(negative.summary)")
        let groups = try await scim.get("/Groups", [("startIndex", "2"), ("count", "1")])
        #expect(groups.doc["totalResults"] == .int(3) && groups.resourceIDs.count == 1 && groups.doc["startIndex"] == .int(2), "\(groups.summary)")
        let notANumber = try await scim.get("/Users", [("count", "ten")])
        #expect(notANumber.status == 400 && notANumber.doc["schemas"] == .array([.string(errorURN)]), "\(notANumber.summary)")
    }

    /// Four users with distinct attributes for the filter, projection and sort tests.
    struct People {
        var alice = "", bob = "", carol = "", dave = ""
        var byName: [String: String] { ["alice": alice, "bob": bob, "carol": carol, "dave": dave] }
    }

    static func people(_ scim: SCIM) async throws -> People {
        var people = People()
        people.alice = try await scim.createUser(
            "alice@example.com", externalId: "ext-alice",
            extra: #""displayName":"Alice Anders","title":"Engineer","name":{"givenName":"Alice","familyName":"Anders"},"emails":[{"type":"work","value":"alice@example.com","primary":true}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","employeeNumber":"7"}"#
        )
        people.bob = try await scim.createUser(
            "bob@example.com", active: false,
            extra: #""displayName":"Bob Brown","title":"Manager","emails":[{"type":"home","value":"bob@home.net"},{"type":"work","value":"bob@example.com"}]"#)
        people.carol = try await scim.createUser("carol@example.com", extra: #""displayName":"Carol""#)
        people.dave = try await scim.createUser(
            "dave@example.com", extra: #""displayName":"Dave Dunn","title":"Engineer Lead","emails":[{"type":"work","value":"dave@example.org"}]"#)
        return people
    }

    @Test("filters: every operator, and/or/not, grouping, value paths")
    func filters() async throws {
        let scim = try SCIM.fresh("filters")
        let people = try await Self.people(scim)
        let cases: [(String, Set<String>)] = [
            (#"userName eq "alice@example.com""#, ["alice"]),
            (#"userName eq "ALICE@Example.com""#, ["alice"]),
            (#"USERNAME Eq "alice@example.com""#, ["alice"]),
            (#"title ne "Engineer""#, ["bob", "carol", "dave"]),
            (#"title co "gine""#, ["alice", "dave"]),
            (#"title sw "eng""#, ["alice", "dave"]),
            (#"title ew "Lead""#, ["dave"]),
            ("title pr", ["alice", "bob", "dave"]),
            (#"userName gt "bob@example.com""#, ["carol", "dave"]),
            (#"userName ge "bob@example.com""#, ["bob", "carol", "dave"]),
            (#"userName lt "bob@example.com""#, ["alice"]),
            (#"userName le "bob@example.com""#, ["alice", "bob"]),
            (#"meta.created gt "2000-01-01T00:00:00Z""#, ["alice", "bob", "carol", "dave"]),
            (#"meta.created lt "2000-01-01T00:00:00Z""#, []),
            (#"title eq "Engineer" and active eq true"#, ["alice"]),
            (#"title eq "Manager" or userName sw "carol""#, ["bob", "carol"]),
            ("not (title pr)", ["carol"]),
            (#"(title sw "Eng" or title eq "Manager") and active eq true"#, ["alice", "dave"]),
            (#"title sw "Eng" or (title eq "Manager" and active eq true)"#, ["alice", "dave"]),
            (#"not (title sw "Eng" or title eq "Manager")"#, ["carol"]),
            (#"emails[type eq "work" and value co "example.com"]"#, ["alice", "bob"]),
            (#"emails[type eq "home"]"#, ["bob"]),
            (#"emails.type eq "home""#, ["bob"]),
            (#"emails.value ew ".org""#, ["dave"]),
            (#"emails[type eq "work"].value eq "bob@example.com""#, ["bob"]),
            ("active eq false", ["bob"]),
            (#"name.familyName eq "Anders""#, ["alice"]),
            (#"externalId eq "ext-alice""#, ["alice"]),
            (#"externalId eq "EXT-ALICE""#, []),
            (#"id eq "\#(people.carol)""#, ["carol"]),
            (#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#, ["alice"]),
            (#"displayName co " ""#, ["alice", "bob", "dave"]),
            (#"userName eq "nobody@example.com""#, []),
        ]
        let names = Dictionary(uniqueKeysWithValues: people.byName.map { ($1, $0) })
        for (filter, expected) in cases {
            let response = try await scim.filter("Users", filter)
            #expect(response.status == 200, "\(filter): \(response.summary)")
            let found = Set(response.resourceIDs.compactMap { names[$0] })
            #expect(found == expected, "\(filter)")
            #expect(response.doc["totalResults"] == .int(Int64(expected.count)), "\(filter)")
        }
        // Groups: displayName, members.value, externalId.
        let group = try await scim.createGroup("Filterers", members: [people.alice, people.dave], externalId: "g-ext")
        try await scim.createGroup("Others", members: [people.carol])
        for (filter, expected) in [
            (#"displayName eq "filterers""#, [group]), (#"members.value eq "\#(people.dave)""#, [group]),
            (#"members[value eq "\#(people.alice)"]"#, [group]), (#"externalId eq "g-ext""#, [group]),
            (#"displayName sw "Filt" and not (members pr)"#, []),
        ] {
            let response = try await scim.filter("Groups", filter)
            #expect(response.status == 200 && response.resourceIDs == expected, "\(filter): \(response.summary)")
        }
    }

    @Test("invalid filters: 400 invalidFilter with a detail, never an empty 200")
    func invalidFilters() async throws {
        let scim = try SCIM.fresh("bad-filters")
        try await scim.createUser("someone@example.com")
        let deep = String(repeating: "(", count: 40) + #"userName eq "x""# + String(repeating: ")", count: 40)
        let long = #"userName eq ""# + String(repeating: "a", count: 5000) + #"""#
        for filter in [
            "userName eq", #"userName zz "x""#, #"(userName eq "a""#, #"userName eq "unterminated"#, "and",
            #"userName eq "a" garbage"#, #"emails[type eq "work""#, #"userName eq "a" and"#,
            #"userName eq 'single'"#, #"userName eq "a")"#, "userName pr pr", #"emails[type eq "work"]]"#, deep, long,
            #"userName eq "a" or or userName eq "b""#,
        ] {
            for resource in ["Users", "Groups"] {
                let response = try await scim.filter(resource, filter)
                #expect(response.status == 400, "\(resource) \(filter.prefix(60)): \(response.summary)")
                #expect(response.scimType == "invalidFilter", "\(resource) \(filter.prefix(60)): \(response.summary)")
                #expect(response.doc["schemas"] == .array([.string(errorURN)]) && response.detail.count > 10)
            }
        }
        let search = try await scim.request("POST", "/Users/.search", body: #"{"filter":"userName eq"}"#)
        #expect(search.status == 400 && search.scimType == "invalidFilter", "\(search.summary)")
    }

    @Test("attributes and excludedAttributes on GET and lists")
    func projections() async throws {
        let scim = try SCIM.fresh("projection")
        let people = try await Self.people(scim)
        let only = try await scim.get("/Users/\(people.alice)", [("attributes", "userName")])
        #expect(only.status == 200)
        #expect(Set(only.doc.objectValue?.keys.map { $0 } ?? []) == ["schemas", "id", "meta", "userName"], "\(only.summary)")
        let sub = try await scim.get("/Users/\(people.alice)", [("attributes", "name.givenName,emails.value")])
        #expect(sub.doc["name"] == .object(["givenName": .string("Alice")]), "\(sub.summary)")
        #expect(sub.doc["emails"] == .array([.object(["value": .string("alice@example.com")])]))
        #expect(sub.doc["userName"] == nil)
        let ext = try await scim.get("/Users/\(people.alice)", [("attributes", "\(enterpriseURN):department")])
        #expect(ext.doc[enterpriseURN] == .object(["department": .string("R&D")]), "\(ext.summary)")
        let excluded = try await scim.get("/Users/\(people.alice)", [("excludedAttributes", "emails,name,id")])
        #expect(excluded.doc["emails"] == nil && excluded.doc["name"] == nil)
        #expect(excluded.doc["userName"] == .string("alice@example.com"))
        #expect(excluded.doc["id"] == .string(people.alice), "id is always returned")
        let list = try await scim.get("/Users", [("attributes", "userName"), ("filter", "title pr")])
        #expect(list.resourceIDs.count == 3)
        for resource in list.doc["Resources"]?.array ?? [] {
            #expect(resource["displayName"] == nil && resource["userName"] != nil && resource["id"] != nil, "\(resource.jsonText)")
        }
        let bad = try await scim.get("/Users", [("attributes", "user Name[")])
        #expect(bad.status == 400 && bad.doc["schemas"] == .array([.string(errorURN)]), "\(bad.summary)")
    }

    @Test("sortBy and sortOrder")
    func sorting() async throws {
        let scim = try SCIM.fresh("sorting")
        let people = try await Self.people(scim)
        let names = Dictionary(uniqueKeysWithValues: people.byName.map { ($1, $0) })
        func order(_ query: [(String, String)]) async throws -> [String] {
            let response = try await scim.get("/Users", query)
            #expect(response.status == 200, "\(response.summary)")
            return response.resourceIDs.compactMap { names[$0] }
        }
        #expect(try await order([("sortBy", "userName")]) == ["alice", "bob", "carol", "dave"])
        #expect(try await order([("sortBy", "userName"), ("sortOrder", "descending")]) == ["dave", "carol", "bob", "alice"])
        #expect(try await order([("sortBy", "displayName"), ("sortOrder", "DESCENDING")]) == ["dave", "carol", "bob", "alice"])
        #expect(try await order([("sortBy", "title")]) == ["alice", "dave", "bob", "carol"], "missing values last")
        #expect(try await order([("sortBy", "title"), ("sortOrder", "descending")]) == ["bob", "dave", "alice", "carol"])
        #expect(try await order([("sortBy", "emails")]).first == "alice")
        #expect(try await order([("sortBy", "userName"), ("filter", "active eq true"), ("startIndex", "2"), ("count", "1")]) == ["carol"])
        let bad = try await scim.get("/Users", [("sortBy", "userName"), ("sortOrder", "sideways")])
        #expect(bad.status == 400 && bad.scimType == "invalidValue", "\(bad.summary)")
    }

    @Test("POST /.search for Users and Groups")
    func search() async throws {
        let scim = try SCIM.fresh("search")
        let people = try await Self.people(scim)
        let response = try await scim.request(
            "POST", "/Users/.search",
            body: #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"title sw \"Eng\"","startIndex":1,"count":10,"sortBy":"userName","attributes":["userName"]}"#
        )
        #expect(response.status == 200, "\(response.summary)")
        #expect(response.resourceIDs == [people.alice, people.dave])
        #expect(response.doc["Resources"]?[0]?["title"] == nil && response.doc["Resources"]?[0]?["userName"] != nil)
        let paged = try await scim.request("POST", "/Users/.search", body: #"{"startIndex":2,"count":2,"sortBy":"userName"}"#)
        #expect(paged.resourceIDs == [people.bob, people.carol] && paged.doc["startIndex"] == .int(2), "\(paged.summary)")
        let group = try await scim.createGroup("Searchers", members: [people.bob])
        let groups = try await scim.request(
            "POST", "/Groups/.search", body: #"{"filter":"displayName eq \"Searchers\"","excludedAttributes":["members"]}"#)
        #expect(groups.status == 200 && groups.resourceIDs == [group] && groups.doc["Resources"]?[0]?["members"] == nil, "\(groups.summary)")
        let get = try await scim.get("/Users/.search")
        #expect(get.status == 405 && get.headers["allow"] == "POST", "\(get.summary)")
    }

    @Test("filter values with '+', '%', '&', quotes and non-ASCII, raw or encoded in the query")
    func filterValueEncoding() async throws {
        let scim = try SCIM.fresh("filter-encoding")
        let plus = try await scim.createUser("alice+scim@example.com")
        let percent = try await scim.createUser("100%real@example.com")
        let quote = try await scim.createUser(#"o"brien@example.com"#)
        let unicode = try await scim.createUser("ÅSA.ÖBERG@example.com")
        for (filter, expected) in [
            (#"userName eq "alice+scim@example.com""#, plus),
            (#"userName eq "100%real@example.com""#, percent),
            (#"userName eq "o\"brien@example.com""#, quote),
            (#"userName eq "åsa.öberg@example.com""#, unicode),
        ] {
            let found = try await scim.filter("Users", filter)
            #expect(found.resourceIDs == [expected], "\(filter): \(found.summary)")
        }
        // A '+' left raw in the query string (legal in RFC 3986; many HTTP clients do not encode
        // it) is a plus inside a quoted filter value, not a space.
        let raw = try await scim.daemon.http(
            "GET", scim.directory.base + "/Users?filter=userName%20eq%20%22alice+scim@example.com%22", token: scim.directory.token)
        #expect(raw.status == 200 && raw.resourceIDs == [plus], "\(raw.summary)")
        let rawSpaces = try await scim.daemon.http(
            "GET", scim.directory.base + "/Users?filter=userName+eq+%22alice%2Bscim@example.com%22", token: scim.directory.token)
        #expect(rawSpaces.status == 200 && rawSpaces.resourceIDs == [plus], "'+' between tokens reads as a space: \(rawSpaces.summary)")
        #expect(try scim.check(user: .name("Åsa.Öberg@EXAMPLE.com"), group: .name("none")).reason == .groupUnknown)
        let group = try await scim.createGroup("R&D + Ops")
        let byName = try await scim.filter("Groups", #"displayName eq "R&D + Ops""#)
        #expect(byName.resourceIDs == [group], "\(byName.summary)")
        // Form encoding (spaces as '+', a plus as %2B) keeps working, for groups as for users.
        let formEncoded = try await scim.daemon.http(
            "GET", scim.directory.base + "/Groups?filter=displayName+eq+%22R%26D+%2B+Ops%22", token: scim.directory.token)
        #expect(formEncoded.status == 200 && formEncoded.resourceIDs == [group], "\(formEncoded.summary)")
        let rawPlusGroup = try await scim.daemon.http(
            "GET", scim.directory.base + "/Groups?filter=displayName%20eq%20%22R%26D%20+%20Ops%22", token: scim.directory.token)
        #expect(rawPlusGroup.status == 200 && rawPlusGroup.resourceIDs == [group], "\(rawPlusGroup.summary)")
    }

    @Test("groups sharing a displayName: both listed, a lookup by that name is an error; externalId is unique")
    func duplicateGroupNames() async throws {
        let scim = try SCIM.fresh("dup-groups")
        let user = try await scim.createUser("dup@example.com")
        let first = try await scim.createGroup("Admins", members: [user], externalId: "g-1")
        let second = try await scim.createGroup("admins", externalId: "g-2")
        let both = try await scim.filter("Groups", #"displayName eq "Admins""#)
        #expect(both.status == 200 && Set(both.resourceIDs) == [first, second] && both.doc["totalResults"] == .int(2), "\(both.summary)")
        #expect(throws: (any Error).self, "an ambiguous display name is an error, not a guess") {
            try scim.check(user: .id(user), group: .name("Admins"))
        }
        #expect(try scim.check(user: .id(user), group: .external("g-1")).reason == .member)
        #expect(try scim.check(user: .id(user), group: .external("g-2")).reason == .notMember)
        let duplicateExternal = try await scim.post("/Groups", #"{"displayName":"Other","externalId":"g-1"}"#)
        #expect(duplicateExternal.status == 409 && duplicateExternal.scimType == "uniqueness", "\(duplicateExternal.summary)")
        let rename = try await scim.patch("/Groups/\(second)", operations: #"[{"op":"replace","path":"displayName","value":"Auditors"}]"#)
        #expect(rename.status == 200)
        #expect(try scim.check(user: .id(user), group: .name("admins")).reason == .member, "unambiguous again")
    }

    @Test("concurrent writers: parallel adds all land; add racing suspend never leaves an inactive member")
    func concurrentWriters() async throws {
        let scim = try SCIM.fresh("concurrency")
        var users: [String] = []
        for n in 0..<40 { users.append(try await scim.createUser("c\(n)@example.com")) }
        let group = try await scim.createGroup("crowd")
        let racing = try await scim.createGroup("race")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (n, user) in users.enumerated() {
                tasks.addTask {
                    let add = try await scim.patch(
                        "/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
                    #expect(add.status == 200, "\(add.summary)")
                }
                guard n % 2 == 0 else { continue }
                tasks.addTask {
                    let add = try await scim.patch(
                        "/Groups/\(racing)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
                    #expect(add.status == 200, "\(add.summary)")
                }
                tasks.addTask {
                    let suspend = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","value":{"active":false}}]"#)
                    #expect(suspend.status == 200, "\(suspend.summary)")
                }
            }
            try await tasks.waitForAll()
        }
        let crowd = try await scim.members(group)
        let active = Set(users.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        #expect(crowd == active, "every add landed, and every suspended user left (or never joined)")
        #expect(try await scim.members(racing).isEmpty, "a suspended user is never a member, whatever the order")
        for (n, user) in users.enumerated() {
            let expected: Roster_V1_Reason = n % 2 == 0 ? .userSuspended : .member
            #expect(try scim.check(user: .id(user), group: .id(group)).reason == expected)
        }
        var verify = Roster_V1_RequestFrame()
        verify.verify = .init()
        let report = try LookupConnection(path: scim.daemon.socketPath).call(verify)
        #expect(report.status.code == .ok && report.verify.ok, "verify: \(report.verify.differences)")
    }

    // MARK: ETags

    @Test("ETags: If-None-Match → 304, If-Match mismatch → 412 and nothing written")
    func etags() async throws {
        let scim = try SCIM.fresh("etags")
        let user = try await scim.createUser("etag@example.com", extra: #""title":"One""#)
        let read = try await scim.get("/Users/\(user)")
        let etag = try #require(read.etag)

        let notModified = try await scim.get("/Users/\(user)", headers: ["If-None-Match": etag])
        #expect(notModified.status == 304 && notModified.body.isEmpty, "\(notModified.summary)")
        let modified = try await scim.get("/Users/\(user)", headers: ["If-None-Match": "W/\"1\""])
        #expect(modified.status == 200)

        for (method, body) in [
            ("PUT", #"{"userName":"etag@example.com","title":"Two"}"#),
            ("PATCH", #"{"schemas":["\#(patchOpURN)"],"Operations":[{"op":"replace","path":"title","value":"Two"}]}"#),
            ("DELETE", nil),
        ] as [(String, String?)] {
            let stale = try await scim.request(method, "/Users/\(user)", body: body, headers: ["If-Match": "W/\"1\""])
            #expect(stale.status == 412, "\(method): \(stale.summary)")
            #expect(stale.doc["schemas"] == .array([.string(errorURN)]) && !stale.detail.isEmpty)
        }
        let after = try await scim.get("/Users/\(user)")
        #expect(after.status == 200 && after.etag == etag && after.doc["title"] == .string("One"), "412 wrote nothing")

        let matching = try await scim.patch(
            "/Users/\(user)", operations: #"[{"op":"replace","path":"title","value":"Two"}]"#, headers: ["If-Match": etag])
        #expect(matching.status == 200 && matching.etag != etag, "\(matching.summary)")
        let star = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","path":"title","value":"Three"}]"#, headers: ["If-Match": "*"])
        #expect(star.status == 200)

        let group = try await scim.createGroup("etag-group")
        let groupETag = try #require(try await scim.get("/Groups/\(group)").etag)
        #expect(try await scim.get("/Groups/\(group)", headers: ["If-None-Match": groupETag]).status == 304)
        let staleGroup = try await scim.patch(
            "/Groups/\(group)", operations: #"[{"op":"replace","path":"displayName","value":"x"}]"#, headers: ["If-Match": "W/\"1\""])
        #expect(staleGroup.status == 412)
        #expect(try await scim.get("/Groups/\(group)").doc["displayName"] == .string("etag-group"))
        // A membership change moves the group's ETag.
        let member = try await scim.createUser("etag-member@example.com")
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(member))}]}]"#)
        #expect(try await scim.get("/Groups/\(group)", headers: ["If-None-Match": groupETag]).status == 200)
    }

    /// A User's representation includes `groups` (from the index), so a membership change is a
    /// change of the User: a conditional GET with the old ETag must not answer 304.
    @Test("a user's ETag moves when its groups change (If-None-Match never hides a membership change)")
    func userETagFollowsGroups() async throws {
        let scim = try SCIM.fresh("user-etag-groups")
        let user = try await scim.createUser("etag-groups@example.com")
        let group = try await scim.createGroup("etag-groups")
        let before = try await scim.get("/Users/\(user)")
        let etag = try #require(before.etag)
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
        let after = try await scim.get("/Users/\(user)")
        #expect(after.doc["groups"]?[0]?["value"] == .string(group))
        let conditional = try await scim.get("/Users/\(user)", headers: ["If-None-Match": etag])
        #expect(conditional.status == 200, "the representation changed (groups), so no 304: \(conditional.summary)")
        #expect(after.etag != etag, "ETag \(etag) still names a representation without the group")
        // A removal by the suspension rule moves it too...
        let suspended = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","value":{"active":false}}]"#)
        let afterSuspension = try await scim.get("/Users/\(user)", headers: ["If-None-Match": try #require(after.etag)])
        #expect(afterSuspension.status == 200 && afterSuspension.doc["groups"] == nil, "\(afterSuspension.summary)")
        #expect(afterSuspension.etag == suspended.etag)
        // ...and so do a removal by the group and a group deletion.
        _ = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","value":{"active":true}}]"#)
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
        let member = try await scim.get("/Users/\(user)")
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"remove","path":"members[value eq \"\#(user)\"]"}]"#)
        let removed = try await scim.get("/Users/\(user)", headers: ["If-None-Match": try #require(member.etag)])
        #expect(removed.status == 200 && removed.doc["groups"] == nil, "\(removed.summary)")
        _ = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#)
        let memberAgain = try await scim.get("/Users/\(user)")
        #expect(try await scim.delete("/Groups/\(group)").status == 204)
        let afterGroupDelete = try await scim.get("/Users/\(user)", headers: ["If-None-Match": try #require(memberAgain.etag)])
        #expect(afterGroupDelete.status == 200 && afterGroupDelete.doc["groups"] == nil, "\(afterGroupDelete.summary)")
    }

    // MARK: Authentication

    @Test("auth: no token, wrong token, another directory's token → 401; nothing leaks")
    func authentication() async throws {
        let a = try SCIM.fresh("auth-a")
        let b = try SCIM.fresh("auth-b")
        let secretUser = try await a.createUser("secret-user@a.example")
        let secretGroup = try await a.createGroup("secret-group", members: [secretUser])

        let paths = ["/Users", "/Users/\(secretUser)", "/Groups", "/Groups/\(secretGroup)"]
        for (label, token) in [("no token", String?.none), ("wrong token", "not-a-token"), ("B's token", b.directory.token)] {
            for path in paths {
                let response = try await a.request("GET", path, token: .some(token))
                #expect(response.status == 401, "\(label) \(path): \(response.summary)")
                #expect(response.doc["schemas"] == .array([.string(errorURN)]) && response.doc["status"] == .string("401"))
                #expect(response.headers["www-authenticate"]?.lowercased().hasPrefix("bearer") == true)
                #expect(!response.text.contains("secret-user") && !response.text.contains(secretUser), "\(label) leaks: \(response.text)")
            }
            let write = try await a.request(
                "PATCH", "/Groups/\(secretGroup)", body: #"{"Operations":[{"op":"remove","path":"members"}]}"#, token: .some(token))
            #expect(write.status == 401, "\(label) write: \(write.summary)")
            let create = try await a.request("POST", "/Users", body: #"{"userName":"intruder@a.example"}"#, token: .some(token))
            #expect(create.status == 401)
        }
        #expect(try await a.members(secretGroup) == [secretUser], "refused writes changed nothing")
        #expect(try await a.filter("Users", #"userName eq "intruder@a.example""#).doc["totalResults"] == .int(0))

        // B's own view of the world holds nothing of A's.
        #expect(try await b.get("/Users").doc["totalResults"] == .int(0))
        let crossRead = try await b.get("/Users/\(secretUser)")
        #expect(crossRead.status == 404 && !crossRead.text.contains("secret-user"), "\(crossRead.summary)")
        #expect(try await b.filter("Users", #"userName eq "secret-user@a.example""#).doc["totalResults"] == .int(0))
        let crossAdd = try await b.patch(
            "/Groups/\(secretGroup)", operations: #"[{"op":"add","path":"members","value":[{"value":"x"}]}]"#)
        #expect(crossAdd.status == 404, "\(crossAdd.summary)")
        let bGroup = try await b.createGroup("b-group")
        let smuggle = try await b.patch(
            "/Groups/\(bGroup)", operations: #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(secretUser))}]}]"#)
        #expect(smuggle.status == 400, "A's user is not a member candidate in B: \(smuggle.summary)")
        #expect(try b.check(user: .id(secretUser), group: .id(bGroup)).reason == .userUnknown)
        #expect(try b.check(user: .name("secret-user@a.example"), group: .name("b-group")).reason == .userUnknown)

        // An unknown directory looks exactly like a bad token.
        let nowhere = try await a.daemon.http("GET", "/scim/v2/no-such-directory/Users", token: a.directory.token)
        #expect(nowhere.status == 401, "\(nowhere.summary)")

        // Accepted credentials: Bearer in any case, Basic with the token as password.
        let lower = try await a.daemon.http(
            "GET", a.directory.base + "/Users", token: nil, headers: ["Authorization": "bearer \(a.directory.token)"])
        #expect(lower.status == 200)
        let basic = Data("scim:\(a.directory.token)".utf8).base64EncodedString()
        let viaBasic = try await a.daemon.http("GET", a.directory.base + "/Users", token: nil, headers: ["Authorization": "Basic \(basic)"])
        #expect(viaBasic.status == 200, "\(viaBasic.summary)")
    }

    @Test("405 with Allow for unsupported methods")
    func methodNotAllowed() async throws {
        let scim = try SCIM.fresh("methods")
        let user = try await scim.createUser("m@example.com")
        for (method, path, allow) in [
            ("DELETE", "/Users", "GET, POST"), ("PUT", "/Groups", "GET, POST"), ("PATCH", "/Users", "GET, POST"),
            ("POST", "/Users/\(user)", "GET, PUT, PATCH, DELETE"), ("DELETE", "/ServiceProviderConfig", "GET"),
            ("POST", "/Schemas", "GET"), ("PUT", "/ResourceTypes/User", "GET"),
        ] {
            let response = try await scim.request(method, path, body: method == "DELETE" ? nil : "{}")
            #expect(response.status == 405, "\(method) \(path): \(response.summary)")
            #expect(response.headers["allow"] == allow, "\(method) \(path): \(response.headers)")
            #expect(response.doc["schemas"] == .array([.string(errorURN)]))
        }
        #expect(try await scim.get("/Users/\(user)").status == 200, "the refused calls changed nothing")
        let unknown = try await scim.get("/Widgets")
        #expect(unknown.status == 404 && unknown.doc["schemas"] == .array([.string(errorURN)]))
    }

    // MARK: Scale and consistency

    @Test("a 5,000-member group: PATCHes of 1,000, excludedAttributes=members is fast, lists cap members")
    func largeGroup() async throws {
        let scim = try SCIM.fresh("large-group", provider: "entra")
        let total = 5000
        let users = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var ids = [String](repeating: "", count: total)
            var next = 0
            for _ in 0..<16 {
                let n = next
                group.addTask { (n, try await scim.createUser("big\(n)@example.com")) }
                next += 1
            }
            while let (n, id) = try await group.next() {
                ids[n] = id
                if next < total {
                    let m = next
                    group.addTask { (m, try await scim.createUser("big\(m)@example.com")) }
                    next += 1
                }
            }
            return ids
        }
        let group = try await scim.createGroup("big")
        var lastRevision: UInt64 = 0
        for batch in stride(from: 0, to: total, by: 1000) {
            let slice = Array(users[batch..<batch + 1000])
            let response = try await scim.patch(
                "/Groups/\(group)", operations: #"[{"op":"Add","path":"members","value":\#(SCIM.memberValues(slice, ref: true))}]"#,
                headers: ["Prefer": "return=minimal"])
            #expect(response.status == 204, "\(response.summary)")
            lastRevision = try #require(response.revision)
        }
        let decision = try scim.check(user: .id(users[4321]), group: .id(group), minRevision: lastRevision)
        #expect(decision.reason == .member)

        let clock = ContinuousClock()
        var lean = try await scim.get("/Groups/\(group)", [("excludedAttributes", "members")])
        let leanTime = try await clock.measure { lean = try await scim.get("/Groups/\(group)", [("excludedAttributes", "members")]) }
        #expect(lean.status == 200 && lean.doc["members"] == nil && lean.doc["displayName"] == .string("big"), "\(lean.summary)")
        #expect(lean.body.count < 2000, "no member is serialized: \(lean.body.count) bytes")
        #expect(leanTime < .seconds(1), "GET without members took \(leanTime)")

        let full = try await scim.get("/Groups/\(group)")
        #expect(full.status == 200 && full.doc["members"]?.array?.count == total, "a single GET shows every member")
        let list = try await scim.get("/Groups")
        let listed = list.doc["Resources"]?[0]?["members"]?.array?.count ?? 0
        #expect(list.status == 200 && listed > 0 && listed <= 1000, "list responses cap members: \(listed)")
        let filtered = try await scim.filter("Groups", #"displayName eq "big""#, [("excludedAttributes", "members")])
        #expect(filtered.resourceIDs == [group] && filtered.doc["Resources"]?[0]?["members"] == nil)
        let filteredTime = try await clock.measure {
            _ = try await scim.filter("Groups", #"displayName eq "big""#, [("excludedAttributes", "members")])
        }
        #expect(filteredTime < .seconds(1), "lookup by displayName without members took \(filteredTime)")

        // Removing one member of a big group by filter.
        let removed = try await scim.patch("/Groups/\(group)", operations: #"[{"op":"remove","path":"members[value eq \"\#(users[0])\"]"}]"#)
        #expect(removed.status == 200, "\(removed.summary)")
        #expect(try scim.check(user: .id(users[0]), group: .id(group)).reason == .notMember)
        #expect(try scim.check(user: .id(users[1]), group: .id(group)).reason == .member)
    }

    // Speed is measured in benchmarks (docs/BENCHMARKS.md, scripts/bench-scim), not here: this
    // keeps the sequence Entra sends per user, 25 times over, and checks its end state.
    @Test("Entra's per-user sequence, 25 times: lookup, create, add to a group, disable")
    func entraSequence() async throws {
        let scim = try SCIM.fresh("rate", provider: "entra")
        let group = try await scim.createGroup("rate")
        do {
            for n in 0..<25 {
                let userName = "rate\(n)@contoso.test"
                let lookup = try await scim.filter("Users", #"userName eq "\#(userName)""#)
                #expect(lookup.doc["totalResults"] == .int(0))
                let user = try await scim.createUser(userName)
                let add = try await scim.patch(
                    "/Groups/\(group)", operations: #"[{"op":"Add","path":"members","value":[{"$ref":null,"value":\#(jsonString(user))}]}]"#)
                #expect(add.status == 200)
                let disable = try await scim.patch("/Users/\(user)", operations: #"[{"op":"Replace","path":"active","value":"False"}]"#)
                #expect(disable.status == 200)
            }
        }
        #expect(try await scim.members(group).isEmpty)
    }

    @Test("read-your-writes: a check at min_revision = Roster-Revision sees the write")
    func readYourWrites() async throws {
        let scim = try SCIM.fresh("ryw")
        let user = try await scim.createUser("ryw@example.com")
        let group = try await scim.createGroup("ryw")
        let connection = try LookupConnection(path: scim.daemon.socketPath)
        for round in 0..<20 {
            let op = round % 2 == 0 ? "add" : "remove"
            let body =
                op == "add"
                ? #"[{"op":"add","path":"members","value":[{"value":\#(jsonString(user))}]}]"#
                : #"[{"op":"remove","path":"members[value eq \"\#(user)\"]"}]"#
            let response = try await scim.patch("/Groups/\(group)", operations: body)
            let revision = try #require(response.revision, "\(response.summary)")
            let decision = try connection.check(scim.id, user: .id(user), group: .id(group), minRevision: revision)
            #expect(decision.revision >= revision)
            #expect(decision.reason == (op == "add" ? .member : .notMember), "round \(round): \(decision)")
        }
        let suspended = try await scim.patch("/Users/\(user)", operations: #"[{"op":"replace","value":{"active":false}}]"#)
        let revision = try #require(suspended.revision)
        #expect(try connection.check(scim.id, user: .id(user), group: .id(group), minRevision: revision).reason == .userSuspended)
        // A revision nobody has written yet: the check waits for it, then gives up at its deadline.
        #expect(throws: (any Error).self) {
            try connection.check(scim.id, user: .id(user), group: .id(group), minRevision: revision + 1_000_000, timeoutMs: 200)
        }
        // Reads carry the revision they were answered at too.
        let read = try await scim.get("/Users/\(user)")
        #expect((read.revision ?? 0) >= revision)
    }
}
