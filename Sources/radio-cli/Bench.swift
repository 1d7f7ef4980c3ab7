import ArgumentParser
import FoundationEssentials
import Glibc
import RadioIO
import Histogram
import Locking
import RadioBench
import RadioDriver
import RadioProtocol

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time round trips to the radio: percentiles, throughput, and the wire-time floor.",
        discussion: """
            Runs --count round trips of each command, one in flight at a time, after --warmup \
            unmeasured ones. For a serial line it also prints the wire-time floor: the bytes \
            of a request and its reply at 10 bits per byte at --baud, which no link at that \
            rate can beat. A pty does not pace bytes; `radio-sim --baud N` emulates a line.
            """ + examples(
            ["radio-cli bench --count 2000", "radio-cli bench --command set-power --port /dev/ttyUSB0", "radio-cli bench --json | jq '.commands[\"set-power\"].latency_us.p50'"]))
    @OptionGroup var global: GlobalOptions

    @Option(name: .shortAndLong, help: "Round trips per command.")
    var count: Int = 1000

    @Option(help: "Unmeasured round trips per command first.")
    var warmup: Int = 50

    // --command, as in `load`; --commands, its first name, still works.
    @Option(name: [.customLong("command"), .customLong("commands")],
            help: "Commands to time, comma-separated: \(NameList<BenchCommand>.known).",
            transform: NameList<BenchCommand>.parser("command"))
    var commands = NameList<BenchCommand>(names: [.setPower, .setChannel])

    func validate() throws {
        guard (1...10_000_000).contains(count) else { throw ValidationError("--count must be 1...10000000, got \(count)") }
        guard (0...1_000_000).contains(warmup) else { throw ValidationError("--warmup must be 0...1000000, got \(warmup)") }
    }

    func run() async throws {
        let benchmark = LinkBenchmark(commands: commands.names, count: count, warmup: warmup)
        let bar = ProgressBar(enabled: !global.json && isatty(STDERR_FILENO) == 1)
        let baud = (try? global.address())?.baud
        // Ctrl-C or SIGTERM: stop, and report what was measured.
        let interrupted = Interruption()
        defer { interrupted.cancel() }
        let (port, results) = try await global.withRadio { radio throws(RadioError) in
            (global.label(radio), try await benchmark.run(on: radio, progress: bar.update, stop: interrupted.check))
        }
        bar.finish()
        if global.json {
            BenchOutput.json(results, port: port, count: count, baud: baud, interrupted: interrupted.signal)
        } else {
            if let sig = interrupted.signal { print("(interrupted by \(Interruption.name(sig)): the figures below are what was measured so far)") }
            BenchOutput.text(results, port: port, count: count, baud: baud)
        }
        if let sig = interrupted.signal { throw Interruption.failure(sig) }
        if results.allSatisfy({ $0.histogram.totalCount == 0 }) {
            let last = results.compactMap(\.lastError).last.map { ": \($0)" } ?? ""
            throw Failure("no round trip succeeded\(last)", status: 75)
        }
    }
}

/// A progress bar on stderr, for a person at a terminal.
struct ProgressBar: Sendable {
    let enabled: Bool
    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            + "] \(done * 100 / total)%"
        Console.error(line)
    }
    func finish() {
        if enabled { Console.error("\r\u{1B}[K") }
    }
}

enum BenchOutput {
    static func micros(_ ns: UInt64) -> Double { (Double(ns) / 100).rounded() / 10 }
    static func micros(_ d: Duration) -> Double {
        micros(nanoseconds(d))
    }

    static func json(_ results: [CommandResult], port: PortLabel, count: Int, baud: Int?, interrupted: Int32? = nil) {
        var commands: [String: BenchJSON.Command] = [:]
        for r in results {
            let h = r.histogram
            commands[r.command.rawValue] = BenchJSON.Command(
                count: r.count, errors: r.errors,
                latency_us: h.totalCount == 0 ? [:] : [
                    "min": micros(h.min), "mean": (h.mean / 100).rounded() / 10, "p50": micros(h.valueAtPercentile(50)),
                    "p90": micros(h.valueAtPercentile(90)), "p99": micros(h.valueAtPercentile(99)),
                    "p99.9": micros(h.valueAtPercentile(99.9)), "max": micros(h.max),
                ],
                throughput_per_s: r.throughput.rounded(), request_bytes: r.requestBytes, reply_bytes: r.replyBytes,
                wire_floor_us: baud.map { micros(r.wireFloor(baud: $0)) }, last_error: r.lastError?.description)
        }
        JSON.emit(BenchJSON(port: port.port, device: port.device, count: count, baud: baud, commands: commands,
                            interrupted: interrupted.map(Interruption.name)))
    }

    static func text(_ results: [CommandResult], port: PortLabel, count: Int, baud: Int?) {
        print("radio-cli bench: \(port.text), \(count) round trips per command" + (baud.map { ", \($0) baud" } ?? ""))
        let header = ["command", "count", "errors", "p50", "p90", "p99", "p99.9", "max", "rate/s"]
            + (baud == nil ? [] : ["wire floor"])
        var rows = [header]
        for r in results {
            let h = r.histogram
            var row = [r.command.rawValue, "\(r.count)", "\(r.errors)"]
            row += [50, 90, 99, 99.9].map { fixed(micros(h.valueAtPercentile($0)), 1) }
            row += [fixed(micros(h.max), 1), fixed(r.throughput, 0)]
            if let baud { row.append(fixed(micros(r.wireFloor(baud: baud)), 1)) }
            rows.append(row)
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for (n, row) in rows.enumerated() {
            let cells = row.enumerated().map { i, cell in
                i == 0 ? leftAligned(cell, widths[i]) : rightAligned(cell, widths[i])
            }
            print(cells.joined(separator: "  ") + (n == 0 ? "   (µs)" : ""))
        }
        if let baud, results.contains(where: { $0.histogram.totalCount > 0 }) {
            let floors = results.map { "\($0.command.rawValue) \($0.requestBytes)+\($0.replyBytes) bytes" }
            print("wire floor: request+reply bytes × 10 bits / \(baud) baud (\(floors.joined(separator: ", "))); "
                  + "p50 / floor: " + results.map { r in
                      let f = micros(r.wireFloor(baud: baud))
                      return fixed(f > 0 ? micros(r.histogram.valueAtPercentile(50)) / f : 0, 2) + "×"
                  }.joined(separator: ", "))
            if results.contains(where: { micros($0.histogram.valueAtPercentile(50)) < micros($0.wireFloor(baud: baud)) }) {
                print("below 1×: this port does not pace bytes like a line at \(baud) baud (a pty does not; radio-sim --baud \(baud) emulates one)")
            }
        }
        for r in results where r.histogram.totalCount > 0 {
            print("\n\(r.command.rawValue) latency (µs):")
            histogram(r.histogram)
        }
        for r in results where r.errors > 0 {
            print("\(r.command.rawValue): \(r.errors) errors, last: \(r.lastError.map(String.init(describing:)) ?? "?")")
        }
    }

    /// Eight log-spaced buckets from the minimum to the maximum.
    static func histogram(_ h: Histogram<UInt64>) {
        let lo = Double(max(h.min, 1)), hi = Double(max(h.max, h.min + 1))
        let steps = 8
        let ratio = pow(hi / lo, 1 / Double(steps))
        var bounds: [UInt64] = (0...steps).map { UInt64(lo * pow(ratio, Double($0))) }
        bounds[steps] = h.max
        let counts = (0..<steps).map { i in
            h.count(within: (i == 0 ? 0 : bounds[i] + 1)...max(bounds[i + 1], i == 0 ? 0 : bounds[i] + 1))
        }
        let most = counts.max() ?? 1
        for i in 0..<steps {
            let bar = String(repeating: "█", count: most > 0 ? Int((Double(counts[i]) / Double(most) * 40).rounded(.up)) : 0)
            let label = rightAligned(fixed(micros(i == 0 ? h.min : bounds[i]), 1), 9) + " – "
                + rightAligned(fixed(micros(bounds[i + 1]), 1), 9)
            print("  \(label) │\(bar) \(counts[i])")
        }
    }
}
