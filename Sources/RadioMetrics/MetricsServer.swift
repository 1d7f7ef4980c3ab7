#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import Dispatch
import Locking
public import Logging
public import RadioDaemon
import RadioIO
import SystemPackage

/// A small HTTP/1.1 server for Prometheus: `GET /metrics` answers the
/// exposition `render` makes, on a thread of its own, so a scrape never
/// runs on the daemon's client loop or radio thread.
///
/// Built for a hostile network as the daemon is: loopback only unless
/// allowed, at most `maxConnections` at once (more are answered 503 and
/// closed), a request head of at most 8 KiB, and `requestTimeout` for a
/// connection to send its request and take the answer. One request per
/// connection (`Connection: close`).
public final class MetricsServer: Sendable {
    public static let defaultPort: UInt16 = 9464
    static let maxConnections = 16
    static let maxHead = 8 * 1024
    static let requestTimeout: Duration = .seconds(5)

    private let listener: Listener
    private let wake: WakeEvent
    private let stopping = Locked(false)
    private let started = Locked(false)
    /// Set by `start`.
    private let render = Locked<(@Sendable (inout [UInt8]) -> Void)?>(nil)
    private let logger: Logger
    private let scrapes = Locked(0)
    private let done = DispatchSemaphore(value: 0)

    /// The URL Prometheus scrapes.
    public var url: String { "http://" + listener.url.dropFirst("tcp://".count) + "/metrics" }
    /// Requests for /metrics answered so far.
    public var scrapeCount: Int { scrapes.withLock { $0 } }

    /// Opens the listener (HOST:PORT; the same loopback rule as `serve --listen`).
    public init(listen address: ListenAddress, allowRemote: Bool, logger: Logger) throws(ServeError) {
        if case .unix = address {
            throw .usage("--metrics takes HOST:PORT (Prometheus scrapes over TCP), got \(address)")
        }
        do {
            listener = try Listener.open(address, allowRemote: allowRemote)
        } catch where error.remedy == .allowRemote {
            throw ServeError(kind: .usage, description: "refusing to serve metrics on \(address): not a loopback address, "
                             + "so anyone who can reach this host could read them", remedy: .allowRemote)
        }
        do {
            wake = try WakeEvent()
        } catch {
            close(listener.fd)
            throw .system("eventfd", error.rawValue)
        }
        self.logger = logger
    }

    /// Serves on a thread of its own until `stop()`: each scrape's body is
    /// what `render` appends to the buffer it is given.
    public func start(render: @escaping @Sendable (inout [UInt8]) -> Void) {
        self.render.withLock { $0 = render }
        started.withLock { $0 = true }
        startThread(name: "radio-metrics") { [self] in
            serve()
            done.signal()
        }
    }

    /// Stops serving and closes the listener; waits for the thread.
    public func stop() {
        stopping.withLock { $0 = true }
        wake.signal()
        if started.withLock({ $0 }) { done.wait() }
        close(listener.fd)
        wake.close()
    }

    private struct Connection {
        let fd: Int32
        let deadline: ContinuousClock.Instant
        var head: [UInt8] = []
        var answer: [UInt8] = []
        var sent = 0
        var answered: Bool { !answer.isEmpty }
    }

    private func serve() {
        var connections: [Connection] = []
        var fds: [pollfd] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer {
            buffer.deallocate()
            for c in connections { close(c.fd) }
        }
        while !stopping.withLock({ $0 }) {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wake.descriptor.rawValue, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0))
            for c in connections {
                fds.append(pollfd(fd: c.fd, events: c.answered ? Int16(POLLOUT) : Int16(POLLIN), revents: 0))
            }
            var ts = timespec(tv_sec: 0, tv_nsec: 250_000_000)
            if radio_ppoll(&fds, UInt(fds.count), &ts) < 0 && errno != EINTR {
                logger.error("metrics: poll failed: \(String(cString: strerror(errno))); no more scrapes")
                return
            }
            if fds[0].revents != 0 { wake.drain() }
            var keep: [Connection] = []
            let now = ContinuousClock.now
            for (i, var c) in connections.enumerated() {
                let revents = fds[2 + i].revents
                var open = now < c.deadline
                if open && revents != 0 {
                    open = c.answered ? send(&c) : receive(&c, buffer: buffer)
                }
                if open { keep.append(c) } else { close(c.fd) }
            }
            connections = keep
            if fds[1].revents & Int16(POLLIN) != 0 { accept(into: &connections) }
        }
    }

    private func accept(into connections: inout [Connection]) {
        // A few per turn: the listener stays readable for the rest.
        for _ in 0..<8 {
            // Sends and receives pass MSG_DONTWAIT: no O_NONBLOCK needed.
            let fd = Glibc.accept(listener.fd, nil, nil)
            guard fd >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var c = Connection(fd: fd, deadline: .now + MetricsServer.requestTimeout)
            if connections.count >= MetricsServer.maxConnections {
                c.answer = MetricsServer.response(503, "Service Unavailable", "too many connections\n")
                _ = send(&c)
                close(fd)
                continue
            }
            connections.append(c)
        }
    }

    /// Reads the request head; answers once it is complete. False: close.
    private func receive(_ c: inout Connection, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        switch try? StreamSocket.receive(FileDescriptor(rawValue: c.fd), into: buffer) {
        case .bytes(let n)?:
            c.head.append(contentsOf: buffer[0..<n])
        case .wouldBlock?:
            return true
        case .endOfFile?, nil:
            return false
        }
        let end = MetricsServer.headEnd(c.head)
        if (end ?? c.head.count) > MetricsServer.maxHead {
            c.answer = MetricsServer.response(431, "Request Header Fields Too Large", "request head over 8 KiB\n")
            return send(&c)
        }
        guard let end else { return true }
        c.answer = answer(to: Array(c.head[..<end]))
        return send(&c)
    }

    /// Sends what the socket takes. False: done (or failed), close.
    private func send(_ c: inout Connection) -> Bool {
        let n = c.answer.withUnsafeBytes { all in
            (try? StreamSocket.sendAvailable(FileDescriptor(rawValue: c.fd), UnsafeRawBufferPointer(rebasing: all[c.sent...]))) ?? -1
        }
        if n < 0 { return false }
        c.sent += n
        return c.sent < c.answer.count
    }

    /// The end of the head (its blank line), if it has come.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for i in 1..<bytes.count where bytes[i] == 0x0A {
            if bytes[i - 1] == 0x0A { return i + 1 }
            if i >= 3, bytes[i - 1] == 0x0D, bytes[i - 2] == 0x0A { return i + 1 }
        }
        return nil
    }

    func answer(to head: [UInt8]) -> [UInt8] {
        let line = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)) else {
            return MetricsServer.response(400, "Bad Request", "expected: GET /metrics HTTP/1.1\n")
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        var target = String(decoding: parts[1], as: UTF8.self)
        if let q = target.firstIndex(of: "?") { target = String(target[..<q]) }
        guard method == "GET" || method == "HEAD" else {
            return MetricsServer.response(405, "Method Not Allowed", "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
        }
        switch target {
        case "/metrics":
            var body: [UInt8] = []
            body.reserveCapacity(16 * 1024)
            if let render = render.withLock({ $0 }) { render(&body) }
            scrapes.withLock { $0 += 1 }
            return MetricsServer.response(200, "OK", body, type: "text/plain; version=0.0.4; charset=utf-8", head: method == "HEAD")
        case "/":
            return MetricsServer.response(200, "OK", "radio-cli serve: metrics at /metrics\n", head: method == "HEAD")
        default:
            return MetricsServer.response(404, "Not Found", "no such page; metrics are at /metrics\n")
        }
    }

    static func response(_ code: Int, _ reason: String, _ body: String, extra: String = "", head: Bool = false) -> [UInt8] {
        response(code, reason, Array(body.utf8), type: "text/plain; charset=utf-8", extra: extra, head: head)
    }

    static func response(_ code: Int, _ reason: String, _ body: [UInt8], type: String, extra: String = "",
                         head: Bool = false) -> [UInt8] {
        var out = Array("""
            HTTP/1.1 \(code) \(reason)\r
            Content-Type: \(type)\r
            Content-Length: \(body.count)\r
            Connection: close\r
            \(extra)\r

            """.utf8)
        if !head { out += body }
        return out
    }
}
