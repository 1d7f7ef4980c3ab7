import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import RadioIO
import RadioProtocol
import RadioSimulator

/// `radio-sim`: a simulated radio behind a pseudo-terminal.
///
/// Prints the slave path as the first line on stdout, then serves until
/// SIGINT or SIGTERM and exits 0. SIGUSR1 unplugs it (closes the pty and
/// removes the link), SIGUSR2 plugs it back in on a new pty.
@main
struct RadioSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "radio-sim",
        abstract: "A simulated radio behind a pseudo-terminal.",
        discussion: """
            Prints the pty's slave path (/dev/pts/N) as the first line on stdout, then \
            serves the radio protocol on it until SIGINT or SIGTERM. Point radio-cli at it \
            with --port /dev/pts/N, or at the --link path.

            SIGUSR1 unplugs the radio: the pty closes (a client reads EOF/EIO, as when a \
            USB adapter is pulled) and the link goes. SIGUSR2 plugs it back in: a new pty, \
            its path printed as a new line on stdout, and the link pointed at it. The radio \
            comes back with its power-on settings, like one powered by its USB cable.

            --firmware IMAGE runs the reference firmware (make firmware builds \
            .build/firmware/radio-fw.elf: the C core on a Cortex-M3) in QEMU's lm3s6965evb \
            board instead, with the board's UART on the pty; unplugging stops QEMU and \
            plugging in boots it again. The firmware's identity, rate and sensors are its own, \
            so the simulator's options (--telemetry-hz, --seed, --serial-number, --baud, \
            --fault) do not apply to it.

            --user runs this user's simulator, the one radio-cli uses when no port is \
            given: radio-cli starts it on first use; --stop stops it.

            Exit status (sysexits): 0 ok (also after SIGINT or SIGTERM), 64 usage, 65 the \
            firmware image is not an ELF image or does not answer, 66 no such image, 69 no \
            QEMU, 71 system error (no pty), 73 cannot create the link or the --user files, \
            75 --stop: the simulator did not stop within 5 s, 77 --stop: not allowed to \
            signal it.
            """,
        version: BuildInfo.versionLine("radio-sim", protocolVersion: Frame.protocolVersion))

    @Flag(name: .shortAndLong, help: "Log plug, unplug and stop events on stderr.")
    var verbose = false

    @Option(help: "Also make a symlink at PATH to the slave, removed on exit.")
    var link: String?

    @Flag(help: ArgumentHelp(
        "Run as this user's simulator, the one radio-cli uses when no port is given (port user-sim): "
            + "its link is $XDG_RUNTIME_DIR/radio/sim (else /tmp/radio-UID/sim), one runs per user, "
            + "and it stops after --idle-exit unused."))
    var user = false

    @Option(name: .customLong("idle-exit"), parsing: .unconditional,
            help: ArgumentHelp("With --user: stop after this long with no host on the port, 0 = never (default 1800).",
                               valueName: "seconds"))
    var idleExit: Double?

    @Flag(help: "Stop this user's simulator (the one --user starts), and exit.")
    var stop = false

    @Option(name: .customLong("telemetry-hz"), help: "Telemetry frames per second at start (0 = off; default 10).")
    var telemetryHz: UInt16?

    @Option(help: "Seed for the simulated measurements (same seed, same readings; default 1).")
    var seed: UInt64?

    @Option(name: .customLong("serial-number"), help: "Serial number the radio reports (default SIM-0001).")
    var serialNumber: String?

    @Option(help: ArgumentHelp("Run this firmware image in QEMU (lm3s6965evb) instead of the simulator.",
                               valueName: "image"))
    var firmware: String?

    @Option(help: ArgumentHelp("The QEMU binary for --firmware.", valueName: "path"))
    var qemu: String = "qemu-system-arm"

    @Option(help: "Emulate a serial line at N baud (8N1): pace what the radio sends and receives at 10 bits per byte.")
    var baud: Int?

    @Option(help: ArgumentHelp(
        "Faults to act out, reproducible with --seed: corrupt=RATE, drop-request=RATE, drop-response=RATE, "
            + "duplicate=RATE, garbage=RATE, wrong-seq=RATE, unknown-type=RATE, other-version=RATE, delay=5ms, jitter=2ms, fragment[=random], "
            + "stall=CHANCE:DURATION, hangup=DURATION (comma-separated; see docs/RELIABILITY.md).",
        valueName: "list"))
    var fault: String?

    @Option(help: ArgumentHelp(
        "Rules the radio breaks every time, for testing hosts: identify-version=N, claim-power=LOW:HIGH (dBm), "
            + "claim-channels=LOW:HIGH (what Identify claims; the real ranges still hold), bad-crc (answers with a wrong CRC), "
            + "no-seq-echo (answers with the next sequence number), no-range-check (any power or channel applied), "
            + "ping-250 (a 250-byte Ping answered, not refused) (comma-separated).",
        valueName: "list"))
    var quirk: String?

    func validate() throws {
        if stop {
            let given = [("--user", user), ("--link", link != nil), ("--telemetry-hz", telemetryHz != nil),
                         ("--seed", seed != nil), ("--serial-number", serialNumber != nil), ("--firmware", firmware != nil),
                         ("--baud", baud != nil), ("--fault", fault != nil), ("--quirk", quirk != nil)]
            if let option = given.first(where: { $0.1 })?.0 { throw ValidationError("--stop takes no other option, got \(option)") }
        }
        if user {
            if link != nil { throw ValidationError("--user makes its own link; leave out --link") }
            if firmware != nil { throw ValidationError("--user runs the simulator; leave out --firmware") }
        }
        if let idleExit {
            guard user else { throw ValidationError("--idle-exit goes with --user") }
            guard idleExit.isFinite, idleExit >= 0 else {
                throw ValidationError("--idle-exit must be a number of seconds, 0 or more, got \(idleExit)")
            }
        }
        if firmware != nil {
            let given = [("--telemetry-hz", telemetryHz != nil), ("--seed", seed != nil),
                         ("--serial-number", serialNumber != nil), ("--baud", baud != nil), ("--fault", fault != nil),
                         ("--quirk", quirk != nil)]
            if let option = given.first(where: { $0.1 })?.0 {
                throw ValidationError("\(option) is a simulator option; the firmware under --firmware has its own")
            }
        }
        if let fault {
            do { _ = try FaultConfiguration(parsing: fault) } catch { throw ValidationError("--fault: \(error.description)") }
        }
        if let quirk {
            do { _ = try Quirks(parsing: quirk) } catch { throw ValidationError("--quirk: \(error.description)") }
        }
        if let baud, !(50...20_000_000).contains(baud) {
            throw ValidationError("--baud must be 50...20000000, got \(baud)")
        }
        let max = SimulatorConfiguration().maxTelemetryHz
        if let telemetryHz, telemetryHz > max {
            throw ValidationError("--telemetry-hz must be 0...\(max), got \(telemetryHz)")
        }
        if let serialNumber, serialNumber.isEmpty || serialNumber.utf8.count > Identity.maxStringBytes {
            throw ValidationError("--serial-number must be 1...\(Identity.maxStringBytes) bytes")
        }
    }

    var simulatorConfiguration: SimulatorConfiguration {
        var c = SimulatorConfiguration()
        if let telemetryHz { c.telemetryHz = telemetryHz }
        if let seed { c.seed = seed }
        if let serialNumber { c.serialNumber = serialNumber }
        c.baud = baud
        if let fault, let faults = try? FaultConfiguration(parsing: fault) { c.faults = faults }
        if let quirk, let quirks = try? Quirks(parsing: quirk) { c.quirks = quirks }
        return c
    }

    func run() throws {
        if stop { stopUserSimulator() }
        // Block the signals before any thread starts, so every thread inherits
        // the mask and only sigwait below sees them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGUSR1)
        sigaddset(&signals, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var log = Logger(label: "radio-sim") { LineLogHandler(label: $0) }
        log.logLevel = verbose ? .info : .warning
        let userFiles = user ? becomeUserSimulator() : nil
        let link = userFiles?.link ?? self.link
        var simulator: (any PtyServedRadio)? = plugIn(link: link)
        log.info("serving on \(simulator?.slavePath ?? "?")",
                 metadata: firmware.map { ["firmware": "\($0)"] } ?? ["serial": "\(simulatorConfiguration.serialNumber)"])
        var idle = IdleWatch(limit: user ? (idleExit ?? RadioSim.defaultIdleExit) : 0)
        while true {
            var received: Int32 = 0
            if let period = idle.period {
                var wait = timespec(tv_sec: Int(period), tv_nsec: Int((period - period.rounded(.down)) * 1e9))
                received = sigtimedwait(&signals, nil, &wait)
                if received < 0 {
                    if idle.expired(simulator) {
                        log.warning("unused for \(idle.limit) s: stopping")
                        received = 0
                    } else {
                        continue
                    }
                }
            } else {
                sigwait(&signals, &received)
            }
            switch received {
            case SIGUSR1:
                log.info("SIGUSR1: unplugged")
                // The link first: a client retrying it must not reach the
                // freed pty number, which the kernel may hand to someone else.
                if let link { unlink(link) }
                simulator?.stop()
                simulator = nil
            case SIGUSR2:
                if simulator == nil {
                    simulator = plugIn(link: link)
                    log.info("SIGUSR2: plugged in on \(simulator?.slavePath ?? "?")")
                }
            default:
                if received != 0 { log.info("signal \(received): stopping") }
                simulator?.stop()
                if let link { unlink(link) }
                // The pid file goes before the lock (held until exit) does.
                if let userFiles { unlink(userFiles.pidFile) }
                throw ExitCode.success
            }
        }
    }

    /// Opens a pty, serves on it (or boots the firmware on it), points the
    /// link at it and prints its path.
    func plugIn(link: String?) -> any PtyServedRadio {
        let simulator: any PtyServedRadio
        if let firmware {
            var configuration = FirmwareEmulator.Configuration(image: firmware)
            configuration.emulator = qemu
            do {
                simulator = try FirmwareEmulator(configuration)
            } catch {
                switch error {
                case .imageNotFound: fail(error.description, status: 66)  // EX_NOINPUT
                case .emulatorNotFound: fail(error.description, status: 69)  // EX_UNAVAILABLE
                case .noAnswer, .notAnELFImage: fail(error.description, status: 65)  // EX_DATAERR
                case .emulatorExited, .cannotStart: fail(error.description, status: 71)  // EX_OSERR
                }
            }
        } else {
            do {
                simulator = try PtySimulator(configuration: simulatorConfiguration)
            } catch {
                fail("cannot open a pseudo-terminal: \(error)", status: 71)  // EX_OSERR
            }
        }
        if let link {
            unlink(link)
            if symlink(simulator.slavePath, link) != 0 {
                let why = String(cString: strerror(errno))
                simulator.stop()
                fail("cannot create link \(link): \(why)", status: 73)  // EX_CANTCREAT
            }
        }
        // Written straight to the descriptor: a parent reading a pipe must get
        // this line now, not when a stdio buffer fills.
        Console.out((simulator.slavePath + "\n"))
        return simulator
    }

    static let defaultIdleExit = 1800.0

    /// Errors as radio-cli gives them: one line, "radio-sim: " and what is
    /// wrong, then where the help is; the status from the table in --help.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))  // --help, --version
                Glibc.exit(0)
            }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid input"
            Console.error("radio-sim: \(message) (see 'radio-sim --help')\n")
            Glibc.exit(code == .validationFailure ? 64 : code.rawValue)
        }
    }

    /// `--user`: takes this user's simulator lock (held until exit), or, when
    /// one already runs, says so and exits 0; then writes the pid file.
    func becomeUserSimulator() -> UserSimulatorFiles {
        let files = UserSimulatorFiles.forThisUser
        do throws(UserSimulatorFiles.Problem) {
            try files.prepare()
            guard let held = try UserSimulatorFiles.tryLock(files.lock) else {
                if let device = files.device { Console.out((device + "\n")) }
                let pid = files.recordedPID.map { " (pid \($0))" } ?? ""
                Console.error("radio-sim: this user's simulator already runs\(pid) on \(files.link)\n")
                Glibc.exit(0)
            }
            _ = held  // kept open, and so locked, until the process ends
            let pidFD = open(files.pidFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard pidFD >= 0 else { throw UserSimulatorFiles.Problem(description: "cannot write \(files.pidFile)") }
            let text = "\(getpid())\n"
            _ = text.withCString { write(pidFD, $0, strlen($0)) }
            close(pidFD)
        } catch {
            fail(error.description, status: 73)  // EX_CANTCREAT
        }
        return files
    }

    /// `--stop`: SIGTERM to this user's simulator, then waits (up to 5 s)
    /// for its lock to go.
    func stopUserSimulator() -> Never {
        let files = UserSimulatorFiles.forThisUser
        guard files.isRunning, let pid = files.recordedPID, pid > 0 else {
            print("no simulator of this user's is running (\(files.link))")
            Glibc.exit(0)
        }
        // The pid file of one that just started may still name its
        // predecessor: signal only a radio-sim.
        guard ProcessTable.command(of: pid) == "radio-sim" else {
            fail("\(files.pidFile) names pid \(pid), which is not a radio-sim; try again in a moment", status: 75)
        }
        guard kill(pid, SIGTERM) == 0 else { fail("cannot stop pid \(pid): \(String(cString: strerror(errno)))", status: 77) }
        for _ in 0..<500 where files.isRunning { usleep(10_000) }
        if files.isRunning { fail("pid \(pid) did not stop within 5 s", status: 75) }  // EX_TEMPFAIL
        print("stopped this user's simulator (pid \(pid))")
        Glibc.exit(0)
    }

    func fail(_ message: String, status: Int32) -> Never {
        Console.error("radio-sim: \(message)\n")
        Glibc.exit(status)
    }
}

/// When `--user`'s simulator has gone unused for its limit: no byte from a
/// host, and no other process with its pty open, at every look.
struct IdleWatch {
    let limit: Double
    private var lastUse = ContinuousClock.now
    private var lastBytes = 0

    init(limit: Double) { self.limit = limit }

    /// How often to look: a quarter of the limit, between 0.05 and 5 s; nil
    /// when it never stops.
    var period: Double? { limit > 0 ? min(5, max(0.05, limit / 4)) : nil }

    mutating func expired(_ radio: (any PtyServedRadio)?) -> Bool {
        let now = ContinuousClock.now
        if let sim = radio as? PtySimulator {
            let bytes = sim.bytesReceived
            if bytes != lastBytes || ProcessTable.isOpenElsewhere(sim.slavePath) {
                lastBytes = bytes
                lastUse = now
            }
        }
        return lastUse.duration(to: now) >= .milliseconds(Int64(limit * 1000))
    }
}
