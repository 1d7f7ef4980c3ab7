import ArgumentParser
import FoundationEssentials
import Glibc
import RadioIO
import Histogram
import RadioBench
import RadioDriver
import RadioProtocol

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Drive the radio at a constant request rate and report latency percentiles.",
        discussion: """
            Sends --rate requests per second in all, spread evenly over --clients callers, \
            for --duration seconds. Each request is due at a fixed time and its latency is \
            measured from then, not from when it was actually sent, so a stall counts against \
            every request due during it (the coordinated-omission correction of wrk2 and \
            Vegeta). On a tcp://, rfc2217:// or unix:// port each client is its own \
            connection (a sharing daemon sees --clients clients); on other ports the callers \
            share one connection. Every reply is checked against its request (set values, \
            ping payloads unique to the run), so a reply delivered to the wrong caller \
            counts as 'wrong reply'. Sending stops when --duration ends, even when the \
            callers are behind: requests still due then are reported as not sent, and the run \
            ends once the calls in flight have their answer or their timeout. A progress line \
            goes to stderr each second.

            Exit status: 0 when the run completed (errors are in the report), 65 if any reply \
            was wrong, 75 if no call succeeded, and the usual codes when the port cannot be opened.
            """ + examples(
            ["radio-cli load --clients 4 --rate 400 --duration 10", "radio-cli load --port tcp://127.0.0.1:7362 --clients 32 --rate 5000", "radio-cli load --command ping --json | jq .latency_us"]))
    @OptionGroup var global: GlobalOptions

    @Option(help: "Concurrent callers (connections on a network or unix port).")
    var clients: Int = 1

    @Option(help: "Requests per second, all clients together.")
    var rate: Double = 1000

    @Option(help: "Seconds to run.")
    var duration: Double = 10

    @Option(help: "What to send: \(NameList<LoadCommand>.known) (mix: SetPower and SetChannel in turn).",
            transform: oneOf("--command"))
    var command: LoadCommand = .mix

    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard (1...4096).contains(clients) else { throw ValidationError("--clients must be 1...4096, got \(clients)") }
        guard rate.isFinite, rate >= LoadPlan.slowestRate, rate <= 10_000_000 else {
            throw ValidationError("--rate must be a number of requests per second from 1/86400 (one a day) to 10000000, got \(rate)")
        }
        guard duration.isFinite, duration >= 0.001, duration <= 86_400 else {
            throw ValidationError("--duration must be a number of seconds from 0.001 (1 ms) to 86400, got \(duration)")
        }
    }

    func run() async throws {
        var radios: [RadioClient] = []
        do throws(RadioError) {
            let address = try global.address()
            // A server (a sharing daemon, ser2net) gets one connection per
            // client; a local port is one connection the callers share.
            let connections = address.port.connectsPerClient ? clients : 1
            for _ in 0..<connections {
                radios.append(RadioClient(transport: try global.openTransport(address), options: global.clientOptions))
            }
        } catch {
            for r in radios { r.close() }
            throw Failure(error)
        }
        defer { for r in radios { r.close() } }
        let identity: Identity
        do {
            identity = try await radios[0].identify()
        } catch {
            throw Failure(error)
        }
        let plan = LoadPlan(workers: clients, rate: rate, duration: .milliseconds(Int64((duration * 1000).rounded())),
                            command: command,
                            salt: UInt32(truncatingIfNeeded: getpid()) &* 0x9E37_79B9)
        let live = !quiet && isatty(STDERR_FILENO) == 1
        let quiet = quiet, total = duration
        // Ctrl-C or SIGTERM: stop sending, and report what was measured.
        let interrupted = Interruption()
        defer { interrupted.cancel() }
        let report = await LoadGenerator.run(plan, clients: radios, identity: identity, progress: { p in
            guard !quiet else { return }
            let seconds = Double(p.elapsed / .milliseconds(100)) / 10
            var line = "load: \(fixed(seconds, 0))/\(fixed(total, 0)) s  sent \(p.sent)  ok \(p.ok)  errors \(p.errors)  "
                + "\(fixed(p.rate, 0))/s"
            if let p50 = p.p50, let p99 = p.p99 {
                line += "  p50 \(fixed(BenchOutput.micros(p50), 1)) µs  p99 \(fixed(BenchOutput.micros(p99), 1)) µs"
            }
            Console.error((live ? "\r\u{1B}[K" + line : line + "\n"))
        }, stop: interrupted.check)
        if live { Console.error("\r\u{1B}[K") }
        let port = global.label(radios[0])
        if global.json {
            LoadOutput.json(report, port: port, interrupted: interrupted.signal)
        } else {
            if let sig = interrupted.signal { print("(interrupted by \(Interruption.name(sig)): the figures below are what was measured so far)") }
            LoadOutput.text(report, port: port)
        }
        if let sig = interrupted.signal { throw Interruption.failure(sig) }
        if report.tally.errors["wrong reply", default: 0] > 0 {
            throw Failure("\(report.tally.errors["wrong reply", default: 0]) replies did not match their requests", status: 65)
        }
        if report.tally.ok == 0 {
            throw Failure("no call succeeded (\(report.tally.errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ")))", status: 75)
        }
    }
}

enum LoadOutput {
    static let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99)]

    static func summary(_ h: Histogram<UInt64>) -> [String: Double] {
        guard h.totalCount > 0 else { return [:] }
        var o: [String: Double] = ["max": BenchOutput.micros(h.max), "min": BenchOutput.micros(h.min),
                                   "mean": (h.mean / 100).rounded() / 10]
        for (name, p) in percentiles { o[name] = BenchOutput.micros(h.valueAtPercentile(p)) }
        return o
    }

    static func json(_ r: LoadReport, port: PortLabel, interrupted: Int32? = nil) {
        let t = r.tally
        JSON.emit(LoadJSON(
            port: port.port, device: port.device, clients: r.plan.workers, rate_per_s: r.plan.rate, command: r.plan.command.rawValue,
            duration_s: Double(r.plan.duration / .milliseconds(1)) / 1000,
            scheduled: r.plan.scheduled, sent: t.sent, not_sent: t.notSent, ok: t.ok, errors: t.errorCount,
            error_kinds: t.errors, achieved_rate_per_s: (r.achievedRate * 10).rounded() / 10,
            elapsed_s: (Double(r.elapsed / .microseconds(1)) / 1000).rounded() / 1000,
            latency_us: summary(t.latency), service_time_us: summary(t.serviceTime),
            max_start_lag_us: BenchOutput.micros(t.maxStartLag), interrupted: interrupted.map(Interruption.name)))
    }

    static func text(_ r: LoadReport, port: PortLabel) {
        let t = r.tally
        print("radio-cli load: \(port.text), \(r.plan.workers) clients, \(formatRate(r.plan.rate))/s of \(r.plan.command.rawValue) "
              + "for \(Double(r.plan.duration / .milliseconds(1)) / 1000) s")
        print("requests: \(t.sent) sent of \(r.plan.scheduled) due"
              + (t.notSent > 0 ? " (\(t.notSent) not sent: the duration ended with the callers behind)" : "")
              + ", \(t.ok) ok, \(t.errorCount) errors"
              + (t.errors.isEmpty ? "" : " (" + t.errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ") + ")"))
        print("achieved: \(formatRate(r.achievedRate))/s; latest start \(BenchOutput.micros(t.maxStartLag)) µs after due")
        guard t.latency.totalCount > 0 else { return }
        let rows = [("from due time", t.latency), ("service time", t.serviceTime)].map { label, h in
            (label, percentiles.map { fixed(BenchOutput.micros(h.valueAtPercentile($0.1)), 1) }
                + [fixed(BenchOutput.micros(h.max), 1)])
        }
        // Columns as wide as their widest figure (a run far behind has
        // six-digit microseconds), with two spaces between.
        let width = max(8, (rows.flatMap(\.1).map(\.count).max() ?? 0) + 2)
        func pad(_ text: String, _ n: Int) -> String { leftAligned(text, n) }
        func line(_ label: String, _ cells: [String]) -> String {
            String((pad(label, 22) + cells.dropLast().map { pad($0, width) }.joined() + (cells.last ?? "")))
        }
        print(line("latency (µs)", percentiles.map(\.0) + ["max"]))
        for (label, cells) in rows { print(line(label, cells)) }
    }

    static func formatRate(_ r: Double) -> String {
        r == r.rounded() ? String(Int(r)) : fixed(r, 1)
    }
}
