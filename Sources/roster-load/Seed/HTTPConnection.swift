#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP/1.1 keep-alive client on one blocking TCP socket: enough for seeding.
///
/// One request at a time; the connection is reopened when the server closes it. Understands
/// `Content-Length` and `chunked` answers. Not thread-safe: one per worker thread.
final class HTTPConnection {
    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            let lower = name.lowercased()
            return headers.first { $0.0 == lower }?.1
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let host: String
    let port: UInt16
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var start = 0

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    deinit { disconnect() }

    private func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer.removeAll(keepingCapacity: true)
        start = 0
    }

    private func connectIfNeeded() throws(LoadError) {
        guard fd < 0 else { return }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw LoadError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let candidate = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if candidate >= 0 {
                if connect(candidate, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(candidate, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    fd = candidate
                    return
                }
                lastError = errno
                close(candidate)
            }
            entry = info.pointee.ai_next
        }
        throw LoadError("cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// Sends one request and reads its answer; reconnects once if a kept-alive connection was
    /// closed by the server before the request got through.
    func request(method: String, path: String, headers: [(String, String)], body: [UInt8]) throws(LoadError) -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        let bytes = Array(head.utf8) + body
        for attempt in 0..<2 {
            let reused = fd >= 0
            try connectIfNeeded()
            do throws(LoadError) {
                try writeAll(bytes)
                return try readResponse(method: method)
            } catch {
                disconnect()
                if !reused || attempt == 1 { throw error }
            }
        }
        throw LoadError("unreachable")
    }

    private func writeAll(_ bytes: [UInt8]) throws(LoadError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw LoadError("send to \(host):\(port): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws(LoadError) -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw LoadError("recv from \(host):\(port): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }

    /// Index of the first "\r\n" at or after `from`, reading more as needed.
    private func line(from: Int) throws(LoadError) -> Int {
        var scan = from
        while true {
            while scan + 1 < buffer.count {
                if buffer[scan] == 13 && buffer[scan + 1] == 10 { return scan }
                scan += 1
            }
            guard try fill() else { throw LoadError("the server closed the connection mid-answer") }
        }
    }

    private func take(_ count: Int) throws(LoadError) -> ArraySlice<UInt8> {
        while buffer.count - start < count {
            guard try fill() else { throw LoadError("the server closed the connection mid-body") }
        }
        let slice = buffer[start..<(start + count)]
        start += count
        return slice
    }

    private func readResponse(method: String) throws(LoadError) -> Response {
        // Status line and headers.
        var end = try line(from: start)
        let statusLine = String(decoding: buffer[start..<end], as: UTF8.self)
        start = end + 2
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw LoadError("not an HTTP answer: '\(statusLine.prefix(80))'")
        }
        var headers: [(String, String)] = []
        while true {
            end = try line(from: start)
            if end == start {
                start += 2
                break
            }
            let text = String(decoding: buffer[start..<end], as: UTF8.self)
            start = end + 2
            if let colon = text.firstIndex(of: ":") {
                let name = text[..<colon].lowercased()
                let value = text[text.index(after: colon)...].trimmingPrefix(while: { $0 == " " || $0 == "\t" })
                headers.append((name, String(value)))
            }
        }
        let response = Response(status: status, headers: headers, body: [])
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) {
            // No body.
        } else if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                end = try line(from: start)
                let sizeText = String(decoding: buffer[start..<end], as: UTF8.self)
                start = end + 2
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else {
                    throw LoadError("bad chunk size '\(sizeText.prefix(20))'")
                }
                if size == 0 {
                    // Trailers until an empty line.
                    while true {
                        end = try line(from: start)
                        let empty = end == start
                        start = end + 2
                        if empty { break }
                    }
                    break
                }
                body.append(contentsOf: try take(size))
                _ = try take(2)
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            body = Array(try take(length))
        } else {
            // Until the server closes.
            while try fill() {}
            body = Array(buffer[start...])
            start = buffer.count
        }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        if response.header("connection")?.lowercased() == "close" { disconnect() }
        return Response(status: status, headers: headers, body: body)
    }
}

extension String {
    fileprivate func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring {
        self[...].drop(while: predicate)
    }
}

extension Substring {
    fileprivate func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring {
        drop(while: predicate)
    }
}
