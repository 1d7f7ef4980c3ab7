import Foundation
import Testing

/// `serve --metrics` scraped for real: its exposition checked value by
/// value and by `promtool check metrics`, a real Prometheus scraping it,
/// the alert rules under `promtool test rules`, and the HTTP side against
/// bad requests. promtool and prometheus come from Debian's `prometheus`
/// package, which `make test` installs.
@Suite("radio-cli serve --metrics", .serialized)
struct MetricsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let monitoring = root.appendingPathComponent("docs/monitoring")

    /// A daemon with metrics, and the host:port they are served on.
    struct MetricsDaemon {
        let daemon: DaemonTests.Daemon
        let host: String
        let port: UInt16

        init(port radio: String, extra: [String] = []) async throws {
            daemon = try await DaemonTests.Daemon(port: radio, extra: ["--metrics", "127.0.0.1:0"] + extra, unixSocket: false)
            let process = daemon.process
            try await process.waitUntil("the metrics line") { process.lines.contains { $0.hasPrefix("metrics on ") } }
            let line = try #require(process.lines.first { $0.hasPrefix("metrics on ") })
            // metrics on http://127.0.0.1:PORT/metrics
            let hostPort = try #require(line.split(separator: "/").dropFirst(1).first.map(String.init), "\(line)")
            #expect(line == "metrics on http://\(hostPort)/metrics")
            let parts = hostPort.split(separator: ":")
            host = String(parts[0])
            port = try #require(UInt16(parts[1]))
        }

        var target: String { "\(host):\(port)" }

        func scrape() throws -> Scrape {
            let reply = try HTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: \(target)\r\n\r\n")
            #expect(reply.status == 200, "\(reply.head)")
            #expect(reply.head.contains("Content-Type: text/plain; version=0.0.4"), "\(reply.head)")
            return Scrape(reply.body)
        }
    }

    /// The series of one exposition: "name{labels}" → value.
    struct Scrape {
        let text: String
        let samples: [(series: String, value: Double)]

        init(_ text: String) {
            self.text = text
            samples = text.split(separator: "\n").compactMap { line in
                guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
                let value = line[line.index(after: space)...]
                return (String(line[..<space]), value == "+Inf" ? .infinity : Double(value) ?? .nan)
            }
        }

        /// The value of the one series named `name` whose labels include every
        /// `label="value"` given.
        func value(_ name: String, _ labels: String...) -> Double? {
            let matches = samples.filter { s in
                (s.series == name || s.series.hasPrefix(name + "{")) && labels.allSatisfy { s.series.contains($0) }
            }
            return matches.count == 1 ? matches[0].value : nil
        }

        var names: Set<String> {
            Set(samples.map { String($0.series.prefix { $0 != "{" }) })
        }
    }

    static func promtool(_ arguments: [String], stdin text: String? = nil) async throws -> Finished {
        let path = "/usr/bin/promtool"
        try #require(FileManager.default.isExecutableFile(atPath: path), "promtool missing: make test installs Debian's prometheus")
        guard let text else { return try await runProgram(path, arguments) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("scrape-\(UUID().uuidString).txt")
        try Data(text.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await runProgram("/bin/sh", ["-c", "\(path) \(arguments.joined(separator: " ")) < \(file.path)"])
    }

    /// Polls `body` every 100 ms until it returns a value (30 s at most).
    static func eventually<T>(_ what: String, limit: Duration = .seconds(30), _ body: () throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + limit
        while true {
            if let v = try body() { return v }
            guard ContinuousClock.now < deadline else {
                Issue.record("gave up waiting for \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func theMetricsFollowTheRadioAndPassPromtool() async throws {
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("radio-\(UUID().uuidString)").path
        let sim = try SimProcess(["--telemetry-hz", "20", "--link", link, "--serial-number", "MET-1"])
        let m = try await MetricsDaemon(port: link)
        let radio = #"serial="MET-1""#

        // Before any client: the daemon's own Identify and GetState.
        // (A scrape takes the counters, then the gauges: a GetState answered
        // in between shows its setting before its count, so wait for both.)
        let first = try await Self.eventually("the power-on state") { () -> Scrape? in
            let s = try m.scrape()
            return s.value("radio_power_setting_dbm", radio) != nil
                && (s.value("radio_daemon_state_queries_total", radio) ?? 0) >= 1 ? s : nil
        }
        #expect(first.value("radio_info", radio, #"model="RS-100 Simulated Radio""#) == 1, "\(first.text)")
        #expect(first.value("radio_link_up", radio) == 1)

        for arguments in [["set-power", "7.5"], ["set-channel", "321"], ["set-power", "-3"]] {
            let r = try await run("radio-cli", arguments + ["--port", m.daemon.tcp])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let s = try await Self.eventually("telemetry") { () -> Scrape? in
            let s = try m.scrape()
            return (s.value("radio_daemon_telemetry_frames_total") ?? 0) >= 5 ? s : nil
        }
        #expect(s.value("radio_power_setting_dbm", radio) == -3, "\(s.text)")
        #expect(s.value("radio_channel", radio) == 321)
        #expect(s.value("radio_request_duration_seconds_count", radio, #"command="SetPower""#) == 2)
        #expect(s.value("radio_request_duration_seconds_count", radio, #"command="SetChannel""#) == 1)
        let requests = try #require(s.value("radio_requests_total", radio))
        #expect(requests >= 3)
        #expect(s.value("radio_responses_total", radio) == requests)
        #expect(s.value("radio_daemon_clients_accepted_total") == 3)
        #expect(s.value("radio_unmatched_responses_total", radio) == 0)
        #expect(s.value("radio_crc_errors_total", radio) == 0)
        // The telemetry gauges, and VSWR computed from the power pair.
        for name in ["radio_rssi_dbm", "radio_snr_db", "radio_temperature_celsius", "radio_supply_volts"] {
            #expect(s.value(name, radio)?.isFinite == true, "\(name)")
        }
        let forward = try #require(s.value("radio_forward_power_dbm", radio))
        let reflected = try #require(s.value("radio_reflected_power_dbm", radio))
        let gamma = pow(10, (reflected - forward) / 20)
        let vswr = try #require(s.value("radio_vswr_ratio", radio))
        #expect(abs(vswr - (1 + gamma) / (1 - gamma)) < 1e-9, "forward \(forward), reflected \(reflected), vswr \(vswr)")

        let lint = try await Self.promtool(["check", "metrics"], stdin: s.text)
        #expect(lint.status == 0, "\(lint.stdout)\(lint.stderr)")
        #expect(lint.stdout.isEmpty && lint.stderr.isEmpty, "\(lint.stdout)\(lint.stderr)")

        // Every metric the alert rules and the dashboard use is served.
        let served = s.names.union(s.names.compactMap { n in
            ["_bucket", "_count", "_sum"].first { n.hasSuffix($0) }.map { String(n.dropLast($0.count)) } })
        for file in ["alerts.yml", "grafana-dashboard.json"] {
            let text = try String(contentsOf: Self.monitoring.appendingPathComponent(file), encoding: .utf8)
            let used = Set(text.matches(of: /radio_[a-z_]+/).map { String($0.output) })
            #expect(!used.isEmpty)
            for name in used.sorted() {
                #expect(served.contains(name) || served.contains(name.replacingOccurrences(of: "_bucket", with: "")),
                        "\(file) uses \(name), which the daemon does not serve")
            }
        }

        // Unplugged: link down, and counted; back: up, with the state asked again.
        let queries = try #require(s.value("radio_daemon_state_queries_total", radio))
        kill(sim.process.processIdentifier, SIGUSR1)
        let down = try await Self.eventually("the link down") { () -> Scrape? in
            let s = try m.scrape()
            return s.value("radio_link_up", radio) == 0 && s.value("radio_link_losses_total", radio) == 1 ? s : nil
        }
        #expect(down.value("radio_reconnects_total", radio) == 0)
        kill(sim.process.processIdentifier, SIGUSR2)
        let back = try await Self.eventually("the link back and the state asked again") { () -> Scrape? in
            let s = try m.scrape()
            return s.value("radio_link_up", radio) == 1 && s.value("radio_reconnects_total", radio) == 1
                && (s.value("radio_daemon_state_queries_total", radio) ?? 0) > queries ? s : nil
        }
        #expect(back.value("radio_link_losses_total", radio) == 1)
        _ = try await m.daemon.stop()
        #expect(sim.stop() == 0)
    }

    /// A radio that loses and corrupts answers: the client's retries and the
    /// radio's bad frames are counted; the daemon's first Identify may go
    /// unanswered, and the series are labelled with the serial once one is.
    @Test func retriesAndCRCErrorsAreCounted() async throws {
        let sim = try SimProcess(["--telemetry-hz", "0", "--fault", "drop-response=0.2,corrupt=0.02"])
        let m = try await MetricsDaemon(port: sim.path)
        let pings = try await run("radio-cli", ["ping", "--count", "30", "--interval", "0", "--timeout", "0.6", "--port", m.daemon.tcp])
        let s = try await Self.eventually("the radio identified") { () -> Scrape? in
            let s = try m.scrape()
            return s.value("radio_info", #"serial="SIM-0001""#) == 1 ? s : nil
        }
        #expect(!s.text.contains(#"serial="unknown""#), "\(s.text)")
        let retries = try #require(s.value("radio_request_retries_total", #"serial="SIM-0001""#), "\(s.text)")
        #expect(retries > 0, "\(pings.stdout)\(pings.stderr)")
        let crc = try #require(s.value("radio_crc_errors_total", #"serial="SIM-0001""#))
        let resyncs = try #require(s.value("radio_resyncs_total", #"serial="SIM-0001""#))
        #expect(crc + resyncs > 0, "\(s.text)")
        #expect((s.value("radio_discarded_bytes_total", #"serial="SIM-0001""#) ?? 0) > 0)
        _ = try await m.daemon.stop()
        #expect(sim.stop() == 0)
    }

    @Test func theAlertRulesPassTheirUnitTests() async throws {
        let rules = Self.monitoring.appendingPathComponent("alerts.yml").path
        let check = try await Self.promtool(["check", "rules", rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 8 rules found"), "\(check.stdout)")
        let tests = try await Self.promtool(["test", "rules", Self.monitoring.appendingPathComponent("alerts.test.yml").path])
        #expect(tests.status == 0, "\(tests.stdout)\(tests.stderr)")
        #expect(tests.stdout.contains("SUCCESS"), "\(tests.stdout)")
        // The example lab configuration loads, with the rules.
        let config = try await Self.promtool(["check", "config", Self.monitoring.appendingPathComponent("prometheus.yml").path])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
    }

    @Test func theDashboardHasOneRowPerRadio() throws {
        let data = try Data(contentsOf: Self.monitoring.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let rows = panels.filter { $0["type"] as? String == "row" }
        #expect(rows.contains { $0["repeat"] as? String == "serial" }, "no row repeated per radio")
        let templating = try #require((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]])
        #expect(templating.contains { $0["name"] as? String == "serial" })
        // Every panel below the repeated row selects that row's radio.
        var inRadioRow = false
        for p in panels {
            if p["type"] as? String == "row" { inRadioRow = p["repeat"] as? String == "serial"; continue }
            guard inRadioRow else { continue }
            for t in p["targets"] as? [[String: Any]] ?? [] {
                #expect((t["expr"] as? String)?.contains(#"serial="$serial""#) == true, "\(p["title"] ?? "")")
            }
        }
    }

    /// A real Prometheus (Debian's) scrapes the daemon every second; the
    /// series are found through its HTTP API.
    @Test func aRealPrometheusScrapesTheDaemon() async throws {
        let binary = "/usr/bin/prometheus"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "prometheus missing: make test installs it")
        let sim = try SimProcess(["--telemetry-hz", "10", "--serial-number", "PROM-1"])
        let m = try await MetricsDaemon(port: sim.path)
        let set = try await run("radio-cli", ["set-power", "11.5", "--port", m.daemon.tcp])
        #expect(set.status == 0, "\(set.stderr)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("prometheus.yml")
        try Data("""
            global:
              scrape_interval: 1s
            rule_files:
              - \(Self.monitoring.appendingPathComponent("alerts.yml").path)
            scrape_configs:
              - job_name: radio
                static_configs:
                  - targets: ["\(m.target)"]
                    labels: {bench: "bench-1"}
            """.utf8).write(to: config)
        let webPort = try HTTP.freePort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: binary)
        prometheus.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                                "--web.listen-address=127.0.0.1:\(webPort)", "--log.level=warn"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = try FileHandle(forWritingTo: {
            let log = dir.appendingPathComponent("log"); FileManager.default.createFile(atPath: log.path, contents: nil); return log }())
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }

        func query(_ q: String) throws -> [[String: Any]]? {
            let encoded = try #require(q.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            guard let reply = try? HTTP.exchange(port: webPort, "GET /api/v1/query?query=\(encoded) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                  reply.status == 200,
                  let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
                  let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  !result.isEmpty else { return nil }
            return result
        }
        func value(_ r: [String: Any]) -> Double? { ((r["value"] as? [Any])?.last as? String).flatMap(Double.init) }

        let power = try await Self.eventually("Prometheus to have the power setting", limit: .seconds(60)) {
            try query(#"radio_power_setting_dbm{job="radio",serial="PROM-1"}"#)
        }
        #expect(power.count == 1)
        #expect(value(power[0]) == 11.5, "\(power)")
        let metric = try #require(power[0]["metric"] as? [String: String])
        #expect(metric["bench"] == "bench-1" && metric["instance"] == m.target && metric["model"] == "RS-100 Simulated Radio",
                "\(metric)")
        let up = try await Self.eventually("up") { try query(#"up{job="radio"}"#) }
        #expect(value(up[0]) == 1)
        let telemetry = try await Self.eventually("telemetry in Prometheus", limit: .seconds(60)) { () -> [[String: Any]]? in
            guard let r = try query(#"radio_daemon_telemetry_frames_total{job="radio"}"#), (value(r[0]) ?? 0) > 0 else { return nil }
            return r
        }
        #expect(telemetry.count == 1)
        // The rules loaded, and none fires for a healthy simulated radio.
        let rules = try #require(try HTTP.exchange(port: webPort, "GET /api/v1/rules HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body)
        #expect(rules.contains("RadioLinkDown") && rules.contains("RadioLatencyHigh"), "\(rules.prefix(300))")
        #expect(try query("ALERTS") == nil)
        _ = try await m.daemon.stop()
        #expect(sim.stop() == 0)
    }

    @Test func theMetricsServerStandsUpToBadRequests() async throws {
        let m = try await MetricsDaemon(port: "sim")
        let cases: [(String, Int)] = [
            ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
            ("GET /nothing-here HTTP/1.1\r\n\r\n", 404),
            ("\u{1}\u{2}garbage\r\n\r\n", 400),
            ("GET /metrics HTTP/1.1\r\nX-Padding: \(String(repeating: "a", count: 9000))\r\n\r\n", 431),
            ("HEAD /metrics HTTP/1.0\r\n\r\n", 200),
            ("GET /metrics?name[]=radio_info HTTP/1.1\r\n\r\n", 200),
        ]
        for (request, status) in cases {
            let reply = try HTTP.exchange(port: m.port, request)
            #expect(reply.status == status, "\(request.prefix(40).debugDescription): \(reply.head)")
        }
        // Silent connections take the 16 places; the next is told 503 at
        // once, and the silent ones are dropped after 5 s, so scrapes work again.
        let silent = try (0..<16).map { _ in try HTTP.connect(port: m.port) }
        defer { for fd in silent { close(fd) } }
        try await Self.eventually("a busy answer while 16 connections sit silent") { () -> Bool? in
            try HTTP.exchange(port: m.port, "GET /metrics HTTP/1.1\r\n\r\n").status == 503 ? true : nil
        }
        _ = try await Self.eventually("the silent connections dropped") { () -> Bool? in
            try HTTP.exchange(port: m.port, "GET /metrics HTTP/1.1\r\n\r\n").status == 200 ? true : nil
        }
        // The radio path went on meanwhile.
        let state = try await run("radio-cli", ["get-state", "--port", m.daemon.tcp])
        #expect(state.status == 0, "\(state.stderr)")
        _ = try await m.daemon.stop()
    }

    @Test(arguments: [
        (["--metrics", "0.0.0.0:0"], "--allow-remote"),
        (["--metrics", "unix:/tmp/m.sock"], "--metrics takes HOST:PORT"),
        (["--metrics", "9464"], "needs HOST:PORT"),
    ])
    func badMetricsAddressesAreUsageErrors(_ extra: [String], _ text: String) async throws {
        let r = try await run("radio-cli", ["serve", "--port", "sim", "--listen", "127.0.0.1:0"] + extra)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(text), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}

/// A bare HTTP/1.1 client on loopback, so that malformed requests can be sent.
enum HTTP {
    struct Reply {
        let status: Int
        let head: String
        let body: String
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return fd
    }

    /// Sends `request` and reads until the server closes (10 s at most).
    static func exchange(port: UInt16, _ request: String) throws -> Reply {
        let fd = try connect(port: port)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var data = Data()
        while let chunk = readChunk(fd) { data.append(chunk) }
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Reply(status: status, head: head, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// A loopback TCP port free now (bound to 0, then released).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw POSIXError(.EADDRNOTAVAIL) }
        return UInt16(bigEndian: address.sin_port)
    }
}
