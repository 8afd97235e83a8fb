import Foundation
import RosterCore
import Testing

@testable import RosterSCIM

@Suite("Errors")
struct SCIMErrorTests {
    @Test func errorBodyFollowsTheSchema() {
        let error = SCIMError.uniqueness("userName 'a@b' is already in use by a live user.")
        #expect(error.status == 409)
        #expect(JSONValue.object(error.jsonBody).jsonText
            == #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName 'a@b' is already in use by a live user."}"#)
        let notFound = SCIMError.notFound("User 'x' not found.")
        #expect(String(decoding: notFound.jsonBytes, as: UTF8.self)
            == #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"User 'x' not found."}"#)
    }

    @Test func parseErrorsBecomeInvalidSyntax() throws {
        let error = try #require(scimError { () throws(SCIMError) in try parseJSONObjectBody(Array(#"{"a": }"#.utf8), what: "a User") })
        #expect(error.scimType == .invalidSyntax)
        #expect(error.detail == "The request body is not valid JSON: unexpected character '}' at line 1, column 7 (byte 6): expected a value.")
        #expect(scimError { () throws(SCIMError) in try parseJSONObjectBody(Array("[1]".utf8), what: "a User") }?.detail
            == "The request body for a User must be a JSON object, not an array.")
    }
}

@Suite("Attribute projection")
struct ProjectionTests {
    let user = object(#"""
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u-1","userName":"bjensen","password":"x",
         "name":{"givenName":"B","familyName":"J"},"displayName":"Babs",
         "emails":[{"value":"a@x","type":"work"},{"value":"b@x","type":"home"}],
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","department":"D"},
         "urn:acme:1:Ext":{"badge":"B"},
         "meta":{"resourceType":"User","version":"W/\"1\""}}
        """#)

    func project(attributes: String? = nil, excluded: String? = nil) throws -> JSONObject {
        try AttributeProjection(attributes: attributes, excludedAttributes: excluded).apply(to: user)
    }

    @Test func identityDropsOnlyPassword() throws {
        var expected = user
        expected.removeValue(forKey: "password")
        #expect(try project() == expected)
        #expect(AttributeProjection().isIdentity)
    }

    @Test func attributesSelectsAndKeepsAlwaysReturned() throws {
        let result = try project(attributes: "userName, NAME.givenName,emails.value")
        #expect(Array(result.keys) == ["schemas", "id", "userName", "name", "emails", "meta"])
        #expect(result["name"] == json(#"{"givenName":"B"}"#))
        #expect(result["emails"] == json(#"[{"value":"a@x"},{"value":"b@x"}]"#))
    }

    @Test func urnQualifiedAttributes() throws {
        let one = try project(attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
        #expect(one["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == json(#"{"employeeNumber":"7"}"#))
        #expect(one["userName"] == nil)
        let whole = try project(attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,urn:acme:1:Ext")
        #expect(whole["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"])
        #expect(whole["urn:acme:1:Ext"] == json(#"{"badge":"B"}"#))
        let core = try project(attributes: "urn:ietf:params:scim:schemas:core:2.0:User:userName")
        #expect(core["userName"] == .string("bjensen"))
    }

    @Test func excludedAttributes() throws {
        let result = try project(excluded: "emails,name.familyName,id,meta,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
        #expect(result["emails"] == nil)
        #expect(result["name"] == json(#"{"givenName":"B"}"#))
        #expect(result["id"] == .string("u-1"))  // always returned
        #expect(result["meta"] != nil)
        #expect(result["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == json(#"{"employeeNumber":"7"}"#))
        #expect(result["password"] == nil)
    }

    @Test func bothParameters() throws {
        let result = try project(attributes: "name,emails", excluded: "name.familyName")
        #expect(result["name"] == json(#"{"givenName":"B"}"#))
        #expect(result["emails"] != nil)
        #expect(result["userName"] == nil)
    }

    @Test func passwordIsNeverReturned() throws {
        #expect(try project(attributes: "password")["password"] == nil)
    }

    @Test func includesTellsWhetherToLoadMembers() throws {
        #expect(try AttributeProjection(attributes: nil, excludedAttributes: "members").includes(attribute: "members") == false)
        #expect(try AttributeProjection(attributes: nil, excludedAttributes: "Members").includes(attribute: "members") == false)
        #expect(try AttributeProjection(attributes: "displayName", excludedAttributes: nil).includes(attribute: "members") == false)
        #expect(try AttributeProjection(attributes: "members.value", excludedAttributes: nil).includes(attribute: "members") == true)
        #expect(AttributeProjection().includes(attribute: "members"))
        #expect(try AttributeProjection(attributes: "displayName", excludedAttributes: nil).includes(attribute: "id"))
    }

    @Test func invalidPaths() {
        let error = scimError { () throws(SCIMError) in try AttributeProjection(attributes: "userName,a b", excludedAttributes: nil) }
        #expect(error?.scimType == .invalidValue)
        #expect(error?.detail.contains("'attributes'") == true)
        #expect(scimError { () throws(SCIMError) in try AttributeProjection(attributes: nil, excludedAttributes: "x.y.z") }?.scimType == .invalidValue)
    }
}

@Suite("Sorting")
struct SortTests {
    let users: [JSONObject] = [
        object(#"{"id":"3","userName":"charlie","meta":{"created":"2024-01-03T00:00:00Z"},"emails":[{"value":"z@x"},{"value":"a@x","primary":true}],"n":3}"#),
        object(#"{"id":"1","userName":"Alice","meta":{"created":"2024-01-01T12:00:00+13:00"},"emails":[{"value":"m@x"}],"n":10}"#),
        object(#"{"id":"2","userName":"bob","meta":{"created":"2024-01-02T00:00:00Z"},"n":2.5}"#),
        object(#"{"id":"4","meta":{}}"#),
    ]

    func order(_ sortBy: String, _ sortOrder: String? = nil) throws -> [String] {
        let spec = try #require(try SortSpec(sortBy: sortBy, sortOrder: sortOrder))
        return spec.sorted(users, schema: .user).compactMap { $0["id"]?.stringValue }
    }

    @Test func stringsIgnoreCaseAndMissingComeLast() throws {
        #expect(try order("userName") == ["1", "2", "3", "4"])
        #expect(try order("userName", "descending") == ["3", "2", "1", "4"])
        #expect(try order("USERNAME", "Ascending") == ["1", "2", "3", "4"])
    }

    @Test func numbersAndDates() throws {
        #expect(try order("n") == ["2", "3", "1", "4"])
        // 2024-01-01T12:00:00+13:00 is 2023-12-31T23:00:00Z.
        #expect(try order("meta.created") == ["1", "2", "3", "4"])
    }

    @Test func multiValuedUsesPrimary() throws {
        #expect(try order("emails.value") == ["3", "1", "2", "4"])
        #expect(try order("emails") == ["3", "1", "2", "4"])
    }

    @Test func tiesBreakById() throws {
        let same = [object(#"{"id":"b","userName":"x"}"#), object(#"{"id":"a","userName":"X"}"#)]
        let spec = try #require(try SortSpec(sortBy: "userName", sortOrder: nil))
        #expect(spec.sorted(same, schema: .user).compactMap { $0["id"]?.stringValue } == ["a", "b"])
        #expect(spec.areInIncreasingOrder(same[1], same[0], schema: .user))
    }

    @Test func parameters() throws {
        #expect(try SortSpec(sortBy: nil, sortOrder: "descending") == nil)
        #expect(try SortSpec(sortBy: "  ", sortOrder: nil) == nil)
        #expect(scimError { () throws(SCIMError) in try SortSpec(sortBy: "userName", sortOrder: "up") }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try SortSpec(sortBy: "a b", sortOrder: nil) }?.scimType == .invalidValue)
    }
}

@Suite("List queries and responses")
struct ListQueryTests {
    @Test func defaults() throws {
        let query = try ListQuery(parameters: [:])
        #expect(query.filter == nil)
        #expect(query.startIndex == 1)
        #expect(query.count == 1000)
        #expect(query.sort == nil)
        #expect(query.projection.isIdentity)
    }

    @Test func oktaLookup() throws {
        let query = try ListQuery(parameters: ["filter": #"userName eq "x@example.com""#, "startIndex": "1", "count": "100"])
        #expect(query.filter?.simpleEquality == IndexedLookup(attribute: .userName, value: "x@example.com"))
        #expect(query.count == 100)
    }

    @Test func entraGroupLookup() throws {
        let query = try ListQuery(parameters: ["filter": #"displayName eq "Eng""#, "excludedAttributes": "members"])
        #expect(query.projection.includes(attribute: "members") == false)
        #expect(query.filter?.simpleEquality?.attribute == .displayName)
    }

    @Test func clamping() throws {
        #expect(try ListQuery(parameters: ["startIndex": "0"]).startIndex == 1)
        #expect(try ListQuery(parameters: ["startIndex": "-5"]).startIndex == 1)
        #expect(try ListQuery(parameters: ["count": "-1"]).count == 0)
        #expect(try ListQuery(parameters: ["count": "0"]).count == 0)
        #expect(try ListQuery(parameters: ["count": "5000"]).count == 1000)
        #expect(try ListQuery(parameters: ["count": "99999999999999999999999"]).count == 1000)
        #expect(try ListQuery(parameters: ["count": "50"], limits: .init(maxPageSize: 10)).count == 10)
        #expect(try ListQuery(parameters: ["COUNT": "7", "StartIndex": "3"]).count == 7)
        #expect(try ListQuery(parameters: ["filter": "  "]).filter == nil)
    }

    @Test func badParameters() {
        #expect(scimError { () throws(SCIMError) in try ListQuery(parameters: ["count": "ten"]) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try ListQuery(parameters: ["startIndex": "1.5"]) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try ListQuery(parameters: ["filter": "userName eq"]) }?.scimType == .invalidFilter)
        #expect(scimError { () throws(SCIMError) in try ListQuery(parameters: ["sortOrder": "x", "sortBy": "userName"]) }?.scimType == .invalidValue)
    }

    @Test func pageRange() throws {
        #expect(ListQuery(startIndex: 1, count: 10).pageRange(totalResults: 25) == 0..<10)
        #expect(ListQuery(startIndex: 21, count: 10).pageRange(totalResults: 25) == 20..<25)
        #expect(ListQuery(startIndex: 30, count: 10).pageRange(totalResults: 25) == 25..<25)
        #expect(ListQuery(startIndex: 1, count: 0).pageRange(totalResults: 25) == 0..<0)
        #expect(ListQuery(startIndex: 1, count: Int.max).pageRange(totalResults: 3) == 0..<3)
    }

    @Test func listResponse() {
        let response = ListResponse.build(resources: [["id": .string("a")]], totalResults: 5, startIndex: 3)
        #expect(JSONValue.object(response).jsonText
            == #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":5,"itemsPerPage":1,"startIndex":3,"Resources":[{"id":"a"}]}"#)
        let empty = ListResponse.build(resources: [], totalResults: 0, startIndex: 1)
        #expect(empty["Resources"] == .array([]))
        #expect(empty["itemsPerPage"] == .int(0))
    }
}

@Suite("Create and replace bodies")
struct RequestBodyTests {
    @Test func oktaCreate() throws {
        let request = try UserRequest(bytes: Array(#"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
             "name":{"givenName":"Test","familyName":"User"},
             "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
             "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
             "groups":[],"password":"1mz050nq","active":true}
            """#.utf8))
        #expect(request.fields == UserFields(userName: "test.user@okta.local", externalId: "00ujl29u0le5T6Aj10h7", displayName: "Test User", active: true))
        #expect(request.requestedGroupIDs == [])
        #expect(request.attributes["password"] == nil)
        #expect(request.attributes["groups"] == nil)
        #expect(Array(request.attributes.keys) == ["schemas", "userName", "name", "emails", "displayName", "locale", "externalId", "active"])
    }

    @Test func tolerantUserBodies() throws {
        let request = try UserRequest(body: object(#"""
            {"id":"client-chosen","meta":{"resourceType":"User"},"userName":"u","active":"False","nickName":null,
             "emails":{"value":"u@example.com","primary":"true"},"roles":[],
             "groups":[{"value":"g1","display":"G"},"g2",{"value":"g1"}],
             "urn:unknown:ext":{"k":"v"},"manager":"m1","customAttr":5}
            """#))
        #expect(request.fields.active == false)
        #expect(request.requestedGroupIDs == ["g1", "g2"])
        #expect(request.attributes["id"] == nil)
        #expect(request.attributes["meta"] == nil)
        #expect(request.attributes["nickName"] == nil)
        #expect(request.attributes["roles"] == nil)
        #expect(request.attributes["emails"] == json(#"[{"value":"u@example.com","primary":true}]"#))
        #expect(request.attributes["urn:unknown:ext"] == json(#"{"k":"v"}"#))
        #expect(request.attributes["customAttr"] == .int(5))
        #expect(request.attributes[enterpriseURN] == json(#"{"manager":{"value":"m1"}}"#))
        #expect(request.attributes["schemas"] == nil)
        #expect(try UserRequest(body: object(#"{"userName":"u"}"#)).requestedGroupIDs == nil)
    }

    @Test func userBodyErrors() {
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"displayName":"x"}"#)) }?.detail == "'userName' is required.")
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"userName":"  "}"#)) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"userName":5}"#)) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"userName":"u","active":"yes"}"#)) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"userName":"u","externalId":[1]}"#)) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try UserRequest(body: object(#"{"userName":"u","groups":[3]}"#)) }?.scimType == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try UserRequest(bytes: Array("{".utf8)) }?.scimType == .invalidSyntax)
    }

    @Test func entraGroupCreate() throws {
        let request = try GroupRequest(bytes: Array(#"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
             "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}
            """#.utf8))
        #expect(request.fields == GroupFields(displayName: "displayName", externalId: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"))
        #expect(request.memberIDs == nil)
        #expect(request.attributes["meta"] == nil)
        #expect(request.attributes["schemas"]?.arrayValue?.count == 2)  // the unknown URN is kept
    }

    @Test func groupWithMembers() throws {
        let request = try GroupRequest(body: object(#"{"displayName":"G","members":[{"value":"u1","display":"U"},{"value":"u2","$ref":null}]}"#))
        #expect(request.memberIDs == ["u1", "u2"])
        #expect(request.attributes["members"] == nil)
        #expect(try GroupRequest(body: object(#"{"displayName":"G","members":null}"#)).memberIDs == [])
        #expect(scimError { () throws(SCIMError) in try GroupRequest(body: object(#"{"displayName":"G","members":[{"value":1}]}"#)) }?.scimType
            == .invalidValue)
        #expect(scimError { () throws(SCIMError) in try GroupRequest(body: object(#"{"externalId":"e"}"#)) }?.detail
            == "'displayName' is required for a Group.")
    }
}

@Suite("Resource output")
struct ResourceOutputTests {
    let meta = ResourceMeta(
        created: ISO8601Timestamp(seconds: 1_700_000_000), lastModified: ISO8601Timestamp(seconds: 1_700_000_100, nanoseconds: 250_000_000),
        version: 42)

    @Test func userOutput() throws {
        let attributes = object(#"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:custom:Thing"],"userName":"u","password":"p",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"},"active":false}
            """#)
        let user = SCIMResources.user(id: "u-1", attributes: attributes, meta: meta, baseURL: "https://h/scim/v2/")
        #expect(JSONValue.object(user).jsonText == #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","urn:custom:Thing"],"id":"u-1","userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"},"active":false,"meta":{"resourceType":"User","created":"2023-11-14T22:13:20.000Z","lastModified":"2023-11-14T22:15:00.250Z","location":"https://h/scim/v2/Users/u-1","version":"W/\"42\""}}
            """#)
    }

    @Test func groupOutput() throws {
        let group = SCIMResources.group(
            id: "g-1", attributes: object(#"{"displayName":"G","externalId":"e"}"#),
            members: [GroupMemberReference(userID: "u1", display: "User One")], meta: meta, baseURL: "https://h/scim/v2")
        #expect(group["members"] == json(#"[{"value":"u1","display":"User One","$ref":"https://h/scim/v2/Users/u1","type":"User"}]"#))
        #expect(group["schemas"] == json(#"["urn:ietf:params:scim:schemas:core:2.0:Group"]"#))
        #expect(group["meta"]?.objectValue?["location"] == .string("https://h/scim/v2/Groups/g-1"))
        let noMembers = SCIMResources.group(id: "g-1", attributes: object(#"{"displayName":"G"}"#), members: nil, meta: meta, baseURL: "b")
        #expect(noMembers["members"] == nil)
    }

    @Test func etags() {
        #expect(SCIMResources.etag(version: 7) == #"W/"7""#)
        #expect(SCIMResources.version(fromETag: #"W/"7""#) == 7)
        #expect(SCIMResources.version(fromETag: #" "12" "#) == 12)
        #expect(SCIMResources.version(fromETag: "7") == nil)
        #expect(SCIMResources.version(fromETag: #"W/"x""#) == nil)
    }

    @Test func timestamps() throws {
        #expect(ISO8601Timestamp(seconds: 0).formatted == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601Timestamp(seconds: -1).formatted == "1969-12-31T23:59:59.000Z")
        #expect(ISO8601Timestamp(seconds: 951_782_400).formatted == "2000-02-29T00:00:00.000Z")
        let parsed = try #require(ISO8601Timestamp("2024-02-29T23:59:59.123456789-05:30"))
        #expect(parsed.formatted == "2024-03-01T05:29:59.123Z")
        #expect(ISO8601Timestamp("2024-02-29T23:59:59.1234+0530") != nil)
        #expect(ISO8601Timestamp("2023-02-29T00:00:00Z") == nil)
        #expect(ISO8601Timestamp("2024-13-01T00:00:00Z") == nil)
        #expect(ISO8601Timestamp("2024-01-01T24:00:00Z") == nil)
        #expect(ISO8601Timestamp("2024-01-01T00:00:00Zjunk") == nil)
        #expect(ISO8601Timestamp("yesterday") == nil)
        #expect(ISO8601Timestamp("") == nil)
        #expect(ISO8601Timestamp(seconds: .min, nanoseconds: .min).formatted == "0001-01-01T00:00:00.000Z")
        #expect(ISO8601Timestamp(seconds: .max, nanoseconds: .max).formatted == "9999-12-31T23:59:59.999Z")
        #expect(ISO8601Timestamp(Date.distantFuture).formatted.hasPrefix("4001-"))
        let date = Date(timeIntervalSince1970: 1_700_000_000.5)
        #expect(ISO8601Timestamp(date).formatted == "2023-11-14T22:13:20.500Z")
        #expect(ISO8601Timestamp(ISO8601Timestamp(date).formatted)?.date == date)
    }
}

@Suite("Discovery")
struct DiscoveryTests {
    let base = "https://h/scim/v2/dir-1"

    @Test func serviceProviderConfig() {
        let config = SCIMDiscovery.serviceProviderConfig(baseURL: base)
        #expect(config["patch"] == json(#"{"supported":true}"#))
        #expect(config["bulk"]?.objectValue?["supported"] == .bool(false))
        #expect(config["filter"] == json(#"{"supported":true,"maxResults":1000}"#))
        #expect(config["changePassword"] == json(#"{"supported":false}"#))
        #expect(config["sort"] == json(#"{"supported":true}"#))
        #expect(config["etag"] == json(#"{"supported":true}"#))
        #expect(config["authenticationSchemes"]?.arrayValue?.first?.objectValue?["type"] == .string("oauthbearertoken"))
        #expect(config["meta"]?.objectValue?["location"] == .string("https://h/scim/v2/dir-1/ServiceProviderConfig"))
    }

    @Test func resourceTypes() {
        let list = SCIMDiscovery.resourceTypes(baseURL: base)
        #expect(list["totalResults"] == .int(2))
        let user = SCIMDiscovery.resourceType(named: "user", baseURL: base)
        #expect(user?["endpoint"] == .string("/Users"))
        #expect(user?["schemaExtensions"] == json(#"[{"schema":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","required":false}]"#))
        #expect(SCIMDiscovery.resourceType(named: "Group", baseURL: base)?["schema"] == .string(SCIMSchemaURN.group))
        #expect(SCIMDiscovery.resourceType(named: "Device", baseURL: base) == nil)
    }

    @Test func schemas() throws {
        let list = SCIMDiscovery.schemas(baseURL: base)
        #expect(list["totalResults"] == .int(3))
        let user = try #require(SCIMDiscovery.schema(id: SCIMSchemaURN.user, baseURL: base))
        let attributes = try #require(user["attributes"]?.arrayValue)
        let userName = try #require(attributes.first { $0.objectValue?["name"] == .string("userName") }?.objectValue)
        #expect(userName["type"] == .string("string"))
        #expect(userName["multiValued"] == .bool(false))
        #expect(userName["required"] == .bool(true))
        #expect(userName["caseExact"] == .bool(false))
        #expect(userName["mutability"] == .string("readWrite"))
        #expect(userName["returned"] == .string("default"))
        #expect(userName["uniqueness"] == .string("server"))
        let emails = try #require(attributes.first { $0.objectValue?["name"] == .string("emails") }?.objectValue)
        #expect(emails["multiValued"] == .bool(true))
        #expect(emails["subAttributes"]?.arrayValue?.count == 4)
        let password = try #require(attributes.first { $0.objectValue?["name"] == .string("password") }?.objectValue)
        #expect(password["returned"] == .string("never"))
        #expect(user["meta"]?.objectValue?["location"] == .string("https://h/scim/v2/dir-1/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"))
        #expect(SCIMDiscovery.schema(id: SCIMSchemaURN.enterpriseUser.uppercased(), baseURL: base)?["name"] == .string("EnterpriseUser"))
        #expect(SCIMDiscovery.schema(id: "urn:nope", baseURL: base) == nil)
    }
}

@Suite("Page selection")
struct PageSelectionTests {
    /// Users with repeating names (ties), some without one (last), offered in a shuffled order.
    func users(_ n: Int, seed: UInt64) -> [JSONObject] {
        var generator = SplitMix64(seed: seed)
        return (0..<n).map { i in
            let name = i % 7 == 0 ? "" : #","userName":"n\#(Int.random(in: 0..<(n / 3 + 1), using: &generator))""#
            return object(#"{"id":"u\#(String(format: "%05d", (i * 7919) % n))"\#(name)}"#)
        }.shuffled(using: &generator)
    }

    /// The page the whole list would give: every resource sorted, then `pageRange`.
    func expected(_ resources: [JSONObject], _ query: ListQuery) -> [String] {
        let all = query.sort.map { $0.sorted(resources, schema: .user) } ?? resources
        return all[query.pageRange(totalResults: all.count)].compactMap { $0["id"]?.stringValue }
    }

    func selected(_ resources: [JSONObject], _ query: ListQuery) -> (page: [String], total: Int) {
        var selection = PageSelection<JSONObject>(query: query, schema: .user)
        for resource in resources { selection.offer(resource) { resource } }
        return (selection.page().compactMap { $0["id"]?.stringValue }, selection.total)
    }

    @Test("keeping only what can land on the page gives the page a full sort gives", arguments: [
        (1, 10), (1, 0), (5, 3), (95, 10), (100, 10), (101, 10), (250, 1000), (1, Int.max), (Int.max, 10),
    ])
    func matchesAFullSort(startIndex: Int, count: Int) throws {
        let resources = users(120, seed: UInt64(startIndex % 1000 + count % 1000))
        for sort in [nil, try SortSpec(sortBy: "userName", sortOrder: nil), try SortSpec(sortBy: "userName", sortOrder: "descending")] {
            let query = ListQuery(startIndex: startIndex, count: count, sort: sort)
            let (page, total) = selected(resources, query)
            #expect(total == resources.count)
            #expect(page == expected(resources, query), "sort \(String(describing: sort)) startIndex \(startIndex) count \(count)")
        }
    }

    @Test func emptyAndSingle() throws {
        let query = ListQuery(startIndex: 1, count: 10, sort: try SortSpec(sortBy: "userName", sortOrder: nil))
        #expect(selected([], query).page.isEmpty)
        #expect(selected([], query).total == 0)
        let one = [object(#"{"id":"a","userName":"x"}"#)]
        #expect(selected(one, query).page == ["a"])
    }
}

