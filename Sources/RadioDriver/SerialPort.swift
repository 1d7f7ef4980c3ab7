#if canImport(Glibc)
public import Glibc
#endif
import CRadioSystem
public import SystemPackage

/// A tty opened for a serial link, with thin typed wrappers over the termios
/// and ioctl calls a driver needs. No policy lives here: retries, deadlines
/// and reconnects belong to the layers above.
public struct SerialPort: Sendable {
    public let descriptor: FileDescriptor

    public init(descriptor: FileDescriptor) { self.descriptor = descriptor }

    /// Opens `path` read-write with `O_NOCTTY | O_CLOEXEC | O_NONBLOCK`.
    ///
    /// `O_NONBLOCK` keeps the open itself from waiting for carrier detect on
    /// ports without `CLOCAL`, and lets reads and writes wait in `poll` with
    /// a timeout. The corresponding C function is `open`.
    public static func open(_ path: String) throws(Errno) -> SerialPort {
        do {
            let fd = try FileDescriptor.open(
                path, .readWrite, options: [FileDescriptor.OpenOptions(rawValue: O_NOCTTY), .closeOnExec, .nonBlocking])
            return SerialPort(descriptor: fd)
        } catch let e as Errno {
            throw e
        } catch {
            throw Errno.ioError
        }
    }

    /// Takes an advisory exclusive lock without waiting; a second process
    /// gets `EWOULDBLOCK`. The corresponding C call is `flock(LOCK_EX | LOCK_NB)`.
    public func lockExclusively() throws(Errno) {
        try check(flock(descriptor.rawValue, LOCK_EX | LOCK_NB))
    }

    /// Sets or clears exclusive mode: while set, further `open`s of the tty
    /// fail with `EBUSY` (except for root, which the `flock` still stops).
    /// The corresponding C calls are `ioctl(TIOCEXCL)` and `ioctl(TIOCNXCL)`.
    public func setExclusive(_ exclusive: Bool) throws(Errno) {
        try check(ioctl(descriptor.rawValue, UInt(exclusive ? TIOCEXCL : TIOCNXCL)))
    }

    /// The tty's attributes. The corresponding C function is `tcgetattr`;
    /// it fails with `ENOTTY` when the file is not a terminal.
    public func attributes() throws(Errno) -> termios {
        var tio = termios()
        try check(tcgetattr(descriptor.rawValue, &tio))
        return tio
    }

    /// Applies attributes now. The corresponding C function is `tcsetattr(TCSANOW)`.
    public func setAttributes(_ tio: termios) throws(Errno) {
        var tio = tio
        try check(tcsetattr(descriptor.rawValue, TCSANOW, &tio))
    }

    /// Which queue `flush` discards.
    public enum Queue: Sendable {
        case input, output, both
        var raw: Int32 {
            switch self {
            case .input: TCIFLUSH
            case .output: TCOFLUSH
            case .both: TCIOFLUSH
            }
        }
    }

    /// Discards bytes received but not read, or written but not sent.
    /// The corresponding C function is `tcflush`.
    public func flush(_ queue: Queue) throws(Errno) {
        try check(tcflush(descriptor.rawValue, queue.raw))
    }

    /// Puts the line in raw 8N1 mode at `baud`, with or without RTS/CTS:
    /// no echo, no signals, no CR/LF translation, reads return what is there
    /// (`VMIN = 1`, `VTIME = 0`: with `O_NONBLOCK` an empty port reads as
    /// EAGAIN and a hung-up one as EOF), and `CLOCAL` so modem lines do not matter.
    ///
    /// A standard rate goes through `cfsetispeed`/`cfsetospeed`; any other
    /// through termios2 with `BOTHER`, where the kernel driver supports it.
    public func configure(baud: Int, hardwareFlowControl: Bool) throws(Errno) {
        var tio = try attributes()
        cfmakeraw(&tio)
        tio.c_cflag &= ~tcflag_t(CSIZE | PARENB | CSTOPB)
        tio.c_cflag |= tcflag_t(CS8 | CLOCAL | CREAD)
        if hardwareFlowControl {
            tio.c_cflag |= tcflag_t(CRTSCTS)
        } else {
            tio.c_cflag &= ~tcflag_t(CRTSCTS)
        }
        tio.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        withUnsafeMutableBytes(of: &tio.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        let standard = SerialPort.standardSpeed(baud)
        if let speed = standard {
            try check(cfsetispeed(&tio, speed))
            try check(cfsetospeed(&tio, speed))
        }
        try setAttributes(tio)
        if standard == nil {
            guard baud > 0, baud <= Int(UInt32.max) else { throw Errno.invalidArgument }
            try check(radio_set_custom_baud(descriptor.rawValue, UInt32(baud)))
        }
    }

    /// The output speed the kernel reports (termios2), or nil where unknown.
    public func currentBaud() -> Int? {
        let b = radio_get_baud(descriptor.rawValue)
        return b < 0 ? nil : b
    }

    /// Closes the descriptor. The corresponding C function is `close`.
    public func close() throws(Errno) {
        do { try descriptor.close() } catch let e as Errno { throw e } catch { throw Errno.ioError }
    }

    /// The `speed_t` constant for a standard rate.
    public static func standardSpeed(_ baud: Int) -> speed_t? {
        switch baud {
        case 50: speed_t(B50)
        case 75: speed_t(B75)
        case 110: speed_t(B110)
        case 134: speed_t(B134)
        case 150: speed_t(B150)
        case 200: speed_t(B200)
        case 300: speed_t(B300)
        case 600: speed_t(B600)
        case 1200: speed_t(B1200)
        case 1800: speed_t(B1800)
        case 2400: speed_t(B2400)
        case 4800: speed_t(B4800)
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115200: speed_t(B115200)
        case 230400: speed_t(B230400)
        case 460800: speed_t(B460800)
        case 500000: speed_t(B500000)
        case 576000: speed_t(B576000)
        case 921600: speed_t(B921600)
        case 1000000: speed_t(B1000000)
        case 1152000: speed_t(B1152000)
        case 1500000: speed_t(B1500000)
        case 2000000: speed_t(B2000000)
        case 2500000: speed_t(B2500000)
        case 3000000: speed_t(B3000000)
        case 3500000: speed_t(B3500000)
        case 4000000: speed_t(B4000000)
        default: nil
        }
    }
}

@inline(__always)
func check(_ rc: Int32) throws(Errno) {
    if rc != 0 { throw Errno(rawValue: errno) }
}
