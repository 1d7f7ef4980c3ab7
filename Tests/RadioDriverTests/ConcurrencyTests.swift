import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

/// Many tasks on one radio at once, each checking that every reply is its
/// own: pings carry a payload unique to the task and the call, and sets
/// echo the value that task asked for.
@Suite("64 tasks on one radio")
struct ConcurrencyTests {
    /// 1,000 per task in `make test`; `make tsan` sets fewer (the sanitizer
    /// slows every call about tenfold).
    static let perTask = Int(ProcessInfo.processInfo.environment["RADIO_CONCURRENCY_PER_TASK"] ?? "") ?? 1000

    @Test("64 tasks × mixed commands through a real pty: every reply matched")
    func sixtyFourTasks() async throws {
        try await withPtyRadio(options: .init(timeout: .seconds(20), retries: 0)) { sim, client in
            let results = try await withThrowingTaskGroup(of: (ok: Int, mismatched: Int).self) { group in
                for task in 0..<64 {
                    group.addTask {
                        var ok = 0, mismatched = 0
                        for i in 0..<Self.perTask {
                            switch i % 4 {
                            case 0:
                                let payload = withUnsafeBytes(of: (UInt16(task), UInt32(i))) { Array($0) }
                                guard case .pong(let echo) = try await client.send(.ping(payload)) else { mismatched += 1; continue }
                                if echo == payload { ok += 1 } else { mismatched += 1 }
                            case 1:
                                let c = UInt16(1 + (task * 16 + i) % 1024)
                                if try await client.setChannel(c) == c { ok += 1 } else { mismatched += 1 }
                            case 2:
                                let p = Power(deciDBm: Int16(-100 + (task * 7 + i) % 400))
                                if try await client.setPower(p) == p { ok += 1 } else { mismatched += 1 }
                            default:
                                _ = try await client.state()
                                ok += 1
                            }
                        }
                        return (ok, mismatched)
                    }
                }
                var total = (ok: 0, mismatched: 0)
                for try await r in group { total.ok += r.ok; total.mismatched += r.mismatched }
                return total
            }
            #expect(results.mismatched == 0)
            #expect(results.ok == 64 * Self.perTask)
            let stats = client.statistics
            #expect(stats.responses == 64 * Self.perTask)
            #expect(stats.unmatchedResponses == 0 && stats.timeouts == 0)
            // Each set applied exactly once: no retries here, and no reply lost.
            let setsPerTask = (0..<Self.perTask).filter { $0 % 4 == 1 || $0 % 4 == 2 }.count
            #expect(sim.snapshot.appliedCommands == 64 * setsPerTask)
        }
    }
}
