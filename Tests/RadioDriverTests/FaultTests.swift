import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

/// Each fault alone, at a rate that makes it frequent, under four tasks of
/// mixed calls: every call ends within its deadline (plus scheduling slack)
/// with the right result or a typed error, and no reply reaches the wrong
/// caller. docs/RELIABILITY.md tabulates what a caller sees for each.
@Suite("Faults, one at a time")
struct FaultTests {
    static let cases: [(spec: String, expectErrors: Bool)] = [
        ("corrupt=0.02", true),
        ("drop-request=0.2", true),
        ("drop-response=0.2", true),
        ("duplicate=0.5", false),
        ("garbage=0.3", false),
        ("wrong-seq=0.2", true),
        ("unknown-type=0.2", true),
        ("delay=2ms,jitter=3ms", false),
        ("fragment", false),
        ("fragment=random", false),
        ("stall=0.05:60ms", true),
    ]

    @Test("every call ends in time with the right result or a typed error", arguments: FaultTests.cases.indices)
    func oneFault(_ index: Int) async throws {
        let (spec, expectErrors) = Self.cases[index]
        var config = SimulatorConfiguration()
        config.telemetryHz = 50
        config.seed = UInt64(index + 1)
        config.faults = try FaultConfiguration(parsing: spec)
        let transport = try SimTransport(configuration: config, settings: SerialSettings())
        // 300 ms; `make tsan` scales it (RADIO_DEADLINE_SCALE=4): a sanitized
        // build on two shared cores is several times slower, and this test
        // is about what faults cost, not about the sanitizer's overhead.
        let scale = Int(ProcessInfo.processInfo.environment["RADIO_DEADLINE_SCALE"] ?? "") ?? 1
        let deadline = Duration.milliseconds(300 * max(1, scale))
        let client = RadioClient(transport: transport, options: .init(timeout: deadline, retries: 2))
        defer { client.close() }

        // On a thread of its own: this test times every call (see DedicatedExecutor).
        let outcomes = try await withTaskExecutorPreference(DedicatedExecutor.timing) {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var seen: [String] = []
                        for i in 0..<60 {
                            let start = ContinuousClock.now
                            do throws(RadioError) {
                                if i % 2 == 0 {
                                    let payload = withUnsafeBytes(of: (UInt8(task), UInt16(i), UInt8(0xFF))) { Array($0) }
                                    guard case .pong(let echo) = try await client.send(.ping(payload)) else {
                                        seen.append("WRONG")
                                        continue
                                    }
                                    seen.append(echo == payload ? "ok" : "WRONG")
                                } else {
                                    let c = UInt16(1 + task * 100 + i)
                                    seen.append(try await client.setChannel(c) == c ? "ok" : "WRONG")
                                }
                            } catch {
                                seen.append(Self.kind(error))
                            }
                            // A hang, not lateness, is what this catches (8 s:
                            // a loaded sanitized run has stalled the machine 5 s).
                            if ContinuousClock.now - start > deadline + .seconds(8) { seen.append("LATE") }
                        }
                        return seen
                    }
                }
                var all: [String] = []
                for try await s in group { all += s }
                return all
            }
        }
        let counts = Dictionary(grouping: outcomes, by: { $0 }).mapValues(\.count)
        print("fault \(spec): \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
              + "client: \(client.statistics.retries) retries, \(client.statistics.crcErrors) CRC errors, "
              + "\(client.statistics.unmatchedResponses) unmatched")
        #expect(counts["WRONG"] == nil, "a reply reached the wrong caller or carried the wrong value")
        #expect(counts["LATE"] == nil, "a call outlived its deadline")
        #expect(counts["other"] == nil, "an error other than timeout or garbled")
        #expect((counts["ok"] ?? 0) > 0)
        // These cost time, not results: all calls succeed on a quiet machine
        // (measured: 240 of 240); a sanitized or loaded run may time out a few.
        if !expectErrors { #expect((counts["ok"] ?? 0) >= 228, "this fault should cost time, not results") }
    }

    static func kind(_ error: RadioError) -> String {
        switch error {
        case .timeout: "timeout"
        case .noValidResponse: "garbled"
        case .malformedResponse: "malformed"
        default: "other"
        }
    }

    @Test("hangup: calls fail with disconnected, then the client reconnects when the path returns")
    func hangup() async throws {
        var config = SimulatorConfiguration()
        config.telemetryHz = 0
        config.faults = try FaultConfiguration(parsing: "hangup=300ms")
        let sim = try PtySimulator(configuration: config)
        defer { sim.stop() }
        let client = try RadioClient(port: "serial://\(sim.slavePath)?reconnect=off", options: .init(timeout: .seconds(2)))
        defer { client.close() }
        #expect(try await client.setChannel(5) == 5)
        try await Task.sleep(for: .milliseconds(500))
        let error = await expectRadioError { () throws(RadioError) in try await client.state() }
        #expect(error?.isDisconnected == true, "\(String(describing: error))")
    }
}
