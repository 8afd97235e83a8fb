import NIOCore
import RosterProtocol

#if canImport(Glibc)
import Glibc
#endif

/// One line of a queries file: `userId<TAB>groupId<TAB>allow|deny` (SCIM ids).
struct Query: Sendable, Hashable {
    var userID: String
    var groupID: String
    var allow: Bool
}

/// Reads a queries file.
///
/// Blank lines and lines starting with `#` are skipped; anything else that is not three
/// tab-separated fields ending in `allow` or `deny` is an error naming the line.
enum QueryFile {
    static func read(path: String) throws(LoadError) -> [Query] {
        guard let file = fopen(path, "r") else {
            throw LoadError("cannot open the queries file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var queries: [Query] = []
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        var number = 0
        while true {
            let length = getline(&line, &capacity, file)
            if length < 0 { break }
            number += 1
            guard let line else { continue }
            var text = String(cString: line)
            while text.last == "\n" || text.last == "\r" { text.removeLast() }
            if text.isEmpty || text.hasPrefix("#") { continue }
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw LoadError("\(path):\(number): expected userId<TAB>groupId<TAB>allow|deny, got '\(text.prefix(120))'")
            }
            let allow: Bool
            switch fields[2] {
            case "allow": allow = true
            case "deny": allow = false
            default:
                throw LoadError("\(path):\(number): the decision must be 'allow' or 'deny', got '\(fields[2].prefix(40))'")
            }
            queries.append(Query(userID: String(fields[0]), groupID: String(fields[1]), allow: allow))
        }
        guard !queries.isEmpty else { throw LoadError("the queries file \(path) has no queries") }
        return queries
    }
}

/// Every request the run can send, encoded once before the run starts.
///
/// A *unit* is one call: a Check (batch size 1) or a BatchCheck of `batchSize` consecutive
/// queries. Each unit is stored as its RequestFrame payload **without** `call_id`; at send
/// time the frame is `length ‖ 08 varint(call_id) ‖ tail` (protobuf fields may come in any
/// order, and a field absent from the tail is simply added in front). The expected decisions
/// of a unit's checks sit in `expected[expectedStart[u] ..< expectedStart[u] + checksPerUnit[u]]`.
///
/// The tables live in allocations that are never freed and never change once built (the plan
/// lives as long as the process), so the load loop reads them with no reference counting.
final class LoadPlan: @unchecked Sendable {
    let unitCount: Int
    let batchSize: Int
    /// Offsets of each unit's tail in `bytes`; `tailOffsets[unitCount]` is the end.
    private let tailOffsets: UnsafeBufferPointer<Int>
    let expectedStart: UnsafeBufferPointer<Int>
    let expected: UnsafeBufferPointer<Bool>
    let bytes: UnsafeMutableRawBufferPointer
    let allowCount: Int
    /// The largest frame any unit produces (call id of up to 10 bytes included).
    let maxFrameBytes: Int

    /// Encodes every query (or batch of queries) with SwiftProtobuf through RosterProtocol, so
    /// the bytes are exactly what `RosterClient` would send.
    init(queries: [Query], directoryID: String, batchSize: Int) throws(LoadError) {
        precondition(batchSize >= 1)
        self.batchSize = batchSize
        var units: [[UInt8]] = []
        var starts: [Int] = []
        var expected: [Bool] = []
        var index = 0
        while index < queries.count {
            let end = batchSize == 1 ? index + 1 : min(queries.count, index + batchSize)
            let slice = queries[index..<end]
            var frame = Roster_V1_RequestFrame()
            if batchSize == 1, let query = slice.first {
                var check = Roster_V1_CheckRequest()
                check.directoryID = directoryID
                check.user.id = query.userID
                check.group.id = query.groupID
                frame.check = check
            } else {
                var batch = Roster_V1_BatchCheckRequest()
                batch.directoryID = directoryID
                batch.checks = slice.map { query in
                    var item = Roster_V1_CheckItem()
                    item.user.id = query.userID
                    item.group.id = query.groupID
                    return item
                }
                frame.batchCheck = batch
            }
            var buffer = ByteBuffer()
            do {
                try buffer.writeRosterFrame(frame)
            } catch {
                throw LoadError("cannot encode a request: \(error)")
            }
            buffer.moveReaderIndex(forwardBy: FrameDecoder.headerSize)
            units.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
            starts.append(expected.count)
            expected.append(contentsOf: slice.map(\.allow))
            index = end
        }
        unitCount = units.count
        var offsets: [Int] = [0]
        offsets.reserveCapacity(units.count + 1)
        for unit in units { offsets.append(offsets[offsets.count - 1] + unit.count) }
        tailOffsets = Self.permanent(offsets)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, offsets[units.count]), alignment: 8)
        for (position, unit) in units.enumerated() {
            unit.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: storage[offsets[position]..<offsets[position + 1]])
                    .copyMemory(from: source)
            }
        }
        bytes = storage
        maxFrameBytes = (units.map(\.count).max() ?? 0) + 4 + 11
        expectedStart = Self.permanent(starts + [expected.count])
        self.expected = Self.permanent(expected)
        allowCount = expected.count(where: { $0 })
    }

    private static func permanent<T>(_ values: [T]) -> UnsafeBufferPointer<T> {
        let storage = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, values.count))
        _ = storage.initialize(from: values)
        return UnsafeBufferPointer(rebasing: storage[0..<values.count])
    }

    /// Number of checks in unit `unit`.
    @inline(__always)
    func checks(in unit: Int) -> Int { expectedStart[unit + 1] - expectedStart[unit] }

    /// Appends unit `unit` as a complete frame with `callID` in front.
    @inline(__always)
    func writeFrame(unit: Int, callID: UInt64, into buffer: inout ByteBuffer) {
        let start = tailOffsets[unit]
        let tail = UnsafeRawBufferPointer(rebasing: bytes[start..<tailOffsets[unit + 1]])
        let idSize = Wire.varintSize(callID)
        let payload = 1 + idSize + tail.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4 + payload) { out in
            let base = out.baseAddress!
            base.storeBytes(of: UInt32(payload).bigEndian, toByteOffset: 0, as: UInt32.self)
            base.storeBytes(of: 0x08, toByteOffset: 4, as: UInt8.self)
            var position = 5
            var value = callID
            while value >= 0x80 {
                base.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: position, as: UInt8.self)
                value >>= 7
                position += 1
            }
            base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: position, as: UInt8.self)
            position += 1
            (base + position).copyMemory(from: tail.baseAddress!, byteCount: tail.count)
            return 4 + payload
        }
    }
}

/// An error that stops the tool with one readable line.
struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
