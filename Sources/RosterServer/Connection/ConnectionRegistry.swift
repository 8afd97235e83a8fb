import NIOCore
import Synchronization

/// The server's open connections: counted for the connection limit and Stats, quiesced on
/// graceful shutdown, closed on cancellation.
///
/// NIOExtras' `ServerQuiescingHelper` does the graceful part only; the server also needs the
/// count and a way to force-close everything, so it keeps this registry instead.
final class ConnectionRegistry: Sendable {
    /// How far shutdown has gone.
    enum Shutdown: Sendable {
        case no
        /// Graceful: connections finish their calls, then close.
        case quiescing
        /// Cancelled, or accepting failed: every connection closes now.
        case closingNow
    }

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Connections the check lanes serve (they quiesce and close them themselves).
        var laneConnections = 0
        var shutdown = Shutdown.no
        /// Admitted connections per peer uid (lane, handed over and NIO alike), for the per-uid
        /// share. Only uids with an open connection have an entry.
        var perUID: [UInt32: Int] = [:]
        var drained: [CheckedContinuation<Void, Never>] = []

        var count: Int { channels.count + laneConnections }
    }

    private let state = Mutex(State())
    /// Told every new count while the registry's lock is held, so that reports from different
    /// threads (lanes, event loops) reach it in the order the count changed.
    private let countChanged: @Sendable (Int) -> Void

    init(countChanged: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.countChanged = countChanged
    }

    var count: Int { state.withLock { $0.count } }

    /// Adds an accepted channel; returns the count including it and how far shutdown has gone.
    func add(_ channel: any Channel) -> (count: Int, shutdown: Shutdown) {
        state.withLock { state in
            state.channels[ObjectIdentifier(channel)] = channel
            countChanged(state.count)
            return (state.count, state.shutdown)
        }
    }

    /// Adds a connection a check lane accepted; returns the count including it and how far
    /// shutdown has gone.
    func addLaneConnection() -> (count: Int, shutdown: Shutdown) {
        state.withLock { state in
            state.laneConnections += 1
            countChanged(state.count)
            return (state.count, state.shutdown)
        }
    }

    /// Removes a lane connection that closed or became a channel (`add` it first, so the count
    /// never passes through zero while a connection is open).
    func removeLaneConnection() {
        removing { $0.laneConnections -= 1 }
    }

    /// Removes a closed channel.
    func remove(_ channel: any Channel) {
        removing { $0.channels[ObjectIdentifier(channel)] = nil }
    }

    private func removing(_ change: (inout State) -> Void) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            change(&state)
            countChanged(state.count)
            guard state.count == 0 else { return [] }
            let waiters = state.drained
            state.drained = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Takes one of `uid`'s `limit` connection slots. Returns nil when taken (give it back with
    /// `releasePeer` when the connection closes), or the number `uid` already holds when its
    /// share is full (nothing taken).
    func admitPeer(uid: UInt32, limit: Int) -> Int? {
        state.withLock { state in
            let held = state.perUID[uid, default: 0]
            guard held < limit else { return held }
            state.perUID[uid] = held + 1
            return nil
        }
    }

    /// Gives back a slot `admitPeer` took.
    func releasePeer(uid: UInt32) {
        state.withLock { state in
            let held = state.perUID[uid, default: 0]
            state.perUID[uid] = held > 1 ? held - 1 : nil
        }
    }

    /// Connections `uid` holds (for tests and Stats).
    func connections(uid: UInt32) -> Int {
        state.withLock { $0.perUID[uid, default: 0] }
    }

    /// Marks the server as shutting down (`closingNow` also for channels added later) and
    /// returns the open channels.
    func beginShutdown(closingNow: Bool = false) -> [any Channel] {
        state.withLock { state in
            if closingNow {
                state.shutdown = .closingNow
            } else if state.shutdown == .no {
                state.shutdown = .quiescing
            }
            return Array(state.channels.values)
        }
    }

    /// Returns once no connection is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.count == 0 { return true }
                state.drained.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
