import NIOCore
import Synchronization

/// The server's open connections: counted for the connection limit and Stats, quiesced on
/// graceful shutdown, closed on cancellation.
///
/// NIOExtras' `ServerQuiescingHelper` does the graceful part only; the server also needs the
/// count and a way to force-close everything, so it keeps this registry instead.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Connections the check lanes serve (they quiesce and close them themselves).
        var laneConnections = 0
        var shuttingDown = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.channels.count + $0.laneConnections } }

    /// Adds an accepted channel; returns the count including it and whether shutdown has begun.
    func add(_ channel: any Channel) -> (count: Int, shuttingDown: Bool) {
        state.withLock { state in
            state.channels[ObjectIdentifier(channel)] = channel
            return (state.channels.count + state.laneConnections, state.shuttingDown)
        }
    }

    /// Adds a connection a check lane accepted; returns the count including it and whether
    /// shutdown has begun.
    func addLaneConnection() -> (count: Int, shuttingDown: Bool) {
        state.withLock { state in
            state.laneConnections += 1
            return (state.channels.count + state.laneConnections, state.shuttingDown)
        }
    }

    /// Removes a lane connection that closed or became a channel (`add` it first, so the count
    /// never passes through zero while a connection is open).
    @discardableResult
    func removeLaneConnection() -> Int {
        removing { $0.laneConnections -= 1 }
    }

    /// Removes a closed channel; returns the remaining count.
    @discardableResult
    func remove(_ channel: any Channel) -> Int {
        removing { $0.channels[ObjectIdentifier(channel)] = nil }
    }

    private func removing(_ change: (inout State) -> Void) -> Int {
        let (count, waiters): (Int, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            change(&state)
            let count = state.channels.count + state.laneConnections
            guard count == 0 else { return (count, []) }
            let waiters = state.drained
            state.drained = []
            return (0, waiters)
        }
        for waiter in waiters { waiter.resume() }
        return count
    }

    /// Marks the server as shutting down and returns the open channels.
    func beginShutdown() -> [any Channel] {
        state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
    }

    var all: [any Channel] { state.withLock { Array($0.channels.values) } }

    /// Returns once no channel is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.channels.isEmpty && state.laneConnections == 0 { return true }
                state.drained.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
