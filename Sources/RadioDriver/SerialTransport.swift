#if canImport(Glibc)
import Glibc
#endif
import Locking
import RadioIO
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
    /// The tty opened, symlinks followed (/dev/radio/A1B2C3 → /dev/ttyUSB0).
    public var device: String? { PortUsers.resolved(name) }
    public let port: SerialPort
    private let wake: WakeEvent
    /// Held for a whole frame so frames from concurrent callers never
    /// interleave; the state counts the bytes written.
    private let writer = Locked<Int>(0)
    /// The line settings found at open, put back at close (`restoringSettings`).
    private let saved: termios?

    /// Bytes written to the port since it opened.
    public var bytesWritten: Int { writer.withLock { $0 } }

    /// With `restoringSettings`, the tty's termios as found at open is put
    /// back at close, so that a look at a port (a probe) leaves its line
    /// settings as they were.
    public init(path: String, settings: SerialSettings = SerialSettings(),
                restoringSettings: Bool = false) throws(RadioError) {
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
        let found: termios
        do {
            found = try port.attributes()
        } catch {
            try? port.close()
            // ENOTTY, or EINVAL from a character device that is no tty
            // (/dev/urandom): not a serial port either way.
            throw error == .inappropriateIOCTLForDevice || error == .invalidArgument
                ? .notATerminal(path) : .system("tcgetattr \(path)", error)
        }
        do {
            do {
                try port.setExclusive(true)
            } catch where SerialTransport.lacksExclusiveMode(error) {
                // A tty emulation without TIOCEXCL (umockdev's, which the
                // discovery tests run under) still has the flock above.
            }
            try port.configure(baud: settings.baud, hardwareFlowControl: settings.hardwareFlowControl)
            try port.flush(.both)
        } catch {
            try? port.setAttributes(found)
            try? port.setExclusive(false)
            try? port.close()
            if error == .invalidArgument { throw .unsupportedBaudRate(settings.baud, path) }
            throw .system("configuring \(path)", error)
        }
        do {
            wake = try WakeEvent()
        } catch {
            try? port.setAttributes(found)
            try? port.setExclusive(false)
            try? port.close()
            throw .system("eventfd", error)
        }
        self.port = port
        saved = restoringSettings ? found : nil
    }

    /// TIOCEXCL refused as unknown (ENOTTY, EINVAL), or failed without
    /// saying why (errno 0).
    static func lacksExclusiveMode(_ error: Errno) -> Bool {
        error == .inappropriateIOCTLForDevice || error == .invalidArgument || error.rawValue == 0
    }

    static func openError(_ error: Errno, path: String) -> RadioError {
        switch error {
        case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .notDirectory: .notFound(path)
        case .permissionDenied, .notPermitted: .permissionDenied(path)
        case .resourceBusy: .busy(path)
        case .isDirectory: .notATerminal(path)
        case .tooManySymbolicLinkLevels: .invalidPort("\(path) is a loop of symbolic links")
        case .fileNameTooLong: .invalidPort("the path is too long (\(path.utf8.count) bytes): \(path)")
        default: .system("open \(path)", error)
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        let name = self.name, port = self.port
        try writer.withLock { written throws(RadioError) in
            do throws(FileDescriptor.WriteFailure) {
                try port.descriptor.writeAll(bytes, deadline: deadline())
                written += bytes.count
            } catch {
                switch error {
                case .timedOut(let n): written += n; throw .writeTimeout(name)
                case .hungUp: throw .disconnected("\(name) hung up")
                case .failed(let e): throw SerialTransport.ioError(e.rawValue, name: name)
                }
            }
        }
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        do {
            _ = try port.descriptor.wait(for: .input, wake: wake, timeout: timeout)
        } catch {
            throw .system("poll \(name)", error)
        }
    }

    /// One read: the port is O_NONBLOCK with VMIN = 1, so an empty port
    /// says EAGAIN and a hung-up one says EOF (or EIO), with no poll needed
    /// to tell them apart.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        let result: FileDescriptor.ReadResult
        do {
            result = try port.descriptor.readAvailable(into: buffer)
        } catch {
            throw SerialTransport.ioError(error.rawValue, name: name)
        }
        switch result {
        case .bytes(let n): return n
        case .wouldBlock: return 0
        case .endOfFile: throw .disconnected("\(name) closed (EOF)")
        }
    }

    static func ioError(_ e: Int32, name: String) -> RadioError {
        switch e {
        case EIO, ENXIO, ENODEV, EPIPE, EBADF: .disconnected("\(name): \(Errno(rawValue: e).description)")
        default: .system("I/O on \(name)", Errno(rawValue: e))
        }
    }

    public func interrupt() { wake.signal() }

    /// Drops unsent output first: a close with bytes still queued behind
    /// held-off flow control would otherwise wait out the tty's 30 s
    /// `closing_wait`. Clears exclusive mode so the next open works even
    /// while another process (a simulator) keeps the tty open.
    public func close() {
        writer.withLock { _ in
            try? port.flush(.output)
            if let saved { try? port.setAttributes(saved) }
            try? port.setExclusive(false)
            try? port.close()
        }
        wake.close()
    }
}
