import CoreMetrics
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RosterCore
import RosterProtocol
import Synchronization

/// Answers plain Check frames straight from their bytes, for both I/O shells that serve lookup
/// connections: `RosterConnectionHandler` (SwiftNIO) and `CheckLane` (the epoll check lane).
///
/// A frame it takes is read with `CheckRequestView` (no SwiftProtobuf decode, no String for ids),
/// answered from the snapshot's index and written into the caller's output buffer; its metrics
/// are counted here and handed over once per read burst. A frame it declines is left untouched
/// for the generic path: another method, an unusual encoding, call id 0, a `min_revision` the
/// index has not reached, an unknown directory named by id bytes that are not a known handle.
///
/// One per connection (it caches the connection's directory); not thread-safe.
struct InPlaceChecks {
    /// What the frames of the current read burst did.
    private(set) var burst = BurstCounters()
    private var directoryCache: DirectoryCache?

    /// Answers `payload` if it is a plain Check, appending the answer to `output`. Returns false,
    /// having written nothing, when the frame needs the generic path.
    mutating func answer(_ payload: ByteBuffer, index: MembershipIndex, into output: inout ByteBuffer) -> Bool {
        payload.withUnsafeReadableBytes { bytes -> Bool in
            guard let view = Self.plainCheck(bytes, index) else { return false }
            return answer(view, bytes, index: index, into: &output)
        }
    }

    /// The call id of `payload` if `answer` would take it (the NIO handler checks it against its
    /// call table first: a duplicate id is the generic path's to reject).
    static func callID(ifPlainCheck payload: ByteBuffer, index: MembershipIndex) -> UInt64? {
        payload.withUnsafeReadableBytes { bytes in plainCheck(bytes, index)?.callID }
    }

    /// The frame read as a Check this code answers: one the view reads exactly, with a call id,
    /// and no `min_revision` the index has not reached.
    private static func plainCheck(_ bytes: UnsafeRawBufferPointer, _ index: MembershipIndex) -> CheckRequestView? {
        guard let view = CheckRequestView(payload: bytes), view.callID != 0, view.minRevision <= index.revision
        else { return nil }
        return view
    }

    private mutating func answer(
        _ view: CheckRequestView, _ bytes: UnsafeRawBufferPointer, index: MembershipIndex, into output: inout ByteBuffer
    ) -> Bool {
        let result: CheckResult
        if view.userMember == .id, view.groupMember == .id,
            let userID = UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: bytes[view.user])),
            let groupID = UUIDKey.parse(utf8: UnsafeRawBufferPointer(rebasing: bytes[view.group]))
        {
            guard let directory = directoryHandle(UnsafeRawBufferPointer(rebasing: bytes[view.directoryID]), index)
            else { return false }
            result = index.check(in: directory, userID: userID, groupID: groupID)
        } else {
            guard let directoryID = directoryID(UnsafeRawBufferPointer(rebasing: bytes[view.directoryID])),
                let user = Self.string(bytes, view.user), let group = Self.string(bytes, view.group)
            else { return false }
            let userReference: UserReference =
                switch view.userMember {
                case .id: .id(user)
                case .userName: .userName(user)
                default: .externalID(user)
                }
            let groupReference: GroupReference =
                switch view.groupMember {
                case .id: .id(group)
                case .groupExternalID: .externalID(group)
                default: .displayName(group)
                }
            do {
                result = try index.check(directoryID: directoryID, user: userReference, group: groupReference)
            } catch {
                let status = StatusMapping.status(for: error)
                burst.frames += 1
                burst.checkErrors += 1
                burst.inPlaceChecks += 1  // a failed call has a duration too, as on the generic path
                burst.errorCodes.append(status.code)
                _ = try? output.writeRosterFrame(
                    Roster_V1_ResponseFrame.failure(callID: view.callID, status), maxFrameSize: Int(UInt32.max))
                return true
            }
        }
        burst.frames += 1
        burst.count(result.reason)
        FastFrames.writeCheckResponse(
            callID: view.callID, allowed: result.allowed, reason: Roster_V1_Reason(result.reason),
            revision: index.revision, into: &output)
        return true
    }

    /// Hands the burst's counts to the metrics, with one duration (read to flush) for every Check
    /// answered in place, and starts a new burst.
    mutating func endBurst(into server: ServerContext, burstNanoseconds: Int64) {
        guard !burst.isEmpty else { return }
        burst.record(into: server, burstNanoseconds: burstNanoseconds)
        burst = BurstCounters()
    }

    /// Counts a frame the generic path took, so `callsTotal` can be brought up to date before it
    /// runs (a Stats call counts itself and the frames before it). Returns the frames to add.
    mutating func takeFrameCount() -> Int {
        defer { burst.frames = 0 }
        return burst.frames
    }

    /// The handle of the directory whose id is `bytes`, from the cache when the same directory
    /// was named in the same snapshot; nil for an unknown directory or invalid UTF-8.
    private mutating func directoryHandle(_ bytes: UnsafeRawBufferPointer, _ index: MembershipIndex) -> DirectoryHandle? {
        if let cached = directoryCache, cached.matches(bytes), let handle = cached.handle,
            handle.revision == index.revision
        {
            return handle
        }
        guard let id = directoryID(bytes) else { return nil }
        let handle = index.directoryHandle(id)
        directoryCache?.handle = handle
        return handle
    }

    /// The directory id as a String, reusing the previous frame's when the bytes are the same.
    private mutating func directoryID(_ bytes: UnsafeRawBufferPointer) -> String? {
        if let cached = directoryCache, cached.matches(bytes) { return cached.id }
        guard let id = String(validating: bytes, as: UTF8.self) else { return nil }
        directoryCache = DirectoryCache(bytes: Array(bytes), id: id, handle: nil)
        return id
    }

    private static func string(_ payload: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        String(validating: UnsafeRawBufferPointer(rebasing: payload[range]), as: UTF8.self)
    }
}

extension InPlaceChecks {
    /// What the frames of one read burst did, handed to the metrics once per burst instead of
    /// once per call (a metric update takes a lock or an atomic; a burst holds up to hundreds of
    /// Checks).
    struct BurstCounters {
        /// Frames answered in place (plus, in the NIO handler, frames the generic path took and
        /// that were not yet added to `callsTotal`).
        var frames = 0
        /// Checks answered in place, by `ServerMetrics.reasonIndex`.
        var reasons: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
        /// Checks answered in place with an error (unknown directory, ambiguous name).
        var checkErrors = 0
        /// Their status codes, for the error metric.
        var errorCodes: [Roster_V1_Code] = []
        /// Checks answered in place, failed ones included: each one's duration is the burst's,
        /// from read to flush.
        var inPlaceChecks = 0

        mutating func count(_ reason: CheckReason) {
            inPlaceChecks += 1
            switch ServerMetrics.reasonIndex(reason) {
            case 0: reasons.0 += 1
            case 1: reasons.1 += 1
            case 2: reasons.2 += 1
            case 3: reasons.3 += 1
            case 4: reasons.4 += 1
            default: reasons.5 += 1
            }
        }

        var isEmpty: Bool { frames == 0 && inPlaceChecks == 0 && checkErrors == 0 }

        /// Hands the counts to the metrics.
        func record(into server: ServerContext, burstNanoseconds: Int64) {
            let metrics = server.metrics
            if frames > 0 { server.callsTotal.add(UInt64(frames), ordering: .relaxed) }
            // The tuple read in place: an array of the six counts would be a malloc per burst.
            withUnsafeBytes(of: reasons) { raw in
                for (position, count) in raw.bindMemory(to: Int.self).enumerated() where count > 0 {
                    metrics.checks[position].increment(by: Int64(count))
                }
            }
            if checkErrors > 0 { metrics.checkErrors.increment(by: Int64(checkErrors)) }
            for code in errorCodes { metrics.recordError(code) }
            for _ in 0..<inPlaceChecks {
                metrics.recordDuration(method: .check, nanoseconds: burstNanoseconds)
            }
        }
    }

    /// The directory the previous in-place Check named: its id bytes, its String, and its handle
    /// in the snapshot it was resolved in. Clients send the same directory on almost every frame.
    struct DirectoryCache {
        var bytes: [UInt8]
        var id: String
        var handle: DirectoryHandle?

        func matches(_ candidate: UnsafeRawBufferPointer) -> Bool {
            guard bytes.count == candidate.count else { return false }
            return bytes.withUnsafeBytes { own in
                guard let mine = own.baseAddress, let other = candidate.baseAddress else { return true }
                return memcmp(mine, other, candidate.count) == 0
            }
        }
    }
}
