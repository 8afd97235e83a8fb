import Foundation
import Logging
import RosterCore
import RosterServer
import RosterStore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Announces readiness once both listeners accept connections: runs the optional bootstrap
/// (a ready directory and token for local use), writes the ready file, and logs one line.
actor Readiness {
    private let logger: Logger
    private let readyFile: String?
    private let socketPath: String
    private let store: RosterStore
    private let host: String
    /// `http` or `https` (the SCIM listener serves TLS).
    private let scheme: String
    private let publicURL: String?
    private let bootstrap: (name: String, provider: String)?
    private let backend: DaemonBackend
    private var httpPort: Int?
    /// `--scim-listen off`: readiness waits for the lookup socket alone.
    private var httpOff = false
    private var socketReady = false
    private var announced = false

    init(
        logger: Logger, readyFile: String?, socketPath: String, store: RosterStore, host: String, scheme: String,
        publicURL: String?,
        bootstrap: (String, String)?, backend: DaemonBackend
    ) {
        self.logger = logger
        self.readyFile = readyFile
        self.socketPath = socketPath
        self.store = store
        self.host = host
        self.scheme = scheme
        self.publicURL = publicURL
        self.bootstrap = bootstrap.map { (name: $0.0, provider: $0.1) }
        self.backend = backend
    }

    func httpReady(port: Int) async {
        httpPort = port
        await announceIfReady()
    }

    func httpDisabled() async {
        httpOff = true
        await announceIfReady()
    }

    func socketListening() async {
        socketReady = true
        await announceIfReady()
    }

    private func announceIfReady() async {
        guard !announced, socketReady, httpPort != nil || httpOff else { return }
        announced = true
        let scimURL =
            publicURL ?? httpPort.map { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\($0)" } ?? ""
        if let bootstrap { await runBootstrap(bootstrap, scimURL: scimURL) }
        if let readyFile {
            let object: [String: Any] = [
                "pid": Int(getpid()), "socket": socketPath, "scim_url": scimURL, "revision": Int(store.publisher.revision),
            ]
            do {
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                // Write then rename, so a reader never sees half a file.
                let temporary = readyFile + ".tmp-\(getpid())"
                try data.write(to: URL(fileURLWithPath: temporary))
                _ = rename(temporary, readyFile)
            } catch {
                logger.error("cannot write the ready file", metadata: ["rosterd.ready_file": "\(readyFile)", "error": "\(error)"])
            }
        }
        logger.info(
            "rosterd ready",
            metadata: [
                "rosterd.scim_url": "\(scimURL)", "rosterd.socket": "\(socketPath)",
                "rosterd.revision": "\(store.publisher.revision)", "rosterd.pid": "\(getpid())",
            ])
    }

    /// Makes sure a directory with the bootstrap name exists and prints its URL: with its first
    /// token when it was just created, and otherwise with how to rotate the token it already has.
    /// An existing directory's token is never changed here: a provider configured with it must
    /// keep working across restarts (rotating at every start broke it at the second restart).
    private func runBootstrap(_ bootstrap: (name: String, provider: String), scimURL: String) async {
        let provider = ProviderKind(rawValue: bootstrap.provider) ?? .generic
        do {
            let existing = store.publisher.current.allDirectories.first { $0.directory.name == bootstrap.name }
            let text: String
            if let existing {
                let id = existing.directory.id
                text = """

                    Roster is serving directory '\(bootstrap.name)' (\(existing.directory.provider.rawValue)), created earlier.
                      SCIM base URL : \(scimURL)/scim/v2/\(id)
                      Token         : unchanged (it was shown once, when the directory was created)
                      Lookup socket : \(socketPath)
                    To issue a new token (the current one stays valid until the rotation after):
                          rosterctl --socket \(socketPath) directory rotate-token \(id)


                    """
            } else {
                let (directory, token) = try await store.createDirectory(name: bootstrap.name, provider: provider, policy: .revoke)
                let id = directory.id
                text = """

                    Roster is serving directory '\(bootstrap.name)' (\(provider.rawValue)).
                      SCIM base URL : \(scimURL)/scim/v2/\(id)
                      Bearer token  : \(token)
                      Lookup socket : \(socketPath)
                    Try:  curl -s -H 'Authorization: Bearer \(token)' \(scimURL)/scim/v2/\(id)/Users
                          rosterctl --socket \(socketPath) directory list


                    """
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        } catch {
            logger.error("bootstrap directory failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Waits until the lookup socket accepts connections, then tells `Readiness`.
struct ReadyWaiter: Service {
    let readiness: Readiness
    let server: RosterServer

    func run() async throws {
        let path = await readiness.socketPathForProbe
        while !Task.isCancelled {
            if Self.canConnect(path) {
                await readiness.socketListening()
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Stay alive until shutdown, so the group does not treat this service as finished.
        try? await gracefulShutdown()
    }

    static func canConnect(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}

extension Readiness {
    var socketPathForProbe: String { socketPath }
}

/// Hourly upkeep: event-log and audit pruning under the retention settings.
struct MaintenanceService: Service {
    let store: RosterStore
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let removed = try await store.compactEvents()
                if removed > 0 { logger.info("event log compacted", metadata: ["store.events_removed": "\(removed)"]) }
            } catch {
                logger.warning("event log compaction failed", metadata: ["error": "\(error)"])
            }
            do {
                let removed = try await store.compactAudit()
                if removed > 0 { logger.info("audit pruned", metadata: ["store.audit_removed": "\(removed)"]) }
            } catch {
                logger.warning("audit pruning failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
