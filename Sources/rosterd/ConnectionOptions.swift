import ArgumentParser
import RosterHTTP

/// The flags that bound what clients can hold: the SCIM listener's connections and deadlines,
/// and the lookup socket's per-uid share and frame timeout.
/// Kept apart from `DaemonOptions` (included there as an option group), so that connection
/// limits grow here without touching the rest of the configuration.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .customLong("scim-max-connections"),
        help: """
            Open SCIM connections (default: the descriptor limit minus --max-connections minus a reserve, \
            at most 16384); at the limit a new connection replaces the one that has waited longest for a request.
            """)
    var scimMaxConnections: Int?

    @Option(
        name: .customLong("scim-header-timeout"),
        help: "Seconds a SCIM connection has to send a complete request head, from its start or its next request's first byte.")
    var scimHeaderTimeout: Double = 10

    @Option(name: .customLong("scim-body-timeout"), help: "Seconds a SCIM request has to send its whole body, from its head.")
    var scimBodyTimeout: Double = 30

    @Option(name: .customLong("scim-idle-timeout"), help: "Seconds a kept-alive SCIM connection may wait between requests.")
    var scimIdleTimeout: Double = 60

    @Option(
        name: .customLong("max-connections-per-uid"),
        help: "Most lookup-socket connections one peer uid may hold (default: half of --max-connections).")
    var maxConnectionsPerUID: Int?

    @Option(
        name: .customLong("frame-timeout"),
        help: "Seconds a lookup connection may hold a begun request frame that has not arrived whole; then it is closed with an error frame.")
    var frameTimeout: Double = 10

    /// The SCIM listener's limits, with the connection limit the descriptor budget allows.
    func scimLimits(maxConnections: Int) -> SCIMConnectionLimits {
        SCIMConnectionLimits(
            maxConnections: maxConnections, headerTimeout: .seconds(scimHeaderTimeout), bodyTimeout: .seconds(scimBodyTimeout),
            idleTimeout: .seconds(scimIdleTimeout))
    }

    func validate() throws {
        if let scimMaxConnections, scimMaxConnections < 1 {
            throw ValidationError("--scim-max-connections must be at least 1 (got \(scimMaxConnections))")
        }
        if let maxConnectionsPerUID, maxConnectionsPerUID < 1 {
            throw ValidationError("--max-connections-per-uid must be at least 1 (got \(maxConnectionsPerUID))")
        }
        for (name, value) in [
            ("--frame-timeout", frameTimeout), ("--scim-header-timeout", scimHeaderTimeout), ("--scim-body-timeout", scimBodyTimeout),
            ("--scim-idle-timeout", scimIdleTimeout),
        ] where !(value >= 0.1 && value <= 86_400) {
            throw ValidationError("\(name) must be between 0.1 and 86400 seconds (got \(value))")
        }
    }
}
