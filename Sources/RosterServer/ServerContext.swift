import CRosterLinux
import Dispatch
import Logging
import RosterCore
import Synchronization

/// What every connection of one server shares: the back end, the configuration, metrics and
/// counters. Immutable apart from the atomics.
final class ServerContext: Sendable {
    let backend: any RosterBackend
    let publisher: IndexPublisher
    let configuration: RosterServer.Configuration
    let metrics: ServerMetrics
    let logger: Logger
    /// Open connections (including ones being rejected).
    let connections: ConnectionRegistry
    let callsTotal = Atomic<UInt64>(0)
    let nextConnectionID = Atomic<UInt64>(0)
    /// Connections the check lanes handed to SwiftNIO because they sent more than plain Checks.
    let laneHandovers = Atomic<UInt64>(0)
    let started: ContinuousClock.Instant
    /// One log line per episode of refused connections (limit, allow-list, no credentials), not
    /// one per connection: a client retrying in a loop must not flood the log.
    let refusalLog = Mutex(RefusalLog(interval: .seconds(10)))
    /// The same for connections closed because a frame stayed incomplete (`frameTimeout`).
    let frameTimeoutLog = Mutex(RefusalLog(interval: .seconds(10)))

    /// A heap trim is planned (see `trimHeapSoon`).
    private let trimPlanned = Atomic<Bool>(false)

    /// Asks for freed heap memory to go back to the kernel about a second from now (once, however
    /// many ask meanwhile). Called when a connection that hit its output bound closes: glibc keeps
    /// what such clients made rosterd allocate (per-thread arenas) and RSS would stay at its peak.
    func trimHeapSoon() {
        guard !trimPlanned.exchange(true, ordering: .acquiringAndReleasing) else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 1) { [self] in
            trimPlanned.store(false, ordering: .releasing)
            _ = c_roster_malloc_trim()
        }
    }

    init(backend: any RosterBackend, configuration: RosterServer.Configuration, logger: Logger) {
        self.backend = backend
        self.publisher = backend.publisher
        self.configuration = configuration
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.connections = ConnectionRegistry { metrics.recordConnections($0) }
        self.logger = logger
        self.started = .now
    }

    var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
