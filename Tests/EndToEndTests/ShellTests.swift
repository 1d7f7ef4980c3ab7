import Foundation
import Testing

/// `radio-cli shell`: many commands over one connection to radio-sim's pty,
/// from a pipe (no prompt).
@Suite("radio-cli shell", .serialized)
struct ShellTests {
    static func lines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test func twoCommandsGiveTwoJSONLinesOverOneConnection() async throws {
        let sim = try SimProcess()
        let r = try await run("radio-cli", ["shell", "--json", "--port", sim.path], input: "set-power 20\nget-state\n")
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdout.split(separator: "\n")
        #expect(out.count == 2, "\(r.stdout)")
        let objects = Self.lines(r.stdout)
        #expect(objects.count == 2)
        #expect(objects.first?["power_dbm"] as? Double == 20)
        #expect(objects.last?["power_dbm"] as? Double == 20, "the setting holds for the next command")
        #expect(sim.stop() == 0)
    }

    @Test func aFailedCommandIsReportedAndTheShellGoesOn() async throws {
        let sim = try SimProcess()
        let input = """
            # a comment, then a blank line

            set-channel '42'
            set-power 99
            frobnicate
            get-state --port /dev/null
            set-power "unterminated
            ping --count 2 --interval 0
            get-state
            """
        let r = try await run("radio-cli", ["shell", "--json", "--port", sim.path], input: input)
        let objects = Self.lines(r.stdout)
        let errors = objects.filter { $0["error"] != nil }
        #expect(errors.map { $0["exit"] as? Int } == [65, 64, 64, 64], "\(r.stdout)")
        #expect((errors.first?["error"] as? String)?.contains("out of range") == true, "\(r.stdout)")
        #expect((errors[1]["error"] as? String)?.contains("not a shell command") == true)
        #expect((errors[2]["error"] as? String)?.contains("--port belongs to the shell") == true)
        #expect((errors[3]["error"] as? String)?.contains("unterminated quote") == true)
        #expect(objects.first?["channel"] as? Int == 42, "quoted argument")
        #expect(objects.last?["channel"] as? Int == 42, "the state after the failures: \(r.stdout)")
        #expect(objects.contains { $0["received"] as? Int == 2 }, "ping ran: \(r.stdout)")
        // The last failure's status; one summary line on stderr.
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("4 of 7 commands failed"), "\(r.stderr)")
        #expect(sim.stop() == 0)
    }

    @Test func telemetryIsInterleavedOnRequest() async throws {
        let sim = try SimProcess(["--telemetry-hz", "50"])
        let input = "telemetry on\nping --count 10 --interval 0.05\ntelemetry off\nget-state\n"
        let r = try await run("radio-cli", ["shell", "--json", "--port", sim.path], input: input)
        #expect(r.status == 0, "\(r.stderr)")
        let objects = Self.lines(r.stdout)
        let samples = objects.filter { $0["rssi_dbm"] != nil && $0["seq"] != nil }
        #expect(samples.count >= 5, "\(r.stdout.prefix(500))")
        #expect(objects.last?["telemetry_hz"] as? Int == 50)
        #expect(sim.stop() == 0)
    }

    @Test func theShellRefusesAPortThatDoesNotOpen() async throws {
        let r = try await run("radio-cli", ["shell", "--port", "/nonexistent/tty"], input: "get-state\n")
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}
