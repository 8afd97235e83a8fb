import Atomics
import Synchronization

/// Holds the current `MembershipIndex` snapshot for readers, and wakes those waiting for a revision.
///
/// The writer calls `publish` after its transaction commits; readers call `current` (one atomic
/// load, no lock) and answer from that immutable snapshot for as long as they need it.
public final class IndexPublisher: Sendable {
    /// One published index. Holding the snapshot (one reference) and reading `snapshot.index`
    /// in place avoids copying the index value, which retains each of its maps: the lookup
    /// server does this once per frame.
    public final class Snapshot: AtomicReference, Sendable {
        public let index: MembershipIndex
        init(_ index: MembershipIndex) { self.index = index }
    }

    /// A callback registered by `whenRevision`, cancellable with its token.
    public struct WaiterToken: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    private struct Waiters {
        var nextID: UInt64 = 0
        var pending: [UInt64: (revision: UInt64, wake: @Sendable () -> Void)] = [:]
    }

    private let snapshot: ManagedAtomic<Snapshot>
    private let waiters = Mutex(Waiters())
    /// Called when a reader starts waiting for a revision that is not published yet: a fleet
    /// instance fetches from the shared change log at once instead of at its next poll.
    private let demand = Mutex<(@Sendable () -> Void)?>(nil)

    public init(_ index: MembershipIndex) {
        snapshot = ManagedAtomic(Snapshot(index))
    }

    /// The latest published snapshot.
    public var current: MembershipIndex {
        snapshot.load(ordering: .acquiring).index
    }

    /// The latest published snapshot as a reference (cheaper than `current` on a hot path).
    public var currentSnapshot: Snapshot {
        snapshot.load(ordering: .acquiring)
    }

    /// The revision of the latest published snapshot.
    public var revision: UInt64 { currentSnapshot.index.revision }

    /// Makes `index` the snapshot every later `current` returns, then wakes the waiters it satisfies.
    public func publish(_ index: MembershipIndex) {
        snapshot.store(Snapshot(index), ordering: .releasing)
        let revision = index.revision
        let ready: [@Sendable () -> Void] = waiters.withLock { state in
            var wake: [@Sendable () -> Void] = []
            for (id, waiter) in state.pending where waiter.revision <= revision {
                wake.append(waiter.wake)
                state.pending[id] = nil
            }
            return wake
        }
        for wake in ready { wake() }
    }

    /// Sets what to call when a reader waits for an unpublished revision (see `demand`).
    public func onDemand(_ handler: @escaping @Sendable () -> Void) {
        demand.withLock { $0 = handler }
    }

    /// Calls `wake` once a snapshot at `revision` or later is published.
    /// - Returns: nil if that revision is already visible (`wake` is not called: go ahead now),
    ///   otherwise a token to `cancel` the wait (for example when a deadline passes first).
    public func whenRevision(_ revision: UInt64, _ wake: @escaping @Sendable () -> Void) -> WaiterToken? {
        if self.revision >= revision { return nil }
        let token: WaiterToken? = waiters.withLock { state in
            state.nextID += 1
            state.pending[state.nextID] = (revision, wake)
            return WaiterToken(id: state.nextID)
        }
        // A publish may have happened between the check and the registration: re-check.
        if self.revision >= revision, let token, cancel(token) {
            return nil
        }
        demand.withLock { $0 }?()
        return token
    }

    /// Cancels a wait. Returns false if the waiter already ran (or was cancelled).
    @discardableResult
    public func cancel(_ token: WaiterToken) -> Bool {
        waiters.withLock { $0.pending.removeValue(forKey: token.id) != nil }
    }

    /// Waits until `revision` is visible or `timeout` passes. Returns whether it became visible.
    public func wait(forRevision revision: UInt64, timeout: Duration) async -> Bool {
        if self.revision >= revision { return true }
        let stream = AsyncStream<Bool>.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        let token = whenRevision(revision) { stream.continuation.yield(true) }
        guard let token else { return true }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            stream.continuation.yield(false)
        }
        var reached = false
        for await value in stream.stream {
            reached = value
            break
        }
        timer.cancel()
        cancel(token)
        return reached || self.revision >= revision
    }
}
