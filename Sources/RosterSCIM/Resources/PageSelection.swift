import RosterCore

/// The page of a list request, chosen while a scan offers its matches one at a time.
///
/// A search that scans a directory of 50,000 users must not hold 50,000 rendered resources to
/// answer a page of ten: it counts every match (`totalResults`) and keeps only the items that can
/// still land on the page. Unsorted, that is the matches whose ordinal falls in the page; sorted,
/// the first `startIndex - 1 + count` in the sort order, held in a heap whose root is the one that
/// sorts last, so that each offer costs O(log k) and memory stays O(k).
public struct PageSelection<Item> {
    /// Matches offered so far: the list response's `totalResults`.
    public private(set) var total = 0
    private let lower: Int
    private let keep: Int
    private let sort: SortSpec?
    private let schema: ResourceSchema
    private var inOrder: [Item] = []
    private var heap: [(position: SortSpec.Position, item: Item)] = []

    public init(query: ListQuery, schema: ResourceSchema) {
        lower = query.startIndex - 1
        let (sum, overflow) = lower.addingReportingOverflow(query.count)
        keep = overflow ? Int.max : sum
        sort = query.sort
        self.schema = schema
    }

    /// Offers one match in scan order; `resource` (its rendered form, for the sort key) is read
    /// only when the query sorts.
    public mutating func offer(_ item: Item, resource: () -> JSONObject) {
        defer { total += 1 }
        guard let sort else {
            if total >= lower && total < keep { inOrder.append(item) }
            return
        }
        guard keep > 0 else { return }
        let position = sort.position(of: resource(), schema: schema)
        if heap.count < keep {
            heap.append((position, item))
            siftUp(from: heap.count - 1, sort)
        } else if sort.precedes(position, heap[0].position) {
            heap[0] = (position, item)
            siftDown(from: 0, sort)
        }
    }

    /// The page's items, in order.
    public func page() -> [Item] {
        guard let sort else { return inOrder }
        let ordered = heap.sorted { sort.precedes($0.position, $1.position) }
        return lower < ordered.count ? ordered[lower...].map(\.item) : []
    }

    // MARK: The heap (the root sorts last)

    private mutating func siftUp(from start: Int, _ sort: SortSpec) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard sort.precedes(heap[parent].position, heap[child].position) else { return }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func siftDown(from start: Int, _ sort: SortSpec) {
        var parent = start
        while true {
            var last = parent
            let left = 2 * parent + 1, right = left + 1
            if left < heap.count, sort.precedes(heap[last].position, heap[left].position) { last = left }
            if right < heap.count, sort.precedes(heap[last].position, heap[right].position) { last = right }
            guard last != parent else { return }
            heap.swapAt(parent, last)
            parent = last
        }
    }
}
