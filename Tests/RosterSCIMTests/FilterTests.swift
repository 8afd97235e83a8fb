import RosterCore
import Testing

@testable import RosterSCIM

@Suite("Filter grammar")
struct FilterGrammarTests {
    let userName = AttributePath(name: "userName")

    @Test(arguments: ComparisonOperator.allCases)
    func everyOperator(_ op: ComparisonOperator) throws {
        #expect(try SCIMFilter.parse("userName \(op.rawValue) \"x\"") == .comparison(userName, op, .string("x")))
        // Operator keywords are case-insensitive.
        #expect(try SCIMFilter.parse("userName \(op.rawValue.uppercased()) \"x\"") == .comparison(userName, op, .string("x")))
    }

    @Test func present() throws {
        #expect(try SCIMFilter.parse("title pr") == .present(AttributePath(name: "title")))
        #expect(try SCIMFilter.parse("title PR") == .present(AttributePath(name: "title")))
    }

    @Test func literals() throws {
        #expect(try SCIMFilter.parse("a eq true") == .comparison(AttributePath(name: "a"), .eq, .bool(true)))
        #expect(try SCIMFilter.parse("a eq False") == .comparison(AttributePath(name: "a"), .eq, .bool(false)))
        #expect(try SCIMFilter.parse("a eq null") == .comparison(AttributePath(name: "a"), .eq, .null))
        #expect(try SCIMFilter.parse("a gt 10") == .comparison(AttributePath(name: "a"), .gt, .int(10)))
        #expect(try SCIMFilter.parse("a lt -2.5e1") == .comparison(AttributePath(name: "a"), .lt, .double(-25)))
        #expect(try SCIMFilter.parse(#"a eq "q\"uo\\te \u00e9""#) == .comparison(AttributePath(name: "a"), .eq, .string("q\"uo\\te é")))
        #expect(try SCIMFilter.parse(#"a eq """#) == .comparison(AttributePath(name: "a"), .eq, .string("")))
    }

    @Test func attributePaths() throws {
        #expect(try SCIMFilter.parse(#"name.givenName eq "A""#)
            == .comparison(AttributePath(name: "name", subAttribute: "givenName"), .eq, .string("A")))
        #expect(try SCIMFilter.parse(#"meta.lastModified gt "2011-05-13T04:42:34Z""#)
            == .comparison(AttributePath(name: "meta", subAttribute: "lastModified"), .gt, .string("2011-05-13T04:42:34Z")))
        #expect(try SCIMFilter.parse(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#)
            == .comparison(AttributePath(schema: enterpriseURN, name: "employeeNumber"), .eq, .string("7")))
        #expect(try SCIMFilter.parse(#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "J""#)
            == .comparison(AttributePath(schema: SCIMSchemaURN.user, name: "name", subAttribute: "familyName"), .eq, .string("J")))
        // URN letter case is normalised to the canonical spelling.
        #expect(try SCIMFilter.parse(#"URN:IETF:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#)
            == .comparison(AttributePath(schema: enterpriseURN, name: "manager", subAttribute: "value"), .eq, .string("m")))
        // An unknown extension: the last colon separates the attribute.
        #expect(try SCIMFilter.parse(#"urn:acme:params:2.0:User:badge eq "b""#)
            == .comparison(AttributePath(schema: "urn:acme:params:2.0:User", name: "badge"), .eq, .string("b")))
    }

    @Test func precedenceAndBindsTighterThanOr() throws {
        let a = SCIMFilter.present(AttributePath(name: "a"))
        let b = SCIMFilter.present(AttributePath(name: "b"))
        let c = SCIMFilter.present(AttributePath(name: "c"))
        #expect(try SCIMFilter.parse("a pr or b pr and c pr") == .or(a, .and(b, c)))
        #expect(try SCIMFilter.parse("a pr and b pr or c pr") == .or(.and(a, b), c))
        #expect(try SCIMFilter.parse("(a pr or b pr) and c pr") == .and(.or(a, b), c))
        #expect(try SCIMFilter.parse("a pr AND b pr OR c pr") == .or(.and(a, b), c))
        #expect(try SCIMFilter.parse("a pr or b pr or c pr") == .or(.or(a, b), c))
        #expect(try SCIMFilter.parse("not (a pr) and b pr") == .and(.not(a), b))
        #expect(try SCIMFilter.parse("not(a pr or b pr)") == .not(.or(a, b)))
        #expect(try SCIMFilter.parse("((a pr))") == a)
        #expect(try SCIMFilter.parse("  a pr  ") == a)
    }

    @Test func valuePaths() throws {
        let emails = AttributePath(name: "emails")
        let workPrimary = SCIMFilter.and(
            .comparison(AttributePath(name: "type"), .eq, .string("work")),
            .comparison(AttributePath(name: "primary"), .eq, .bool(true)))
        #expect(try SCIMFilter.parse(#"emails[type eq "work" and primary eq true]"#) == .valuePath(emails, workPrimary))
        #expect(try SCIMFilter.parse(#"members[value eq "id1"]"#)
            == .valuePath(AttributePath(name: "members"), .comparison(AttributePath(name: "value"), .eq, .string("id1"))))
        // Entra ID's form: `emails[type eq "work"].value eq "x"`.
        #expect(try SCIMFilter.parse(#"emails[type eq "work"].value eq "x@example.com""#)
            == .valuePath(emails, .and(
                .comparison(AttributePath(name: "type"), .eq, .string("work")),
                .comparison(AttributePath(name: "value"), .eq, .string("x@example.com")))))
        #expect(throws: Never.self) {
            try SCIMFilter.parse(#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#)
        }
    }

    @Test func plusOutsideQuotesIsASpace() throws {
        #expect(try SCIMFilter.parse(#"userName+eq+"a+b@example.com""#) == .comparison(userName, .eq, .string("a+b@example.com")))
    }

    // MARK: Errors

    private func failure(_ text: String, limits: SCIMFilter.Limits = .init()) -> SCIMError? {
        scimError { () throws(SCIMError) in try SCIMFilter.parse(text, limits: limits) }
    }

    @Test func errorsAreInvalidFilterWithPosition() throws {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("userName", "expected an operator"),
            ("userName eq", "expected a value"),
            ("userName xx \"a\"", "unknown operator 'xx'"),
            ("userName eq john", "expected a value: a string in double quotes"),
            ("userName eq \"john", "missing its closing"),
            ("(userName pr", "never closed"),
            ("userName pr)", "unbalanced ')'"),
            ("emails[type eq \"work\"", "missing its ']'"),
            ("emails[type eq \"work\"] extra", "expected 'and', 'or'"),
            ("a pr and", "expected"),
            ("a pr or or b pr", "unknown operator 'b'"),
            ("emails[type[value eq \"x\"]]", "inside another"),
            ("name.givenName[value eq \"x\"]", "must follow a multi-valued attribute"),
            ("a.b.c eq \"x\"", "more than one sub-attribute"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User pr", "is a schema"),
            ("userName eq \"\\x\"", "invalid string"),
            ("a eq 01", "invalid number"),
            ("1abc eq \"x\"", "must start with a letter"),
            ("userName eq \"a\" \u{e9}", "'é'"),
        ]
        for (text, fragment) in cases {
            let error = try #require(failure(text), "\(text)")
            #expect(error.status == 400)
            #expect(error.scimType == .invalidFilter)
            #expect(error.detail.contains(fragment), "\(text): \(error.detail)")
            #expect(text.isEmpty || error.detail.contains("position"), "\(text): \(error.detail)")
        }
    }

    @Test func errorMessageIsReadable() throws {
        let error = try #require(failure(#"userName eq"#))
        #expect(error.detail == "Invalid filter 'userName eq': the filter ends after 'eq'; expected a value (a string in double quotes, a number, true, false or null) (at position 12).")
    }

    @Test func lengthLimit() throws {
        let long = "userName eq \"" + String(repeating: "a", count: 5000) + "\""
        let error = try #require(failure(long))
        #expect(error.detail.contains("maximum is 4096"))
        #expect(failure(long, limits: .init(maxLength: 10_000)) == nil)
    }

    @Test func depthLimit() throws {
        let nested = String(repeating: "(", count: 33) + "a pr" + String(repeating: ")", count: 33)
        #expect(failure(nested)?.detail.contains("more than 32 levels") == true)
        let ok = String(repeating: "(", count: 32) + "a pr" + String(repeating: ")", count: 32)
        #expect(failure(ok) == nil)
        let nots = String(repeating: "not ", count: 40) + "a pr"
        #expect(failure(nots)?.scimType == .invalidFilter)
        // Far beyond the limit: rejected, not a stack overflow.
        let hostile = String(repeating: "(", count: 3000)
        #expect(failure(hostile, limits: .init(maxLength: 100_000))?.scimType == .invalidFilter)
    }

    @Test func randomFiltersNeverCrash() {
        var generator = SplitMix64(seed: 7)
        let pieces = ["userName", " eq ", " and ", " or ", "not ", "(", ")", "[", "]", "\"x\"", "\"", "\\", "emails", ".value",
                      " pr", "12", "-", "true", " ", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:", "é", "+", "%40"]
        for _ in 0..<5000 {
            var text = ""
            for _ in 0..<Int(generator.next() % 12) { text += pieces[Int(generator.next() % UInt64(pieces.count))] }
            if let parsed = try? SCIMFilter.parse(text) {
                _ = parsed.matches(object(#"{"userName":"x","emails":[{"value":"x"}]}"#), schema: .user)
                _ = parsed.simpleEquality
                _ = parsed.description
            }
        }
    }

    @Test func descriptionReparses() throws {
        for text in [#"a pr or b eq "x" and not (c lt 3)"#, #"emails[type eq "work" and value co "@"]"#, #"(a pr or b pr) and c pr"#] {
            let parsed = try SCIMFilter.parse(text)
            #expect(try SCIMFilter.parse(parsed.description) == parsed, "\(parsed.description)")
        }
    }
}

@Suite("Filter evaluation")
struct FilterEvaluationTests {
    let user = object(#"""
        {"id":"2819c223-7f76-453a-919d-413861904646","externalId":"Ext-1","userName":"Bjensen@Example.com",
         "name":{"givenName":"Barbara","familyName":"Jensen"},"displayName":"Babs Jensen","title":"",
         "active":true,"emails":[{"value":"bjensen@example.com","type":"work","primary":true},
                                 {"value":"babs@jensen.org","type":"home"}],
         "phoneNumbers":[],"x509Certificates":null,"loginCount":42,"score":2.5,
         "meta":{"created":"2024-01-01T10:00:00Z","lastModified":"2024-03-01T12:30:00.500+01:00","version":"W/\"3\""},
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"Mgr-9"}}}
        """#)

    func matches(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        filter(text, sourceLocation: sourceLocation).matches(user, schema: .user)
    }

    @Test func equalityAndCase() {
        #expect(matches(#"userName eq "bjensen@example.com""#))  // userName: caseExact false
        #expect(matches(#"USERNAME eq "BJENSEN@EXAMPLE.COM""#))  // attribute names too
        #expect(matches(#"externalId eq "Ext-1""#))
        #expect(!matches(#"externalId eq "ext-1""#))  // externalId: caseExact
        #expect(matches(#"id eq "2819c223-7f76-453a-919d-413861904646""#))
        #expect(!matches(#"id eq "2819C223-7F76-453A-919D-413861904646""#))
        #expect(matches(#"displayName eq "babs jensen""#))
        #expect(matches(#"name.familyName eq "jensen""#))
        #expect(!matches(#"userName eq "other""#))
    }

    @Test func ne() {
        #expect(matches(#"userName ne "other""#))
        #expect(!matches(#"userName ne "BJENSEN@example.com""#))
        #expect(matches(#"nickName ne "x""#))  // absent: not equal
        #expect(!matches(#"emails.value ne "babs@jensen.org""#))  // one element equals
    }

    @Test func substringOperators() {
        #expect(matches(#"userName co "jensen""#))
        #expect(matches(#"userName sw "BJ""#))
        #expect(matches(#"userName ew ".COM""#))
        #expect(!matches(#"userName sw "jensen""#))
        #expect(!matches(#"loginCount co "4""#))  // not a string
        #expect(matches(#"emails.value ew "jensen.org""#))
    }

    @Test func presence() {
        #expect(matches("userName pr"))
        #expect(!matches("title pr"))  // empty string
        #expect(!matches("phoneNumbers pr"))  // empty array
        #expect(!matches("x509Certificates pr"))  // null
        #expect(!matches("nickName pr"))  // absent
        #expect(matches("name pr"))
        #expect(matches("emails.type pr"))
        #expect(matches("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"))
    }

    @Test func ordering() {
        #expect(matches("loginCount gt 41"))
        #expect(matches("loginCount ge 42"))
        #expect(!matches("loginCount gt 42"))
        #expect(matches("loginCount lt 42.5"))
        #expect(matches("score le 2.5"))
        #expect(matches("score gt 2"))
        #expect(matches(#"userName gt "a""#))
        #expect(matches(#"userName lt "C""#))  // case-insensitive lexicographic
        #expect(!matches("active gt false"))  // booleans have no order
    }

    @Test func dateTimes() {
        #expect(matches(#"meta.created eq "2024-01-01T10:00:00.000Z""#))  // same instant, other spelling
        #expect(matches(#"meta.created eq "2024-01-01T11:00:00+01:00""#))
        #expect(matches(#"meta.lastModified gt "2024-03-01T11:30:00Z""#))  // 11:30:00.5Z
        #expect(!matches(#"meta.lastModified gt "2024-03-01T11:30:01Z""#))
        #expect(matches(#"meta.lastModified ge "2024-03-01T11:30:00.5Z""#))
        #expect(matches(#"meta.created lt "2024-02-01""#))
        #expect(!matches(#"meta.created gt "not a date""#))
    }

    @Test func booleansAndNull() {
        #expect(matches("active eq true"))
        #expect(!matches("active eq false"))
        #expect(matches("active ne false"))
        #expect(matches("nickName eq null"))
        #expect(!matches("userName eq null"))
        #expect(matches("userName ne null"))
        let suspended = object(#"{"userName":"u","active":"False"}"#)
        #expect(filter("active eq false").matches(suspended, schema: .user))
    }

    @Test func multiValuedAndValuePaths() {
        #expect(matches(#"emails eq "babs@jensen.org""#))  // complex multi-valued without sub: value
        #expect(matches(#"emails.value eq "BJENSEN@example.com""#))
        #expect(matches(#"emails[type eq "work" and value co "example"]"#))
        #expect(!matches(#"emails[type eq "home" and value co "example"]"#))
        #expect(matches(#"emails[type eq "work"].value eq "bjensen@example.com""#))
        #expect(!matches(#"emails[type eq "home"].value eq "bjensen@example.com""#))
        #expect(matches(#"emails[primary eq true]"#))
        #expect(matches(#"emails[not (type eq "work")]"#))
        #expect(!matches(#"phoneNumbers[type eq "work"]"#))
        #expect(matches(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "Mgr-9"]"#))
        #expect(!matches(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "mgr-9"]"#))  // caseExact
    }

    @Test func extensions() {
        #expect(matches(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#))
        #expect(matches(#"employeeNumber eq "701984""#))  // unqualified, tolerated
        #expect(matches(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "Mgr-9""#))
        #expect(matches(#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjen""#))
    }

    @Test func logic() {
        #expect(matches(#"userName sw "b" and active eq true"#))
        #expect(matches(#"userName sw "x" or active eq true"#))
        #expect(!matches(#"userName sw "x" or active eq false"#))
        #expect(matches(#"not (userName sw "x")"#))
        #expect(matches(#"userName sw "x" or (title pr or name.givenName eq "barbara")"#))
    }

    @Test func groupMembers() {
        let group = object(#"{"displayName":"Admins","members":[{"value":"u1"},{"value":"u2"}]}"#)
        #expect(filter(#"members[value eq "u2"]"#).matches(group, schema: .group))
        #expect(filter(#"members.value eq "u1""#).matches(group, schema: .group))
        #expect(!filter(#"members[value eq "U1"]"#).matches(group, schema: .group))
        #expect(filter(#"displayName eq "admins""#).matches(group, schema: .group))
    }

    // MARK: Index-friendly shapes

    @Test func simpleEquality() {
        #expect(filter(#"userName eq "x""#).simpleEquality == IndexedLookup(attribute: .userName, value: "x"))
        #expect(filter(#"UserName EQ "x""#).simpleEquality == IndexedLookup(attribute: .userName, value: "x"))
        #expect(filter(#"externalId eq "00ujl29u0le5T6Aj10h7""#).simpleEquality
            == IndexedLookup(attribute: .externalId, value: "00ujl29u0le5T6Aj10h7"))
        #expect(filter(#"id eq "abc""#).simpleEquality == IndexedLookup(attribute: .id, value: "abc"))
        #expect(filter(#"displayName eq "Admins""#).simpleEquality == IndexedLookup(attribute: .displayName, value: "Admins"))
        #expect(filter(#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#).simpleEquality?.attribute == .userName)
        #expect(filter(#"emails[type eq "work"].value eq "a@b.c""#).simpleEquality
            == IndexedLookup(attribute: .email(type: "work"), value: "a@b.c"))
        #expect(filter(#"emails[value eq "a@b.c" and type eq "work"]"#).simpleEquality
            == IndexedLookup(attribute: .email(type: "work"), value: "a@b.c"))
        #expect(filter(#"emails.value eq "a@b.c""#).simpleEquality == IndexedLookup(attribute: .email(type: nil), value: "a@b.c"))
        #expect(filter(#"emails eq "a@b.c""#).simpleEquality == IndexedLookup(attribute: .email(type: nil), value: "a@b.c"))

        #expect(filter(#"userName ne "x""#).simpleEquality == nil)
        #expect(filter(#"userName eq 3"#).simpleEquality == nil)
        #expect(filter(#"userName eq "x" and active eq true"#).simpleEquality == nil)
        #expect(filter(#"title eq "x""#).simpleEquality == nil)
        #expect(filter(#"emails[type eq "work"]"#).simpleEquality == nil)
        #expect(filter(#"emails[type co "work"].value eq "x""#).simpleEquality == nil)
        #expect(IndexedLookup(attribute: .userName, value: "x").isCaseExact == false)
        #expect(IndexedLookup(attribute: .externalId, value: "x").isCaseExact == true)
    }

    // MARK: Percent-encoded values

    @Test func percentDecodedFallback() {
        let encoded = filter(#"userName eq "ryan%40example.com""#)
        let resource = object(#"{"userName":"ryan@example.com"}"#)
        // As written, it does not match; the fallback does.
        #expect(!encoded.matches(resource, schema: .user))
        #expect(encoded.percentDecodedFallback?.matches(resource, schema: .user) == true)
        #expect(encoded.percentDecodedFallback?.simpleEquality == IndexedLookup(attribute: .userName, value: "ryan@example.com"))
        // A genuine '%' still matches as written, which is why decoding is only a fallback.
        #expect(encoded.matches(object(#"{"userName":"ryan%40example.com"}"#), schema: .user))
        // Nothing to decode, or not a valid escape: no fallback.
        #expect(filter(#"userName eq "ryan@example.com""#).percentDecodedFallback == nil)
        #expect(filter(#"userName eq "100%""#).percentDecodedFallback == nil)
        #expect(filter(#"userName eq "%zz""#).percentDecodedFallback == nil)
        #expect(filter(#"userName eq "%FF""#).percentDecodedFallback == nil)  // not UTF-8
        #expect(filter(#"displayName eq "a%20b" or emails[value eq "x%2By"]"#).percentDecodedFallback
            == filter(#"displayName eq "a b" or emails[value eq "x+y"]"#))
    }
}
