import BenchSupport
import Benchmark
import Foundation
import Locking
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Synchronization

// Round trips through every transport, the codec per frame, and two
// same-run references the regression gate normalises by:
//  - Reference/CRC1K: fixed CPU work, which tracks how fast this machine
//    runs CPU-bound code right now;
//  - Reference/PtyFloor: a bare request/reply over a pty between two
//    threads, which tracks what the kernel's tty path costs right now.
//
// The pty benchmarks talk to radio-sim in its own process (RADIO_SIM names
// the binary; `make bench-*` builds it). RADIO_BENCH_SLOWDOWN=<regex>:<factor>
// makes matching benchmarks that much slower by spinning inside the
// measured region; only the gate's own demonstration sets it.

let slowdown: (pattern: String, factor: Double)? = {
    guard let spec = ProcessInfo.processInfo.environment["RADIO_BENCH_SLOWDOWN"],
          let colon = spec.lastIndex(of: ":"), let factor = Double(spec[spec.index(after: colon)...]), factor >= 1
    else { return nil }
    return (String(spec[..<colon]), factor)
}()

func slowdownFactor(for name: String) -> Double {
    guard let s = slowdown, name.range(of: s.pattern, options: .regularExpression) != nil else { return 1 }
    return s.factor
}

/// Busy-waits `d`: the injected slowdown, inside the measured region.
@inline(never)
func spin(_ d: Duration) {
    let end = ContinuousClock.now + d
    while ContinuousClock.now < end {}
}

/// One sample of a gated round-trip benchmark: `scaledIterations` round trips
/// of `request`, measured, between two runs of `referenceCount` calls of its
/// reference, unmeasured. Records the round trip's time over the reference
/// call's as `relative`. On this shared VM the host's noise comes and goes
/// over tens to hundreds of milliseconds and can double a round trip's time;
/// a reference run a millisecond before and after sees the same noise, so
/// the ratio holds where the raw time does not.
func pairedSample(_ benchmark: Benchmark, factor: Double, radio: RadioClient,
                  request: @Sendable (Int) -> Request, referenceCount: Int,
                  reference: (Int) async throws -> Void) async throws {
    let clock = ContinuousClock()
    let r0 = clock.now
    for i in 0..<referenceCount { try await reference(i) }
    let r1 = clock.now
    benchmark.startMeasurement()
    let s0 = clock.now
    for i in benchmark.scaledIterations {
        let t0 = clock.now
        blackHole(try await radio.send(request(i)))
        if factor > 1 { spin((clock.now - t0) * (factor - 1)) }
    }
    let s1 = clock.now
    benchmark.stopMeasurement()
    let r2 = clock.now
    for i in 0..<referenceCount { try await reference(i) }
    let r3 = clock.now
    Paired.record(benchmark, bodyTime: s1 - s0, count: benchmark.scaledIterations.count,
                  referenceTime: (r1 - r0) + (r3 - r2), referenceCalls: 2 * referenceCount)
}

/// The pty round trips' reference: a second radio-sim process, sent the
/// same request frame with a bare blocking write and read until the reply's
/// delimiter, no driver in between. It crosses the same kernel path and the
/// same simulator code as the benchmark's round trip, so it sees the same
/// noise; the ratio is what the driver adds.
final class BareSim: Sendable {
    private let sim: SimProcess
    private let port: SerialPort
    private let request: [UInt8]

    init?(_ binary: String, request: Request) {
        guard let sim = SimProcess(binary) else { return nil }
        do {
            let port = try SerialPort.open(sim.path)
            try port.configure(baud: 115_200, hardwareFlowControl: false)
            var tio = try port.attributes()  // blocking reads that wait for a byte
            withUnsafeMutableBytes(of: &tio.c_cc) { $0[Int(VMIN)] = 1 }
            try port.setAttributes(tio)
            let fd = port.descriptor.rawValue
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            self.port = port
        } catch {
            sim.stop()
            return nil
        }
        self.sim = sim
        self.request = Message.request(request).frame(sequence: 1).wireBytes
    }

    /// One exchange; false when the pty failed.
    func roundTrip() -> Bool {
        let fd = port.descriptor.rawValue
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return false }
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buffer) { b in
            while true {
                let n = read(fd, b.baseAddress, b.count)
                if n <= 0 { return false }
                if b[n - 1] == 0 { return true }  // the frame delimiter; replies are under 64 bytes
            }
        }
    }

    func stop() {
        try? port.close()
        sim.stop()
    }
}

/// `n` round trips of `request`, each made `factor` times slower by spinning
/// (the gate demonstration's injected slowdown; 1 in normal runs).
func roundTrips(_ n: Int, factor: Double, radio: RadioClient, request: @Sendable (Int) -> Request) async throws {
    let clock = ContinuousClock()
    for i in 0..<n {
        let t0 = clock.now
        blackHole(try await radio.send(request(i)))
        if factor > 1 { spin((clock.now - t0) * (factor - 1)) }
    }
}

/// A bare request and reply over a pty between two threads of this process:
/// 10 bytes out, 11 back, blocking calls, no framing: Reference/PtyFloor.
final class PtyEcho: Sendable {
    private let pty: PseudoTerminal
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        pty = try PseudoTerminal.open()
        let master = pty.master.rawValue
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) & ~O_NONBLOCK)
        let slave = pty.slave.rawValue
        _ = fcntl(slave, F_SETFL, fcntl(slave, F_GETFL) & ~O_NONBLOCK)
        let done = self.done
        let echo = Thread {
            defer { done.signal() }
            var buffer = [UInt8](repeating: 0, count: 64)
            let reply = [UInt8](repeating: 0x5A, count: 11)
            while true {
                var got = 0
                while got < 10 {
                    let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress! + got, 10 - got) }
                    if n <= 0 { return }
                    got += n
                }
                if reply.withUnsafeBytes({ write(master, $0.baseAddress, 11) }) != 11 { return }
            }
        }
        echo.start()
    }

    /// One round trip; false when the pty failed.
    @discardableResult
    func roundTrip() -> Bool {
        let slave = pty.slave.rawValue
        let request: (UInt64, UInt16) = (0xA5A5_A5A5_A5A5_A5A5, 0xA5A5)
        let sent = withUnsafeBytes(of: request) { write(slave, $0.baseAddress, 10) }
        guard sent == 10 else { return false }
        var buffer: (UInt64, UInt64) = (0, 0)
        var got = 0
        while got < 11 {
            let n = withUnsafeMutableBytes(of: &buffer) { read(slave, $0.baseAddress! + got, 11 - got) }
            if n <= 0 { return false }
            got += n
        }
        return true
    }

    func close() {
        try? pty.slave.close()  // the echo thread's read fails and it ends
        done.wait()
        try? pty.master.close()
    }
}

/// radio-sim in its own process, on a pty.
final class SimProcess: Sendable {
    let process: Process
    let path: String

    init?(_ binary: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--telemetry-hz", "0"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let text = String(data: line, encoding: .utf8)?.split(separator: "\n").first else {
            process.terminate()
            return nil
        }
        self.process = process
        path = String(text)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// A radio (and, for a pty, its bare reference) opened in a benchmark's
/// setup and closed in its teardown.
final class Fixture: Sendable {
    private let state = Mutex<(radio: RadioClient?, sim: SimProcess?, bare: BareSim?)>((nil, nil, nil))
    var radio: RadioClient? { state.withLock { $0.radio } }
    var bare: BareSim? { state.withLock { $0.bare } }
    func open(_ radio: RadioClient, sim: SimProcess? = nil, bare: BareSim? = nil) {
        state.withLock { $0 = (radio, sim, bare) }
    }
    func close() {
        let (radio, sim, bare) = state.withLock { s in
            defer { s = (nil, nil, nil) }
            return s
        }
        radio?.close()
        sim?.stop()
        bare?.stop()
    }
}

/// The same-run reference for in-memory round trips: the same kinds of
/// work as one (an async call whose continuation is resumed before the task
/// suspends, three mutex sections, a table insert and remove, frame-sized
/// byte arrays made and dropped) and none of the driver's code. The host's
/// noise on this VM (cache and memory contention from other tenants) slows
/// both alike, which fixed CPU work such as CRC1K does not show.
final class ReferenceRoundTrip: Sendable {
    private let table = Locked<[UInt16: Int]>([:])
    private let queue = Locked<[UInt8]>([])

    @inline(never)
    func call(_ i: Int) async -> Int {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Int, Never>) in
            let key = UInt16(truncatingIfNeeded: i)
            table.withLock { $0[key] = i }
            var request: [UInt8] = []
            request.reserveCapacity(258)
            for b in 0..<12 { request.append(UInt8(truncatingIfNeeded: b &+ i)) }
            queue.withLock { $0.append(contentsOf: request) }
            let reply = queue.withLock { q in
                defer { q.removeAll(keepingCapacity: true) }
                return Array(q[2..<10])
            }
            let value = table.withLock { $0.removeValue(forKey: key) } ?? 0
            continuation.resume(returning: value &+ Int(reply[0]))
        }
    }
}

let power: @Sendable (Int) -> Request = { i in Request.setPower(Power(deciDBm: i % 2 == 0 ? 100 : 200)) }
let channel: @Sendable (Int) -> Request = { i in Request.setChannel(i % 2 == 0 ? 1 : 2) }

let benchmarks: @Sendable () -> Void = {
    BenchSettings.pinToConfiguredCPU()
    Benchmark.defaultConfiguration = BenchSettings.configuration(scalingFactor: .one, warmupIterations: 3, maxIterations: 100_000)

    let referenceRoundTrip = ReferenceRoundTrip()
    var quiet = SimulatorConfiguration()
    quiet.telemetryHz = 0

    for round in 1...BenchSettings.rounds {
        let tag = "#\(round)"
        for (command, request) in [("SetPower", power), ("SetChannel", channel), ("GetState", { @Sendable (_: Int) in Request.getState })] {
            // The radio is opened once per benchmark (setup), not per iteration.
            let loop = Fixture()
            Benchmark("\(command)/loopback\(tag)", configuration: .init(scalingFactor: .kilo),
                      closure: { benchmark in
                guard let radio = loop.radio else { return }
                // Matched outside the measured region: a regex per iteration
                // would itself be a slowdown.
                let factor = slowdownFactor(for: benchmark.name)
                var i = 0
                try await Paired.measure(benchmark, referenceCalls: 500, reference: {
                    i += 1
                    blackHole(await referenceRoundTrip.call(i))
                }) { n in
                    try await roundTrips(n, factor: factor, radio: radio, request: request)
                }
            }, setup: {
                loop.open(RadioClient(transport: LoopTransport(configuration: quiet)))
            }, teardown: { loop.close() })

            let pty = Fixture()
            Benchmark("\(command)/pty\(tag)", configuration: .init(), closure: { benchmark in
                guard let radio = pty.radio, let bare = pty.bare else {
                    benchmark.error("set RADIO_SIM to a built radio-sim (make bench-fast does)")
                    return
                }
                let factor = slowdownFactor(for: benchmark.name)
                try await pairedSample(benchmark, factor: factor, radio: radio, request: request,
                                       referenceCount: 2) { _ in
                    guard bare.roundTrip() else { throw RadioError.disconnected("reference pty failed") }
                }
            }, setup: {
                guard let binary = ProcessInfo.processInfo.environment["RADIO_SIM"], let sim = SimProcess(binary) else { return }
                guard let bare = BareSim(binary, request: request(0)) else {
                    sim.stop()
                    return
                }
                pty.open(try RadioClient(port: sim.path), sim: sim, bare: bare)
            }, teardown: { pty.close() })
        }

        let setPowerFrame = Message.request(.setPower(Power(deciDBm: 125))).frame(sequence: 0x0102)
        let stateReply = Message.response(.ok(.state(RadioState(
            power: Power(deciDBm: 125), channel: 42, mode: .receive, telemetryRate: 10,
            measurements: Measurements(rssiDeciDBm: -712, snrDeciDB: 438, temperatureDeciC: 412,
                                       supplyMillivolts: 13_790, forwardDeciDBm: 198, reflectedDeciDBm: -12))))).frame(sequence: 7)

        Benchmark("Codec/EncodeFrame\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            var out: [UInt8] = []
            out.reserveCapacity(Frame.maxWireSize)
            let reference = ReferenceWork()
            Paired.measure(benchmark, referenceCalls: 1000, reference: { blackHole(reference.call()) },
                   warmUp: { reference.warm() }) { n in
                for _ in 0..<n {
                    out.removeAll(keepingCapacity: true)
                    setPowerFrame.encode(into: &out)
                    blackHole(out)
                }
            }
        }

        Benchmark("Codec/DecodeFrame\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            let wire = stateReply.wireBytes
            var decoder = FrameDecoder()
            let reference = ReferenceWork()
            Paired.measure(benchmark, referenceCalls: 1000, reference: { blackHole(reference.call()) },
                   warmUp: { reference.warm() }) { n in
                for _ in 0..<n {
                    decoder.feed(wire) { blackHole($0) }
                }
            }
        }

        Benchmark("Reference/RoundTrip\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for i in benchmark.scaledIterations { blackHole(await referenceRoundTrip.call(i)) }
        }

        Benchmark("Reference/CRC1K\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            let block = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            for _ in benchmark.scaledIterations { blackHole(CRC16.checksum(block)) }
        }

        Benchmark("Reference/PtyFloor\(tag)") { benchmark in
            let echo = try PtyEcho()
            defer { echo.close() }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { echo.roundTrip() }
            benchmark.stopMeasurement()
        }
    }
}
