import Dispatch
import Synchronization

/// Runs two independent pieces of work at once (the machine the index is sized for has two
/// cores; startup recovery is otherwise single-threaded) and returns both results.
func inParallel<A: Sendable, B: Sendable>(_ a: @Sendable () -> A, _ b: @Sendable () -> B) -> (A, B) {
    let first = Mutex<A?>(nil)
    let second = Mutex<B?>(nil)
    DispatchQueue.concurrentPerform(iterations: 2) { part in
        if part == 0 {
            let value = a()
            first.withLock { $0 = value }
        } else {
            let value = b()
            second.withLock { $0 = value }
        }
    }
    // concurrentPerform returns only after both iterations ran.
    return (first.withLock { $0 }!, second.withLock { $0 }!)
}
