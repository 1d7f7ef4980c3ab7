#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRadioSystem
import Dispatch
import Locking
import RadioIO
public import RadioProtocol
import Synchronization
public import SystemPackage

/// A pseudo-terminal pair from `posix_openpt`. The simulator serves on the
/// master; a driver opens the slave path as it would `/dev/ttyUSB0`.
public struct PseudoTerminal: Sendable {
    public let master: FileDescriptor
    /// The slave side, held open by the simulator so that the slave keeps its
    /// raw settings between clients and the master never reads EIO while no
    /// client is connected.
    public let slave: FileDescriptor
    public let slavePath: String

    /// Opens a pair and puts the slave in raw mode, so the line discipline
    /// neither echoes nor translates the simulator's bytes.
    /// The corresponding C functions are `posix_openpt`, `grantpt`,
    /// `unlockpt`, `ptsname_r` and `tcsetattr`.
    public static func open() throws(Errno) -> PseudoTerminal {
        let m = radio_posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard m >= 0 else { throw Errno(rawValue: errno) }
        let master = FileDescriptor(rawValue: m)
        do throws(Errno) {
            guard radio_grantpt(m) == 0, radio_unlockpt(m) == 0 else { throw Errno(rawValue: errno) }
            var name = [CChar](repeating: 0, count: 128)
            let rc = radio_ptsname_r(m, &name, name.count)
            guard rc == 0 else { throw Errno(rawValue: rc) }
            let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let s = radio_open_noctty(path)
            guard s >= 0 else { throw Errno(rawValue: errno) }
            let slave = FileDescriptor(rawValue: s)
            var tio = termios()
            var ok = tcgetattr(s, &tio) == 0
            if ok {
                cfmakeraw(&tio)
                let flags = fcntl(m, F_GETFL)
                ok = tcsetattr(s, TCSANOW, &tio) == 0 && flags >= 0 && fcntl(m, F_SETFL, flags | O_NONBLOCK) == 0
            }
            guard ok else {
                let e = Errno(rawValue: errno)
                try? slave.close()
                throw e
            }
            return PseudoTerminal(master: master, slave: slave, slavePath: path)
        } catch {
            try? master.close()
            throw error
        }
    }
}

/// Flags the API sets and the serving thread reads.
final class ServeControl: Sendable {
    let frozen = Atomic<Bool>(false)
    /// Set by `stop()` before it wakes the loop.
    let stopping = Atomic<Bool>(false)
    let telemetrySent = Atomic<Int>(0)
    let bytesDropped = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    /// The radio as of its last answer, for tests that check what it applied.
    let snapshot = Locked(RadioSnapshot())
}

/// What the simulated radio holds, as of the last bytes it handled.
public struct RadioSnapshot: Sendable, Hashable {
    public var power = Power(deciDBm: 0)
    public var channel: UInt16 = 0
    /// SetPower and SetChannel requests applied (each retry counts).
    public var appliedCommands = 0
    public var faults = FaultCounters()
    public init() {}
}

/// The simulated radio served on a pty by one thread: it reads requests from
/// the master, answers them, and sends telemetry on time.
public final class PtySimulator: Sendable {
    public let slavePath: String
    private let pty: PseudoTerminal
    private let wake: WakeEvent
    private let control = ServeControl()
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Opens a pty and starts serving on it.
    public init(configuration: SimulatorConfiguration) throws(Errno) {
        pty = try PseudoTerminal.open()
        slavePath = pty.slavePath
        do {
            wake = try WakeEvent()
        } catch {
            try? pty.master.close()
            try? pty.slave.close()
            throw error
        }
        let master = pty.master, wake = self.wake, control = self.control, finished = self.finished
        startThread(name: "radio-sim") {
            var loop = ServeLoop(configuration: configuration, master: master, wake: wake, control: control)
            loop.run()
            finished.signal()
        }
    }

    /// Stops answering without closing anything, like firmware that hangs or
    /// a process under SIGSTOP. Requests wait in the pty until `thaw()`.
    /// Telemetry samples made so far, whether or not the pty took them.
    public var telemetrySent: Int { control.telemetrySent.load(ordering: .relaxed) }

    /// The radio's state as of the last request it handled. Updated before
    /// the answer is written, so a client that has its reply sees it.
    public var snapshot: RadioSnapshot { control.snapshot.withLock { $0 } }

    /// Bytes the pty would not take (nobody reading), and so were lost.
    public var bytesDropped: Int { control.bytesDropped.load(ordering: .relaxed) }

    /// Bytes read from the host, whole frames or not: a sign of use.
    public var bytesReceived: Int { control.bytesReceived.load(ordering: .relaxed) }

    public func freeze() { control.frozen.store(true, ordering: .sequentiallyConsistent); poke() }
    public func thaw() { control.frozen.store(false, ordering: .sequentiallyConsistent); poke() }

    /// Stops the thread and closes the pty; a client then reads EOF/EIO, as
    /// when a USB adapter is pulled. Safe to call more than once.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        control.stopping.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        finished.wait()
        _ = try? pty.master.close()
        _ = try? pty.slave.close()
        wake.close()
    }

    deinit { stop() }

    private func poke() {
        guard !stopped.load(ordering: .sequentiallyConsistent) else { return }
        wake.signal()
    }
}

/// The serving thread's state; owned by that thread alone.
private struct ServeLoop {
    var engine: SimulatorEngine
    let master: FileDescriptor
    let wake: WakeEvent
    let control: ServeControl
    var output: [UInt8] = []
    /// What the engine produced this turn, before line pacing.
    var produced: [UInt8] = []
    var pacer: LinePacer?
    var readBuffer = [UInt8](repeating: 0, count: 4096)
    let clock = ContinuousClock()
    let start: ContinuousClock.Instant
    var nextTelemetry: ContinuousClock.Instant?
    /// Responses held back by the `delay`/`jitter` faults, by when they go.
    var delayed: [(due: ContinuousClock.Instant, bytes: [UInt8])] = []
    /// While set and in the future, a `stall` fault: the radio reads nothing.
    var stalledUntil: ContinuousClock.Instant?
    var fragmentRNG: SplitMix64

    init(configuration: SimulatorConfiguration, master: FileDescriptor, wake: WakeEvent, control: ServeControl) {
        engine = SimulatorEngine(configuration: configuration)
        self.master = master
        self.wake = wake
        self.control = control
        start = clock.now
        output.reserveCapacity(8192)
        fragmentRNG = SplitMix64(seed: configuration.seed ^ 0xF4A6_F4A6_F4A6_F4A6)
        let now = start
        pacer = configuration.baud.map { LinePacer(baud: $0, now: now) }
    }

    mutating func run() {
        takeSnapshot()
        scheduleTelemetry(from: start)
        let faults = engine.faults
        let hangupAt = faults.hangupAfter.map { start + $0 }
        while true {
            if let hangupAt, clock.now >= hangupAt {
                hangUp()
                return
            }
            let stalled = stalledUntil.map { clock.now < $0 } ?? false
            if !stalled { stalledUntil = nil }
            let frozen = control.frozen.load(ordering: .sequentiallyConsistent) || stalled
            // The earliest timed event, with no array made per turn.
            func earlier(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
                guard let a else { return b }
                guard let b else { return a }
                return min(a, b)
            }
            let next = earlier(earlier(earlier(nextTelemetry, pacer?.nextEvent), earlier(delayed.first?.due, stalledUntil)),
                               hangupAt)
            let timeout = next.flatMap { (!frozen || stalled) ? max(clock.now.duration(to: $0), .zero) : nil }
            let seen: PollEvents
            do {
                seen = try master.wait(for: frozen ? [] : .input, wake: wake, timeout: timeout)
            } catch {
                return
            }
            if control.stopping.load(ordering: .sequentiallyConsistent) { return }
            // Load again: a freeze() that returned before the host wrote must
            // hold even if poll started before it.
            if frozen || control.frozen.load(ordering: .sequentiallyConsistent) { continue }
            if seen.contains(.input) {
                let got: Int, port = master
                switch (try? readBuffer.withUnsafeMutableBytes { try port.readAvailable(into: $0) }) ?? .wouldBlock {
                case .bytes(let n): got = n
                case .wouldBlock, .endOfFile: got = 0
                }
                if got > 0 {
                    control.bytesReceived.add(got, ordering: .relaxed)
                    if pacer != nil {
                        let now = clock.now
                        pacer?.received(readBuffer[0..<got], now: now)
                    } else {
                        engine.receive(readBuffer[0..<got], into: &produced)
                    }
                    actOutFaults()
                    takeSnapshot()
                }
            }
            if pacer != nil {
                let now = clock.now
                for bytes in pacer?.arrived(by: now) ?? [] { engine.receive(bytes, into: &produced) }
                actOutFaults()
                takeSnapshot()
            }
            releaseDelayed()
            emitDueTelemetry()
            if pacer != nil {
                let now = clock.now
                if pacer?.transmit(produced, now: now) == false {
                    control.bytesDropped.add(produced.count, ordering: .relaxed)
                }
                pacer?.sent(by: now, into: &output)
            } else {
                output.append(contentsOf: produced)
            }
            produced.removeAll(keepingCapacity: true)
            flush()
        }
    }

    func takeSnapshot() {
        let radio = engine.radio, faults = engine.faultCounters
        control.snapshot.withLock { s in
            s.power = radio.power
            s.channel = radio.channel
            s.appliedCommands = radio.appliedCommands
            s.faults = faults
        }
    }

    /// After the engine answered: a `stall` fault stops reading for its
    /// time; `delay`/`jitter` hold the responses back until they are due.
    mutating func actOutFaults() {
        if engine.takeStall() { stalledUntil = clock.now + engine.faults.stallFor }
        let faults = engine.faults
        guard !produced.isEmpty, faults.delay > .zero || faults.jitter > .zero else { return }
        delayed.append((clock.now + engine.responseDelay(), produced))
        delayed.sort { $0.due < $1.due }
        produced.removeAll(keepingCapacity: true)
    }

    /// Moves the held-back responses that are due to the output.
    mutating func releaseDelayed() {
        let now = clock.now
        while let first = delayed.first, first.due <= now {
            produced.append(contentsOf: first.bytes)
            delayed.removeFirst()
        }
    }

    /// The `hangup` fault: the master side closes, as when the adapter is
    /// pulled, and the client reads EOF/EIO. The descriptor number stays
    /// taken (by /dev/null) until `stop()` closes it, so no other open can
    /// be handed the same number in between.
    func hangUp() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null >= 0 {
            _ = dup2(null, master.rawValue)
            _ = close(null)
        }
    }

    /// Sends every telemetry frame that is due. Telemetry keeps a fixed
    /// schedule; after a stall of more than a few frames it skips ahead
    /// rather than bursting what it missed.
    mutating func emitDueTelemetry() {
        guard let interval = engine.telemetryInterval else { nextTelemetry = nil; return }
        let now = clock.now
        guard var next = nextTelemetry else { nextTelemetry = now + interval; return }
        var sent = 0
        while next <= now && sent < 8 {
            let uptime = UInt32(truncatingIfNeeded: Int64((now - start) / .milliseconds(1)))
            engine.appendTelemetry(uptimeMillis: uptime, into: &produced)
            next += interval
            sent += 1
        }
        control.telemetrySent.add(sent, ordering: .relaxed)
        if next <= now { next = now + interval }
        // A SetTelemetryRate may have shortened the interval.
        nextTelemetry = min(next, now + interval)
    }

    mutating func scheduleTelemetry(from start: ContinuousClock.Instant) {
        nextTelemetry = engine.telemetryInterval.map { start + $0 }
    }

    /// Writes what the pty takes and drops the rest. A radio's UART sends
    /// whether or not anyone listens: when the host does not read and its
    /// buffers are full, bytes are lost (a truncated frame then fails its
    /// CRC), never held back to arrive stale later.
    mutating func flush() {
        var offset = 0
        let fd = master.rawValue
        let fragment = engine.faults.fragment
        while offset < output.count {
            // The `fragment` fault: one byte per write, or 1 to 7 at random,
            // as a USB-serial bridge hands over whatever it has.
            let most = fragment.map { 1 + Int(fragmentRNG.next() % UInt64($0)) } ?? Int.max
            let wrote = output.withUnsafeBytes { write(fd, $0.baseAddress! + offset, min($0.count - offset, most)) }
            if wrote > 0 {
                offset += wrote
            } else if wrote < 0 && errno == EINTR {
                continue
            } else {
                control.bytesDropped.add(output.count - offset, ordering: .relaxed)
                break
            }
        }
        output.removeAll(keepingCapacity: true)
    }

}
