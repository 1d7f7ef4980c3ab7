import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

/// A radio "unplugged" (its pty closed, as when a USB adapter is pulled) and
/// "plugged back in" (a new pty behind the same path), with the client
/// opened on that path, as on /dev/radio/<serial>.
@Suite("Reconnect by path", .serialized)
struct ReconnectTests {
    /// A symlink standing for /dev/radio/<serial>, pointed at whichever pty
    /// the radio is on now.
    final class Bench {
        let link: String
        var sim: PtySimulator?
        let config: SimulatorConfiguration

        init(telemetryHz: UInt16) throws {
            link = FileManager.default.temporaryDirectory.appendingPathComponent("radio-\(UUID().uuidString)").path
            var config = SimulatorConfiguration()
            config.telemetryHz = telemetryHz
            self.config = config
            try plugIn()
        }

        func plugIn(_ configuration: SimulatorConfiguration? = nil) throws {
            let sim = try PtySimulator(configuration: configuration ?? config)
            try? FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: sim.slavePath)
            self.sim = sim
        }

        /// The link goes first, so that a reconnect attempt can never
        /// follow it to a pty another test has just been given.
        func unplug() {
            unlink(link)
            sim?.stop()
            sim = nil
        }

        deinit {
            sim?.stop()
            unlink(link)
        }
    }

    @Test("once the radio has said who it is, a different radio at its path is not used")
    func aDifferentRadioAtThePathIsNotUsed() async throws {
        let bench = try Bench(telemetryHz: 0)
        let client = try RadioClient(port: bench.link, options: .init(timeout: .seconds(2), retries: 0))
        defer { client.close() }
        #expect(try await client.identify().serialNumber == "SIM-0001")
        bench.unplug()
        var impostor = bench.config
        impostor.serialNumber = "OTHER-9"
        try bench.plugIn(impostor)
        // Calls fail at once while the port is away; the reason names the
        // impostor once the transport has tried it.
        var refused: RadioError?
        for _ in 0..<100 {
            do throws(RadioError) {
                _ = try await client.setChannel(7)
                Issue.record("a call reached the impostor")
                break
            } catch {
                if error.description.contains("different radio") { refused = error; break }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let why = try #require(refused).description
        #expect(why.contains("serial OTHER-9, not SIM-0001"), "\(why)")
        #expect(bench.sim?.snapshot.appliedCommands == 0, "the impostor was only asked who it is, never set")
        bench.unplug()
        try bench.plugIn()
        var back = false
        for _ in 0..<100 where !back {
            if (try? await client.state()) != nil { back = true } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(back, "the right radio is taken again")
        #expect(try await client.identify().serialNumber == "SIM-0001")
    }

    @Test("in-flight calls fail fast with disconnected, later calls succeed, telemetry shows the outage then resumes")
    func reconnects() async throws {
        let bench = try Bench(telemetryHz: 50)
        // A long deadline, so that failing at once and timing out differ.
        let client = try RadioClient(port: bench.link, options: .init(timeout: .seconds(10), retries: 0))
        defer { client.close() }
        let subscription = client.subscribe()
        let collected = Task { () -> [TelemetryEvent] in
            var events: [TelemetryEvent] = []
            var samplesAfterOutage = 0
            for await event in subscription {
                events.append(event)
                if events.contains(where: { if case .disconnected = $0 { true } else { false } }),
                   case .sample = event {
                    samplesAfterOutage += 1
                    if samplesAfterOutage == 5 { break }
                }
            }
            return events
        }

        #expect(try await client.setChannel(7) == 7)
        try await Task.sleep(for: .milliseconds(200))  // about 10 samples at 50 Hz

        // A call in flight when the radio goes: the simulator stops
        // answering first, so the call is certainly waiting.
        bench.sim?.freeze()
        let inFlight = Task { () -> (Result<RadioState, RadioError>, ContinuousClock.Instant) in
            do throws(RadioError) {
                return (.success(try await client.state()), ContinuousClock.now)
            } catch {
                return (.failure(error), ContinuousClock.now)
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        let unplugged = ContinuousClock.now
        bench.unplug()
        let (outcome, ended) = await inFlight.value
        let waited = ended - unplugged
        guard case .failure(let error) = outcome else {
            Issue.record("a call in flight at unplug succeeded: \(outcome)")
            return
        }
        #expect(error.isDisconnected, "\(error)")
        // At once: well inside the 10 s deadline (slack for a loaded machine).
        #expect(waited < .seconds(3), "failed \(waited) after the unplug, not at once")

        // While it is away, calls fail at once.
        let start = ContinuousClock.now
        let away = await expectRadioError { () throws(RadioError) in try await client.state() }
        #expect(away?.isDisconnected == true, "\(String(describing: away))")
        #expect(ContinuousClock.now - start < .seconds(3))

        try bench.plugIn()
        // Reopened within the backoff (at most 1 s between attempts).
        var state: RadioState?
        let deadline = ContinuousClock.now + .seconds(5)
        while state == nil && ContinuousClock.now < deadline {
            state = try? await client.state()
            if state == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let after = try #require(state, "no successful call within 5 s of the radio coming back")
        // A fresh radio: power-on settings, not the channel set before.
        #expect(after.channel == SimulatorConfiguration().channelRange.lower)
        #expect(try await client.setChannel(9) == 9)
        #expect(client.statistics.disconnections == 1)

        let events = try await withTimeout(.seconds(10)) { await collected.value }
        let outage = try #require(events.firstIndex { if case .disconnected = $0 { true } else { false } })
        #expect(events[..<outage].contains { if case .sample = $0 { true } else { false } }, "no samples before the outage")
        // The link back is announced once, after the outage and before the samples that follow it.
        let back = try #require(events.firstIndex(of: .reconnected), "no .reconnected")
        #expect(back > outage && events.filter { $0 == .reconnected }.count == 1)
        #expect(!events[outage..<back].contains { if case .sample = $0 { true } else { false } })
        #expect(events[(outage + 1)...].filter { if case .sample = $0 { true } else { false } }.count == 5)
        // No made-up loss count across the outage: the radio's sequence restarted.
        #expect(!events[(outage + 1)...].contains { if case .gap = $0 { true } else { false } })
    }

    @Test("reconnect=off: the client ends when the port goes, as before")
    func reconnectOff() async throws {
        let bench = try Bench(telemetryHz: 0)
        let client = try RadioClient(port: "serial://\(bench.link)?reconnect=off")
        defer { client.close() }
        #expect(try await client.setChannel(3) == 3)
        bench.unplug()
        try bench.plugIn()
        let error = await expectRadioError { () throws(RadioError) in try await client.state() }
        #expect(error?.isDisconnected == true, "\(String(describing: error))")
        // The call may fail on its write before the reader thread sees the
        // hang-up; the client ends either way, and stays ended.
        let deadline = ContinuousClock.now + .seconds(2)
        while client.disconnection == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.disconnection != nil)
        let again = await expectRadioError { () throws(RadioError) in try await client.state() }
        #expect(again?.isDisconnected == true, "\(String(describing: again))")
    }
}

/// Runs `body`, failing the test if it takes longer than `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw CancellationError()
        }
        return value
    }
}
