import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import RadioDriver
import RadioIO
import RadioProtocol
import Synchronization

struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Show the radio's telemetry live.",
        discussion: """
            On a terminal, one line updated in place; otherwise one line per sample. With \
            --json, one JSON object per sample per line, for jq; a subscriber that falls \
            behind gets {"event":"dropped","count":N}, and samples lost on the line \
            {"event":"gap","missed":N}. Stops after --count samples, after --duration \
            seconds, or on Ctrl-C, and prints a summary on stderr.
            """ + examples(
            ["radio-cli monitor", "radio-cli monitor --count 100 --fields rssi,snr --max-rate 5", "radio-cli monitor --json --telemetry-hz 50 | jq .rssi_dbm"]))
    @OptionGroup var global: GlobalOptions

    @Option(name: .shortAndLong, help: "Stop after this many samples.")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    // Not --rate: in `load` that is requests per second.
    @Option(name: .customLong("max-rate"), help: "Show at most this many samples per second (by the radio's clock).")
    var rate: Double?

    @Option(help: "Fields to show: \(NameList<MonitorField>.known) (default: all).",
            transform: NameList<MonitorField>.parser("field"))
    var fields: NameList<MonitorField>?

    @Option(name: .customLong("telemetry-hz"), help: "First set the radio's telemetry rate in frames/s (every radio takes 0...10; the simulator up to 5000).")
    var telemetryHz: UInt16?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if let duration, !(duration.isFinite && duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if let rate, !(rate.isFinite && rate > 0) { throw ValidationError("--max-rate must be a positive number of samples per second") }
    }

    func run() async throws {
        let printer = MonitorPrinter(fields: fields?.names ?? MonitorField.allCases, json: global.json,
                                     live: !global.json && isatty(STDOUT_FILENO) == 1)
        let count = count, duration = duration, rate = rate, telemetryHz = telemetryHz
        let summary = try await global.withRadio { radio throws(RadioError) -> MonitorSummary in
            // The settings before any outage, to say what one changed.
            var before = try await radio.state()
            if let telemetryHz {
                before.telemetryRate = try await radio.setTelemetryRate(telemetryHz)
            } else if before.telemetryRate == 0 {
                Console.error("radio-cli: the radio's telemetry is off; turn it on with --telemetry-hz N\n")
            }
            let subscription = radio.subscribe(TelemetryFilter(bufferSize: 4096, maxRate: rate))
            // Ctrl-C, SIGTERM and --duration end the subscription; the loop
            // below then finishes the samples it holds and returns.
            let stopper = Stopper(subscription, after: duration)
            defer { stopper.disarm() }
            var summary = MonitorSummary()
            var last: TelemetrySample?
            for await event in subscription {
                if case .reconnected = event {
                    // What the radio came back with: its power-on settings, if it restarted.
                    let now = try? await radio.state()
                    printer.reconnected(state: now, before: before)
                    if let now { before = now }
                } else {
                    printer.show(event)
                }
                summary.count(event)
                if case .sample(let s) = event { last = s }
                if let count, summary.samples >= count { break }
            }
            printer.finish(last: last)
            if let gone = radio.disconnection { throw gone }
            summary.elapsed = ContinuousClock.now - summary.start
            return summary
        } outOfRange: {
            // Identify gives no telemetry limit: every radio takes 0...10 Hz
            // (PROTOCOL.md 6.1), and this one refused more.
            telemetryHz.map { "telemetry rate \($0) Hz is out of range for this radio: every radio takes 0 to 10 Hz, "
                + "and this one refused \($0) (the simulator takes up to 5000)" }
        }
        Console.error("monitor: \(summary)\n")
    }
}

enum MonitorField: String, CaseIterable, Sendable {
    case rssi, snr, temperature, supply, forward, reflected
}

struct MonitorSummary: CustomStringConvertible {
    let start = ContinuousClock.now
    var elapsed: Duration = .zero
    var samples = 0
    var dropped = 0
    var missed = 0
    var outages = 0
    var reconnects = 0

    mutating func count(_ event: TelemetryEvent) {
        switch event {
        case .sample: samples += 1
        case .dropped(let n): dropped += n
        case .gap(let n): missed += n
        case .disconnected: outages += 1
        case .reconnected: reconnects += 1
        }
    }

    var description: String {
        let seconds = elapsed.inSeconds
        let rate = seconds > 0 ? Double(samples) / seconds : 0
        return "\(samples) samples in \(formatTenths(Int((seconds * 10).rounded()))) s "
            + "(\(formatTenths(Int((rate * 10).rounded())))/s), \(dropped) dropped here, \(missed) lost on the line"
            + (outages > 0 ? ", link lost \(outages) time\(outages == 1 ? "" : "s")" : "")
            + (outages > 0 ? ", back \(reconnects) time\(reconnects == 1 ? "" : "s")" : "")
    }
}

/// Ends a subscription on SIGINT, SIGTERM, or after a duration.
final class Stopper {
    private let signals: SignalCatcher
    private let timer: Task<Void, Never>?

    init(_ subscription: TelemetrySubscription, after duration: Double?) {
        signals = SignalCatcher { _ in subscription.cancel() }
        timer = duration.map { seconds in
            Task {
                try? await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded())))
                subscription.cancel()
            }
        }
    }

    func disarm() {
        timer?.cancel()
        signals.cancel()
    }
}

/// Writes samples for a person or for jq.
struct MonitorPrinter: Sendable {
    let fields: [MonitorField]
    let json: Bool
    /// A terminal: redraw one line in place, a few times a second.
    let live: Bool
    private let lastDraw = LastDraw()

    init(fields: [MonitorField], json: Bool, live: Bool) {
        self.fields = fields
        self.json = json
        self.live = live
    }

    func show(_ event: TelemetryEvent) {
        switch event {
        case .sample(let s):
            if json {
                write(jsonLine(s))
            } else if live {
                if lastDraw.due() { write("\r\u{1B}[K" + textLine(s)) }
            } else {
                write(textLine(s) + "\n")
            }
        case .dropped(let n):
            write(json ? JSON.line(MonitorEventJSON(event: "dropped", count: n)) + "\n"
                  : (live ? "\r\u{1B}[K" : "") + "-- \(n) samples dropped (display fell behind)\n")
        case .gap(let n):
            write(json ? JSON.line(MonitorEventJSON(event: "gap", missed: n)) + "\n"
                  : (live ? "\r\u{1B}[K" : "") + "-- \(n) samples lost on the line\n")
        case .disconnected(let reason):
            write(json ? JSON.line(MonitorEventJSON(event: "disconnected", reason: reason)) + "\n"
                  : (live ? "\r\u{1B}[K" : "") + "\(WallClock.timeOfDay()) -- link lost (\(reason)); waiting for the radio to come back\n")
        case .reconnected:
            reconnected(state: nil, before: nil)
        }
    }

    /// The link is back; `state` is the radio's now (nil: not read), and
    /// `before` its settings before the outage, to say what changed.
    func reconnected(state: RadioState?, before: RadioState?) {
        let changed = before.flatMap { b in state.map { Self.changes(from: b, to: $0) } } ?? []
        if json {
            var e = MonitorEventJSON(event: "reconnected")
            e.power_dbm = state?.power.dBm
            e.channel = state.map { Int($0.channel) }
            e.telemetry_hz = state.map { Int($0.telemetryRate) }
            e.settings_changed = state == nil || before == nil ? nil : !changed.isEmpty
            write(JSON.line(e) + "\n")
            return
        }
        var line = (live ? "\r\u{1B}[K" : "") + "\(WallClock.timeOfDay()) -- link back"
        if let state {
            line += ": power \(state.power), channel \(state.channel), telemetry \(state.telemetryRate)/s"
            if !changed.isEmpty {
                line += "; changed across the outage: " + changed.joined(separator: ", ")
                    + " (the radio restarted at its power-on settings?)"
            }
        }
        write(line + "\n")
    }

    static func changes(from a: RadioState, to b: RadioState) -> [String] {
        var out: [String] = []
        if a.power != b.power { out.append("power \(a.power) -> \(b.power)") }
        if a.channel != b.channel { out.append("channel \(a.channel) -> \(b.channel)") }
        if a.telemetryRate != b.telemetryRate { out.append("telemetry \(a.telemetryRate)/s -> \(b.telemetryRate)/s") }
        return out
    }

    /// Ends the live line, showing the last sample even if a redraw was skipped.
    func finish(last: TelemetrySample?) {
        guard live else { return }
        write((last.map { "\r\u{1B}[K" + textLine($0) } ?? "") + "\n")
    }

    /// One sample, each value right-aligned in a column of its own, so
    /// that the columns stay put as the values' widths change.
    func textLine(_ s: TelemetrySample) -> String {
        let m = s.measurements
        func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        var parts = [WallClock.timeOfDay(), right("#\(s.sequence)", 6), "t=" + right(formatThousandths(Int(s.uptimeMillis)), 8) + " s"]
        for f in fields {
            switch f {
            case .rssi: parts.append("rssi " + right(formatTenths(Int(m.rssiDeciDBm)), 6) + " dBm")
            case .snr: parts.append("snr " + right(formatTenths(Int(m.snrDeciDB)), 5) + " dB")
            case .temperature: parts.append("temp " + right(formatTenths(Int(m.temperatureDeciC)), 5) + " °C")
            case .supply: parts.append("supply " + right(formatThousandths(Int(m.supplyMillivolts)), 6) + " V")
            case .forward: parts.append("fwd " + right(formatTenths(Int(m.forwardDeciDBm)), 6) + " dBm")
            case .reflected: parts.append("refl " + right(formatTenths(Int(m.reflectedDeciDBm)), 6) + " dBm")
            }
        }
        return parts.joined(separator: "  ")
    }

    func jsonLine(_ s: TelemetrySample) -> String {
        let m = s.measurements
        var o = SampleJSON(seq: Int(s.sequence), uptime_ms: Int(s.uptimeMillis), time: WallClock.iso8601())
        for f in fields {
            switch f {
            case .rssi: o.rssi_dbm = Double(m.rssiDeciDBm) / 10
            case .snr: o.snr_db = Double(m.snrDeciDB) / 10
            case .temperature: o.temperature_c = Double(m.temperatureDeciC) / 10
            case .supply: o.supply_v = Double(m.supplyMillivolts) / 1000
            case .forward: o.forward_power_dbm = Double(m.forwardDeciDBm) / 10
            case .reflected: o.reflected_power_dbm = Double(m.reflectedDeciDBm) / 10
            }
        }
        return JSON.line(o) + "\n"
    }

    private func write(_ text: String) {
        Console.out(text)
    }
}

/// Rate-limits redraws of the live line to 20 a second.
final class LastDraw: Sendable {
    private let last = Atomic<Int64>(0)
    func due() -> Bool {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
        let prev = last.load(ordering: .relaxed)
        guard now - prev >= 50 else { return false }
        last.store(now, ordering: .relaxed)
        return true
    }
}

/// 13790 → "13.790"; -5 → "-0.005".
func formatThousandths(_ v: Int) -> String {
    let sign = v < 0 ? "-" : ""
    let m = v.magnitude
    let frac = String(m % 1000)
    return "\(sign)\(m / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
}
