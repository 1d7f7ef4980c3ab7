import Foundation
import RadioSimulator
import Testing

/// `radio-cli list --probe PORT...` against real ptys: a radio-sim, a
/// silent line, one that answers garbage, and one another process holds.
/// (Tests/EndToEndTests/DiscoveryTests.swift probes the ports udev lists.)
@Suite("Probing ports")
struct ProbeTests {
    func objects(_ stdout: String) throws -> [[String: Any]] {
        try #require(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]], "not a JSON array: \(stdout)")
    }

    /// Bytes waiting on a pty master, without waiting for more.
    func pending(_ pty: PseudoTerminal) -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            var fds = pollfd(fd: pty.master.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 0) == 1, fds.revents & Int16(POLLIN) != 0 else { return total }
            let n = buffer.withUnsafeMutableBytes { read(pty.master.rawValue, $0.baseAddress, $0.count) }
            guard n > 0 else { return total }
            total += n
        }
    }

    @Test("a radio-sim answers with its identity; a silent pty and a garbage one are told apart; exit 69 unless all are radios")
    func probesNamedPorts() async throws {
        let sim = try SimProcess(["--telemetry-hz", "0", "--serial-number", "PROBE-1"])
        defer { _ = sim.stop() }
        let silent = try PseudoTerminal.open()
        defer {
            try? silent.master.close()
            try? silent.slave.close()
        }
        let garbage = try GarbageTTY()
        defer { garbage.stop() }

        let done = try await run("radio-cli", ["list", "--probe", "--json", sim.path, silent.slavePath, garbage.path])
        #expect(done.status == 69, "\(done.stderr)")
        #expect(done.stderr == "radio-cli: 2 of 3 ports did not answer as a radio\n")
        let ports = try objects(done.stdout)
        try #require(ports.count == 3)
        #expect(ports.map { $0["devnode"] as? String } == [sim.path, silent.slavePath, garbage.path])

        let radio = try #require(ports[0]["probe"] as? [String: Any])
        #expect(radio["result"] as? String == "radio")
        #expect(radio["serial_number"] as? String == "PROBE-1")
        #expect(radio["model"] as? String == "RS-100 Simulated Radio")
        #expect(radio["firmware_version"] as? String == "1.0.0-sim")
        #expect(radio["protocol_version"] as? Int == 1)
        #expect((radio["elapsed_ms"] as? Double).map { $0 > 0 } == true)

        let quiet = try #require(ports[1]["probe"] as? [String: Any])
        #expect(quiet["result"] as? String == "silent")
        #expect(quiet["received_bytes"] as? Int == 0)
        #expect((quiet["reason"] as? String)?.contains("no answer within 100 ms") == true)

        let junk = try #require(ports[2]["probe"] as? [String: Any])
        #expect(junk["result"] as? String == "not_a_radio")
        #expect((junk["received_bytes"] as? Int).map { $0 > 0 } == true)

        // The silent line got one Identify (a delimiter and a 8-byte frame), nothing more.
        #expect(pending(silent) == 9)

        let one = try await run("radio-cli", ["list", "--probe", sim.path])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stdout.contains("probe: radio: RS-100 Simulated Radio, serial PROBE-1, firmware 1.0.0-sim"), "\(one.stdout)")
    }

    @Test("a port another process holds is skipped with a line naming it, and nothing is written to it")
    func skipsBusyPort() async throws {
        let pty = try PseudoTerminal.open()
        defer {
            try? pty.master.close()
            try? pty.slave.close()
        }
        // `sleep` with the tty as its stdin: a terminal program that has the port open.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sleep")
        holder.arguments = ["30"]
        // Opened close-on-exec (FileHandle(forUpdatingAtPath:) is not), so
        // that no other test's child (a QEMU) inherits it and shows up as
        // a holder too; the child's stdin is a dup, without the flag.
        let fd = open(pty.slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(fd >= 0)
        holder.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try holder.run()
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        let done = try await run("radio-cli", ["list", "--probe", pty.slavePath])
        #expect(done.status == 69)
        let lines = done.stdout.split(separator: "\n")
        #expect(lines.first == "\(pty.slavePath)  in use by pid \(holder.processIdentifier) (sleep)", "\(done.stdout)")
        #expect(lines.contains("    probe: skipped, nothing written: in use by pid \(holder.processIdentifier) (sleep)"))
        #expect(pending(pty) == 0, "a probe wrote to a port another process holds")
    }

    @Test("a probe puts back the line settings it found")
    func restoresSettings() async throws {
        let pty = try PseudoTerminal.open()
        defer {
            try? pty.master.close()
            try? pty.slave.close()
        }
        // 9600 baud with echo and canonical input: not what a probe sets.
        var before = termios()
        #expect(tcgetattr(pty.slave.rawValue, &before) == 0)
        cfsetispeed(&before, speed_t(B9600))
        cfsetospeed(&before, speed_t(B9600))
        before.c_lflag |= tcflag_t(ICANON | ECHO)
        #expect(tcsetattr(pty.slave.rawValue, TCSANOW, &before) == 0)
        #expect(tcgetattr(pty.slave.rawValue, &before) == 0)

        let done = try await run("radio-cli", ["list", "--probe", "--timeout", "0.05", pty.slavePath])
        #expect(done.status == 69)
        #expect(done.stdout.contains("probe: no answer within 50 ms and nothing received"), "\(done.stdout)")

        var after = termios()
        #expect(tcgetattr(pty.slave.rawValue, &after) == 0)
        #expect(cfgetospeed(&after) == speed_t(B9600))
        #expect(after.c_lflag == before.c_lflag)
        #expect(after.c_iflag == before.c_iflag)
        #expect(after.c_oflag == before.c_oflag)
        #expect(after.c_cflag == before.c_cflag)
    }

    @Test("bad list options are one usage line and exit 64", arguments: [
        (["list", "--timeout", "0.5"], "--timeout applies to probes: add --probe"),
        (["list", "--probe", "--timeout", "0"], "--timeout must be a number of seconds in (0, 10], got 0.0"),
        (["list", "--probe", "--timeout", "nan"], "--timeout must be a number of seconds in (0, 10], got nan"),
        (["list", "--probe", "--baud", "0"], "--baud must be a positive integer, got 0"),
        (["list", "--baud", "9600"], "--baud applies to probes: add --probe"),
        (["list", "--all", "/dev/null"], "named ports are probed as they are; --all and --watch apply to the ports udev lists"),
        (["list", "--port", "/dev/ttyUSB0"], "list takes no --port; name the ports to probe as arguments"),
    ])
    func rejectsBadOptions(_ arguments: [String], _ message: String) async throws {
        let done = try await run("radio-cli", arguments)
        #expect(done.status == 64)
        #expect(done.stderr.contains(message), "\(done.stderr)")
        #expect(done.stdout.isEmpty)
    }
}
