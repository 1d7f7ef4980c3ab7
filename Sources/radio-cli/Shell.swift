import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import RadioIO
import CEditLine
import RadioDriver
import RadioProtocol

/// The client `radio-cli shell` runs its commands over (a task-local, so
/// that `GlobalOptions.withRadio` uses it instead of opening the port).
enum ShellSession {
    @TaskLocal static var client: RadioClient?
    /// The shell's port string, for the `port` its commands report.
    @TaskLocal static var port: String?
}

struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Run many commands over one connection, one per line on stdin.",
        discussion: """
            Opens the radio once and reads commands from standard input, one per line, in \
            the words of the subcommands: info, get-state, set-power DBM, set-channel N, \
            ping [--count N], monitor --count N, bench [...]. Also: telemetry on|off (print \
            the radio's telemetry between commands, as it comes), help, quit. Blank lines \
            and lines starting with # are skipped; words may be quoted. The connection \
            options (--port, --timeout, --retries, --baud, --rtscts, --trace) are the \
            shell's, given once; --json makes every command print one JSON object per line, \
            and a failed command {"error": "...", "exit": N}. On a terminal it prompts, \
            lines can be edited, and the up arrow recalls earlier ones (history kept in \
            $XDG_STATE_HOME/radio-cli/history, else ~/.local/state/radio-cli/history); \
            through a pipe it does neither. A failed command does not end the shell; its exit \
            status is 0 when every command succeeded, else that of the last that failed.

            Example: printf 'set-power 20\\nget-state\\n' | radio-cli shell --json --port /dev/ttyUSB0
            """ + examples(
            ["printf 'set-power 20\\nget-state\\n' | radio-cli shell --json", "radio-cli shell --port /dev/ttyUSB0 < script.txt", "radio-cli shell                # a prompt on a terminal"]))

    @OptionGroup var global: GlobalOptions

    /// What the shell runs; the rest (load, serve, list, shell) open ports
    /// or listeners of their own.
    static let commands: Set<String> = ["info", "get-state", "set-power", "set-channel", "ping", "monitor", "bench",
                                        "lock", "unlock", "who", "status"]
    /// Options that belong to the shell's one connection.
    static let connectionOptions: Set<String> = ["--port", "--timeout", "--retries", "--baud", "--rtscts", "--trace"]

    func run() async throws {
        let client: RadioClient
        do throws(RadioError) {
            client = RadioClient(transport: try global.openTransport(try global.address()), options: global.clientOptions)
        } catch {
            throw Failure(error)
        }
        defer { client.close() }
        let interactive = isatty(STDIN_FILENO) == 1
        let lines = Shell.readLines(prompt: interactive ? "radio> " : nil)
        var ran = 0, failed = 0
        var lastFailure: Int32 = 0
        var telemetry: Task<Void, Never>?
        defer { telemetry?.cancel() }
        for await line in lines {
            let quit = await handle(line, client: client, telemetry: &telemetry, ran: &ran, failed: &failed,
                                    lastFailure: &lastFailure)
            if quit { break }
            if interactive { Shell.turn.signal() }
        }
        if failed > 0 {
            throw Failure("\(failed) of \(ran) command\(ran == 1 ? "" : "s") failed", status: lastFailure)
        }
    }

    /// One line: true when it says to quit.
    private func handle(_ line: String, client: RadioClient, telemetry: inout Task<Void, Never>?, ran: inout Int,
                        failed: inout Int, lastFailure: inout Int32) async -> Bool {
        let words: [String]
        do {
            words = try Shell.words(line)
        } catch {
            ran += 1
            failed += 1
            lastFailure = report(error.description, status: 64)
            return false
        }
        guard let name = words.first else { return false }
        switch name {
        case "quit", "exit":
            return true
        case "help":
            print("commands: \(Shell.commands.sorted().joined(separator: ", ")); telemetry on|off; quit "
                  + "(each command takes its own options, e.g. 'ping --count 3'; 'set-power --help')")
        case "telemetry":
            switch words.dropFirst().first {
            case "on":
                if telemetry == nil { telemetry = Shell.printTelemetry(client, json: global.json) }
            case "off":
                telemetry?.cancel()
                telemetry = nil
            default:
                ran += 1
                failed += 1
                lastFailure = report("telemetry takes on or off", status: 64)
            }
        default:
            ran += 1
            if let status = await runCommand(words, on: client) {
                failed += 1
                lastFailure = status
            }
        }
        return false
    }

    /// Runs one line's command over the shell's client; nil when it
    /// succeeded, else its exit status (reported already).
    private func runCommand(_ words: [String], on client: RadioClient) async -> Int32? {
        guard Shell.commands.contains(words[0]) else {
            return report("'\(words[0])' is not a shell command (help lists them)", status: 64)
        }
        if let option = words.first(where: { w in Shell.connectionOptions.contains { w == $0 || w.hasPrefix($0 + "=") } }) {
            return report("\(option) belongs to the shell's connection: give it to 'radio-cli shell'", status: 64)
        }
        var arguments = words
        if global.json && !arguments.contains("--json") { arguments.append("--json") }
        do {
            let parsed = try RadioCLI.parseAsRoot(arguments)
            guard var command = parsed as? any AsyncParsableCommand else {
                // --help and the like: what argument-parser prints for them.
                print(RadioCLI.helpMessage(for: type(of: parsed)))
                return nil
            }
            try await ShellSession.$client.withValue(client) {
                try await ShellSession.$port.withValue(global.resolvedPort) { try await command.run() }
            }
            return nil
        } catch let failure as Failure {
            return report(failure.description, status: failure.status)
        } catch {
            let code = RadioCLI.exitCode(for: error)
            if code == .success {
                print(RadioCLI.fullMessage(for: error))
                return nil
            }
            let message = RadioCLI.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid input"
            return report(message, status: code == .validationFailure ? 64 : code.rawValue)
        }
    }

    /// A failed command: one JSON line on stdout with --json, else one
    /// line on stderr. Returns the status.
    private func report(_ message: String, status: Int32) -> Int32 {
        if global.json {
            JSON.emit(ShellErrorJSON(error: oneLine(message), exit: Int(status)))
        } else {
            Console.error("radio-cli: \(oneLine(message))\n")
        }
        return status
    }

    /// Prints telemetry as it comes, between commands, until cancelled.
    static func printTelemetry(_ client: RadioClient, json: Bool) -> Task<Void, Never> {
        let subscription = client.subscribe(TelemetryFilter(bufferSize: 256))
        let printer = MonitorPrinter(fields: MonitorField.allCases, json: json, live: false)
        return Task {
            await withTaskCancellationHandler {
                for await event in subscription { printer.show(event) }
            } onCancel: {
                subscription.cancel()
            }
        }
    }

    /// Lines of stdin, read on a thread of its own (a read blocks). With a
    /// prompt (stdin is a terminal), through libedit: the line can be
    /// edited (arrows, Ctrl-A/E/W/K ...), and earlier lines come back with
    /// the up arrow, this session's and earlier sessions' (`historyFile`).
    static func readLines(prompt: String?) -> AsyncStream<String> {
        AsyncStream { continuation in
            startThread(name: "radio-cli-stdin") {
                let history = prompt == nil ? nil : historyFile()
                if let history {
                    stifle_history(1000)
                    _ = read_history(history)
                }
                while true {
                    let line: String
                    if let prompt {
                        guard let typed = readline(prompt) else { break }
                        line = String(cString: typed)
                        free(typed)
                        if !line.allSatisfy(\.isWhitespace) {
                            add_history(line)
                            if let history { _ = write_history(history) }
                        }
                    } else {
                        guard let read = readLine(strippingNewline: true) else { break }
                        line = read
                    }
                    continuation.yield(line)
                    // One command at a time: the next prompt after this one ran.
                    if prompt != nil { Shell.turn.wait() }
                }
                if prompt != nil { Console.out("\n") }
                continuation.finish()
            }
        }
    }

    /// Where the interactive shell keeps its history:
    /// $XDG_STATE_HOME/radio-cli/history, else ~/.local/state/radio-cli/history;
    /// nil (history for this session only) when neither can be made.
    static func historyFile() -> String? {
        let env = { (name: String) in getenv(name).map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil } }
        guard let state = env("XDG_STATE_HOME") ?? env("HOME").map({ $0 + "/.local/state" }) else { return nil }
        var path = ""
        for part in (state + "/radio-cli").split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST { return nil }
        }
        return path + "/history"
    }

    /// Signalled when an interactive command has run, so the prompt follows its output.
    static let turn = DispatchSemaphore(value: 0)

    /// Splits a line into words: blanks separate, '...' and "..." quote,
    /// a backslash escapes the next character; # at a word's start comments
    /// out the rest.
    static func words(_ line: String) throws(ShellSyntaxError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in line {
            if escaped {
                current.append(c)
                escaped = false
                continue
            }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escaped = true } else { current.append(c) }
                continue
            }
            switch c {
            case "\\": escaped = true; inWord = true
            case "'", "\"": quote = c; inWord = true
            case " ", "\t":
                if inWord { words.append(current); current = ""; inWord = false }
            case "#" where !inWord:
                return words
            default:
                current.append(c)
                inWord = true
            }
        }
        if quote != nil { throw ShellSyntaxError(description: "unterminated quote in: \(line)") }
        if escaped { throw ShellSyntaxError(description: "a backslash ends the line: \(line)") }
        if inWord { words.append(current) }
        return words
    }
}

/// `shell --json`: a command that failed.
struct ShellErrorJSON: Encodable {
    let error: String
    let exit: Int
}

struct ShellSyntaxError: Error, CustomStringConvertible {
    let description: String
}
