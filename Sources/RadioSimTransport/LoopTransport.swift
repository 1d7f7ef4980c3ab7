import Dispatch
import RadioIO
public import RadioDriver
import RadioProtocol
public import RadioSimulator
import Locking

/// `loop://`: the simulator in this process, reached through memory with no
/// kernel in the path. The benchmarks' in-memory reference transport.
///
/// `send` runs the simulator inline on the caller's thread and queues its
/// answer for the reader; a small thread adds telemetry on schedule.
public final class LoopTransport: RadioTransport {
    public let name: String
    private let shared: Shared

    private struct State {
        var engine: SimulatorEngine
        var inbound: [UInt8] = []
        var closed = false
    }

    /// What the caller's threads and the telemetry thread share.
    private final class Shared: Sendable {
        let state: Locked<State>
        let readable = DispatchSemaphore(value: 0)
        let stopTelemetry = DispatchSemaphore(value: 0)
        let telemetryDone = DispatchSemaphore(value: 0)
        init(_ state: State) { self.state = Locked(state) }
    }

    /// Like a UART with nobody listening, bytes past this are dropped.
    private static let inboundLimit = 64 * 1024

    public init(configuration: SimulatorConfiguration, name: String = "loop://") {
        self.name = name
        let shared = Shared(State(engine: SimulatorEngine(configuration: configuration)))
        self.shared = shared
        startThread(name: "loop-telemetry") {
            LoopTransport.runTelemetry(shared)
            shared.telemetryDone.signal()
        }
    }

    private static func runTelemetry(_ shared: Shared) {
        let clock = ContinuousClock()
        let start = clock.now
        var next = start
        while true {
            let interval = shared.state.withLock { $0.engine.telemetryInterval } ?? .milliseconds(100)
            next = max(next + interval, clock.now - interval)
            if shared.stopTelemetry.wait(timeout: dispatchTime(after: clock.now.duration(to: next))) == .success {
                return
            }
            let sent = shared.state.withLock { s -> Bool in
                guard s.engine.telemetryInterval != nil, s.inbound.count < inboundLimit else { return false }
                let uptime = UInt32(truncatingIfNeeded: Int64((clock.now - start) / .milliseconds(1)))
                s.engine.appendTelemetry(uptimeMillis: uptime, into: &s.inbound)
                return true
            }
            if sent { shared.readable.signal() }
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        let name = self.name
        try shared.state.withLock { s throws(RadioError) in
            guard !s.closed else { throw .disconnected("\(name) closed") }
            if s.inbound.count < LoopTransport.inboundLimit {
                s.engine.receive(bytes, into: &s.inbound)
            }
        }
        // No wake-up for the reader: the caller reads the reply itself
        // (`answersInline`), and telemetry wakes the reader on its own.
    }

    public func waitForInput(timeout: Duration) throws(RadioError) {
        let ready = shared.state.withLock { !$0.inbound.isEmpty || $0.closed }
        if !ready { _ = shared.readable.wait(timeout: dispatchTime(after: timeout)) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        let name = self.name
        return try shared.state.withLock { s throws(RadioError) -> Int in
            if s.inbound.isEmpty {
                if s.closed { throw .disconnected("\(name) closed") }
                return 0
            }
            let n = min(buffer.count, s.inbound.count)
            s.inbound.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            s.inbound.removeFirst(n)
            return n
        }
    }

    /// The simulator answers inside `send`.
    public var answersInline: Bool { true }

    public func interrupt() { shared.readable.signal() }

    public func close() {
        shared.state.withLock { $0.closed = true }
        shared.stopTelemetry.signal()
        shared.telemetryDone.wait()
        shared.readable.signal()
    }

    /// The simulated radio's state, for tests that check what it applied.
    public var radio: SimulatedRadio { shared.state.withLock { $0.engine.radio } }
}


/// A radio this process serves behind a pty (the simulator, or the firmware
/// in QEMU), reached through the same termios code as hardware; closing the
/// transport stops the radio.
public final class PtyRadioTransport<Radio: PtyServedRadio>: RadioTransport {
    public let radio: Radio
    private let serial: SerialTransport
    public let name: String
    public var device: String? { radio.slavePath }

    /// Opens the radio's pty; stops the radio if that fails.
    public init(_ radio: Radio, name: String, settings: SerialSettings) throws(RadioError) {
        self.radio = radio
        self.name = name
        do {
            serial = try SerialTransport(path: radio.slavePath, settings: settings)
        } catch {
            radio.stop()
            throw error
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError) {
        try serial.send(bytes, deadline: deadline())
    }
    public func waitForInput(timeout: Duration) throws(RadioError) {
        try serial.waitForInput(timeout: timeout)
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int {
        try serial.read(into: buffer)
    }
    public func interrupt() { serial.interrupt() }
    public func close() {
        serial.close()
        radio.stop()
    }
}

/// `sim`: the simulator in this process behind a real pty.
public typealias SimTransport = PtyRadioTransport<PtySimulator>

extension PtyRadioTransport where Radio == PtySimulator {
    public convenience init(configuration: SimulatorConfiguration, settings: SerialSettings) throws(RadioError) {
        let simulator: PtySimulator
        do {
            simulator = try PtySimulator(configuration: configuration)
        } catch {
            throw .system("starting the simulator", error)
        }
        try self.init(simulator, name: "sim (\(simulator.slavePath))", settings: settings)
    }

    public var simulator: PtySimulator { radio }
}
