import Foundation
import Locking
import RadioDaemon
import RadioDriver
import RadioMetrics
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

@Suite("Daemon metrics in process")
struct MetricsCoreTests {
    @Test func vswrFromForwardAndReflectedPower() {
        #expect(RadioMetrics.vswr(forwardDBm: 10, reflectedDBm: 10) == .infinity, "all of it back")
        #expect(RadioMetrics.vswr(forwardDBm: 10, reflectedDBm: 20) == .infinity)
        // Return loss 20 dB: |Γ| = 0.1, VSWR = 1.1 / 0.9.
        #expect(abs(RadioMetrics.vswr(forwardDBm: 30, reflectedDBm: 10) - 1.1 / 0.9) < 1e-12)
        // Return loss 9.54 dB: |Γ| = 1/3, VSWR = 2 (the alert's threshold).
        #expect(abs(RadioMetrics.vswr(forwardDBm: 0, reflectedDBm: -20 * log10(3)) - 2) < 1e-12)
        #expect(RadioMetrics.vswr(forwardDBm: 40, reflectedDBm: -100) < 1.0001)
    }

    /// The daemon over `loop://` with the metrics observer; clients call
    /// while another thread renders the exposition over and over (run under
    /// TSan by `make tsan`: the radio thread's updates against scrapes).
    @Test func theExpositionFollowsTheCallsWhileScrapesRun() async throws {
        let metrics = RadioMetrics()
        var options = RadioDaemon.Options()
        options.observer = metrics
        options.stateQueryInterval = .seconds(3600)
        options.frameTimeout = .seconds(3600)
        var sim = SimulatorConfiguration()
        sim.telemetryHz = 0
        let radio = LoopTransport(configuration: sim)
        let daemon = try RadioDaemon(transport: radio, listen: [.tcp(HostAndPort(host: "127.0.0.1", port: 0))], options: options)
        let serving = Thread { _ = daemon.run() }
        serving.start()
        let scraping = Locked(true)
        let scrapes = Locked(0)
        let scraper = Thread {
            var buffer: [UInt8] = []
            while scraping.withLock({ $0 }) {
                buffer.removeAll(keepingCapacity: true)
                metrics.exposition(daemon.statistics, clientsConnected: daemon.clientCount, into: &buffer)
                scrapes.withLock { $0 += 1 }
            }
        }
        scraper.start()
        defer {
            scraping.withLock { $0 = false }
            while !scraper.isFinished { usleep(1000) }
            daemon.stop()
            while !serving.isFinished { usleep(1000) }
            radio.close()
        }
        let client = try RadioClient(port: daemon.urls[0], options: .init(timeout: .seconds(30), retries: 0))
        defer { client.close() }
        let calls = 200
        for i in 0..<calls / 2 {
            _ = try await client.setPower(Power(deciDBm: Int16(i % 100)))
            _ = try await client.setChannel(UInt16(1 + i))
        }
        var buffer: [UInt8] = []
        metrics.exposition(daemon.statistics, clientsConnected: daemon.clientCount, into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        let labels = #"serial="SIM-0001",model="RS-100 Simulated Radio""#
        #expect(text.contains("radio_channel{\(labels)} 100.0\n"), "\(text)")
        #expect(text.contains("radio_power_setting_dbm{\(labels)} 9.9\n"))
        #expect(text.contains(#"radio_request_duration_seconds_count{\#(labels),command="SetPower"} 100"#))
        #expect(text.contains(#"radio_request_duration_seconds_count{\#(labels),command="SetChannel"} 100"#))
        // The daemon's own GetState at start, answered to the observer only.
        #expect(text.contains(#"radio_request_duration_seconds_count{\#(labels),command="GetState"} 1"#))
        #expect(text.contains("radio_requests_total{\(labels)} \(calls)\n"))
        #expect(text.contains("radio_responses_total{\(labels)} \(calls)\n"))
        #expect(text.contains("radio_unmatched_responses_total{\(labels)} 0\n"))
        #expect(text.contains("radio_request_retries_total{\(labels)} 0\n"))
        #expect(text.contains("radio_daemon_clients 1.0\n"))
        #expect(scrapes.withLock { $0 } > 0)
    }

    /// The daemon's first Identify unanswered: series are labelled
    /// "unknown" until an Identify answer comes; then they carry the serial,
    /// the unknown ones are gone, and the counters keep their totals.
    @Test func seriesTakeTheRadiosLabelsOnceItIsIdentified() {
        let metrics = RadioMetrics()
        let m = Measurements(rssiDeciDBm: -725, snrDeciDB: 201, temperatureDeciC: 412, supplyMillivolts: 13_800,
                             forwardDeciDBm: 300, reflectedDeciDBm: 100)
        let telemetry = Message.telemetry(TelemetrySample(sequence: 1, uptimeMillis: 5, measurements: m)).frame(sequence: 0)
        metrics.daemonEvent(.telemetry(telemetry))
        var stats = RadioDaemon.Statistics()
        stats.requests = 7
        stats.radioCRCErrors = 2
        stats.telemetryFrames = 1
        func render() -> String {
            var buffer: [UInt8] = []
            metrics.exposition(stats, clientsConnected: 0, into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        let before = render()
        #expect(before.contains(#"radio_rssi_dbm{serial="unknown",model="unknown"} -72.5"#), "\(before)")
        #expect(before.contains(#"radio_requests_total{serial="unknown",model="unknown"} 7"#))

        let id = Identity(model: "RS-100", serialNumber: "A1B2", firmwareVersion: "2.1", protocolVersion: 1,
                          powerRange: ClosedSpan(Power(deciDBm: -100), Power(deciDBm: 300)), channelRange: ClosedSpan(1, 1024))
        metrics.daemonEvent(.identified(id))
        metrics.daemonEvent(.telemetry(telemetry))
        stats.requests = 9
        let after = render()
        #expect(!after.contains("unknown"), "\(after)")
        #expect(after.contains(#"radio_info{serial="A1B2",model="RS-100",firmware="2.1",protocol="1"} 1.0"#), "\(after)")
        #expect(after.contains(#"radio_rssi_dbm{serial="A1B2",model="RS-100"} -72.5"#))
        #expect(after.contains(#"radio_requests_total{serial="A1B2",model="RS-100"} 9"#))
        #expect(after.contains(#"radio_crc_errors_total{serial="A1B2",model="RS-100"} 2"#))
        // The daemon's own counters are not counted twice.
        #expect(after.contains("radio_daemon_telemetry_frames_total 1\n"))
        // A second Identify answer (another client's) changes nothing.
        metrics.daemonEvent(.identified(id))
        #expect(render().contains(#"radio_requests_total{serial="A1B2",model="RS-100"} 9"#))
    }
}
