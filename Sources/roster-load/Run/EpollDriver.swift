import CRosterLinux
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `roster-load run --io epoll` (the default): drives the connections with plain epoll loops, one
/// per `--threads`, instead of SwiftNIO channels.
///
/// Why: at one call in flight per connection (50×1), a load client pinned to one core spends
/// most of its time per event; on SwiftNIO that per-event work held the Swift client's figure
/// below what the C loadgen measured against the same server. The bookkeeping is the same pure
/// `LoadConnectionHandler.State` either way (slots, matching, checking, latency), so both drivers
/// measure the same thing; only the I/O differs: one `recv` per readable connection, one `send`
/// of the requests it produced.
enum EpollDriver {
    /// One connection and its state, owned by one driver thread.
    final class Connection {
        let fd: Int32
        var state: LoadConnectionHandler.State
        /// Requests the socket did not take yet (sent when it is writable again).
        var unwritten: ByteBuffer?
        var open = true

        init(fd: Int32, state: LoadConnectionHandler.State) {
            self.fd = fd
            self.state = state
        }
    }

    /// Connects `count` sockets to `path`; throws (closing what it opened) if one fails.
    static func connect(_ path: String, count: Int) throws(LoadError) -> [Int32] {
        var fds: [Int32] = []
        for _ in 0..<count {
            let fd = c_roster_connect_unix(path, 10_000)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                for open in fds { close(open) }
                throw LoadError("cannot connect to \(path): \(reason)")
            }
            fds.append(fd)
        }
        return fds
    }

    /// Runs `connections` to the end of `schedule` on the calling thread; returns their stats.
    static func run(_ connections: [Connection], schedule: LoadSchedule) -> [ConnectionStats] {
        let epoll = c_roster_epoll_create()
        guard epoll >= 0 else {
            let reason = String(cString: strerror(errno))
            return connections.map { connection in
                connection.state.failed("epoll_create1 failed: \(reason)")
                close(connection.fd)
                return connection.state.stats
            }
        }
        defer { close(epoll) }
        var byFD: [Int32: Connection] = [:]
        let readable = UInt32(c_roster_epoll_in)
        let writable = UInt32(c_roster_epoll_out)
        var active = 0
        for connection in connections {
            byFD[connection.fd] = connection
            if c_roster_epoll_control(epoll, Int32(c_roster_epoll_add), connection.fd, readable) != 0 {
                connection.state.failed("epoll_ctl failed: \(String(cString: strerror(errno)))")
                finish(connection, epoll)
                continue
            }
            active += 1
            if connection.state.start(schedule, now: MonotonicClock.nanoseconds()) {
                finish(connection, epoll)
                active -= 1
            } else {
                flush(connection, epoll)
                if !connection.open { active -= 1 }
            }
        }

        let capacity = 256
        let fds = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        defer {
            fds.deallocate()
            events.deallocate()
        }
        var input = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        let timed = schedule.callsPerConnection == nil
        var stopped = !timed
        var drainDeadline: UInt64? = nil

        while active > 0 {
            var now = MonotonicClock.nanoseconds()
            let wakeAt = stopped ? drainDeadline : schedule.stopAt
            let timeout: Int32 = wakeAt.map { at in
                at <= now ? 0 : Int32(min((at - now + 999_999) / 1_000_000, 60_000))
            } ?? -1
            let ready = c_roster_epoll_wait(epoll, fds, events, Int32(capacity), timeout)
            if ready < 0 && errno != EINTR {
                let reason = String(cString: strerror(errno))
                for connection in connections where connection.open {
                    connection.state.failed("epoll_wait failed: \(reason)")
                    finish(connection, epoll)
                }
                break
            }
            for position in 0..<max(0, Int(ready)) {
                guard let connection = byFD[fds[position]], connection.open else { continue }
                let mask = events[position]
                if mask & writable != 0 {
                    flush(connection, epoll)
                }
                if mask & ~writable != 0, connection.open {
                    receive(connection, into: &input, epoll)
                }
                if connection.state.finished, connection.open {
                    finish(connection, epoll)
                }
                if !connection.open { active -= 1 }
            }
            now = MonotonicClock.nanoseconds()
            if !stopped, now >= schedule.stopAt {
                // No new calls from now; what is in flight gets `drain` to arrive.
                stopped = true
                drainDeadline = now + schedule.drainNanoseconds
                for connection in connections where connection.open && connection.state.stop() {
                    finish(connection, epoll)
                    active -= 1
                }
            } else if stopped, let deadline = drainDeadline, now >= deadline {
                for connection in connections where connection.open {
                    connection.state.drainExpired()
                    finish(connection, epoll)
                    active -= 1
                }
            }
        }
        return connections.map(\.state.stats)
    }

    /// One read: every complete answer is checked and its slot refilled; the new requests go out.
    private static func receive(_ connection: Connection, into input: inout ByteBuffer, _ epoll: Int32) {
        input.clear()
        var failure: Int32 = 0
        let count = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { space -> Int in
            let result = recv(connection.fd, space.baseAddress, space.count, 0)
            if result < 0 { failure = errno }
            return max(result, 0)
        }
        if count == 0 {
            if failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR { return }
            if failure == 0 {
                connection.state.closed()
            } else {
                connection.state.failed("connection error: \(String(cString: strerror(failure)))")
            }
            finish(connection, epoll)
            return
        }
        if !connection.state.receive(input, now: MonotonicClock.nanoseconds()) {
            finish(connection, epoll)
            return
        }
        flush(connection, epoll)
    }

    /// Sends what the state produced (after anything still unwritten); waits for `EPOLLOUT` if
    /// the socket is full.
    private static func flush(_ connection: Connection, _ epoll: Int32) {
        if connection.state.output.readableBytes > 0 {
            if connection.unwritten != nil {
                connection.unwritten!.writeBuffer(&connection.state.output)
            } else if sendAll(&connection.state.output, connection.fd) {
                if connection.state.output.readableBytes > 0 {
                    var rest = ByteBufferAllocator().buffer(capacity: connection.state.output.readableBytes)
                    rest.writeBuffer(&connection.state.output)
                    connection.unwritten = rest
                    c_roster_epoll_control(
                        epoll, Int32(c_roster_epoll_modify), connection.fd, UInt32(c_roster_epoll_in | c_roster_epoll_out))
                }
            } else {
                connection.state.failed("connection error: \(String(cString: strerror(errno)))")
                finish(connection, epoll)
                return
            }
            connection.state.output.clear()
        }
        guard var unwritten = connection.unwritten else { return }
        connection.unwritten = nil
        guard sendAll(&unwritten, connection.fd) else {
            connection.state.failed("connection error: \(String(cString: strerror(errno)))")
            finish(connection, epoll)
            return
        }
        if unwritten.readableBytes > 0 {
            connection.unwritten = unwritten
        } else {
            c_roster_epoll_control(epoll, Int32(c_roster_epoll_modify), connection.fd, UInt32(c_roster_epoll_in))
        }
    }

    /// Sends until done or the socket is full; false on an error (errno set).
    private static func sendAll(_ buffer: inout ByteBuffer, _ fd: Int32) -> Bool {
        let sent = buffer.withUnsafeReadableBytes { c_roster_send_available(fd, $0.baseAddress, $0.count) }
        guard sent >= 0 else { return false }
        buffer.moveReaderIndex(forwardBy: sent)
        return true
    }

    private static func finish(_ connection: Connection, _ epoll: Int32) {
        guard connection.open else { return }
        connection.open = false
        close(connection.fd)  // also leaves the epoll set
    }
}
