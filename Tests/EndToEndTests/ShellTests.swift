import Foundation
import RadioSimulator
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

    /// On a terminal (a real pty here), libedit reads the lines: a recalled
    /// line can be edited, and the history outlives the session.
    @Test func onATerminalLinesCanBeEditedAndRecalled() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("radio-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let history = state + "/radio-cli/history"

        let first = try TerminalSession(stateHome: state)
        defer { first.close() }
        try await first.typeAtPrompt("set-power 7\r")
        try await first.expect("power set to 7.0 dBm")
        try await first.typeAtPrompt("\u{1B}[A\u{7F}9\r")  // up arrow: "set-power 7"; backspace; 9
        try await first.expect("power set to 9.0 dBm")
        try await first.typeAtPrompt("get-state\r")
        try await first.expect("Power:            9.0 dBm")
        try await first.typeAtPrompt("\u{04}")  // Ctrl-D on an empty line: end of input
        #expect(try await first.exitStatus() == 0, "\(first.output)")
        let saved = try String(contentsOfFile: history, encoding: .utf8)
        #expect(saved.contains("get-state") && saved.contains("set-power\\0409"), "\(saved)")

        // A new session recalls the last one's lines.
        let second = try TerminalSession(stateHome: state)
        defer { second.close() }
        try await second.typeAtPrompt("\u{1B}[A\r")
        try await second.expect("Channel:")
        try await second.typeAtPrompt("quit\r")
        #expect(try await second.exitStatus() == 0, "\(second.output)")
    }

    @Test func theShellRefusesAPortThatDoesNotOpen() async throws {
        let r = try await run("radio-cli", ["shell", "--port", "/nonexistent/tty"], input: "get-state\n")
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}

/// radio-cli shell with a pty for stdin, stdout and stderr.
final class TerminalSession {
    let pty: PseudoTerminal
    let process = Process()
    var output = ""

    init(stateHome: String) throws {
        pty = try PseudoTerminal.open()
        // A terminal as a login gives it (PseudoTerminal makes it raw, for
        // a radio): CR read as newline, echo, line editing by the kernel
        // until libedit takes over.
        var tio = termios()
        tcgetattr(pty.slave.rawValue, &tio)
        tio.c_iflag |= tcflag_t(ICRNL)
        tio.c_oflag |= tcflag_t(OPOST | ONLCR)
        tio.c_lflag |= tcflag_t(ICANON | ECHO | ECHOE | ISIG | IEXTEN)
        tcsetattr(pty.slave.rawValue, TCSANOW, &tio)
        process.executableURL = productsDirectory.appendingPathComponent("radio-cli")
        process.arguments = ["shell", "--port", "loop://?telemetry-hz=0"]
        process.environment = testEnvironment.merging(["TERM": "xterm", "XDG_STATE_HOME": stateHome]) { _, new in new }
        let slave = FileHandle(fileDescriptor: pty.slave.rawValue, closeOnDealloc: false)
        process.standardInput = slave
        process.standardOutput = slave
        process.standardError = slave
        try process.run()
    }

    func type(_ text: String) { _ = text.withCString { write(pty.master.rawValue, $0, strlen($0)) } }

    /// Where the last `expect` matched: each looks only past it.
    var seen: String.Index?

    /// Reads the terminal until `text` shows after what earlier calls
    /// matched (30 s at most).
    func expect(_ text: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let found = output[(seen ?? output.startIndex)...].range(of: text) {
                seen = found.upperBound
                return
            }
            let n = buffer.withUnsafeMutableBytes { read(pty.master.rawValue, $0.baseAddress, $0.count) }
            if n > 0 {
                // Appending keeps earlier indices valid only for a copy; redo them by offset.
                let offset = seen.map { output.distance(from: output.startIndex, to: $0) }
                output += String(decoding: buffer[0..<n], as: UTF8.self)
                seen = offset.map { output.index(output.startIndex, offsetBy: $0) }
                continue
            }
            guard ContinuousClock.now < deadline else {
                Issue.record("no '\(text)' on the terminal: \(output)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the prompt (libedit is reading: keys are its now), then types.
    func typeAtPrompt(_ text: String) async throws {
        try await expect("radio> ")
        type(text)
    }

    func exitStatus() async throws -> Int32 {
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func close() {
        if process.isRunning { process.terminate() }
        try? pty.master.close()
        try? pty.slave.close()
    }
}
