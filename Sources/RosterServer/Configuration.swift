import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RosterServer {
    /// Everything the lookup server can be told, with defaults. Plain values, filled by the
    /// daemon from its configuration reader.
    ///
    /// | key | type | default | meaning |
    /// |---|---|---|---|
    /// | `socketPath` | String | (required) | Unix domain socket to listen on |
    /// | `socketMode` | UInt32 | `0o660` | file mode set on the socket right after bind |
    /// | `allowedPeerUIDs` | Set<UInt32>? | nil (anyone who can open the file) | uids allowed to connect (SO_PEERCRED) |
    /// | `adminUIDs` | Set<UInt32> | the daemon's own uid and root | uids allowed to call admin methods |
    /// | `maxConnections` | Int | 4096 | open connections; the next one gets RESOURCE_EXHAUSTED and is closed |
    /// | `maxConnectionsPerUID` | Int? | nil: half of `maxConnections`, at least 1 | open connections of one peer uid (SO_PEERCRED), so one local user cannot hold every slot |
    /// | `frameTimeout` | Duration | 10 s | how long a connection may hold a begun frame that has not arrived whole; then an error frame and the connection is closed |
    /// | `maxInFlightCallsPerConnection` | Int | 1024 | calls waiting (min_revision, back end, Watch) per connection |
    /// | `maxFrameSize` | Int | 4 MiB | largest frame payload in either direction |
    /// | `maxBatchSize` | Int | 10 000 | checks in one BatchCheck |
    /// | `defaultPageSize` | Int | 100 | listing/audit page size when the request says 0 |
    /// | `maxPageSize` | Int | 1000 | larger requested page sizes are lowered to this |
    /// | `watchPageSize` | Int | 256 | events read from the back end per Watch step |
    /// | `writeBufferLowWaterMark` | Int | 64 KiB | writable again below this many pending bytes |
    /// | `writeBufferHighWaterMark` | Int | 256 KiB | unwritable above: Watch pauses, reading stops |
    /// | `shutdownGracePeriod` | Duration | 10 s | how long graceful shutdown waits for in-flight calls |
    /// | `checkLanes` | Int | 1 | threads of the check lane (`CheckLane`) that accept connections and answer plain Checks; 0: SwiftNIO serves every connection |
    /// | `version` | String | "dev" | reported by Stats |
    public struct Configuration: Sendable {
        public var socketPath: String
        public var socketMode: UInt32
        public var allowedPeerUIDs: Set<UInt32>?
        public var adminUIDs: Set<UInt32>
        public var maxConnections: Int
        public var maxConnectionsPerUID: Int?
        public var frameTimeout: Duration
        public var maxInFlightCallsPerConnection: Int
        public var maxFrameSize: Int
        public var maxBatchSize: Int
        public var defaultPageSize: Int
        public var maxPageSize: Int
        public var watchPageSize: Int
        public var writeBufferLowWaterMark: Int
        public var writeBufferHighWaterMark: Int
        public var shutdownGracePeriod: Duration
        public var checkLanes: Int
        public var version: String

        public init(socketPath: String) {
            self.socketPath = socketPath
            self.socketMode = 0o660
            self.allowedPeerUIDs = nil
            self.adminUIDs = [UInt32(getuid()), 0]
            self.maxConnections = 4096
            self.maxConnectionsPerUID = nil
            self.frameTimeout = .seconds(10)
            self.maxInFlightCallsPerConnection = 1024
            self.maxFrameSize = 4 * 1024 * 1024
            self.maxBatchSize = 10_000
            self.defaultPageSize = 100
            self.maxPageSize = 1000
            self.watchPageSize = 256
            self.writeBufferLowWaterMark = 64 * 1024
            self.writeBufferHighWaterMark = 256 * 1024
            self.shutdownGracePeriod = .seconds(10)
            self.checkLanes = 1
            self.version = "dev"
        }

        /// The channel option both ways of accepting a connection set (a high mark below the low
        /// one is raised to it).
        var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMarkOption.Value {
            .init(low: writeBufferLowWaterMark, high: max(writeBufferLowWaterMark, writeBufferHighWaterMark))
        }

        /// Connections one peer uid may hold: the configured share, else half of `maxConnections`
        /// (never more than `maxConnections`, never less than 1). Half by default so that one
        /// local user, hostile or leaking connections, still leaves room for every other uid.
        var connectionsPerUID: Int {
            max(1, min(maxConnections, maxConnectionsPerUID ?? maxConnections / 2))
        }

        /// Reads per readable event on a NIO connection before other channels get their turn.
        static let maxMessagesPerRead: UInt = 16

        /// A page size as a request asks for it: 0 means the default, larger than the maximum
        /// means the maximum.
        func pageSize(requested: UInt32) -> Int {
            requested == 0 ? defaultPageSize : min(Int(requested), maxPageSize)
        }
    }
}
