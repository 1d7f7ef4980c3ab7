#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
public import RadioDriver
import RadioIO
package import SystemPackage

/// Where the daemon listens: `HOST:PORT` (`127.0.0.1:7362`, `[::1]:7362`,
/// `localhost:0`) or a Unix socket (`unix:/run/radio.sock`, or any path
/// starting with `/` or `.`).
public enum ListenAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(HostAndPort)
    case unix(path: String)

    public static let defaultPort: UInt16 = 7362

    /// Where `serve` listens when given no --listen: a Unix socket in the
    /// user's runtime directory ($XDG_RUNTIME_DIR/radio-cli/serve.sock), or
    /// /run/radio-cli/serve.sock for root without one, or
    /// /tmp/radio-cli-UID/serve.sock. Only this user (and the socket's
    /// group) can connect; TCP, which every local user can reach, is
    /// opt-in.
    public static func defaultSocket(environment: [String: String]) -> (directory: String, path: String) {
        let directory: String
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            directory = runtime + "/radio-cli"
        } else if getuid() == 0 {
            directory = "/run/radio-cli"
        } else {
            directory = "/tmp/radio-cli-\(getuid())"
        }
        return (directory, directory + "/serve.sock")
    }

    public init(parsing text: String) throws(ServeError) {
        if text.hasPrefix("unix:") {
            var path = Substring(text.dropFirst("unix:".count))
            if path.hasPrefix("//") { path = path.dropFirst(2) }
            guard !path.isEmpty else { throw .usage("unix: needs a socket path, as in unix:/run/radio.sock") }
            self = .unix(path: String(path))
            return
        }
        if text.hasPrefix("/") || text.hasPrefix(".") {
            self = .unix(path: text)
            return
        }
        do {
            self = .tcp(try HostAndPort(parsing: Substring(text)))
        } catch {
            switch error {
            case .noPort:
                throw .usage("'\(text)' needs HOST:PORT (as in 127.0.0.1:\(ListenAddress.defaultPort)) or unix:PATH")
            case .badPort(let p):
                throw .usage("'\(text)': '\(p)' is not a TCP port (0...65535; 0 picks a free one)")
            case .noHost:
                throw .usage("'\(text)' needs a host before the port, as in 127.0.0.1\(text)")
            }
        }
    }

    public var description: String {
        switch self {
        case .tcp(let a): a.description
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// A failure of the daemon. `kind` says what sort, so that a program can
/// map it to its own exit status; the description is one line.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Hashable {
        /// The address or options were wrong.
        case usage
        /// Something needed is not there (the address is in use, the radio is gone).
        case unavailable
        case permission
        /// The system refused (sockets, poll).
        case system
    }
    /// What the caller could change to get past this, where there is one.
    public enum Remedy: Sendable, Hashable {
        /// Allow non-loopback addresses (`Options.allowRemote`).
        case allowRemote
    }
    public let kind: Kind
    public let description: String
    public var remedy: Remedy? = nil

    public init(kind: Kind, description: String, remedy: Remedy? = nil) {
        self.kind = kind
        self.description = description
        self.remedy = remedy
    }

    public static func usage(_ m: String) -> ServeError { ServeError(kind: .usage, description: m) }
    public static func unavailable(_ m: String) -> ServeError { ServeError(kind: .unavailable, description: m) }
    public static func system(_ m: String, _ e: Int32) -> ServeError {
        ServeError(kind: .system, description: "\(m): \(String(cString: strerror(e)))")
    }
    public static func permission(_ m: String) -> ServeError { ServeError(kind: .permission, description: m) }
}

/// A bound, listening socket.
package struct Listener {
    package let socket: FileDescriptor
    /// What clients pass as --port: tcp://127.0.0.1:7362, unix:///run/radio.sock.
    package let url: String
    /// The socket file to remove at shutdown.
    package let unixPath: String?

    package var fd: Int32 { socket.rawValue }

    package static func open(_ address: ListenAddress, allowRemote: Bool) throws(ServeError) -> Listener {
        switch address {
        case .tcp(let a): try openTCP(a, allowRemote: allowRemote, shown: address)
        case .unix(let path): try openUnix(path: path)
        }
    }

    private static func openTCP(_ a: HostAndPort, allowRemote: Bool, shown: ListenAddress) throws(ServeError) -> Listener {
        let addresses: [SocketAddress]
        do {
            addresses = try SocketAddress.resolve(a.host, port: a.port, passive: true)
        } catch {
            throw .usage("cannot listen on \(shown): cannot resolve '\(a.host)': \(error.message)")
        }
        // Every address the name stands for must be loopback: a name that
        // resolves to a LAN address would put the radio on the network.
        if !allowRemote, let remote = addresses.first(where: { !$0.isLoopback }) {
            throw ServeError(kind: .usage, description: "refusing to listen on \(shown) (\(remote.numeric)): not a "
                + "loopback address, so anyone who can reach this host could drive the radio", remedy: .allowRemote)
        }
        guard let first = addresses.first else { throw .usage("cannot listen on \(shown): no address") }
        let fd = Glibc.socket(first.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                              | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard first.withSockaddr({ bind(fd, $0, $1) }) == 0, listen(fd, 64) == 0 else {
            let e = errno
            Glibc.close(fd)
            switch e {
            case EADDRINUSE: throw .unavailable("cannot listen on \(shown): the address is in use (another daemon?)")
            case EACCES: throw .permission("cannot listen on \(shown): permission denied (ports below 1024 need root)")
            case EADDRNOTAVAIL: throw .usage("cannot listen on \(shown): no such address on this host")
            default: throw .system("cannot listen on \(shown)", e)
            }
        }
        var bound = SocketAddress(family: first.family, length: socklen_t(MemoryLayout<sockaddr_storage>.size))
        let name = withUnsafeMutablePointer(to: &bound.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &bound.length) }
        } == 0 ? bound.numeric : shown.description
        return Listener(socket: FileDescriptor(rawValue: fd), url: "tcp://\(name)", unixPath: nil)
    }

    private static func openUnix(path: String) throws(ServeError) -> Listener {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw .usage("cannot listen on unix:\(path): the file exists and is not a socket (not removing it)")
            }
            // A socket file: live if a daemon accepts on it, else stale. The
            // probe gives up soon: a stopped daemon with a full backlog is
            // live, not a reason to hang.
            do {
                let probe = try StreamSocket.connect(unixPath: path, deadline: .now + .milliseconds(500))
                try? probe.close()
                throw ServeError.unavailable("cannot listen on unix:\(path): another daemon is serving it")
            } catch let error as ServeError {
                throw error
            } catch StreamSocket.ConnectError.timedOut {
                throw .unavailable("cannot listen on unix:\(path): a daemon holds it but is not accepting (stopped?)")
            } catch {
                unlink(path)
            }
        }
        let fd = radio_unix_listen(path, 64)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENAMETOOLONG: throw .usage("unix socket path too long (at most 107 bytes): \(path)")
            case EACCES, EPERM: throw .permission("cannot create unix:\(path): permission denied")
            case ENOENT:
                let slash = path.lastIndex(of: "/")
                let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
                throw .usage("cannot create unix:\(path): no directory \(directory) (create it for the group that "
                             + "should reach the radio, e.g. sudo install -d -m 2770 -g dialout \(directory); "
                             + "or leave out --listen for the default socket)")
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
        return Listener(socket: FileDescriptor(rawValue: fd), url: "unix://\(absolute)", unixPath: path)
    }
}
