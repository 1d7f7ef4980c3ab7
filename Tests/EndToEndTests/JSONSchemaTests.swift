import Foundation
import Testing

/// The one JSON schema every `--json` output keeps (README, "JSON
/// output"), checked on the real output of every command.
enum JSONSchema {
    /// A number's key ends in its unit...
    static let unitSuffixes = ["_us", "_ms", "_s", "_dbm", "_db", "_c", "_v", "_hz", "_per_s", "_bytes"]
    /// ...or it is a count or a number with no unit.
    static let unitless: Set<String> = [
        "count", "sent", "received", "lost", "errors", "ok", "not_sent", "scheduled", "clients", "channel", "seq",
        "protocol_version", "exit", "baud", "pid", "missed", "channel_range",
        // conform: cases counted
        "passed", "failed", "warnings", "skipped",
        // info --stats: the link's counters
        "requests", "responses", "retries", "timeouts", "crc_errors", "framing_errors", "unmatched_responses",
        "other_version_frames", "telemetry_frames", "disconnections",
        // status, who, places: a daemon's clients and lease
        "id", "in_flight", "queued", "clients_connected", "waiting",
    ]
    /// The keys of a percentile object (a key ending in `_us`).
    static let percentiles: Set<String> = ["min", "mean", "max", "p50", "p90", "p99", "p99.9", "p99.99"]
    /// Strings that hold identifiers, which may look like numbers.
    static let identifiers: Set<String> = ["serial_number", "usb_serial", "vendor_id", "product_id", "firmware_version",
                                           "section", "token"]

    /// Every way `value` (under `path`) breaks the schema.
    static func violations(_ value: Any, path: String = "$", key: String? = nil) -> [String] {
        var found: [String] = []
        if isBoolean(value) { return [] }
        switch value {
        case let object as [String: Any]:
            let isPercentiles = key.map { $0.hasSuffix("_us") } ?? false
            for (k, v) in object {
                let here = "\(path).\(k)"
                if isPercentiles {
                    if !percentiles.contains(k) { found.append("\(here): not a percentile name") }
                    if !(v is Double || v is Int) || isBoolean(v) { found.append("\(here): a percentile that is not a number") }
                    continue
                }
                // Names chosen by the data: a command name, an error kind.
                let dataKeyed = key == "commands" || key == "error_kinds" || key == "counters"
                if !dataKeyed && k.wholeMatch(of: /[a-z][a-z0-9_]*/) == nil { found.append("\(here): not snake_case") }
                found += violations(v, path: here, key: dataKeyed ? (key == "commands" ? "command" : key == "counters" ? "count" : "error_kind") : k)
            }
        case let array as [Any]:
            for (i, v) in array.enumerated() { found += violations(v, path: "\(path)[\(i)]", key: key) }
        case is NSNumber, is Int, is Double:
            guard let key else { break }
            if key == "error_kind" { break }
            if !unitSuffixes.contains(where: { key.hasSuffix($0) }) && !unitless.contains(key) {
                found.append("\(path): a number whose key names no unit")
            }
        case let text as String:
            if let key, !identifiers.contains(key), Double(text) != nil {
                found.append("\(path): a number in a string (\(text))")
            }
            if key == "port", text.contains(" (") { found.append("\(path): a note inside the port (\(text))") }
            if key == "time", text.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) == nil {
                found.append("\(path): time not in UTC ISO 8601 to the millisecond (\(text))")
            }
        default:
            break
        }
        return found
    }

    /// true and false: a Bool, or (as JSONSerialization makes them on
    /// Linux) an NSNumber of C type char.
    static func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    /// Parses each line of `stdout` and records every violation.
    static func check(_ what: String, _ stdout: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = stdout.split(separator: "\n")
        #expect(!lines.isEmpty, "\(what): no output", sourceLocation: sourceLocation)
        for line in lines {
            guard let value = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) else {
                Issue.record("\(what): not JSON: \(line)", sourceLocation: sourceLocation)
                continue
            }
            let problems = violations(value)
            #expect(problems.isEmpty, "\(what): \(problems) in \(line)", sourceLocation: sourceLocation)
        }
    }
}

@Suite("one JSON schema for every command")
struct JSONSchemaTests {
    @Test func theCheckFindsWhatItLooksFor() throws {
        #expect(JSONSchema.violations(["port": "sim (/dev/pts/0)"]).count == 1)
        #expect(JSONSchema.violations(["latency": 12.5]).count == 1, "a number without its unit")
        #expect(JSONSchema.violations(["latency_us": ["p999": 3]]).count == 1, "an unknown percentile name")
        #expect(JSONSchema.violations(["power_dbm": "20.5"]).count == 1, "a number in a string")
        #expect(JSONSchema.violations(["powerDbm": 20.5]).count == 2, "camelCase, and no unit suffix")
        #expect(JSONSchema.violations(["time": "07:56:17"]).count == 1)
        #expect(JSONSchema.violations(["rtt_us": ["p50": 140], "sent": 2, "serial_number": "123456", "ok": true]).isEmpty)
        // As parsed from text, where true is a number of type char on Linux.
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"ok":true,"seq":1,"latency":1,"held":false,"level":0.5}"#.utf8))
        #expect(JSONSchema.violations(parsed).sorted() == ["$.latency: a number whose key names no unit",
                                                            "$.level: a number whose key names no unit"])
    }

    @Test func everyCommandsJSONKeepsTheSchema() async throws {
        let sim = try SimProcess(["--telemetry-hz", "50"])
        let port = ["--port", sim.path]
        for arguments in [["info", "--stats"], ["get-state"], ["set-power", "3"], ["set-channel", "7"],
                          ["ping", "--count", "2", "--interval", "0"], ["monitor", "--count", "3"],
                          ["bench", "--count", "20", "--warmup", "2"],
                          ["load", "--duration", "0.3", "--rate", "50", "--quiet"]] {
            let result = try await run("radio-cli", arguments + ["--json"] + port)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            JSONSchema.check(arguments.joined(separator: " "), result.stdout)
        }
        // The port as given, the tty behind it apart, for an in-process simulator.
        let inProcess = try await run("radio-cli", ["get-state", "--json", "--port", "sim"])
        let state = try DaemonTests.json(inProcess.stdout)
        #expect(state["port"] as? String == "sim" && (state["device"] as? String)?.hasPrefix("/dev/pts/") == true,
                "\(inProcess.stdout)")
        JSONSchema.check("get-state --port sim", inProcess.stdout)

        let shell = try await run("radio-cli", ["shell", "--json"] + port, input: "get-state\nset-power 99\nping --count 1\n")
        #expect(shell.status == 65, "one command failed: \(shell.stderr)")
        #expect(shell.stdout.split(separator: "\n").count == 3, "\(shell.stdout)")
        JSONSchema.check("shell", shell.stdout)

        let probe = try await run("radio-cli", ["list", "--probe", "--json", sim.path])
        #expect(probe.status == 0, "\(probe.stderr)")
        JSONSchema.check("list --probe", probe.stdout)
        #expect(sim.stop() == 0)

        let daemon = try LineProcess("radio-cli", ["serve", "--json", "--port", "loop://", "--listen", "127.0.0.1:0"])
        try await daemon.waitUntil("the listening line") { !daemon.lines.isEmpty }
        let listening = try DaemonTests.json(daemon.lines[0])
        #expect(listening["event"] as? String == "listening" && (listening["url"] as? String)?.hasPrefix("tcp://127.0.0.1:") == true,
                "\(daemon.lines)")
        JSONSchema.check("serve", daemon.lines[0])
        let (status, _) = try await daemon.interrupt(SIGTERM)
        #expect(status == 0)
    }
}
