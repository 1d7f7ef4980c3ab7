#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem

/// Where the daemon listens: `HOST:PORT` (`127.0.0.1:7362`, `[::1]:7362`,
/// `localhost:0`) or a Unix socket (`unix:/run/radio.sock`, or any path
/// starting with `/` or `.`).
public enum ListenAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case unix(path: String)

    public static let defaultPort: UInt16 = 7362

    public init(parsing text: String) throws(ServeError) {
        if text.hasPrefix("unix:") {
            var path = Substring(text.dropFirst("unix:".count))
            if path.hasPrefix("//") { path = path.dropFirst(2) }
            guard !path.isEmpty else { throw .usage("--listen unix: needs a socket path, as in unix:/run/radio.sock") }
            self = .unix(path: String(path))
            return
        }
        if text.hasPrefix("/") || text.hasPrefix(".") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw .usage("--listen '\(text)' needs HOST:PORT (as in 127.0.0.1:\(ListenAddress.defaultPort)) or unix:PATH")
        }
        var host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else {
            throw .usage("--listen '\(text)': '\(portText)' is not a TCP port (0...65535; 0 picks a free one)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else {
            throw .usage("--listen '\(text)' needs a host before the port, as in 127.0.0.1:\(port)")
        }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// A failure of the daemon, with the sysexits status the CLI exits with.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let exitStatus: Int32

    public static func usage(_ m: String) -> ServeError { ServeError(description: m, exitStatus: 64) }
    public static func unavailable(_ m: String) -> ServeError { ServeError(description: m, exitStatus: 69) }
    public static func system(_ m: String, _ e: Int32) -> ServeError {
        ServeError(description: "\(m): \(String(cString: strerror(e)))", exitStatus: 71)
    }
    public static func permission(_ m: String) -> ServeError { ServeError(description: m, exitStatus: 77) }
}

/// A bound, listening socket.
struct Listener {
    let fd: Int32
    /// What clients pass as --port: tcp://127.0.0.1:7362, unix:///run/radio.sock.
    let url: String
    /// The socket file to remove at shutdown.
    let unixPath: String?

    static func open(_ address: ListenAddress, allowRemote: Bool) throws(ServeError) -> Listener {
        switch address {
        case .tcp(let host, let port): try openTCP(host: host, port: port, allowRemote: allowRemote, shown: address)
        case .unix(let path): try openUnix(path: path)
        }
    }

    /// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
    static func isLoopback(_ address: UnsafePointer<sockaddr>) -> Bool {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p -> Bool in
                let b = withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
                return b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF && b[12] == 127
            }
        default:
            return false
        }
    }

    /// "127.0.0.1:7362", "[::1]:7362".
    static func numeric(_ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        guard getnameinfo(address, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                          NI_NUMERICHOST | NI_NUMERICSERV) == 0 else { return "?" }
        let h = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let s = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }

    private static func openTCP(host: String, port: UInt16, allowRemote: Bool,
                                shown: ListenAddress) throws(ServeError) -> Listener {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .usage("--listen \(shown): cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        // Every address the name stands for must be loopback: a name that
        // resolves to a LAN address would put the radio on the network.
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry, !allowRemote {
            entry = a.pointee.ai_next
            guard let sa = a.pointee.ai_addr else { continue }
            if !isLoopback(sa) {
                throw .usage("refusing to listen on \(shown) (\(numeric(sa, a.pointee.ai_addrlen))): not a loopback "
                    + "address, so anyone who can reach this host could drive the radio; add --allow-remote to mean it")
            }
        }
        guard let sa = first.pointee.ai_addr else { throw .usage("--listen \(shown): no address") }
        let fd = socket(first.pointee.ai_family,
                        first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, sa, first.pointee.ai_addrlen) == 0, listen(fd, 64) == 0 else {
            let e = errno
            Glibc.close(fd)
            switch e {
            case EADDRINUSE: throw .unavailable("cannot listen on \(shown): the address is in use (another daemon?)")
            case EACCES: throw .permission("cannot listen on \(shown): permission denied (ports below 1024 need root)")
            case EADDRNOTAVAIL: throw .usage("cannot listen on \(shown): no such address on this host")
            default: throw .system("cannot listen on \(shown)", e)
            }
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let name = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> String in
                getsockname(fd, p, &length) == 0 ? numeric(p, length) : shown.description
            }
        }
        return Listener(fd: fd, url: "tcp://\(name)", unixPath: nil)
    }

    private static func openUnix(path: String) throws(ServeError) -> Listener {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw .usage("cannot listen on unix:\(path): the file exists and is not a socket (not removing it)")
            }
            // A socket file: live if a daemon answers on it, else stale.
            let probe = radio_unix_connect(path)
            if probe >= 0 {
                Glibc.close(probe)
                throw .unavailable("cannot listen on unix:\(path): another daemon is serving it")
            }
            unlink(path)
        }
        let fd = radio_unix_listen(path, 64)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENAMETOOLONG: throw .usage("unix socket path too long (at most 107 bytes): \(path)")
            case EACCES, EPERM: throw .permission("cannot create unix:\(path): permission denied")
            case ENOENT: throw .usage("cannot create unix:\(path): no such directory")
            default: throw .system("cannot listen on unix:\(path)", e)
            }
        }
        // Clients need an absolute path (unix:///…), whatever the cwd.
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                absolute = (cwd.hasSuffix("/") ? cwd : cwd + "/") + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
            }
        }
        return Listener(fd: fd, url: "unix://\(absolute)", unixPath: path)
    }
}
