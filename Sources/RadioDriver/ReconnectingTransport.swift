import Dispatch
import Locking

/// A serial transport that outlives its port: when the tty goes away (EOF or
/// EIO: the adapter was unplugged, the simulator closed its pty) it reopens
/// the same radio as soon as it is back.
///
/// - A plain path is polled with backoff (50 ms doubling to 250 ms): the same
///   path is taken to be the same radio, as a `/dev/radio/<serial>` link is.
///   A failed open costs microseconds, so the wait never exceeds 250 ms.
/// - A `udev://?serial=` port (RadioDiscovery) re-resolves the serial
///   number, and passes an `arrivals` watch (a udev hotplug monitor) that
///   wakes the wait the moment a radio is added.
///
/// While the port is away, `send` fails at once with `.disconnected`; the
/// client fails the calls in flight and tells telemetry subscribers
/// (`TelemetryEvent.disconnected`), then carries on when the port is back.
public final class ReconnectingTransport: RadioTransport {
    public let name: String
    /// Opens the port, giving up on a connect at the deadline.
    public typealias Opener = @Sendable (ContinuousClock.Instant) throws(RadioError) -> any RadioTransport
    /// Starts watching for devices arriving; each element is one arrival.
    public typealias ArrivalWatch = @Sendable () -> AsyncStream<Void>?

    private let reopen: Opener
    private let arrivals: ArrivalWatch?

    private struct State {
        var current: (any RadioTransport)?
        var closed = false
        var nextAttempt: ContinuousClock.Instant = .now
        var backoff: Duration = ReconnectingTransport.firstBackoff
        var lastError: RadioError?
        var hotplug: Task<Void, Never>?
        var reconnects = 0
        /// Set once the radio's identity is known: a reopened port is used
        /// only if the radio on it answers Identify with this serial.
        var expectedSerial: String?
    }
    private let state: Locked<State>
    /// Wakes a wait while the port is away (interrupt, hotplug, close).
    private let wake = DispatchSemaphore(value: 0)

    static let firstBackoff: Duration = .milliseconds(50)
    static let maxBackoff: Duration = .milliseconds(250)
    /// A reopen runs on the reader thread: its connect may take this long.
    static let reopenTimeout: Duration = .milliseconds(250)

    /// Opens the port now (a connect gives up after `timeout`); `open`
    /// opens it again after it went away.
    public init(name: String, timeout: Duration = .seconds(3), arrivals: ArrivalWatch? = nil,
                open: @escaping Opener) throws(RadioError) {
        self.name = name
        reopen = open
        self.arrivals = arrivals
        state = Locked(State(current: try open(.now + timeout)))
    }

    /// The device of the port open now (nil while it is away).
    public var device: String? { state.withLock { $0.current?.device } }

    /// How many times the port has been reopened.
    public var reconnectCount: Int { state.withLock { $0.reconnects } }
    /// True while the port is away.
    public var isAway: Bool { state.withLock { $0.current == nil && !$0.closed } }

    /// Why the port is away (the last failed reopen, or the loss), while it is.
    public var awayReason: RadioError? { state.withLock { $0.current == nil && !$0.closed ? $0.lastError : nil } }

    /// From now on, a reopened port is taken only if the radio on it answers
    /// Identify with `serial`: a path such as /dev/ttyUSB0 or /dev/pts/3
    /// may be given to another device while this one is away, and a driver
    /// must not start driving that one. Until then (and with nil) the same
    /// path is taken to be the same radio.
    public func expectSerialNumber(_ serial: String?) {
        state.withLock { $0.expectedSerial = serial }
    }

    public var expectedSerialNumber: String? { state.withLock { $0.expectedSerial } }

    public var reconnects: Bool { true }

    public func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        guard let current = state.withLock({ $0.current }) else { throw awayError() }
        try current.send(bytes, deadline: deadline())
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        if let current = state.withLock({ $0.current }) {
            try current.waitForInput(timeout: timeout)
            return
        }
        // Away: try to reopen when due, else sleep until then (or a wake).
        let due = state.withLock { $0.closed ? nil : $0.nextAttempt }
        guard let due else { return }
        let now = ContinuousClock.now
        if due > now {
            _ = wake.wait(timeout: dispatchTime(after: min(timeout, now.duration(to: due))))
            if ContinuousClock.now < due, state.withLock({ $0.hotplug == nil || $0.closed }) { return }
        }
        attemptReopen()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        guard let current = state.withLock({ $0.current }) else { return 0 }
        do {
            return try current.read(into: buffer)
        } catch {
            if case .disconnected = error { portWentAway(current, error) }
            throw error
        }
    }

    public func interrupt() {
        // The semaphore only wakes a wait while the port is away; signalling
        // it on every interrupt while connected would bank wake-ups that a
        // later outage then spins through.
        if let current = state.withLock({ $0.current }) {
            current.interrupt()
        } else {
            wake.signal()
        }
    }

    public func close() {
        let (current, hotplug) = state.withLock { s in
            s.closed = true
            defer { s.current = nil; s.hotplug = nil }
            return (s.current, s.hotplug)
        }
        hotplug?.cancel()
        current?.close()
        wake.signal()
    }

    private func awayError() -> RadioError {
        let last = state.withLock { $0.lastError }
        if case .disconnected(let why) = last { return .disconnected("\(why); reconnecting") }
        return .disconnected("\(name) is away; reconnecting")
    }

    private func portWentAway(_ port: any RadioTransport, _ error: RadioError) {
        let watch = state.withLock { s -> Bool in
            guard s.current.map({ $0 as AnyObject === port as AnyObject }) ?? false else { return false }
            s.current = nil
            s.lastError = error
            s.backoff = ReconnectingTransport.firstBackoff
            s.nextAttempt = .now + s.backoff
            return arrivals != nil && s.hotplug == nil && !s.closed
        }
        port.close()
        if watch { startHotplugWatch() }
    }

    private func attemptReopen() {
        guard state.withLock({ !$0.closed && $0.current == nil }) else { return }
        do throws(RadioError) {
            let port = try reopen(.now + ReconnectingTransport.reopenTimeout)
            if let expected = state.withLock({ $0.expectedSerial }) {
                do throws(RadioError) {
                    let identity = try IdentityProbe.identify(port)
                    guard identity.serialNumber == expected else {
                        throw RadioError.disconnected("\(name) now leads to a different radio (serial "
                            + "\(identity.serialNumber), not \(expected)); not using it, waiting for \(expected)")
                    }
                } catch {
                    port.close()
                    throw error
                }
            }
            let keep = state.withLock { s -> Bool in
                guard !s.closed else { return false }
                s.current = port
                s.reconnects += 1
                s.hotplug?.cancel()
                s.hotplug = nil
                return true
            }
            if !keep { port.close() }
        } catch {
            state.withLock { s in
                if case .disconnected = error { s.lastError = error } else { s.lastError = .disconnected("\(name): \(error)") }
                s.nextAttempt = .now + s.backoff
                s.backoff = min(s.backoff * 2, ReconnectingTransport.maxBackoff)
            }
        }
    }

    /// Wakes the wait whenever a device arrives (the `arrivals` watch).
    private func startHotplugWatch() {
        guard let events = arrivals?() else { return }
        let wake = self.wake
        let task = Task {
            for await _ in events { wake.signal() }
        }
        let keep = state.withLock { s -> Bool in
            guard !s.closed, s.current == nil else { return false }
            s.hotplug = task
            return true
        }
        if !keep { task.cancel() }
    }
}
