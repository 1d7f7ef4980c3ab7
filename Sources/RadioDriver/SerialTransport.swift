#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import Locking
import SystemPackage

/// Line settings for a serial port.
public struct SerialSettings: Sendable, Hashable {
    public var baud: Int = 115_200
    /// RTS/CTS hardware flow control.
    public var hardwareFlowControl = false
    public init(baud: Int = 115_200, hardwareFlowControl: Bool = false) {
        self.baud = baud
        self.hardwareFlowControl = hardwareFlowControl
    }
}

/// The termios transport: any tty path, `/dev/ttyUSB0` or `/dev/pts/5`.
///
/// Open takes the port exclusively (`flock`, then `TIOCEXCL`), sets raw
/// 8N1 at the chosen rate, and flushes whatever was queued before it.
public final class SerialTransport: RadioTransport {
    public let name: String
    public let port: SerialPort
    private let wake: (read: FileDescriptor, write: FileDescriptor)
    /// Held for a whole frame so frames from concurrent callers never
    /// interleave; the state counts the bytes written.
    private let writer = Locked<Int>(0)

    /// Bytes written to the port since it opened.
    public var bytesWritten: Int { writer.withLock { $0 } }

    public init(path: String, settings: SerialSettings = SerialSettings()) throws(RadioError) {
        name = path
        let port: SerialPort
        do {
            port = try SerialPort.open(path)
        } catch {
            throw SerialTransport.openError(error, path: path)
        }
        do {
            try port.lockExclusively()
        } catch {
            try? port.close()
            throw error == .wouldBlock ? .busy(path) : .system("flock \(path)", error)
        }
        do {
            _ = try port.attributes()
        } catch {
            try? port.close()
            throw error == .inappropriateIOCTLForDevice ? .notATerminal(path) : .system("tcgetattr \(path)", error)
        }
        do {
            try port.setExclusive(true)
            try port.configure(baud: settings.baud, hardwareFlowControl: settings.hardwareFlowControl)
            try port.flush(.both)
        } catch {
            try? port.setExclusive(false)
            try? port.close()
            if error == .invalidArgument { throw .unsupportedBaudRate(settings.baud, path) }
            throw .system("configuring \(path)", error)
        }
        let pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do {
            pipe = try FileDescriptor.pipe(options: [.closeOnExec, .nonBlocking])
        } catch {
            try? port.setExclusive(false)
            try? port.close()
            throw .system("pipe", error)
        }
        self.port = port
        wake = (pipe.readEnd, pipe.writeEnd)
    }

    static func openError(_ error: Errno, path: String) -> RadioError {
        switch error {
        case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .notDirectory: .notFound(path)
        case .permissionDenied, .notPermitted: .permissionDenied(path)
        case .resourceBusy: .busy(path)
        case .isDirectory: .notATerminal(path)
        default: .system("open \(path)", error)
        }
    }

    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError) {
        let fd = port.descriptor.rawValue
        let name = self.name
        try writer.withLock { written throws(RadioError) in
            var offset = 0
            defer { written += offset }
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n > 0 { offset += n; continue }
                let e = errno
                if n < 0 && e == EINTR { continue }
                if n < 0 && e != EAGAIN { throw SerialTransport.ioError(e, name: name) }
                // Output queue full (flow control held, or a slow line):
                // wait for room until the deadline.
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { throw .writeTimeout(name) }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ts = timespec(left)
                _ = radio_ppoll(&pfd, 1, &ts)
                if pfd.revents & Int16(POLLHUP | POLLERR) != 0 { throw .disconnected("\(name) hung up") }
            }
        }
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        var fds = [
            pollfd(fd: port.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.read.rawValue, events: Int16(POLLIN), revents: 0),
        ]
        var ts = timespec(max(timeout, .zero))
        if radio_ppoll(&fds, 2, &ts) < 0 && errno != EINTR {
            throw .system("poll \(name)", Errno(rawValue: errno))
        }
        if fds[1].revents != 0 { drainWake() }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        // In raw mode (VMIN = 0, VTIME = 0) a tty's read returns 0 both when
        // nothing is there and at hang-up; only poll tells the two apart.
        var pfd = pollfd(fd: port.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        var now = timespec(tv_sec: 0, tv_nsec: 0)
        if radio_ppoll(&pfd, 1, &now) <= 0 || pfd.revents == 0 { return 0 }
        let n = Glibc.read(port.descriptor.rawValue, buffer.baseAddress, buffer.count)
        if n > 0 { return n }
        if n == 0 { throw .disconnected("\(name) closed (EOF)") }
        let e = errno
        if e == EAGAIN || e == EINTR { return 0 }
        throw SerialTransport.ioError(e, name: name)
    }

    static func ioError(_ e: Int32, name: String) -> RadioError {
        switch e {
        case EIO, ENXIO, ENODEV, EPIPE, EBADF: .disconnected("\(name): \(Errno(rawValue: e).description)")
        default: .system("I/O on \(name)", Errno(rawValue: e))
        }
    }

    public func interrupt() {
        var one: UInt8 = 1
        _ = write(wake.write.rawValue, &one, 1)
    }

    /// Drops unsent output first: a close with bytes still queued behind
    /// held-off flow control would otherwise wait out the tty's 30 s
    /// `closing_wait`. Clears exclusive mode so the next open works even
    /// while another process (a simulator) keeps the tty open.
    public func close() {
        writer.withLock { _ in
            try? port.flush(.output)
            try? port.setExclusive(false)
            try? port.close()
        }
        try? wake.read.close()
        try? wake.write.close()
    }

    private func drainWake() {
        var sink = (0 as UInt64, 0 as UInt64)
        while withUnsafeMutableBytes(of: &sink, { Glibc.read(wake.read.rawValue, $0.baseAddress, $0.count) }) > 0 {}
    }
}

extension timespec {
    init(_ d: Duration) {
        let c = d.components
        self.init(tv_sec: Int(c.seconds), tv_nsec: Int(c.attoseconds / 1_000_000_000))
    }
}
