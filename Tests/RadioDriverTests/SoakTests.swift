import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

/// Mixed commands through a real pty to a simulator acting out faults: 1 %
/// of bytes corrupted (both ways), 1 % of request frames and 1 % of
/// response frames dropped, every write fragmented at random (1–7 bytes). Every success is checked
/// against what the simulator holds at that moment.
///
/// `make test` runs 1,000 commands; `make soak` runs 100,000
/// (RADIO_SOAK_COMMANDS) and checks resident memory stays flat.
@Suite("Soak under faults", .serialized)
struct SoakTests {
    static let commands = Int(ProcessInfo.processInfo.environment["RADIO_SOAK_COMMANDS"] ?? "") ?? 1000
    static var full: Bool { commands >= 50_000 }
    static var deadlineScale: Int { Int(ProcessInfo.processInfo.environment["RADIO_DEADLINE_SCALE"] ?? "") ?? 1 }

    struct Tally: CustomStringConvertible {
        var ok = 0, timeouts = 0, noValidResponse = 0, otherErrors = 0, wrong = 0, hangs = 0
        var slowest: Duration = .zero
        var description: String {
            "\(ok) ok, \(timeouts) timeouts, \(noValidResponse) garbled, \(otherErrors) other errors, "
                + "\(wrong) wrong results, \(hangs) hangs, slowest call \(slowest)"
        }
    }

    static func residentKiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024 : 0
    }

    @Test("mixed commands under 1 % corruption, 1 % dropped frames and fragmentation: no wrong result, no hang")
    func soak() async throws {
        // On a thread of its own: this test times every call (see DedicatedExecutor).
        try await withTaskExecutorPreference(DedicatedExecutor.timing) { try await run() }
    }

    private func run() async throws {
        var config = SimulatorConfiguration()
        config.telemetryHz = 20
        config.seed = 7
        config.faults = try FaultConfiguration(parsing: "corrupt=0.01,drop-request=0.01,drop-response=0.01,fragment=random")
        let transport = try SimTransport(configuration: config, settings: SerialSettings())
        let sim = transport.simulator
        // 5 ms per attempt (a pty answers in well under 1 ms), 3 attempts:
        // a dropped frame costs one attempt, not a human-scale wait.
        let timeout = Duration.milliseconds(15)
        let client = RadioClient(transport: transport, options: .init(timeout: timeout, retries: 2))
        defer { client.close() }

        var rng = SystemRandomNumberGenerator()
        var tally = Tally()
        var baseline = 0
        let warmup = min(1000, Self.commands / 10)
        let started = ContinuousClock.now
        for i in 0..<Self.commands {
            if i == warmup { baseline = Self.residentKiB() }
            let callStart = ContinuousClock.now
            let verdict: Bool?  // true ok, false wrong, nil typed error
            do throws(RadioError) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0:
                    let p = Power(deciDBm: Int16.random(in: -100...300, using: &rng))
                    let applied = try await client.setPower(p)
                    verdict = applied == p && sim.snapshot.power == p
                case 1:
                    let c = UInt16.random(in: 1...1024, using: &rng)
                    let applied = try await client.setChannel(c)
                    verdict = applied == c && sim.snapshot.channel == c
                case 2:
                    let state = try await client.state()
                    let held = sim.snapshot
                    verdict = state.power == held.power && state.channel == held.channel
                case 3:
                    let payload = (0..<Int.random(in: 0...32, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    guard case .pong(let echo) = try await client.send(.ping(payload)) else { verdict = false; break }
                    verdict = echo == payload
                default:
                    verdict = try await client.identify().serialNumber == config.serialNumber
                }
            } catch {
                switch error {
                case .timeout: tally.timeouts += 1
                case .noValidResponse: tally.noValidResponse += 1
                default:
                    tally.otherErrors += 1
                    Issue.record("unexpected error under faults: \(error)")
                }
                verdict = nil
            }
            let took = ContinuousClock.now - callStart
            tally.slowest = max(tally.slowest, took)
            // A hang, not lateness: under `make tsan`, which sets
            // RADIO_DEADLINE_SCALE=4, whole-machine stalls of 5 s were seen.
            if took > timeout + .seconds(8) * Self.deadlineScale { tally.hangs += 1 }
            switch verdict {
            case true?: tally.ok += 1
            case false?: tally.wrong += 1
            case nil: break
            }
        }
        let growth = Self.residentKiB() - baseline
        let faults = sim.snapshot.faults
        let stats = client.statistics
        print("soak: \(Self.commands) commands in \(ContinuousClock.now - started): \(tally); "
              + "faults acted out: \(faults.corruptedBytes) bytes corrupted, \(faults.droppedRequests) requests and "
              + "\(faults.droppedResponses) responses dropped; client: \(stats.retries) retries, "
              + "\(stats.crcErrors) CRC errors, \(stats.framingErrors) resyncs, \(stats.unmatchedResponses) unmatched; "
              + "resident memory \(baseline) KiB after warm-up, growth \(growth) KiB")

        #expect(tally.wrong == 0)
        #expect(tally.hangs == 0)
        #expect(tally.otherErrors == 0)
        // The faults happened, and the driver rode them out.
        #expect(faults.corruptedBytes > 0 && faults.droppedRequests > 0 && faults.droppedResponses > 0)
        #expect(stats.retries > 0 && stats.crcErrors > 0)
        // Most calls get through (a loaded or sanitized run times out more;
        // a timeout is a typed error, never a wrong result).
        #expect(tally.ok > Self.commands / 2, "\(tally)")
        if Self.full {
            // Flat: no per-command growth (100,000 commands leaking even
            // 64 bytes each would add 6 MiB).
            #expect(growth < 4096, "resident memory grew \(growth) KiB")
        }
    }
}
