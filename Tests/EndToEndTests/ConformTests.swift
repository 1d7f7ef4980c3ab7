import Foundation
import Testing

private let image = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/firmware/radio-fw.elf").path

/// `radio-cli conform` (docs/PROTOCOL.md §12). The cases that judge speed
/// (response-time, response-time-fast) are left out where a radio should
/// pass: `make test` never asserts wall-clock time, and a loaded CI run
/// can stall for seconds. A radio that is slow on purpose (300 ms) must
/// fail them, which no stall can hide.
@Suite("radio-cli conform")
struct ConformTests {
    static let all = ["identify", "crc", "vectors", "sequence-echo", "response-time", "response-time-fast", "set-and-get", "range-edges",
                      "ping", "telemetry-rates", "unknown-command", "unsupported-version", "malformed", "not-a-request",
                      "corrupt-frames", "byte-at-a-time", "garbage-between-frames", "pipelined", "pipelined-order", "telemetry"]
    static let untimed = all.filter { !$0.hasPrefix("response-time") }

    /// conform --json on `port`; the report and the exit status.
    static func conform(_ port: String, only: [String] = untimed) async throws -> (Int32, [String: Any], String) {
        let r = try await run("radio-cli", ["conform", "--json", "--timeout", "10", "--port", port,
                                            "--only", only.joined(separator: ",")], limit: .seconds(120))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                                  "\(port): \(r.stdout) \(r.stderr)")
        JSONSchema.check("conform", r.stdout)
        return (r.status, report, r.stderr)
    }

    /// The MUST cases that failed.
    static func failures(_ report: [String: Any]) -> [String] {
        ((report["cases"] as? [[String: Any]]) ?? []).filter { $0["requirement"] as? String == "MUST" && $0["result"] as? String == "fail" }
            .compactMap { $0["name"] as? String }
    }

    @Test func everySimulatorAndTheFirmwarePass() async throws {
        let sim = try SimProcess(["--telemetry-hz", "10"])
        var ports = [sim.path, "sim", "loop://"]
        if FileManager.default.fileExists(atPath: image) { ports.append("qemu://\(image)") } else {
            Issue.record("no \(image): run `make firmware` (make test does)")
        }
        for port in ports {
            let (status, report, stderr) = try await Self.conform(port)
            #expect(status == 0, "\(port): \(Self.failures(report)) \(stderr)")
            #expect(Self.failures(report).isEmpty && report["failed"] as? Int == 0, "\(port): \(report)")
            #expect((report["cases"] as? [[String: Any]])?.count == Self.untimed.count, "\(port)")
            #expect(report["serial_number"] is String, "\(port)")
        }
        #expect(sim.stop() == 0)
    }

    /// Each deliberately broken radio fails the case that names its fault,
    /// and no other MUST case.
    @Test(arguments: [
        ("sim://?quirk=bad-crc", "crc"), ("sim://?quirk=no-seq-echo", "sequence-echo"),
        ("sim://?quirk=no-range-check", "range-edges"), ("sim://?quirk=ping-250", "ping"),
    ])
    func aBrokenRadioFailsItsOwnCase(_ port: String, _ broken: String) async throws {
        let (status, report, stderr) = try await Self.conform(port)
        #expect(status == 65, "\(stderr)")
        #expect(Self.failures(report) == [broken], "\(report)")
        #expect(stderr == "radio-cli: 1 MUST case failed\n", "\(stderr)")
    }

    /// A radio 300 ms slow to answer: every case runs, and only the timing
    /// ones fail (the MUST one; the SHOULD one warns).
    @Test func aSlowRadioFailsOnlyResponseTime() async throws {
        let sim = try SimProcess(["--telemetry-hz", "0", "--fault", "delay=300ms"])
        let (status, report, stderr) = try await Self.conform(sim.path, only: Self.all)
        #expect(status == 65, "\(stderr)")
        #expect(Self.failures(report) == ["response-time"], "\(report)")
        let fast = (report["cases"] as? [[String: Any]])?.first { $0["name"] as? String == "response-time-fast" }
        #expect(fast?["result"] as? String == "fail" && fast?["requirement"] as? String == "SHOULD")
        #expect((report["warnings"] as? Int ?? 0) >= 1)
        #expect(sim.stop() == 0)
    }

    @Test func theRadiosSettingsArePutBack() async throws {
        let sim = try SimProcess(["--telemetry-hz", "10"])
        #expect(try await run("radio-cli", ["set-power", "12.3", "--port", sim.path]).status == 0)
        #expect(try await run("radio-cli", ["set-channel", "77", "--port", sim.path]).status == 0)
        let (status, _, stderr) = try await Self.conform(sim.path, only: ["set-and-get", "range-edges", "telemetry-rates", "telemetry"])
        #expect(status == 0, "\(stderr)")
        let state = try DaemonTests.json(try await run("radio-cli", ["get-state", "--json", "--port", sim.path]).stdout)
        #expect(state["power_dbm"] as? Double == 12.3 && state["channel"] as? Int == 77 && state["telemetry_hz"] as? Int == 10,
                "\(state)")
        #expect(sim.stop() == 0)
    }

    @Test func theTextTableNamesEachCaseAndItsSection() async throws {
        let r = try await run("radio-cli", ["conform", "--port", "sim://?quirk=ping-250", "--only", "ping,crc"])
        #expect(r.status == 65)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("ping ") && $0.contains("§6.1") && $0.contains("MUST") && $0.contains("FAIL") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("crc ") && $0.contains("§2.1") && $0.contains("pass") }, "\(r.stdout)")
        #expect(lines.last == "2 cases: 1 passed, 1 failed (MUST), 0 warnings (SHOULD)", "\(r.stdout)")
    }

    @Test(arguments: [(["--only", "bogus"], "unknown case 'bogus'"), (["--only", ""], "the list of cases is empty")])
    func badCaseListsAreUsageErrors(_ extra: [String], _ text: String) async throws {
        let r = try await run("radio-cli", ["conform", "--port", "loop://"] + extra)
        #expect(r.status == 64 && r.stderr.contains(text), "\(r)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
