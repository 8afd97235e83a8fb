import RosterCore
import Testing

@testable import RosterSCIM

func patch(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> PatchRequest {
    do {
        return try PatchRequest(bytes: Array(text.utf8))
    } catch {
        Issue.record("PATCH did not parse: \(error)", sourceLocation: sourceLocation)
        return PatchRequest(operations: [])
    }
}

func applyUser(_ body: String, to user: JSONObject, sourceLocation: SourceLocation = #_sourceLocation) -> JSONObject {
    do {
        return try UserPatch.apply(patch(body, sourceLocation: sourceLocation), to: user)
    } catch {
        Issue.record("PATCH failed: \(error)", sourceLocation: sourceLocation)
        return user
    }
}

func userPatchError(_ body: String, to user: JSONObject) -> SCIMError? {
    scimError { () throws(SCIMError) in
        let request = try PatchRequest(bytes: Array(body.utf8))
        return try UserPatch.apply(request, to: user)
    }
}

func applyGroup(_ body: String, to group: JSONObject, sourceLocation: SourceLocation = #_sourceLocation) -> GroupPatchResult {
    do {
        return try GroupPatch.apply(patch(body, sourceLocation: sourceLocation), to: group)
    } catch {
        Issue.record("PATCH failed: \(error)", sourceLocation: sourceLocation)
        return GroupPatchResult(attributes: group, memberOps: [])
    }
}

func groupPatchError(_ body: String, to group: JSONObject) -> SCIMError? {
    scimError { () throws(SCIMError) in
        let request = try PatchRequest(bytes: Array(body.utf8))
        return try GroupPatch.apply(request, to: group)
    }
}

/// `{"schemas":[PatchOp],"Operations":[...]}` around the given operations.
func ops(_ operations: String) -> String {
    #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":["# + operations + "]}"
}

@Suite("PATCH request parsing")
struct PatchRequestTests {
    @Test func opInAnyCase() throws {
        for op in ["add", "Add", "ADD", "aDd"] {
            let request = patch(ops(#"{"op":"\#(op)","path":"title","value":"x"}"#))
            #expect(request.operations.first?.op == .add)
        }
        #expect(patch(ops(#"{"op":"Replace","path":"title","value":"x"}"#)).operations.first?.op == .replace)
        #expect(patch(ops(#"{"op":"REMOVE","path":"title"}"#)).operations.first?.op == .remove)
        // Member names in any case too.
        #expect(patch(#"{"operations":[{"OP":"add","Path":"title","Value":"x"}]}"#).operations.first?.value == .string("x"))
    }

    @Test func unknownOperation() throws {
        let error = try #require(scimError { () throws(SCIMError) in try PatchRequest(bytes: Array(ops(#"{"op":"update","path":"a","value":1}"#).utf8)) })
        #expect(error.status == 400)
        #expect(error.scimType == .invalidValue)
        #expect(error.detail == #"PATCH operation 1: unknown operation "update"; expected add, replace or remove."#)
    }

    @Test func structuralErrors() {
        func failure(_ body: String) -> SCIMError? {
            scimError { () throws(SCIMError) in try PatchRequest(bytes: Array(body.utf8)) }
        }
        #expect(failure("{not json")?.scimType == .invalidSyntax)
        #expect(failure("[]")?.scimType == .invalidSyntax)
        #expect(failure(#"{"schemas":[]}"#)?.scimType == .invalidSyntax)
        #expect(failure(#"{"Operations":{}}"#)?.scimType == .invalidSyntax)
        #expect(failure(ops(#""add""#))?.scimType == .invalidSyntax)
        #expect(failure(ops(#"{"path":"a","value":1}"#))?.scimType == .invalidValue)
        #expect(failure(ops(#"{"op":"add","path":"a"}"#))?.detail.contains("needs a 'value'") == true)
        #expect(failure(ops(#"{"op":"remove"}"#))?.scimType == .noTarget)
        #expect(failure(ops(#"{"op":"add","path":5,"value":1}"#))?.scimType == .invalidPath)
        let tooMany = ops(Array(repeating: #"{"op":"add","path":"a","value":1}"#, count: 3).joined(separator: ","))
        #expect(scimError { () throws(SCIMError) in try PatchRequest(bytes: Array(tooMany.utf8), limits: .init(maxOperations: 2)) }?
            .detail.contains("maximum is 2") == true)
    }

    @Test func schemasCheckIsTolerant() {
        #expect(patch(#"{"Operations":[{"op":"add","path":"a","value":1}]}"#).operations.count == 1)
        #expect(patch(#"{"schemas":["urn:something:else"],"Operations":[]}"#).operations.isEmpty)
    }

    @Test func emptyPathIsNoPath() {
        #expect(patch(ops(#"{"op":"replace","path":"","value":{"active":false}}"#)).operations.first?.path == nil)
    }

    @Test func paths() throws {
        #expect(try PatchPath.parse("name.givenName").target == .attribute(AttributePath(name: "name", subAttribute: "givenName")))
        #expect(try PatchPath.parse(enterpriseURN).target == .schema(enterpriseURN))
        #expect(try PatchPath.parse(enterpriseURN + ":manager").target == .attribute(AttributePath(schema: enterpriseURN, name: "manager")))
        #expect(try PatchPath.parse(#"emails[type eq "work"].value"#).target
            == .filtered(AttributePath(name: "emails"), .comparison(AttributePath(name: "type"), .eq, .string("work")), subAttribute: "value"))
        #expect(try PatchPath.parse(#"members[value eq "x"]"#).target
            == .filtered(AttributePath(name: "members"), .comparison(AttributePath(name: "value"), .eq, .string("x")), subAttribute: nil))
    }

    @Test func pathErrorsNameTheOperation() throws {
        let missing = try #require(scimError { () throws(SCIMError) in
            try PatchRequest(bytes: Array(ops(#"{"op":"add","path":"title","value":1},{"op":"replace","path":"emails[type eq \"work\"","value":"x"}"#).utf8))
        })
        #expect(missing.scimType == .invalidPath)
        #expect(missing.detail == #"PATCH operation 2: path 'emails[type eq "work"' is missing ']' for the '[' at position 7."#)

        let cases: [(String, String)] = [
            ("a..b", "empty attribute name"),
            ("a b", "unexpected"),
            ("[x]", "does not start with an attribute name"),
            ("emails[type zz \"w\"]", "invalid filter in brackets"),
            ("emails[type eq \"w\"].", "no sub-attribute name"),
            ("name.givenName[value eq \"x\"]", "after the sub-attribute"),
        ]
        for (path, fragment) in cases {
            let error = try #require(scimError { () throws(SCIMError) in try PatchPath.parse(path) }, "\(path)")
            #expect(error.scimType == .invalidPath)
            #expect(error.detail.contains(fragment), "\(path): \(error.detail)")
        }
    }
}

@Suite("User PATCH")
struct UserPatchTests {
    let user = object(#"""
        {"id":"u-1","externalId":"00ujl29u0le5T6Aj10h7","userName":"test.user@okta.local",
         "name":{"givenName":"Test","familyName":"User"},
         "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
         "displayName":"Test User","active":true}
        """#)

    // MARK: Provider bodies, verbatim

    @Test func oktaDeactivateAndReactivate() throws {
        let deactivated = applyUser(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"replace","value":{"active":false}}]}
            """#, to: user)
        #expect(deactivated["active"] == .bool(false))
        #expect(try UserFields.extract(from: deactivated).active == false)
        let reactivated = applyUser(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"replace","value":{"active":true}}]}
            """#, to: deactivated)
        #expect(reactivated == user)
    }

    @Test(arguments: [#""False""#, #""false""#, "false", #""FALSE""#])
    func entraDeactivate(_ value: String) throws {
        let result = applyUser(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Replace","path":"active","value":\#(value)}]}
            """#, to: user)
        #expect(result["active"] == .bool(false))
        // And with "op":"Add".
        let added = applyUser(ops(#"{"op":"Add","path":"active","value":\#(value)}"#), to: user)
        #expect(added["active"] == .bool(false))
    }

    @Test func activeMustBeABoolean() throws {
        let error = try #require(userPatchError(ops(#"{"op":"replace","path":"active","value":"maybe"}"#), to: user))
        #expect(error.scimType == .invalidValue)
        #expect(error.detail == #"PATCH operation 1: 'active' must be true or false, not "maybe"."#)
    }

    @Test func entraMultiAttributeUpdateLegacy() throws {
        let result = applyUser(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
             {"op":"Replace","path":"displayName","value":"Pvlo"},
             {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
             {"op":"Replace","path":"name.givenName","value":"Gtfd"},
             {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}]}
            """#, to: user)
        #expect(result["displayName"] == .string("Pvlo"))
        #expect(result["emails"] == json(#"[{"primary":true,"value":"TestBcwqnm@test.microsoft.com","type":"work"}]"#))
        #expect(result["name"] == json(#"{"givenName":"Gtfd","familyName":"User"}"#))
        #expect(result[enterpriseURN] == json(#"{"employeeNumber":"Eqpj"}"#))
    }

    @Test func entraMultiAttributeUpdateFlagged() throws {
        let result = applyUser(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
             {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}
            """#, to: user)
        #expect(result["displayName"] == .string("Bjfe"))
        #expect(result["name"] == json(#"{"givenName":"Kkom","familyName":"User"}"#))
        #expect(result[enterpriseURN] == json(#"{"employeeNumber":"Aklq"}"#))
    }

    @Test func entraFilteredPathOnUserWithoutEmails() throws {
        var bare = user
        bare.removeValue(forKey: "emails")
        let result = applyUser(ops(#"{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"}"#), to: bare)
        #expect(result["emails"] == json(#"[{"type":"work","value":"new@example.com"}]"#))
        // With add, and with an extra primary clause in the filter.
        let added = applyUser(ops(#"{"op":"add","path":"emails[type eq \"work\" and primary eq true].value","value":"p@example.com"}"#), to: bare)
        #expect(added["emails"] == json(#"[{"type":"work","primary":true,"value":"p@example.com"}]"#))
        // An existing array without a work email gets one appended.
        let home = applyUser(ops(#"{"op":"replace","path":"emails","value":[{"type":"home","value":"h@example.com"}]}"#), to: bare)
        let both = applyUser(ops(#"{"op":"replace","path":"emails[type eq \"work\"].value","value":"w@example.com"}"#), to: home)
        #expect(both["emails"] == json(#"[{"type":"home","value":"h@example.com"},{"type":"work","value":"w@example.com"}]"#))
    }

    @Test func filterThatCannotCreateIsNoTarget() throws {
        let error = try #require(userPatchError(ops(#"{"op":"replace","path":"emails[value co \"zzz\"].type","value":"home"}"#), to: user))
        #expect(error.scimType == .noTarget)
        #expect(error.detail.hasPrefix("PATCH operation 1: no value of 'emails' matches"))
    }

    // MARK: Manager, every shape

    @Test func managerShapes() throws {
        let expected = json(#"{"manager":{"value":"mgr-1"}}"#)
        let bodies = [
            ops(#"{"op":"add","value":{"manager":"mgr-1"}}"#),
            ops(#"{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"mgr-1"}}}"#),
            ops(#"{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"mgr-1"}}}}"#),
            ops(#"{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"mgr-1"}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"mgr-1"}}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":[{"value":"mgr-1"}]}"#),
            ops(#"{"op":"add","path":"manager","value":"mgr-1"}"#),
            ops(#"{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"mgr-1"}}"#),
        ]
        for body in bodies {
            #expect(applyUser(body, to: user)[enterpriseURN] == expected, "\(body)")
        }
        let withRef = applyUser(
            ops(#"{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":[{"$ref":"https://x/Users/mgr-1","value":"mgr-1"}]}"#),
            to: user)
        #expect(withRef[enterpriseURN] == json(#"{"manager":{"value":"mgr-1","$ref":"https://x/Users/mgr-1"}}"#))
    }

    @Test func managerRemoval() throws {
        let managed = applyUser(ops(#"{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"mgr-1"}"#), to: user)
        let bodies = [
            ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"mgr-1\"]"}"#),
            ops(#"{"op":"remove","path":"manager[value eq \"mgr-1\"]"}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":null}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}"#),
            ops(#"{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":[]}"#),
            ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}"#),
        ]
        for body in bodies {
            let result = applyUser(body, to: managed)
            #expect(result[enterpriseURN] == nil, "\(body)")
            #expect(result == user, "\(body)")
        }
        // A filter naming another manager removes nothing.
        let other = applyUser(ops(#"{"op":"remove","path":"manager[value eq \"someone-else\"]"}"#), to: managed)
        #expect(other == managed)
    }

    // MARK: Inputs to accept

    @Test func noPathValueIgnoresIdSchemasMeta() throws {
        let result = applyUser(ops(#"{"op":"replace","value":{"id":"u-1","schemas":["x"],"meta":{"version":"1"},"title":"Boss"}}"#), to: user)
        var expected = user
        expected["title"] = .string("Boss")
        #expect(result == expected)
        // Even a different id inside a no-path value is ignored (Okta sends one).
        #expect(applyUser(ops(#"{"op":"replace","value":{"id":"other","title":"Boss"}}"#), to: user) == expected)
    }

    @Test func idAndMetaAreReadOnly() throws {
        #expect(userPatchError(ops(#"{"op":"replace","path":"id","value":"other"}"#), to: user)?.scimType == .mutability)
        #expect(userPatchError(ops(#"{"op":"remove","path":"id"}"#), to: user)?.scimType == .mutability)
        #expect(userPatchError(ops(#"{"op":"replace","path":"meta.lastModified","value":"2020-01-01T00:00:00Z"}"#), to: user)?.scimType == .mutability)
        // Setting id to its own value is harmless.
        #expect(applyUser(ops(#"{"op":"replace","path":"id","value":"u-1"}"#), to: user) == user)
    }

    @Test func passwordIsDropped() {
        #expect(applyUser(ops(#"{"op":"replace","path":"password","value":"s3cret"}"#), to: user) == user)
        #expect(applyUser(ops(#"{"op":"replace","value":{"password":"s3cret"}}"#), to: user) == user)
    }

    @Test func groupsOnUserAreIgnored() {
        #expect(applyUser(ops(#"{"op":"add","path":"groups","value":[{"value":"g1"}]}"#), to: user) == user)
    }

    @Test func nullsAndEmptyValues() throws {
        let result = applyUser(ops(#"{"op":"replace","value":{"title":null,"roles":[],"nickName":"B","name":{"familyName":null}}}"#), to: user)
        #expect(result["roles"] == nil)
        #expect(result["title"] == nil)
        #expect(result["nickName"] == .string("B"))
        #expect(result["name"] == json(#"{"givenName":"Test"}"#))
    }

    @Test func emailsAsAnObjectBecomeAnArray() throws {
        var bare = user
        bare.removeValue(forKey: "emails")
        let result = applyUser(ops(#"{"op":"add","value":{"emails":{"value":"one@example.com","type":"work","primary":"True"}}}"#), to: bare)
        #expect(result["emails"] == json(#"[{"value":"one@example.com","type":"work","primary":true}]"#))
    }

    @Test func simpleAndComplexAttributes() throws {
        let result = applyUser(ops(#"""
            {"op":"add","path":"nickName","value":"Babs"},
            {"op":"replace","path":"name","value":{"middleName":"J"}},
            {"op":"add","path":"name.honorificPrefix","value":"Dr"},
            {"op":"remove","path":"name.familyName"},
            {"op":"remove","path":"displayName"}
            """#), to: user)
        #expect(result["nickName"] == .string("Babs"))
        #expect(result["name"] == json(#"{"givenName":"Test","middleName":"J","honorificPrefix":"Dr"}"#))
        #expect(result["displayName"] == nil)
    }

    @Test func attributeNamesAreCaseInsensitive() {
        let result = applyUser(ops(#"{"op":"replace","path":"DISPLAYNAME","value":"X"},{"op":"replace","path":"Name.GivenName","value":"G"}"#), to: user)
        #expect(result["displayName"] == .string("X"))
        #expect(result["name"] == json(#"{"givenName":"G","familyName":"User"}"#))
        #expect(result["DISPLAYNAME"] == nil)
    }

    @Test func multiValuedAttributes() throws {
        let result = applyUser(ops(#"""
            {"op":"add","path":"emails","value":[{"value":"home@example.com","type":"home"}]},
            {"op":"add","path":"phoneNumbers","value":[{"value":"+1 555","type":"mobile","primary":"true"}]},
            {"op":"add","path":"roles","value":[{"value":"admin"}]},
            {"op":"add","path":"addresses","value":[{"type":"work","locality":"Oslo"}]}
            """#), to: user)
        #expect(result["emails"] == json(#"[{"primary":true,"value":"test.user@okta.local","type":"work"},{"value":"home@example.com","type":"home"}]"#))
        #expect(result["phoneNumbers"] == json(#"[{"value":"+1 555","type":"mobile","primary":true}]"#))
        #expect(result["roles"] == json(#"[{"value":"admin"}]"#))
        #expect(result["addresses"] == json(#"[{"type":"work","locality":"Oslo"}]"#))

        // A new primary clears the old one.
        let primary = applyUser(ops(#"{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"other","primary":true}]}"#), to: user)
        #expect(primary["emails"] == json(#"[{"primary":false,"value":"test.user@okta.local","type":"work"},{"value":"new@example.com","type":"other","primary":true}]"#))

        // Replace without a filter replaces the whole list; remove with a value removes those.
        let replaced = applyUser(ops(#"{"op":"replace","path":"emails","value":[{"value":"only@example.com"}]}"#), to: result)
        #expect(replaced["emails"] == json(#"[{"value":"only@example.com"}]"#))
        let removed = applyUser(ops(#"{"op":"remove","path":"emails","value":[{"value":"HOME@example.com"}]}"#), to: result)
        #expect(removed["emails"] == user["emails"])
        let filtered = applyUser(ops(#"{"op":"remove","path":"emails[type eq \"home\"]"}"#), to: result)
        #expect(filtered["emails"] == user["emails"])
        let subRemoved = applyUser(ops(#"{"op":"remove","path":"emails[type eq \"work\"].primary"}"#), to: user)
        #expect(subRemoved["emails"] == json(#"[{"value":"test.user@okta.local","type":"work"}]"#))
        let all = applyUser(ops(#"{"op":"remove","path":"emails"}"#), to: result)
        #expect(all["emails"] == nil)
    }

    @Test func filteredReplaceOfAWholeElementMerges() {
        let result = applyUser(ops(#"{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"w2@example.com","display":"W"}}"#), to: user)
        #expect(result["emails"] == json(#"[{"primary":true,"value":"w2@example.com","type":"work","display":"W"}]"#))
    }

    @Test func extensionPaths() throws {
        let result = applyUser(ops(#"""
            {"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"department":"R&D","costCenter":"42"}},
            {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"},
            {"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"division":"North"}}},
            {"op":"add","path":"employeeNumber","value":"7"}
            """#), to: user)
        #expect(result[enterpriseURN] == json(#"{"department":"Ops","costCenter":"42","division":"North","employeeNumber":"7"}"#))
        let removed = applyUser(ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"}"#), to: result)
        #expect(removed[enterpriseURN] == json(#"{"department":"Ops","division":"North","employeeNumber":"7"}"#))
        let gone = applyUser(ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}"#), to: result)
        #expect(gone == user)
    }

    @Test func unknownExtensionsAreKept() throws {
        let result = applyUser(ops(#"""
            {"op":"add","path":"urn:acme:params:scim:2.0:User","value":{"badge":"B-1"}},
            {"op":"replace","path":"urn:acme:params:scim:2.0:User:floor","value":3},
            {"op":"add","value":{"urn:other:ext:Thing":{"x":true}}}
            """#), to: user)
        #expect(result["urn:acme:params:scim:2.0:User"] == json(#"{"badge":"B-1","floor":3}"#))
        #expect(result["urn:other:ext:Thing"] == json(#"{"x":true}"#))
        let removed = applyUser(ops(#"{"op":"remove","path":"urn:acme:params:scim:2.0:User:badge"}"#), to: result)
        #expect(removed["urn:acme:params:scim:2.0:User"] == json(#"{"floor":3}"#))
    }

    @Test func removingWhatIsAbsentSucceeds() {
        let bodies = [
            ops(#"{"op":"remove","path":"nickName"}"#),
            ops(#"{"op":"remove","path":"name.middleName"}"#),
            ops(#"{"op":"remove","path":"phoneNumbers[type eq \"work\"]"}"#),
            ops(#"{"op":"remove","path":"emails[type eq \"home\"].value"}"#),
            ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}"#),
            ops(#"{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}"#),
        ]
        for body in bodies {
            #expect(applyUser(body, to: user) == user, "\(body)")
        }
    }

    @Test func userNameCannotBeRemoved() throws {
        let error = try #require(userPatchError(ops(#"{"op":"remove","path":"userName"}"#), to: user))
        #expect(error.scimType == .invalidValue)
        #expect(error.detail.contains("userName"))
        #expect(userPatchError(ops(#"{"op":"replace","path":"userName","value":""}"#), to: user)?.scimType == .invalidValue)
    }

    @Test func invalidValues() {
        #expect(userPatchError(ops(#"{"op":"replace","value":"active"}"#), to: user)?.scimType == .invalidValue)
        #expect(userPatchError(ops(#"{"op":"add","path":"displayName.first","value":"x"}"#), to: user)?.scimType == .invalidPath)
        #expect(userPatchError(ops(#"{"op":"replace","value":{"not a path":1}}"#), to: user)?.scimType == .invalidPath)
        #expect(userPatchError(ops(#"{"op":"add","path":"emails[type eq \"x\"]","value":"not-an-object"}"#), to: user)?.scimType == .invalidValue)
        #expect(userPatchError(ops(#"{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":5}"#), to: user)?
            .scimType == .invalidValue)
    }

    // MARK: Properties

    @Test func atomicityABadThirdOperationChangesNothing() throws {
        let request = patch(ops(#"""
            {"op":"replace","path":"displayName","value":"Changed"},
            {"op":"add","path":"emails","value":[{"value":"x@example.com"}]},
            {"op":"replace","path":"id","value":"hijack"}
            """#))
        let original = user
        let error = try #require(scimError { () throws(SCIMError) in try UserPatch.apply(request, to: original) })
        #expect(error.scimType == .mutability)
        #expect(error.detail.hasPrefix("PATCH operation 3: "))
        #expect(original == user)  // value semantics: nothing to roll back
    }

    @Test func applyingTheSamePatchTwiceIsIdempotent() {
        let bodies = [
            ops(#"{"op":"add","path":"emails","value":[{"value":"two@example.com","type":"home"}]}"#),
            ops(#"{"op":"add","value":{"emails":[{"value":"TEST.USER@okta.local","type":"work","primary":true}]}}"#),
            ops(#"{"op":"Replace","path":"emails[type eq \"work\"].value","value":"n@example.com"},{"op":"replace","path":"name.givenName","value":"X"}"#),
            ops(#"{"op":"add","path":"emails[type eq \"home\"].value","value":"h@example.com"}"#),
            ops(#"{"op":"remove","path":"emails[type eq \"work\"]"}"#),
            ops(#"{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m"}"#),
            ops(#"{"op":"replace","value":{"active":"False","name.familyName":"Z"}}"#),
        ]
        for body in bodies {
            let once = applyUser(body, to: user)
            let twice = applyUser(body, to: once)
            #expect(once == twice, "\(body)")
        }
    }

    @Test func randomOperationSequencesNeverTrap() {
        var generator = SplitMix64(seed: 0xC0FFEE)
        let paths = ["", "active", "userName", "displayName", "name", "name.givenName", "emails", "emails.value",
                     #"emails[type eq \"work\"]"#, #"emails[type eq \"work\"].value"#, #"emails[value co \"@\"].primary"#,
                     "phoneNumbers", "id", "meta", "meta.version", "password", "groups", "roles", "x.y",
                     enterpriseURN, enterpriseURN + ":manager", enterpriseURN + ":manager.value", "manager", #"manager[value eq \"m\"]"#,
                     "urn:acme:1:Ext", "urn:acme:1:Ext:a", "schemas", "a..b", "emails[", "]", "emails[type eq", "$ref", "name.givenName.x"]
        let values = [#""x""#, #""""#, "true", #""False""#, "null", "1", "2.5", "[]", "{}", #"[{"value":"a","type":"work"}]"#,
                      #"{"value":"m"}"#, #"{"givenName":"G","id":"u-1"}"#, #"[{"value":"m","primary":"true"}]"#, #"{"active":false}"#,
                      #"{"emails":{"value":"o@x"}}"#, #"{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m"}}"#,
                      #"[1,null,"s"]"#, #""u-1""#]
        let opNames = ["add", "Replace", "REMOVE", "remove", "replace"]
        var applied = 0
        var rejected = 0
        for _ in 0..<2000 {
            var operations: [String] = []
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                var members = [#""op":"\#(opNames[Int(generator.next() % UInt64(opNames.count))])""#]
                let path = paths[Int(generator.next() % UInt64(paths.count))]
                if !path.isEmpty { members.append(#""path":"\#(path)""#) }
                if generator.next() % 5 != 0 { members.append(#""value":\#(values[Int(generator.next() % UInt64(values.count))])"#) }
                operations.append("{" + members.joined(separator: ",") + "}")
            }
            let body = ops(operations.joined(separator: ","))
            let start = user
            do {
                let request = try PatchRequest(bytes: Array(body.utf8))
                let result = try UserPatch.apply(request, to: start)
                // Whatever was applied keeps the invariants.
                #expect(result["password"] == nil)
                #expect(result["id"] == .string("u-1"))
                #expect((try? UserFields.extract(from: result)) != nil, "\(body)")
                // Every accepted result is serializable and stable under normalization.
                #expect(try JSONParser.parse(JSONSerializer.serialize(.object(result))) == .object(result))
                applied += 1
            } catch let error as SCIMError {
                rejected += 1
                #expect(error.status == 400 || error.status == 409, "\(body): \(error)")
                #expect(start == user)
            } catch {
                Issue.record("unexpected error \(error) for \(body)")
            }
        }
        // The generator exercises both outcomes.
        #expect(applied > 200)
        #expect(rejected > 200)
    }
}

@Suite("Group PATCH")
struct GroupPatchTests {
    let group = object(#"{"id":"g-1","displayName":"Engineering","externalId":"8aa1a0c0"}"#)

    @Test func oktaMembershipChange() {
        let result = applyGroup(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"remove","path":"members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
                           {"op":"add","path":"members","value":[{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"}]}]}
            """#, to: group)
        #expect(result.memberOps == [.remove(["89bb1940-b905-4575-9e7f-6f887cfb368e"]), .add(["23a35c27-23d3-4c03-b4c5-6443c09e7173"])])
        #expect(result.attributes == group)
    }

    @Test func oktaRenameWithIdInside() {
        let result = applyGroup(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2"}}]}
            """#, to: group)
        #expect(result.attributes["displayName"] == .string("Test SCIMv2"))
        #expect(result.attributes["id"] == .string("g-1"))
        #expect(result.memberOps.isEmpty)
    }

    @Test func entraAddAndRemoveWithValueArray() {
        let added = applyGroup(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]}
            """#, to: group)
        #expect(added.memberOps == [.add(["f648f8d5ea4e4cd38e9c"])])
        let removed = applyGroup(#"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"f648f8d5ea4e4cd38e9c"}]}]}
            """#, to: group)
        // Remove exactly that member: NOT remove-all.
        #expect(removed.memberOps == [.remove(["f648f8d5ea4e4cd38e9c"])])
        #expect(!removed.memberOps.contains(.removeAll))
    }

    @Test func entraSeveralMembersAtOnce() {
        let result = applyGroup(ops(#"{"op":"Remove","path":"members","value":[{"value":"a"},{"value":"b"},{"value":"a"}]}"#), to: group)
        #expect(result.memberOps == [.remove(["a", "b"])])
        #expect(applyGroup(ops(#"{"op":"Remove","path":"members","value":[]}"#), to: group).memberOps == [])
    }

    @Test func jumpCloudLowercaseAdd() {
        let result = applyGroup(ops(#"{"op":"add","path":"members","value":[{"value":"u1"},{"value":"u2"}]}"#), to: group)
        #expect(result.memberOps == [.add(["u1", "u2"])])
    }

    @Test func removeAllOnlyWithoutValue() {
        #expect(applyGroup(ops(#"{"op":"remove","path":"members"}"#), to: group).memberOps == [.removeAll])
        #expect(applyGroup(ops(#"{"op":"remove","path":"members","value":null}"#), to: group).memberOps == [.removeAll])
    }

    @Test func replaceMembersIsRemoveAllThenAdd() {
        #expect(applyGroup(ops(#"{"op":"replace","path":"members","value":[{"value":"u1"},{"value":"u2"}]}"#), to: group).memberOps
            == [.removeAll, .add(["u1", "u2"])])
        #expect(applyGroup(ops(#"{"op":"replace","path":"members","value":[]}"#), to: group).memberOps == [.removeAll])
    }

    @Test func orJoinedValueFilters() {
        let result = applyGroup(ops(#"{"op":"remove","path":"members[value eq \"a\" or value eq \"b\" or VALUE EQ \"c\"]"}"#), to: group)
        #expect(result.memberOps == [.remove(["a", "b", "c"])])
        #expect(applyGroup(ops(#"{"op":"remove","path":"members[value eq \"a\"].value"}"#), to: group).memberOps == [.remove(["a"])])
    }

    @Test func unsupportedMemberFilters() {
        #expect(groupPatchError(ops(#"{"op":"remove","path":"members[display eq \"x\"]"}"#), to: group)?.scimType == .invalidPath)
        #expect(groupPatchError(ops(#"{"op":"remove","path":"members[value eq \"a\" and value eq \"b\"]"}"#), to: group)?.scimType == .invalidPath)
        #expect(groupPatchError(ops(#"{"op":"add","path":"members[value eq \"a\"]","value":{"value":"a"}}"#), to: group)?.scimType == .invalidPath)
        #expect(groupPatchError(ops(#"{"op":"add","path":"members.display","value":"x"}"#), to: group)?.scimType == .invalidPath)
    }

    @Test func noPathValueWithMembers() {
        let result = applyGroup(ops(#"""
            {"op":"replace","value":{"id":"g-1","displayName":"Renamed","members":[{"value":"u1","display":"U"}]}},
            {"op":"add","value":{"members":[{"value":"u2"}]}},
            {"op":"remove","value":{"members":[{"value":"u1"}]}}
            """#), to: group)
        #expect(result.attributes["displayName"] == .string("Renamed"))
        #expect(result.memberOps == [.removeAll, .add(["u1"]), .add(["u2"]), .remove(["u1"])])
    }

    @Test func renameTogetherWithMembershipChanges() {
        let result = applyGroup(ops(#"""
            {"op":"replace","path":"displayName","value":"Eng"},
            {"op":"add","path":"members","value":[{"value":"u9","type":"User"}]},
            {"op":"remove","path":"members[value eq \"u8\"]"}
            """#), to: group)
        #expect(result.attributes["displayName"] == .string("Eng"))
        #expect(result.memberOps == [.add(["u9"]), .remove(["u8"])])
    }

    @Test func memberValueMustBeAString() throws {
        let error = try #require(groupPatchError(ops(#"{"op":"add","path":"members","value":[{"value":"ok"},{"value":42}]}"#), to: group))
        #expect(error.scimType == .invalidValue)
        #expect(error.detail == "PATCH operation 1: member 2 'value' must be the user's id as a non-empty string, not 42.")
        #expect(groupPatchError(ops(#"{"op":"add","path":"members","value":[{"display":"x"}]}"#), to: group)?.scimType == .invalidValue)
        #expect(groupPatchError(ops(#"{"op":"add","path":"members","value":[7]}"#), to: group)?.scimType == .invalidValue)
        #expect(groupPatchError(ops(#"{"op":"add","path":"members","value":[{"value":"g2","type":"Group"}]}"#), to: group)?
            .detail.contains("nested groups") == true)
    }

    @Test func atomicity() throws {
        let error = try #require(groupPatchError(ops(#"""
            {"op":"replace","path":"displayName","value":"New"},
            {"op":"add","path":"members","value":[{"value":"u1"}]},
            {"op":"add","path":"members","value":[{"value":null}]}
            """#), to: group))
        #expect(error.detail.hasPrefix("PATCH operation 3: "))
    }

    @Test func displayNameIsRequired() {
        #expect(groupPatchError(ops(#"{"op":"remove","path":"displayName"}"#), to: group)?.scimType == .invalidValue)
        #expect(groupPatchError(ops(#"{"op":"replace","path":"displayName","value":""}"#), to: group)?.scimType == .invalidValue)
    }

    @Test func membersInTheInputAreIgnored() {
        var withMembers = group
        withMembers["members"] = json(#"[{"value":"u1"}]"#)
        let result = applyGroup(ops(#"{"op":"replace","path":"externalId","value":"e2"}"#), to: withMembers)
        #expect(result.attributes["members"] == nil)
        #expect(result.attributes["externalId"] == .string("e2"))
    }

    @Test func randomOperationSequencesNeverTrap() {
        var generator = SplitMix64(seed: 0xBADC0DE)
        let paths = ["", "members", #"members[value eq \"a\"]"#, #"members[value eq \"a\" or value eq \"b\"]"#, "members.value",
                     #"members[display eq \"x\"]"#, "displayName", "externalId", "id", "meta", "urn:acme:1:Ext", "x[", "members["]
        let values = [#"[{"value":"a"}]"#, #"[{"value":"b","$ref":null},{"value":"c","display":"C"}]"#, #"{"value":"a"}"#, #""a""#,
                      "[]", "null", "1", #"[{"value":1}]"#, #"{"displayName":"N","id":"x","members":[{"value":"d"}]}"#, #""New""#,
                      #"{"members":[]}"#, #"[{"value":"g","type":"Group"}]"#, #"{"k":"v"}"#]
        let opNames = ["add", "Add", "replace", "Remove", "remove", "REPLACE"]
        var applied = 0
        for _ in 0..<2000 {
            var operations: [String] = []
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                var members = [#""op":"\#(opNames[Int(generator.next() % UInt64(opNames.count))])""#]
                let path = paths[Int(generator.next() % UInt64(paths.count))]
                if !path.isEmpty { members.append(#""path":"\#(path)""#) }
                if generator.next() % 4 != 0 { members.append(#""value":\#(values[Int(generator.next() % UInt64(values.count))])"#) }
                operations.append("{" + members.joined(separator: ",") + "}")
            }
            let body = ops(operations.joined(separator: ","))
            do {
                let result = try GroupPatch.apply(PatchRequest(bytes: Array(body.utf8)), to: group)
                #expect(result.attributes["members"] == nil)
                #expect(result.attributes["id"] == .string("g-1"))
                #expect((try? GroupFields.extract(from: result.attributes)) != nil)
                for op in result.memberOps {
                    switch op {
                    case .add(let ids), .remove(let ids): #expect(!ids.isEmpty && Set(ids).count == ids.count)
                    case .removeAll: break
                    }
                }
                applied += 1
            } catch {
                #expect(error.status == 400, "\(body): \(error)")
            }
        }
        #expect(applied > 100)  // many generated combinations are (rightly) rejected
    }

    @Test func idempotentMemberOps() {
        let body = ops(#"{"op":"add","path":"members","value":[{"value":"u1"}]},{"op":"replace","path":"displayName","value":"X"}"#)
        let once = applyGroup(body, to: group)
        let twice = applyGroup(body, to: once.attributes)
        #expect(once == twice)
    }
}
