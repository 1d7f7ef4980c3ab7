#if canImport(Glibc)
public import Glibc
#endif
import CRadioSystem
public import SystemPackage

/// One address a host name resolved to, ready for `socket`/`connect`/`bind`.
public struct SocketAddress: Sendable {
    public var family: Int32
    public var storage = sockaddr_storage()
    public var length: socklen_t

    public init(family: Int32, storage: sockaddr_storage = sockaddr_storage(), length: socklen_t) {
        self.family = family
        self.storage = storage
        self.length = length
    }

    /// Every address of `host`:`port` (`passive`: for bind). The
    /// corresponding C function is `getaddrinfo`; on failure, its message.
    public static func resolve(_ host: String, port: UInt16, passive: Bool = false) throws(ResolveError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        if passive { hints.ai_flags = AI_PASSIVE }
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { throw ResolveError(message: String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        var out: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            guard let sa = a.pointee.ai_addr else { continue }
            var address = SocketAddress(family: a.pointee.ai_family, length: a.pointee.ai_addrlen)
            withUnsafeMutableBytes(of: &address.storage) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(a.pointee.ai_addrlen)))
            }
            out.append(address)
        }
        return out
    }

    public struct ResolveError: Error, Sendable { public let message: String }

    /// Runs `body` with the address as a `sockaddr` pointer.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
    public var isLoopback: Bool {
        withUnsafeBytes(of: storage) { raw -> Bool in
            switch family {
            case AF_INET:
                let a = raw.load(fromByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!, as: in_addr.self)
                return UInt32(bigEndian: a.s_addr) >> 24 == 127
            case AF_INET6:
                let start = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
                let b = Array(raw[start..<start + 16])
                if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
                return b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF && b[12] == 127
            default:
                return false
            }
        }
    }

    /// "127.0.0.1:7362", "[::1]:7362". The corresponding C function is `getnameinfo`.
    public var numeric: String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let ok = withSockaddr { sa, len in
            getnameinfo(sa, len, &host, socklen_t(host.count), &service, socklen_t(service.count),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0
        }
        guard ok else { return "?" }
        let h = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let s = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }
}

/// Stream sockets on `FileDescriptor`, non-blocking and close-on-exec.
public enum StreamSocket {
    /// Why a connect failed.
    public enum ConnectError: Error, Equatable, Sendable {
        case resolve(String)
        case refused
        /// No connection by the deadline (a peer that does not accept, a
        /// full listen backlog).
        case timedOut
        case noSuchSocket
        case notASocket
        case permissionDenied
        case pathTooLong
        case failed(Errno)
    }

    /// Connects to the first address of `host` that answers, each attempt
    /// bounded by `deadline`, and sets TCP_NODELAY. The corresponding C
    /// functions are `socket`, `connect`, `ppoll` and `getsockopt(SO_ERROR)`.
    public static func connect(host: String, port: UInt16, deadline: ContinuousClock.Instant)
        throws(ConnectError) -> FileDescriptor {
        let addresses: [SocketAddress]
        do { addresses = try SocketAddress.resolve(host, port: port) } catch { throw .resolve(error.message) }
        var last = ConnectError.refused
        for address in addresses {
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                            | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd < 0 { last = .failed(Errno(rawValue: errno)); continue }
            let descriptor = FileDescriptor(rawValue: fd)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
            let e = errno
            do throws(ConnectError) {
                if rc == 0 { return descriptor }
                guard e == EINPROGRESS else { throw map(e) }
                try finish(descriptor, deadline: deadline)
                return descriptor
            } catch {
                try? descriptor.close()
                last = error
                if error == .timedOut { break }
            }
        }
        throw last
    }

    /// Connects to a Unix-domain socket, bounded by `deadline`: a full
    /// listen backlog (a stopped daemon) is retried every few milliseconds
    /// until then, not waited on in the kernel.
    public static func connect(unixPath path: String, deadline: ContinuousClock.Instant) throws(ConnectError) -> FileDescriptor {
        while true {
            var fd: Int32 = -1
            let rc = radio_unix_connect_start(path, &fd)
            let e = errno
            if rc == 0 { return FileDescriptor(rawValue: fd) }
            if fd >= 0 { Glibc.close(fd) }
            if e == ENAMETOOLONG { throw .pathTooLong }
            guard e == EAGAIN || e == EINPROGRESS else { throw map(e) }
            if ContinuousClock.now >= deadline { throw .timedOut }
            var pause = timespec(min(.milliseconds(5), ContinuousClock.now.duration(to: deadline)))
            _ = radio_ppoll(nil, 0, &pause)
        }
    }

    private static func finish(_ fd: FileDescriptor, deadline: ContinuousClock.Instant) throws(ConnectError) {
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero else { throw .timedOut }
        let seen: PollEvents
        do { seen = try fd.wait(for: .output, timeout: left) } catch { throw .failed(error) }
        guard !seen.isEmpty else { throw .timedOut }
        let e = radio_socket_error(fd.rawValue)
        if e != 0 { throw map(e) }
    }

    private static func map(_ e: Int32) -> ConnectError {
        switch e {
        case ECONNREFUSED: .refused
        case ENOENT: .noSuchSocket
        case ENOTSOCK: .notASocket
        case EACCES, EPERM: .permissionDenied
        case ETIMEDOUT: .timedOut
        default: .failed(Errno(rawValue: e))
        }
    }

    /// A receive that never waits. The corresponding C function is
    /// `recv(MSG_DONTWAIT)`; EINTR is retried.
    public static func receive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno)
        -> FileDescriptor.ReadResult {
        try FileDescriptor.retryingInterrupts { recv(fd.rawValue, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
    }
}

/// `shutdown(SHUT_RDWR)`: ends the connection both ways before the close.
public func shutdownBoth(_ fd: FileDescriptor) -> Bool { shutdown(fd.rawValue, Int32(SHUT_RDWR)) == 0 }

extension StreamSocket {
    /// Sends what the socket takes now, never waiting: the bytes taken,
    /// 0 when it is full (EAGAIN). A closed peer is an error, not SIGPIPE.
    /// The corresponding C function is `send(MSG_NOSIGNAL | MSG_DONTWAIT)`;
    /// EINTR is retried.
    public static func sendAvailable(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        guard bytes.count > 0 else { return 0 }
        while true {
            let n = send(fd.rawValue, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return 0
            case let e: throw Errno(rawValue: e)
            }
        }
    }
}
