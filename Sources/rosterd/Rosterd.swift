import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOPosix
import Metrics
import Prometheus
import RosterCore
import RosterHTTP
import RosterSCIM
import RosterServer
import RosterStore
import ServiceLifecycle
import UnixSignals

/// rosterd: the Roster sidecar daemon. One process runs the store (single writer), the SCIM
/// HTTP endpoint and the lookup API socket in one ServiceGroup; SIGTERM/SIGINT shut it down
/// gracefully (stop accepting, finish in-flight calls, end Watch streams, exit 0).
@main
struct Rosterd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rosterd",
        abstract: "Roster: SCIM 2.0 directory sync with a membership lookup API on a Unix socket.",
        discussion: """
            Providers push SCIM to http://<scim-listen>/scim/v2/<directory-id> (https:// with --tls-cert and --tls-key)
            with the directory's bearer token.
            Apps ask "is user U in group G, and active?" on the Unix socket (proto/roster/v1/roster.proto).
            Create a directory with `rosterctl directory create NAME --provider okta`, or start with
            --bootstrap-directory NAME to get one printed here.
            """)

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let level = try options.resolvedLogLevel()
        let format = options.resolvedLogFormat
        LoggingSystem.bootstrap { label in
            if format == "json" {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Prometheus's default buckets start at 5 ms; a lookup takes microseconds and a SCIM
        // write about a millisecond, so both would land in the first bucket.
        factory.durationHistogramBuckets = [
            "roster_lookup_call_duration_seconds": [
                .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
                .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(10),
            ],
            "roster_scim_request_duration_seconds": [
                .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(10),
            ],
            // Fleet: from another instance's commit to this index (milliseconds on a healthy LAN).
            "roster_fleet_commit_to_applied_seconds": [
                .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(20),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2.5), .seconds(10), .seconds(60),
            ],
        ]
        MetricsSystem.bootstrap(factory)
        var logger = Logger(label: "rosterd")
        logger.logLevel = level

        // TLS files are checked before anything else starts, so a bad pair is one clear line.
        var tls: SCIMTLS?
        if let files = try options.tlsFiles() {
            do {
                tls = try files.load()
            } catch {
                throw DaemonFailure("TLS: \(error.description)")
            }
        }
        let scheme = tls == nil ? "http" : "https"

        let dataDir = options.resolvedDataDir
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            throw DaemonFailure("cannot create the data directory \(dataDir): \(error.localizedDescription)")
        }
        let store: RosterStore
        var follower: FleetFollower?
        do {
            if let settings = try options.postgresSettings() {
                logger.info("opening the fleet store", metadata: ["store.database": "\(settings.redacted)"])
                store = try RosterStore.openFleet(
                    settings, configuration: try options.storeConfiguration(), requireDatabase: options.resolvedRequireDatabase,
                    logger: logger)
                follower = FleetFollower(
                    store: store, configuration: .init(instanceName: options.resolvedInstanceName), logger: logger)
            } else {
                store = try RosterStore.open(try options.storeConfiguration(), logger: logger)
            }
        } catch let error as StoreError {
            throw DaemonFailure(error.message)
        }

        let listen = try options.listenAddress()
        let (host, port) = listen ?? ("127.0.0.1", 0)
        let boundPort = BoundPort()
        let publicURL = options.publicURL ?? "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        var scimConfig = SCIMConfiguration(publicBaseURL: publicURL)
        scimConfig.maxBodySize = options.maxBodySize
        scimConfig.maxPageSize = options.maxPageSize
        scimConfig.maxPatchOperations = options.maxPatchOperations
        scimConfig.maxMembersPerRequest = options.maxMembersPerRequest
        scimConfig.maxSearchesPerDirectory = options.maxSearchesPerDirectory
        scimConfig.searchBudget = .milliseconds(Int64((options.searchBudget * 1000).rounded(.up)))
        let scimService = SCIMService(store: store, configuration: scimConfig, logger: logger)
        let backend = DaemonBackend(
            store: store, follower: follower,
            scimBaseURL: { [options] directoryID in
                let base = options.publicURL ?? "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(boundPort.value ?? port)"
                return "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/scim/v2/\(directoryID)"
            })

        // Descriptors first: the lookup socket's share must exist before any client can take it.
        let descriptors = DescriptorLimit.raiseToHard()
        let budget = DescriptorBudget.plan(
            descriptorLimit: descriptors.current, lookupMax: options.maxConnections, scimMax: options.connections.scimMaxConnections)
        budget.warnings.forEach { logger.warning("descriptor budget lowered a connection limit", metadata: ["rosterd.budget": "\($0)"]) }

        var serverConfig = RosterServer.Configuration(socketPath: options.resolvedSocket)
        serverConfig.socketMode = UInt32(options.socketMode, radix: 8) ?? 0o660
        serverConfig.allowedPeerUIDs = options.allowUIDs.isEmpty ? nil : Set(options.allowUIDs)
        if !options.adminUIDs.isEmpty { serverConfig.adminUIDs = Set(options.adminUIDs) }
        serverConfig.maxConnections = budget.lookupConnections
        serverConfig.maxConnectionsPerUID = options.connections.maxConnectionsPerUID
        serverConfig.frameTimeout = .milliseconds(Int64((options.connections.frameTimeout * 1000).rounded()))
        serverConfig.maxInFlightCallsPerConnection = options.maxInFlight
        serverConfig.maxFrameSize = options.maxFrameSize
        serverConfig.version = RosterVersion.current
        let eventLoopCount = try options.resolvedEventLoops()
        serverConfig.checkLanes = try options.resolvedCheckLanes(eventLoops: eventLoopCount)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: eventLoopCount)
        let socketServer = RosterServer(
            configuration: serverConfig, backend: backend, eventLoopGroup: eventLoops, logger: logger)

        let readiness = Readiness(
            logger: logger, readyFile: options.readyFile, socketPath: options.resolvedSocket, store: store, host: host,
            scheme: scheme, publicURL: options.publicURL, bootstrap: options.bootstrapDirectory.map { ($0, options.bootstrapProvider) },
            backend: backend)
        let maintenance = MaintenanceService(store: store, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: maintenance),
            .init(service: socketServer, successTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: ReadyWaiter(readiness: readiness, server: socketServer)),
        ]
        if let follower { services.append(.init(service: follower)) }
        if listen != nil {
            let app = try SCIMHTTPServer.makeApplication(
                service: scimService, host: host, port: port, tls: tls, registry: registry, eventLoopGroup: eventLoops,
                connectionLimits: options.connections.scimLimits(maxConnections: budget.scimConnections), logger: logger,
                onListening: { actual in
                    boundPort.set(actual)
                    await readiness.httpReady(port: actual)
                })
            services.append(.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            logger.notice("SCIM listener off (--scim-listen off): this instance serves lookups only")
            await readiness.httpDisabled()
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            store.close()
            try? await eventLoops.shutdownGracefully()
            throw DaemonFailure("rosterd stopped: \(error)")
        }
        store.close()
        try? await eventLoops.shutdownGracefully()
        logger.info("rosterd stopped", metadata: ["roster.revision": "\(store.publisher.revision)"])
    }
}

/// A fatal startup error: printed as one clear line, exit status 1.
struct DaemonFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "rosterd: \(description)" }
}

enum RosterVersion {
    static let current = "0.1.0"
}

/// The port the SCIM listener actually bound (it differs from the flag when that is 0).
final class BoundPort: Sendable {
    private let storage = Mutex<Int?>(nil)
    var value: Int? { storage.withLock { $0 } }
    func set(_ port: Int) { storage.withLock { $0 = port } }
}

import Synchronization
