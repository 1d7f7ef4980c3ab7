import BenchSupport
import Benchmark
import Foundation
import RadioDriver
import RadioProtocol
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

/// Runs `scaledIterations` round trips of `request`, with any injected slowdown.
func roundTrips(_ factor: Double, _ radio: RadioClient, _ benchmark: Benchmark, _ request: @Sendable (Int) -> Request) async throws {
    for i in benchmark.scaledIterations {
        let t0 = ContinuousClock.now
        blackHole(try await radio.send(request(i)))
        if factor > 1 { spin((ContinuousClock.now - t0) * (factor - 1)) }
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

/// A radio opened in a benchmark's setup and closed in its teardown.
final class Fixture: Sendable {
    private let state = Mutex<(radio: RadioClient?, sim: SimProcess?)>((nil, nil))
    var radio: RadioClient? { state.withLock { $0.radio } }
    func open(_ radio: RadioClient, sim: SimProcess? = nil) { state.withLock { $0 = (radio, sim) } }
    func close() {
        let (radio, sim) = state.withLock { s in
            defer { s = (nil, nil) }
            return s
        }
        radio?.close()
        sim?.stop()
    }
}

let power: @Sendable (Int) -> Request = { i in Request.setPower(Power(deciDBm: i % 2 == 0 ? 100 : 200)) }
let channel: @Sendable (Int) -> Request = { i in Request.setChannel(i % 2 == 0 ? 1 : 2) }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = BenchSettings.configuration(scalingFactor: .one, warmupIterations: 3, maxIterations: 100_000)

    var quiet = SimulatorConfiguration()
    quiet.telemetryHz = 0

    for round in 1...BenchSettings.rounds {
        let tag = "#\(round)"
        for (command, request) in [("SetPower", power), ("SetChannel", channel), ("GetState", { @Sendable (_: Int) in Request.getState })] {
            // The radio is opened once per benchmark (setup), not per iteration.
            let loop = Fixture()
            Benchmark("\(command)/loopback\(tag)", configuration: .init(), closure: { benchmark in
                guard let radio = loop.radio else { return }
                // Matched outside the measured region: a regex per iteration
                // would itself be a slowdown.
                let factor = slowdownFactor(for: benchmark.name)
                benchmark.startMeasurement()
                try await roundTrips(factor, radio, benchmark, request)
                benchmark.stopMeasurement()
            }, setup: {
                loop.open(RadioClient(transport: LoopTransport(configuration: quiet)))
            }, teardown: { loop.close() })

            let pty = Fixture()
            Benchmark("\(command)/pty\(tag)", configuration: .init(), closure: { benchmark in
                guard let radio = pty.radio else {
                    benchmark.error("set RADIO_SIM to a built radio-sim (make bench-fast does)")
                    return
                }
                let factor = slowdownFactor(for: benchmark.name)
                benchmark.startMeasurement()
                try await roundTrips(factor, radio, benchmark, request)
                benchmark.stopMeasurement()
            }, setup: {
                guard let binary = ProcessInfo.processInfo.environment["RADIO_SIM"], let sim = SimProcess(binary) else { return }
                pty.open(try RadioClient(port: sim.path), sim: sim)
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
            for _ in benchmark.scaledIterations {
                out.removeAll(keepingCapacity: true)
                setPowerFrame.encode(into: &out)
                blackHole(out)
            }
        }

        Benchmark("Codec/DecodeFrame\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            let wire = stateReply.wireBytes
            var decoder = FrameDecoder()
            for _ in benchmark.scaledIterations {
                decoder.feed(wire) { blackHole($0) }
            }
        }

        Benchmark("Reference/CRC1K\(tag)", configuration: .init(scalingFactor: .kilo)) { benchmark in
            let block = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            for _ in benchmark.scaledIterations { blackHole(CRC16.checksum(block)) }
        }

        Benchmark("Reference/PtyFloor\(tag)") { benchmark in
            // The bare pty path: one thread echoes an 11-byte reply to each
            // 10-byte request, the other writes and reads with blocking calls.
            let pty = try PseudoTerminal.open()
            let master = pty.master.rawValue, slave = pty.slave.rawValue
            let flags = fcntl(master, F_GETFL)
            _ = fcntl(master, F_SETFL, flags & ~O_NONBLOCK)
            let echo = Thread {
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
            let request = [UInt8](repeating: 0xA5, count: 10)
            var buffer = [UInt8](repeating: 0, count: 64)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                _ = request.withUnsafeBytes { write(slave, $0.baseAddress, 10) }
                var got = 0
                while got < 11 {
                    let n = buffer.withUnsafeMutableBytes { read(slave, $0.baseAddress! + got, 11 - got) }
                    if n <= 0 { break }
                    got += n
                }
            }
            benchmark.stopMeasurement()
            try? pty.master.close()  // ends the echo thread
            try? pty.slave.close()
        }
    }
}
