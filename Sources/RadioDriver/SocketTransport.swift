import Locking
import RadioIO
import SystemPackage

/// RFC 2217 line settings to ask of the server.
public struct RFC2217Settings: Sendable, Hashable {
    public var baud: Int
    /// Whether to set flow control off (`control=off` leaves it alone).
    public var setControl: Bool
    public init(baud: Int, setControl: Bool = true) {
        self.baud = baud
        self.setControl = setControl
    }
}

/// A radio on another host, through a serial-port server such as ser2net,
/// or a sharing daemon on this one:
///
/// - `tcp://host:port`: raw TCP, the radio's bytes as they are (ser2net's
///   `tcp` accepter);
/// - `rfc2217://host:port`: telnet with RFC 2217's COM-PORT-OPTION, which
///   sets the server's line to 8N1 at the chosen rate and (unless
///   `control=off`) no flow control; data bytes 0xFF are escaped both ways;
/// - `unix:///path`: a Unix-domain socket (`radio-cli serve`).
///
/// The same client API, deadlines and reconnect behaviour as a local tty
/// (`opener` wraps it in a `ReconnectingTransport`).
public final class SocketTransport: RadioTransport {
    public let name: String
    private let socket: FileDescriptor
    private let wake: WakeEvent
    private let telnet: Locked<Telnet>?
    /// Held for a whole frame, so frames from concurrent callers never interleave.
    private let writer = Locked(())

    /// How long a connect may take.
    public static let connectTimeout: Duration = .seconds(3)

    /// The transport a scheme opens: reconnecting unless `reconnect` is off.
    static func opener(name: String, reconnect: Bool, timeout: Duration,
                       _ open: @escaping @Sendable (ContinuousClock.Instant) throws(RadioError) -> SocketTransport)
        throws(RadioError) -> any RadioTransport {
        if !reconnect { return try open(.now + timeout) }
        return try ReconnectingTransport(name: name, timeout: timeout) { (deadline) throws(RadioError) in try open(deadline) }
    }

    /// Connects over TCP; with `rfc2217`, speaks telnet and sets the line.
    public convenience init(tcp address: HostAndPort, rfc2217: RFC2217Settings?, name: String,
                            deadline: ContinuousClock.Instant = .now + SocketTransport.connectTimeout) throws(RadioError) {
        let fd: FileDescriptor
        do {
            fd = try StreamSocket.connect(host: address.host, port: address.port, deadline: deadline)
        } catch {
            throw SocketTransport.connectError(error, name: name, host: address.host, deadline: deadline)
        }
        try self.init(connected: fd, rfc2217: rfc2217, name: name)
    }

    /// A Unix-domain stream socket: a sharing daemon on this host
    /// (`radio-cli serve --listen unix:PATH`).
    public convenience init(unixPath path: String, name: String,
                            deadline: ContinuousClock.Instant = .now + SocketTransport.connectTimeout) throws(RadioError) {
        let fd: FileDescriptor
        do {
            fd = try StreamSocket.connect(unixPath: path, deadline: deadline)
        } catch {
            switch error {
            case .noSuchSocket: throw .notFound("\(name) (no such socket: is the daemon running?)")
            case .refused: throw .notFound("\(name) (connection refused: a stale socket, the daemon is gone)")
            case .pathTooLong: throw .invalidPort("socket path too long (at most 107 bytes): \(path)")
            case .notASocket: throw .notFound("\(name) (not a socket)")
            default: throw SocketTransport.connectError(error, name: name, host: nil, deadline: deadline)
            }
        }
        try self.init(connected: fd, rfc2217: nil, name: name)
    }

    static func connectError(_ error: StreamSocket.ConnectError, name: String, host: String?,
                             deadline: ContinuousClock.Instant) -> RadioError {
        switch error {
        case .resolve(let why): .notFound("\(name) (cannot resolve \(host ?? "?"): \(why))")
        case .refused: .notFound("\(name) (connection refused: is the server running?)")
        case .timedOut: .connectTimeout(name)
        case .permissionDenied: .permissionDenied(name)
        case .noSuchSocket, .notASocket, .pathTooLong: .notFound(name)
        case .failed(let e): .system("connecting to \(name)", e)
        }
    }

    /// Takes over a connected socket.
    private init(connected fd: FileDescriptor, rfc2217: RFC2217Settings?, name: String) throws(RadioError) {
        self.name = name
        socket = fd
        do {
            wake = try WakeEvent()
        } catch {
            try? fd.close()
            throw .system("eventfd", error)
        }
        if let rfc2217 {
            telnet = Locked(Telnet())
            let hello = Telnet.handshake(baud: rfc2217.baud, setControl: rfc2217.setControl)
            do {
                try withBytes(hello) { (b) throws(RadioError) in try writeAll(b, deadline: .now + SocketTransport.connectTimeout) }
            } catch {
                close()
                throw error
            }
        } else {
            telnet = nil
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        if telnet != nil {
            var escaped: [UInt8] = []
            escaped.reserveCapacity(bytes.count + 8)
            Telnet.escape(bytes, into: &escaped)
            try withBytes(escaped) { (b) throws(RadioError) in try writeAll(b, deadline: deadline()) }
        } else {
            try writeAll(bytes, deadline: deadline())
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        let name = self.name, socket = self.socket
        try writer.withLock { _ throws(RadioError) in
            do throws(FileDescriptor.WriteFailure) {
                try socket.writeAll(bytes, deadline: deadline(), socket: true)
            } catch {
                switch error {
                case .timedOut: throw .writeTimeout(name)
                case .hungUp: throw .disconnected("\(name) closed the connection")
                case .failed(let e): throw .disconnected("\(name): \(e.description)")
                }
            }
        }
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        do {
            _ = try socket.wait(for: .input, wake: wake, timeout: timeout)
        } catch {
            throw .system("poll \(name)", error)
        }
    }

    /// One receive per call, and at most a few when the bytes were all
    /// telnet: a server that streams telnet commands without end cannot
    /// keep the reader from its deadlines.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        for _ in 0..<4 {
            let result: FileDescriptor.ReadResult
            do {
                result = try StreamSocket.receive(socket, into: buffer)
            } catch {
                throw .disconnected("\(name): \(error.description)")
            }
            let n: Int
            switch result {
            case .bytes(let count): n = count
            case .wouldBlock: return 0
            case .endOfFile: throw .disconnected("\(name) closed the connection")
            }
            guard let telnet else { return n }
            var replies: [UInt8] = []
            let kept = telnet.withLock { $0.decode(buffer, count: n, replies: &replies) }
            // Answers to the server's negotiation are small; one that does
            // not fit the socket now is dropped rather than waited for.
            if !replies.isEmpty {
                try? withBytes(replies) { (b) throws(RadioError) in try writeAll(b, deadline: .now) }
            }
            if kept > 0 { return kept }
        }
        return 0
    }

    public func interrupt() { wake.signal() }

    public func close() {
        let socket = self.socket
        writer.withLock { _ in
            _ = shutdownBoth(socket)
            try? socket.close()
        }
        wake.close()
    }
}
