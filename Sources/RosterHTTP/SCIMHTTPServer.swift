import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus
import RosterCore
import RosterSCIM
import RosterStore

/// The Hummingbird shell around `SCIMService`: reads the body (413 past the limit), converts the
/// request, and writes the answer. Also serves `/metrics` (Prometheus text) and `/healthz`.
public enum SCIMHTTPServer {
    /// Builds the HTTP application; run it in the daemon's ServiceGroup.
    /// - Parameters:
    ///   - tls: serve HTTPS with this certificate and key (`SCIMTLSFiles.load()`); nil: plain HTTP.
    ///   - eventLoopGroup: where connections run (nil: NIO's shared group).
    ///   - connectionLimits: the listener's connection limit and its header, body and idle
    ///     deadlines (`SCIMConnectionHandler`).
    ///   - onListening: called with the bound port once the server accepts connections (so a
    ///     `--scim-listen` port of 0 can be reported).
    public static func makeApplication(
        service: SCIMService, host: String, port: Int, tls: SCIMTLS? = nil, registry: PrometheusCollectorRegistry?,
        eventLoopGroup: (any EventLoopGroup)? = nil, connectionLimits: SCIMConnectionLimits = SCIMConnectionLimits(),
        logger: Logger, onListening: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        let maxBody = service.configuration.maxBodySize
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let path = request.uri.path
            if path == "/metrics", request.method == .get {
                let text = registry?.emitToString() ?? ""
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            if path == "/healthz", request.method == .get {
                let revision = service.store.publisher.revision
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"SERVING\",\"revision\":\(revision)}")))
            }
            var body: [UInt8] = []
            if request.method != .get && request.method != .head {
                do {
                    var buffer = try await request.body.collect(upTo: maxBody)
                    body = buffer.readBytes(length: buffer.readableBytes) ?? []
                } catch {
                    return convert(
                        .error(.payloadTooLarge("the body is larger than \(maxBody) bytes (--max-body-size)")))
                }
            }
            var headers: [String: String] = [:]
            var repeated: Set<String> = []
            for field in request.headers {
                if headers.updateValue(field.value, forKey: field.name.canonicalName) != nil {
                    repeated.insert(field.name.canonicalName)
                }
            }
            let scimRequest = SCIMHTTPRequest(
                method: request.method.rawValue, path: path, query: request.uri.query, headers: headers,
                repeatedHeaders: repeated, body: body)
            return convert(await service.handle(scimRequest))
        }
        // TLS wraps each accepted connection before HTTP/1.1; the responder does not change.
        // Each connection gets its deadlines and a place under the connection limit.
        let connections = SCIMConnectionRegistry(limits: connectionLimits, logger: logger)
        let http1: HTTPServerBuilder = .http1(
            configuration: .init(additionalChannelHandlers: [SCIMConnectionHandler(registry: connections)]))
        let server: HTTPServerBuilder = try tls.map { try .tls(http1, tlsConfiguration: $0.configuration) } ?? http1
        return Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "rosterd"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                service.didBind(port: bound)
                await onListening(bound)
            },
            eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: logger)
    }

    static func convert(_ response: SCIMHTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        return Response(
            status: HTTPResponse.Status(code: response.status), headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: response.body)))
    }
}
