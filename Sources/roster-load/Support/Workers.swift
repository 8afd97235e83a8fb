import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs `count` OS threads (blocking I/O is the point: each one owns an HTTP connection) and
/// waits for all of them.
enum Workers {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached OS thread (for blocking work started from async code).
    static func spawn(_ body: @escaping @Sendable () -> Void) {
        if let thread = start(body) {
            pthread_detach(thread)
        } else {
            body()
        }
    }

    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        var threads: [pthread_t] = []
        for index in 0..<count {
            if let thread = start({ body(index) }) {
                threads.append(thread)
            } else {
                body(index)
            }
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// A new thread running `body`; nil if the system would not create one.
    private static func start(_ body: @escaping () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }
}

/// Shared state of a pool of workers: a work counter and the first error, which stops everyone.
final class WorkQueue: Sendable {
    private let next = Atomic<Int>(0)
    let total: Int
    private let failure = Mutex<LoadError?>(nil)

    init(total: Int) { self.total = total }

    /// The next item to work on, or nil when everything is taken or a worker failed.
    func take() -> Int? {
        if failure.withLock({ $0 != nil }) { return nil }
        let item = next.add(1, ordering: .relaxed).oldValue
        return item < total ? item : nil
    }

    func fail(_ error: LoadError) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    var error: LoadError? { failure.withLock { $0 } }
}
