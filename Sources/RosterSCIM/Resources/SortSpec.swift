import RosterCore

/// `sortBy` and `sortOrder` (RFC 7644 §3.4.2.3).
///
/// Values compare by type: numbers numerically, `dateTime` attributes chronologically, strings
/// without letter case unless the attribute is `caseExact`, booleans false before true. For a
/// multi-valued attribute the primary value (else the first) is the sort key. Resources without
/// a value come last in either order; ties are broken by `id` so that pages are stable.
public struct SortSpec: Hashable, Sendable {
    public enum Order: String, Hashable, Sendable {
        case ascending, descending
    }

    public var path: AttributePath
    public var order: Order

    public init(path: AttributePath, order: Order = .ascending) {
        self.path = path
        self.order = order
    }

    /// Parses the parameters; nil when `sortBy` is absent or empty (`sortOrder` alone is ignored).
    ///
    /// - Throws: 400 `invalidValue` for a `sortBy` that is not an attribute path or a `sortOrder`
    ///   other than ascending/descending (any letter case).
    public init?(sortBy: String?, sortOrder: String?) throws(SCIMError) {
        guard let sortBy = sortBy?.trimmingSpaces, !sortBy.isEmpty else { return nil }
        let parsed: ParsedPath
        do {
            parsed = try AttributePath.parse(Substring(sortBy))
        } catch {
            throw SCIMError.invalidValue("'sortBy': \(error.message).")
        }
        guard case .attribute(let path) = parsed else {
            throw SCIMError.invalidValue("'sortBy' must name an attribute, not the schema '\(sortBy)'.")
        }
        self.path = path
        switch sortOrder?.trimmingSpaces.lowercased() {
        case nil, "", "ascending": order = .ascending
        case "descending": order = .descending
        case let other?:
            throw SCIMError.invalidValue("'sortOrder' must be 'ascending' or 'descending', not '\(other)'.")
        }
    }

    /// `resources` in this order (stable).
    public func sorted(_ resources: [JSONObject], schema: ResourceSchema) -> [JSONObject] {
        let keyed = resources.enumerated().map { (offset: $0.offset, resource: $0.element, position: position(of: $0.element, schema: schema)) }
        return keyed.sorted { a, b in
            let comparison = compare(a.position, b.position)
            return comparison != 0 ? comparison < 0 : a.offset < b.offset
        }.map(\.resource)
    }

    /// Whether `a` sorts before `b`: a comparator for the caller's own sort.
    public func areInIncreasingOrder(_ a: JSONObject, _ b: JSONObject, schema: ResourceSchema) -> Bool {
        compare(position(of: a, schema: schema), position(of: b, schema: schema)) < 0
    }

    /// Where one resource sorts: its key and its id (the tie-break), read once, so that a caller
    /// that keeps only some resources (`PageSelection`) need not keep them rendered.
    public struct Position: Sendable {
        fileprivate let key: Key?
        fileprivate let id: String
    }

    /// The position of `resource` in this order.
    public func position(of resource: JSONObject, schema: ResourceSchema) -> Position {
        Position(key: sortKey(of: resource, schema: schema), id: resource.value(forCaseInsensitiveKey: "id")?.stringValue ?? "")
    }

    /// Whether `a` sorts strictly before `b`.
    public func precedes(_ a: Position, _ b: Position) -> Bool { compare(a, b) < 0 }

    // MARK: Implementation

    fileprivate enum Key: Hashable, Sendable {
        case bool(Bool)
        case number(Double)
        case time(ISO8601Timestamp)
        case text(String)

        var rank: Int {
            switch self {
            case .bool: return 0
            case .number: return 1
            case .time: return 2
            case .text: return 3
            }
        }
    }

    private func sortKey(of resource: JSONObject, schema: ResourceSchema) -> Key? {
        guard let top = resource.attributeValue(path, schema: schema) else { return nil }
        var value = top
        if case .array(let elements) = top {
            // The primary value, else the first.
            guard let chosen = elements.first(where: PatchEngine.isPrimary) ?? elements.first else { return nil }
            value = chosen
        }
        if case .object(let object) = value {
            let sub = path.subAttribute ?? (top.arrayValue != nil ? "value" : nil)
            guard let sub, let inner = object.value(forCaseInsensitiveKey: sub) else { return nil }
            value = inner
        }
        let definition = schema.definition(of: path) ?? (path.subAttribute == nil && top.arrayValue != nil
            ? schema.definition(of: AttributePath(schema: path.schema, name: path.name, subAttribute: "value")) : nil)
        switch value {
        case .bool(let flag): return .bool(flag)
        case .int, .double: return value.numericValue.map(Key.number)
        case .string(let text):
            if definition?.type == .dateTime, let time = ISO8601Timestamp(text) { return .time(time) }
            return .text(definition?.caseExact == true ? text : text.lowercased())
        default: return nil
        }
    }

    private func compare(_ a: Position, _ b: Position) -> Int {
        var result: Int
        switch (a.key, b.key) {
        case (nil, nil): result = 0
        case (nil, _): return 1  // missing values last, whatever the order
        case (_, nil): return -1
        case (let x?, let y?):
            switch (x, y) {
            case (.bool(let p), .bool(let q)): result = p == q ? 0 : (!p ? -1 : 1)
            case (.number(let p), .number(let q)): result = p == q ? 0 : (p < q ? -1 : 1)
            case (.time(let p), .time(let q)): result = p.compare(q)
            case (.text(let p), .text(let q)): result = p == q ? 0 : (p < q ? -1 : 1)
            default: result = x.rank == y.rank ? 0 : (x.rank < y.rank ? -1 : 1)
            }
            if order == .descending { result = -result }
        }
        if result == 0 {
            result = a.id == b.id ? 0 : (a.id < b.id ? -1 : 1)
        }
        return result
    }
}
