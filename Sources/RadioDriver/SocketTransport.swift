#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import Locking
import SystemPackage

/// A radio on another host, through a serial-port server such as ser2net:
///
/// - `tcp://host:port`: raw TCP, the radio's bytes as they are (ser2net's
///   `tcp` accepter);
/// - `rfc2217://host:port`: telnet with RFC 2217's COM-PORT-OPTION, which
///   sets the server's line to 8N1 at the chosen rate and (unless
///   `control=off`) no flow control; data bytes 0xFF are escaped both ways.
///
/// The same client API, deadlines and reconnect behaviour as a local tty
/// (`PortAddress` wraps it in a `ReconnectingTransport`).
public final class SocketTransport: RadioTransport {
    public let name: String
    private let fd: Int32
    private let wake: (read: Int32, write: Int32)
    private let telnet: Locked<Telnet>?
    /// Held for a whole frame, so frames from concurrent callers never interleave.
    private let writer = Locked<[UInt8]>([])

    /// How long a connect may take.
    public static let connectTimeout: Duration = .seconds(3)

    public convenience init(host: String, port: UInt16, rfc2217 baud: Int?, setControl: Bool = true,
                            name: String) throws(RadioError) {
        try self.init(connected: try SocketTransport.connect(host: host, port: port, name: name),
                      rfc2217: baud, setControl: setControl, name: name)
    }

    /// A Unix-domain stream socket: a sharing daemon on this host
    /// (`radio-cli serve --listen unix:PATH`).
    public convenience init(unixPath path: String, name: String) throws(RadioError) {
        let fd = radio_unix_connect(path)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENOENT: throw .notFound("\(name) (no such socket: is the daemon running?)")
            case ECONNREFUSED: throw .notFound("\(name) (connection refused: a stale socket, the daemon is gone)")
            case EACCES, EPERM: throw .permissionDenied(name)
            case ENAMETOOLONG: throw .invalidPort("socket path too long (at most 107 bytes): \(path)")
            case ENOTSOCK: throw .notFound("\(name) (not a socket)")
            default: throw .system("connecting to \(name)", Errno(rawValue: e))
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        try self.init(connected: fd, rfc2217: nil, setControl: false, name: name)
    }

    /// Takes over a connected socket.
    private init(connected fd: Int32, rfc2217 baud: Int?, setControl: Bool, name: String) throws(RadioError) {
        self.name = name
        self.fd = fd
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else {
            Glibc.close(fd)
            throw .system("pipe", Errno(rawValue: errno))
        }
        for p in pipe {
            _ = fcntl(p, F_SETFL, fcntl(p, F_GETFL) | O_NONBLOCK)
            _ = fcntl(p, F_SETFD, FD_CLOEXEC)
        }
        wake = (pipe[0], pipe[1])
        if let baud {
            telnet = Locked(Telnet())
            let hello = Telnet.handshake(baud: baud, setControl: setControl)
            do {
                try writeAll(hello, deadline: .now + SocketTransport.connectTimeout)
            } catch {
                close()
                throw error
            }
        } else {
            telnet = nil
        }
    }

    private static func connect(host: String, port: UInt16, name: String) throws(RadioError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .notFound("\(name) (cannot resolve \(host): \(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(list) }
        var lastErrno: Int32 = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                           a.pointee.ai_protocol)
            if s < 0 { lastErrno = errno; continue }
            var one: Int32 = 1
            _ = setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return s }
            if errno == EINPROGRESS {
                var pfd = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                var ts = timespec(SocketTransport.connectTimeout)
                if radio_ppoll(&pfd, 1, &ts) == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 { return s }
                    lastErrno = error
                } else {
                    lastErrno = ETIMEDOUT
                }
            } else {
                lastErrno = errno
            }
            Glibc.close(s)
        }
        switch lastErrno {
        case ECONNREFUSED: throw .notFound("\(name) (connection refused: is the server running?)")
        case ETIMEDOUT: throw .notFound("\(name) (no answer within \(SocketTransport.connectTimeout))")
        default: throw .system("connecting to \(name)", Errno(rawValue: lastErrno))
        }
    }

    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError) {
        if telnet != nil {
            var escaped: [UInt8] = []
            escaped.reserveCapacity(bytes.count + 8)
            Telnet.escape(bytes, into: &escaped)
            try writeAll(escaped, deadline: deadline)
        } else {
            try writeAll(bytes, deadline: deadline)
        }
    }

    private func writeAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError) {
        let fd = self.fd, name = self.name
        try writer.withLock { _ throws(RadioError) in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n > 0 { offset += n; continue }
                let e = errno
                if n < 0 && e == EINTR { continue }
                if n < 0 && e != EAGAIN { throw .disconnected("\(name): \(Errno(rawValue: e).description)") }
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { throw .writeTimeout(name) }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ts = timespec(left)
                _ = radio_ppoll(&pfd, 1, &ts)
            }
        }
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        var ts = timespec(max(timeout, .zero))
        if radio_ppoll(&fds, 2, &ts) < 0 && errno != EINTR {
            throw .system("poll \(name)", Errno(rawValue: errno))
        }
        if fds[1].revents != 0 {
            var sink = (0 as UInt64, 0 as UInt64)
            while withUnsafeMutableBytes(of: &sink, { Glibc.read(wake.read, $0.baseAddress, $0.count) }) > 0 {}
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { throw .disconnected("\(name) closed the connection") }
            if n < 0 {
                let e = errno
                if e == EAGAIN || e == EINTR { return 0 }
                throw .disconnected("\(name): \(Errno(rawValue: e).description)")
            }
            guard let telnet else { return n }
            var replies: [UInt8] = []
            let kept = telnet.withLock { $0.decode(buffer, count: n, replies: &replies) }
            if !replies.isEmpty { try writeAll(replies, deadline: .now + .seconds(1)) }
            // All telnet, no data: look again rather than report nothing
            // while bytes may still be waiting.
            if kept > 0 { return kept }
        }
    }

    public func interrupt() {
        var one: UInt8 = 1
        _ = Glibc.write(wake.write, &one, 1)
    }

    public func close() {
        writer.withLock { _ in
            _ = shutdown(fd, Int32(SHUT_RDWR))
            _ = Glibc.close(fd)
        }
        _ = Glibc.close(wake.read)
        _ = Glibc.close(wake.write)
    }
}
