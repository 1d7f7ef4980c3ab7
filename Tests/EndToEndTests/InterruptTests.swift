import Foundation
import Testing

/// Ctrl-C (SIGINT) and SIGTERM during `bench` and `load`: the report of
/// what was measured so far, marked as interrupted, and exit 128 + signal.
@Suite("Interrupted measurements", .serialized)
struct InterruptTests {
    @Test func benchReportsWhatItMeasuredWhenInterrupted() async throws {
        let sim = try SimProcess()
        // --trace: a line per frame on stderr, to know the run has begun.
        let bench = try LineProcess("radio-cli", ["bench", "--count", "10000000", "--warmup", "0", "--json", "--trace",
                                                  "--command", "set-power", "--port", sim.path])
        try await bench.waitUntil("round trips under way") { bench.errorLines.filter { $0.contains("SetPower") }.count >= 20 }
        let (status, stderr) = try await bench.interrupt(SIGINT)
        #expect(status == 130, "\(stderr.suffix(300))")
        #expect(stderr.split(separator: "\n").last == "radio-cli: interrupted by SIGINT")
        let line = try #require(bench.lines.last { $0.hasPrefix("{") }, "no report: \(bench.lines)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(report["interrupted"] as? String == "SIGINT", "\(line)")
        let setPower = try #require((report["commands"] as? [String: Any])?["set-power"] as? [String: Any], "\(line)")
        let count = try #require(setPower["count"] as? Int)
        #expect(count > 0 && count < 10_000_000, "\(line)")
        #expect(((setPower["latency_us"] as? [String: Double])?["p50"] ?? 0) > 0, "\(line)")
        #expect(sim.stop() == 0)
    }

    @Test func loadReportsWhatItMeasuredWhenStopped() async throws {
        let sim = try SimProcess()
        let load = try LineProcess("radio-cli", ["load", "--duration", "600", "--rate", "200", "--json", "--port", sim.path])
        try await load.waitUntil("a progress line") { load.errorLines.contains { $0.hasPrefix("load: ") } }
        let (status, stderr) = try await load.interrupt(SIGTERM)
        #expect(status == 143, "\(stderr)")
        #expect(stderr.split(separator: "\n").last == "radio-cli: interrupted by SIGTERM")
        let line = try #require(load.lines.last { $0.hasPrefix("{") }, "no report: \(load.lines)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(report["interrupted"] as? String == "SIGTERM", "\(line)")
        let sent = try #require(report["sent"] as? Int), notSent = try #require(report["not_sent"] as? Int)
        #expect(sent > 0 && report["ok"] as? Int == sent, "\(line)")
        #expect(sent + notSent == report["scheduled"] as? Int, "\(line)")
        #expect(sim.stop() == 0)
    }
}
