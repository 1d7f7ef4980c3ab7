#if canImport(Glibc)
public import Glibc
#endif
public import CRadioSystem
public import SystemPackage

// The I/O primitives every transport, the daemon, the simulator and
// discovery share, in swift-system's style: thin methods on
// `FileDescriptor`, errors as `Errno`, EINTR retried here once for all.
// Policy (what a timeout means, reconnecting) stays with the callers.

/// An eventfd that wakes a `poll`: `signal()` from any thread or a signal
/// handler's queue, `drain()` by the thread that was woken.
public struct WakeEvent: Sendable {
    public let descriptor: FileDescriptor

    /// The corresponding C function is `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`.
    public init() throws(Errno) {
        let fd = radio_eventfd()
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        descriptor = FileDescriptor(rawValue: fd)
    }

    /// Makes the next (or current) wait return. Never blocks.
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(descriptor.rawValue, $0.baseAddress, 8) }
    }

    /// Clears the signal. The corresponding C call is `read` of 8 bytes.
    public func drain() {
        var count: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &count) { Glibc.read(descriptor.rawValue, $0.baseAddress, 8) }
    }

    public func close() { try? descriptor.close() }
}

/// What a poll saw on one descriptor.
public struct PollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    public static let input = PollEvents(rawValue: Int16(POLLIN))
    public static let output = PollEvents(rawValue: Int16(POLLOUT))
    public static let hangUp = PollEvents(rawValue: Int16(POLLHUP))
    public static let error = PollEvents(rawValue: Int16(POLLERR))
}

extension timespec {
    public init(_ d: Duration) {
        let c = max(d, .zero).components
        self.init(tv_sec: Int(c.seconds), tv_nsec: Int(c.attoseconds / 1_000_000_000))
    }
}

extension FileDescriptor {
    /// Waits until the descriptor has `events`, `wake` is signalled (then
    /// drained), or `timeout` passes (nil: no limit). Returns what the
    /// descriptor has, empty on timeout or wake. The corresponding C
    /// function is `ppoll`.
    public func wait(for events: PollEvents, wake: WakeEvent? = nil, timeout: Duration?) throws(Errno) -> PollEvents {
        var fds = (pollfd(fd: rawValue, events: events.rawValue, revents: 0),
                   pollfd(fd: wake?.descriptor.rawValue ?? -1, events: Int16(POLLIN), revents: 0))
        let count: UInt = wake == nil ? 1 : 2
        var ts = timeout.map { timespec($0) } ?? timespec()
        let rc = withUnsafeMutablePointer(to: &fds) {
            $0.withMemoryRebound(to: pollfd.self, capacity: 2) { p in
                timeout == nil ? radio_ppoll(p, count, nil) : radio_ppoll(p, count, &ts)
            }
        }
        if rc < 0 {
            if errno == EINTR { return [] }
            throw Errno(rawValue: errno)
        }
        if fds.1.revents != 0 { wake?.drain() }
        return PollEvents(rawValue: fds.0.revents)
    }

    /// What a non-blocking read found.
    public enum ReadResult: Equatable, Sendable {
        case bytes(Int)
        /// Nothing there now (EAGAIN).
        case wouldBlock
        /// The other end is gone (0 bytes: EOF, a hung-up tty).
        case endOfFile
    }

    /// One read of what is there, never waiting (the descriptor is
    /// O_NONBLOCK, or `MSG_DONTWAIT` for a socket). The corresponding C
    /// function is `read`.
    public func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> ReadResult {
        try FileDescriptor.retryingInterrupts { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Runs a read-like call until it is not interrupted, and says what it found.
    static func retryingInterrupts(_ call: () -> Int) throws(Errno) -> ReadResult {
        while true {
            let n = call()
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfFile }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case let e: throw Errno(rawValue: e)
            }
        }
    }

    /// Why `writeAll` stopped.
    public enum WriteFailure: Error, Equatable, Sendable {
        /// The descriptor did not take the bytes before the deadline.
        case timedOut(written: Int)
        /// The other end hung up.
        case hungUp
        case failed(Errno)
    }

    /// Writes all of `bytes` to a non-blocking descriptor, waiting for room
    /// no later than `deadline`. A socket is written with `send(MSG_NOSIGNAL)`,
    /// so a closed peer is an error, not a SIGPIPE. The corresponding C
    /// functions are `write`/`send` and `ppoll`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant,
                         socket: Bool = false) throws(WriteFailure) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        var limit: ContinuousClock.Instant?  // the deadline, read on the first wait only
        while offset < bytes.count {
            let n = socket ? Glibc.send(rawValue, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                           : Glibc.write(rawValue, base + offset, bytes.count - offset)
            if n > 0 { offset += n; continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && e != EAGAIN {
                throw [EPIPE, ECONNRESET, EIO, ENXIO, ENODEV].contains(e) ? .hungUp : .failed(Errno(rawValue: e))
            }
            // Full (flow control held, a slow line or reader): wait for room.
            if limit == nil { limit = deadline() }
            let left = ContinuousClock.now.duration(to: limit ?? .now)
            if left <= .zero { throw .timedOut(written: offset) }
            let seen: PollEvents
            do { seen = try wait(for: .output, timeout: left) } catch { throw .failed(error) }
            if !seen.isDisjoint(with: [.hangUp, .error]) { throw .hungUp }
        }
    }

}
