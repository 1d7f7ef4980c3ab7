import ArgumentParser
import FoundationEssentials
import Glibc
import RadioDiscovery
import RadioDriver
import RadioIO
import RadioProtocol
import RadioSimTransport

/// The port schemes radio-cli accepts: the driver's own, the simulator's
/// (`sim`, `loop`, `user-sim`) and discovery's (`udev`). One table; the commands never
/// look at which scheme a port is.
let portSchemes = PortSchemes.withSimulators.adding(UdevScheme.self).adding(UserSimScheme.self, word: "user-sim")

struct RadioCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "radio-cli",
        abstract: "Query and set a lab radio over a serial line.",
        discussion: """
            PORT is a tty path (/dev/ttyUSB0, /dev/radio/SERIAL, /dev/pts/5) or a URL: \
            \(portSchemes.forms.map { $0.options.isEmpty ? $0.usage : "\($0.usage) [\($0.options.joined(separator: ", "))]" }.joined(separator: "; ")). \
            It defaults to $RADIO_PORT, else user-sim: this user's simulated radio, a radio-sim \
            that the first command starts and later ones reuse, so settings stick between \
            commands as on hardware ('radio-sim --stop' stops it; it stops by itself after 30 \
            minutes unused). sim is a fresh simulator inside the process, behind a real pty. A port that goes away (unplugged, server restarted) is reopened when \
            it comes back; add ?reconnect=off to stop instead. A port with no / or : (bench-3) is a \
            name from the lab file: $RADIO_LAB, else /etc/radio/lab.yaml and ~/.config/radio/lab.yaml \
            ('radio-cli places' lists them). On a shared radio, 'radio-cli lock' takes the write \
            lease and $RADIO_LEASE lets later commands use it.

            Exit status (sysexits): 0 ok, 64 usage, 65 bad data (value out of range, garbage \
            from the port), 69 port unavailable or gone, an incompatible radio, or the radio answered unknown command, \
            unsupported version or hardware fault, 70 internal error, 71 system error, 75 timeout or port \
            busy or locked by another client (try again), 77 permission denied, 78 lab file missing or \
            not parsing, 130 and 143 interrupted (bench, load).
            """ + examples(["radio-cli set-power 20.5; radio-cli get-state   # this user's simulator",
                            "radio-cli info --port /dev/ttyUSB0", "radio-cli list --all --probe",
                            "radio-cli monitor --port tcp://lab-pc:7362", "radio-cli lock --port bench-3 -- ./sweep.sh",
                            "radio-cli set-power --help"]),
        version: BuildInfo.versionLine("radio-cli", protocolVersion: Frame.protocolVersion),
        subcommands: [Info.self, GetState.self, SetPower.self, SetChannel.self, Ping.self, Monitor.self, Bench.self, Load.self, Serve.self,
                      Lock.self, Unlock.self, Who.self, Status.self, Places.self, List.self, Shell.self, Conform.self])
}

extension RadioCLI {
    /// The subcommand `word` was probably meant to be: the same letters
    /// without dashes ("getstate"), or one edit away ("set-chanel").
    static func nearest(_ word: String) -> String? {
        let names = configuration.subcommands.compactMap { $0.configuration.commandName }
        let bare = word.lowercased().filter { $0 != "-" && $0 != "_" }
        if let same = names.first(where: { $0.filter { $0 != "-" } == bare }) { return same }
        return names.map { ($0, editDistance(Array(word.lowercased()), Array($0))) }
            .filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Port path or URL (default: $RADIO_PORT, else user-sim, this user's simulator).", valueName: "port"),
            transform: PortArgument.parse)
    var port: PortArgument?

    // `.unconditional`: "-0" and "-9600" are values to refuse by name, not
    // options that leave these without one.
    @Option(name: .long, parsing: .unconditional,
            help: ArgumentHelp("Deadline of each command in seconds, retries included.", valueName: "seconds"))
    var timeout: Double = 1.0

    @Option(name: .long, help: "Further attempts when a command gets no answer.")
    var retries: Int = 2

    @Option(name: .long, parsing: .unconditional, help: "Baud rate of a serial port (any rate the adapter supports).")
    var baud: Int = 115_200

    @Flag(name: .long, help: "RTS/CTS hardware flow control.")
    var rtscts = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @Flag(name: .long, help: "Log every frame sent and received to stderr.")
    var trace = false

    func validate() throws {
        guard timeout.isFinite, timeout >= 0.001, timeout <= 3600 else {
            throw ValidationError("--timeout must be a number of seconds from 0.001 (1 ms) to 3600, got \(timeout)")
        }
        guard (0...10).contains(retries) else { throw ValidationError("--retries must be 0...10, got \(retries)") }
        guard baud > 0 else { throw ValidationError("--baud must be a positive integer, got \(baud)") }
    }

    var resolvedPort: String {
        port?.text ?? getenv("RADIO_PORT").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "user-sim"
    }

    /// How the commands name the radio's port: the transport's name in
    /// text; in JSON, the port string as given and the tty behind it.
    func label(_ radio: RadioClient) -> PortLabel {
        let port = ShellSession.port ?? resolvedPort
        let device = radio.device
        return PortLabel(text: radio.portName, port: port, device: device == port ? nil : device)
    }

    var settings: SerialSettings { SerialSettings(baud: baud, hardwareFlowControl: rtscts) }
    var deadline: Duration { .milliseconds(Int64((timeout * 1000).rounded())) }
    var clientOptions: RadioClient.Options {
        RadioClient.Options(timeout: deadline, retries: retries, trace: trace ? Trace.write : nil)
    }

    /// The port, parsed (`--baud` and `--rtscts` where the string gives
    /// none); a place name is looked up in the lab file first.
    func address() throws(RadioError) -> PortAddress {
        try portSchemes.parse(try Lab.port(for: resolvedPort), settings: settings)
    }

    /// Opens the port (a connect gives up at `--timeout`) and warns about
    /// a slow USB latency timer.
    func openTransport(_ address: PortAddress) throws(RadioError) -> any RadioTransport {
        let transport = try address.openTransport(timeout: deadline)
        warnAboutLatency(address)
        return transport
    }

    /// Opens the radio, runs `body`, closes it, and turns any driver error
    /// into its one-line message and exit status. Commands that check a
    /// value against the radio's ranges pass `rangeMessage`, so that an
    /// out-of-range rejection names the range.
    /// Opens the radio, runs `body`, closes it; a RadioError becomes a
    /// Failure. An *out of range* refusal is worded by `outOfRange` (from
    /// what the command already learnt from Identify; nil: the plain error).
    /// In `radio-cli shell`, the shell's open client is used (and left open).
    func withRadio<T>(
        _ body: (RadioClient) async throws(RadioError) -> T,
        outOfRange: (() -> String?)? = nil
    ) async throws -> T {
        let shared = ShellSession.client
        let client = if let shared { shared } else { try await openClient() }
        defer { if shared == nil { client.close() } }
        do {
            return try await body(client)
        } catch .device(let command, .outOfRange) {
            guard let message = outOfRange?() else { throw Failure(RadioError.device(command, .outOfRange)) }
            throw Failure(message, status: 65)
        } catch .timeout(let command, let deadline) {
            throw Failure(RadioError.timeout(command, deadline), hint: silenceHint(client))
        } catch {
            throw Failure(error)
        }
    }

    /// Opens the radio's port. With $RADIO_LEASE set (a command run by
    /// `radio-cli lock -- ...`, or after `lock --keep`), presents the lease's
    /// token first, so this client's set commands pass the lease (§11.1); a
    /// radio that is not a daemon knows no leases, and a lease that has gone
    /// is said once on stderr.
    func openClient(claim: Bool = true) async throws -> RadioClient {
        let client: RadioClient
        do throws(RadioError) {
            client = RadioClient(transport: try openTransport(try address()), options: clientOptions)
        } catch {
            throw Failure(error)
        }
        guard claim, let token = try leaseFromEnvironment() else { return client }
        do throws(RadioError) {
            _ = try await client.daemon(.claim(token: token))
        } catch .device(_, .unknownCommand) {
            // A radio, not a daemon: no lease to present.
        } catch .device(_, .notHeld) {
            Console.error("radio-cli: warning: RADIO_LEASE \(leaseToken(token)) is not the lease on \(client.portName) "
                          + "(it expired or was given back); going on without it\n")
        } catch {
            client.close()
            throw Failure(error)
        }
        return client
    }

    /// Why a serial port may stay silent, when not one byte came back: what
    /// to check at the bench.
    func silenceHint(_ client: RadioClient) -> String? {
        let s = client.statistics
        guard s.responses == 0, s.discardedBytes == 0, s.telemetryFrames == 0,
              let address = try? address(), address.port.devicePath() != nil else { return nil }
        return "nothing came back on \(client.portName): is the radio powered, cabled to this port, "
            + "and at \(address.baud ?? baud) baud (--baud)?"
    }
}

/// Says so on stderr when the port's USB adapter has a latency timer above
/// 1 ms (an FTDI's default is 16), which every round trip would wait out.
func warnAboutLatency(_ address: PortAddress) {
    if let tty = address.port.devicePath(), let warning = RadioDiscovery.latencyWarning(forTTY: tty) {
        Console.error("radio-cli: warning: \(warning)\n")
    }
}

/// A failure the CLI reports in one line with a sysexits status.
struct Failure: Error, CustomStringConvertible {
    private(set) var description: String
    let status: Int32

    init(_ message: String, status: Int32) {
        description = message
        self.status = status
    }

    /// Exits with `status` and prints nothing (the status of a command
    /// radio-cli ran, which said what it had to say).
    init(quietStatus: Int32) {
        description = ""
        status = quietStatus
    }

    /// The error's line, and a hint after it where there is one.
    init(_ error: RadioError, hint: String?) {
        self.init(error)
        if let hint { description += "; " + hint }
    }

    init(_ error: RadioError) {
        description = error.description
        status = switch error {
        case .invalidPort, .invalidRequest: 64                       // EX_USAGE
        case .noValidResponse, .malformedResponse: 65                // EX_DATAERR
        case .device(_, let s) where s == .outOfRange || s == .malformed: 65
        case .device(_, let s) where s == .busy: 75                  // EX_TEMPFAIL
        case .leased: 75
        case .device: 69                                             // EX_UNAVAILABLE
        case .notFound, .notATerminal, .disconnected, .unsupportedBaudRate, .closed, .incompatibleRadio: 69
        case .timeout, .busy, .writeTimeout, .connectTimeout, .overloaded: 75
        case .permissionDenied: 77                                   // EX_NOPERM
        case .configuration: 78                                      // EX_CONFIG
        case .system: 71                                             // EX_OSERR
        case .cancelled: 70                                          // EX_SOFTWARE
        }
    }
}

/// `text` safe to print as one line of an error: control characters (a
/// newline, an escape sequence that would reach the terminal) written as
/// escapes, and cut to 400 characters, since the text may carry what the
/// user typed (a port string, a value).
func oneLine(_ text: String, limit: Int = 400) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        let piece: String
        switch scalar {
        case "\n": piece = "\\n"
        case "\r": piece = "\\r"
        case "\t": piece = "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value):
            piece = "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
        default: piece = String(scalar)
        }
        if count + piece.count > limit {
            return out + "… (\(text.unicodeScalars.count) characters in all)"
        }
        out += piece
        count += piece.count
    }
    return out
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// Parses a number given as a positional argument. Negative values such as
/// "-3" would otherwise be read as options, so the subcommands collect
/// their arguments unparsed and call this.
func single(_ values: [String], name: String) throws -> String {
    let values = values.filter { $0 != "--" }
    guard values.count == 1, let value = values.first else {
        throw ValidationError(values.isEmpty ? "missing \(name)" : "expected one \(name), got \(values.count) values: \(values.joined(separator: " "))")
    }
    return value
}

@main
enum Main {
    static func main() async {
        do {
            var command = try RadioCLI.parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            if !failure.description.isEmpty { Console.error("radio-cli: \(oneLine(failure.description))\n") }
            exit(failure.status)
        } catch {
            let code = RadioCLI.exitCode(for: error)
            if code == .success {
                print(RadioCLI.fullMessage(for: error))
                exit(0)
            }
            // One line naming the problem, not the whole usage text, and
            // the help of the subcommand it was about.
            var message = RadioCLI.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid input"
            let words = Array(CommandLine.arguments.dropFirst())
            let subcommand = words.first { w in RadioCLI.configuration.subcommands.contains { $0.configuration.commandName == w } }
            if subcommand == nil, let typo = words.first(where: { !$0.hasPrefix("-") }), let near = RadioCLI.nearest(typo) {
                message += "; did you mean '\(near)'?"
            }
            let help = subcommand.map { "radio-cli \($0) --help" } ?? "radio-cli --help"
            Console.error("radio-cli: \(oneLine(message)) (see '\(help)')\n")
            exit(code == .validationFailure ? 64 : code.rawValue)
        }
    }
}
