import Synchronization

/// Lets `RosterServer.run()` wait for its check lanes' threads to end: the first one (a lane
/// only ends on shutdown or on a fatal error) and all of them.
final class LaneCompletion: Sendable {
    private struct State {
        var running: Int
        var firstWaiters: [CheckedContinuation<Void, Never>] = []
        var allWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>
    private let count: Int

    init(count: Int) {
        self.count = count
        self.state = Mutex(State(running: count))
    }

    /// Called on a lane's thread as its `run()` returns.
    func laneEnded() {
        let (first, all): ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) =
            state.withLock { state in
                state.running -= 1
                let first = state.firstWaiters
                state.firstWaiters = []
                guard state.running == 0 else { return (first, []) }
                let all = state.allWaiters
                state.allWaiters = []
                return (first, all)
            }
        for waiter in first + all { waiter.resume() }
    }

    func waitForFirst() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = state.withLock { state -> Bool in
                if state.running < count { return true }
                state.firstWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }

    func waitForAll() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.allWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }
}
