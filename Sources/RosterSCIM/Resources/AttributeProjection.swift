import RosterCore

/// The `attributes` / `excludedAttributes` parameters (RFC 7644 §3.4.2.5, §3.9) applied to a
/// resource.
///
/// Paths are comma-separated, compared without letter case, and may be dotted
/// (`name.givenName`, `emails.value`) or URN-qualified (`urn:...:enterprise:2.0:User:employeeNumber`,
/// or the extension URN alone for the whole extension). `id`, `schemas` and `meta` are always
/// returned; `password` never is. When both parameters are given, `attributes` selects first and
/// `excludedAttributes` then removes.
public struct AttributeProjection: Hashable, Sendable {
    /// The requested paths as given (trimmed); empty means "the default set".
    public private(set) var attributes: [String]
    public private(set) var excludedAttributes: [String]

    /// The identity projection: every attribute with `returned: default`.
    public init() {
        attributes = []
        excludedAttributes = []
    }

    /// Parses the two comma-separated parameters (nil or empty means absent).
    ///
    /// - Throws: 400 `invalidValue` naming a path that is not an attribute path.
    public init(attributes: String?, excludedAttributes: String?) throws(SCIMError) {
        self.attributes = try Self.parseList(attributes, parameter: "attributes")
        self.excludedAttributes = try Self.parseList(excludedAttributes, parameter: "excludedAttributes")
    }

    public init(attributes: [String], excludedAttributes: [String]) throws(SCIMError) {
        try self.init(attributes: attributes.joined(separator: ","), excludedAttributes: excludedAttributes.joined(separator: ","))
    }

    /// Whether the projection changes nothing.
    public var isIdentity: Bool { attributes.isEmpty && excludedAttributes.isEmpty }

    /// Whether the top-level attribute `name` (e.g. `members`) is returned, at least in part.
    /// Lets the caller skip loading a group's members for `excludedAttributes=members`.
    public func includes(attribute name: String) -> Bool {
        let lowered = name.lowercased()
        if ["id", "schemas", "meta"].contains(lowered) { return true }
        if lowered == "password" { return false }
        if !attributes.isEmpty {
            let selected = attributes.contains { path in
                let segments = Self.segments(of: path, in: [:])
                return segments.first == lowered
            }
            if !selected { return false }
        }
        return !excludedAttributes.contains { Self.segments(of: $0, in: [:]) == [lowered] }
    }

    /// The resource with the projection applied.
    public func apply(to resource: JSONObject) -> JSONObject {
        var result = resource
        if !attributes.isEmpty {
            var tree = SelectionNode()
            for path in attributes { tree.insert(Self.segments(of: path, in: resource)) }
            result = Self.include(result, tree, topLevel: true)
        }
        if !excludedAttributes.isEmpty {
            var tree = SelectionNode()
            for path in excludedAttributes { tree.insert(Self.segments(of: path, in: resource)) }
            result = Self.exclude(result, tree, topLevel: true)
        }
        if let key = result.storedKey(caseInsensitive: "password") { result.removeValue(forKey: key) }
        return result
    }

    // MARK: Implementation

    private static let alwaysReturned: Set<String> = ["id", "schemas", "meta"]

    private static func parseList(_ text: String?, parameter: String) throws(SCIMError) -> [String] {
        guard let text else { return [] }
        var paths: [String] = []
        for part in text.split(separator: ",") {
            let path = String(part).trimmingSpaces
            if path.isEmpty { continue }
            do {
                _ = try AttributePath.parse(Substring(path))
            } catch {
                throw SCIMError.invalidValue("'\(parameter)': \(error.message).")
            }
            paths.append(path)
        }
        return paths
    }

    /// The lowercased keys a path walks through in `resource`: `[name, sub]` for core attributes,
    /// `[urn, name, sub]` for extension attributes, `[urn]` for a whole extension. An unknown URN
    /// that is a key of the resource is a whole extension.
    static func segments(of path: String, in resource: JSONObject) -> [String] {
        if path.caseInsensitiveHasPrefix("urn:") {
            for key in resource.keys where key.caseInsensitiveHasPrefix("urn:") {
                if key.caseInsensitiveEquals(path) { return [key.lowercased()] }
                if path.lowercased().hasPrefix(key.lowercased() + ":") {
                    let rest = path.dropFirst(key.count + 1)
                    return [key.lowercased()] + rest.split(separator: ".").map { $0.lowercased() }
                }
            }
        }
        guard let parsed = try? AttributePath.parse(Substring(path)) else { return [path.lowercased()] }
        switch parsed {
        case .schema(let urn):
            return [urn.lowercased()]
        case .attribute(let attribute):
            var segments: [String] = []
            if let schema = attribute.schema, !SCIMSchemaURN.isCore(schema) { segments.append(schema.lowercased()) }
            segments.append(attribute.name.lowercased())
            if let sub = attribute.subAttribute { segments.append(sub.lowercased()) }
            return segments
        }
    }

    private static func include(_ object: JSONObject, _ node: SelectionNode, topLevel: Bool) -> JSONObject {
        var result = JSONObject()
        for (key, value) in object {
            let lowered = key.lowercased()
            if topLevel, alwaysReturned.contains(lowered) {
                result[key] = value
                continue
            }
            guard let child = node.children[lowered] else { continue }
            if child.selectsAll {
                result[key] = value
                continue
            }
            switch value {
            case .object(let inner):
                let selected = include(inner, child, topLevel: false)
                if !selected.isEmpty { result[key] = .object(selected) }
            case .array(let elements):
                let selected: [JSONValue] = elements.compactMap { element in
                    guard case .object(let inner) = element else { return nil }
                    let picked = include(inner, child, topLevel: false)
                    return picked.isEmpty ? nil : .object(picked)
                }
                if !selected.isEmpty { result[key] = .array(selected) }
            default:
                continue
            }
        }
        return result
    }

    private static func exclude(_ object: JSONObject, _ node: SelectionNode, topLevel: Bool) -> JSONObject {
        var result = JSONObject()
        for (key, value) in object {
            let lowered = key.lowercased()
            guard !(topLevel && alwaysReturned.contains(lowered)), let child = node.children[lowered] else {
                result[key] = value
                continue
            }
            if child.selectsAll { continue }
            switch value {
            case .object(let inner):
                result[key] = .object(exclude(inner, child, topLevel: false))
            case .array(let elements):
                result[key] = .array(elements.map { element in
                    guard case .object(let inner) = element else { return element }
                    return .object(exclude(inner, child, topLevel: false))
                })
            default:
                result[key] = value
            }
        }
        return result
    }
}

/// A tree of selected paths: a node either selects its whole attribute or some children.
private struct SelectionNode {
    var selectsAll = false
    var children: [String: SelectionNode] = [:]

    mutating func insert(_ segments: [String]) {
        insert(segments[...])
    }

    private mutating func insert(_ segments: ArraySlice<String>) {
        guard let first = segments.first else {
            selectsAll = true
            return
        }
        children[first, default: SelectionNode()].insert(segments.dropFirst())
    }
}
