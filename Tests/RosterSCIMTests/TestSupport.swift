import RosterCore
import Testing

@testable import RosterSCIM

/// Parses a JSON object literal written in a test.
func object(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONObject {
    do {
        guard case .object(let object) = try JSONParser.parse(text) else {
            Issue.record("not a JSON object: \(text)", sourceLocation: sourceLocation)
            return [:]
        }
        return object
    } catch {
        Issue.record("invalid JSON in test: \(error)", sourceLocation: sourceLocation)
        return [:]
    }
}

/// Parses a JSON value written in a test.
func json(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue {
    do {
        return try JSONParser.parse(text)
    } catch {
        Issue.record("invalid JSON in test: \(error)", sourceLocation: sourceLocation)
        return .null
    }
}

/// The SCIMError a throwing expression produces, or nil.
func scimError<T>(_ body: () throws(SCIMError) -> T) -> SCIMError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

func filter(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> SCIMFilter {
    do {
        return try SCIMFilter.parse(text)
    } catch {
        Issue.record("filter did not parse: \(error)", sourceLocation: sourceLocation)
        return .present(AttributePath(name: "unparsed"))
    }
}

let enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
