import Foundation
import NIOSSL
import PostgresNIO

/// Where a fleet's database is, from `--database-url`:
/// `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/socket/dir&sslmode=disable|prefer|require]`
/// (also `postgres://`). A password in the URL wins over `PGPASSWORD`; `host=` in the query names a
/// Unix socket directory (libpq's convention), which wins over the URL's host.
public struct PostgresSettings: Sendable, Equatable {
    public enum SSLMode: String, Sendable, CaseIterable { case disable, prefer, require }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// The directory holding the server's Unix socket (`.s.PGSQL.<port>`), when connecting by socket.
    public var socketDirectory: String?
    public var sslMode: SSLMode

    /// - Throws: `StoreError(.configuration)` naming what is wrong with the URL.
    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        func bad(_ why: String) -> StoreError {
            StoreError(
                .configuration,
                "--database-url is not usable: \(why); expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/socket/dir&sslmode=disable|prefer|require]")
        }
        guard let components = URLComponents(string: text) else { throw bad("it is not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgresql" || scheme == "postgres" else {
            throw bad("the scheme must be postgresql://")
        }
        guard let user = components.user.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw bad("it names no user")
        }
        let database = String(components.path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (the path, /DB)") }
        self.user = user
        self.database = database
        password = components.password.flatMap { $0.removingPercentEncoding } ?? environment["PGPASSWORD"]
        host = components.host.flatMap { $0.removingPercentEncoding } ?? ""
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw bad("port \(port) is out of range") }
        socketDirectory = nil
        sslMode = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host":
                guard let value = item.value, value.hasPrefix("/") else { throw bad("host= must be a socket directory (an absolute path)") }
                socketDirectory = value
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw bad("sslmode must be disable, prefer or require")
                }
                sslMode = mode
            default:
                throw bad("unknown parameter \(item.name)")
            }
        }
        if socketDirectory == nil && host.isEmpty { throw bad("it names no host (nor a socket directory with ?host=)") }
    }

    /// The URL without its password, for logs and messages.
    public var redacted: String {
        let place = socketDirectory.map { "[\($0)]" } ?? "\(host):\(port)"
        return "postgresql://\(user)@\(place)/\(database)"
    }

    var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketPath {
            return PostgresConnection.Configuration(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        if let socketPath {
            return PostgresClient.Configuration(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}
