#if canImport(Glibc)
import Glibc
#endif
import Locking
import RadioIO
public import Prometheus
public import RadioDaemon
import RadioProtocol

/// A sharing daemon's radio and clients as Prometheus metrics
/// (docs/monitoring/README.md lists them).
///
/// Two feeds. Events from the daemon's radio thread (`daemonEvent`) set the
/// gauges and latency histograms as frames pass: telemetry, settings seen in
/// responses, round trips, the link. Counters are taken from the daemon's
/// `Statistics` when Prometheus scrapes (`collect`), so counting costs the
/// radio path nothing beyond what the daemon counts anyway. Every series
/// about the radio is labelled with its serial number and model.
public final class RadioMetrics: RadioDaemonObserver {
    public let registry = PrometheusCollectorRegistry()
    private let series = Locked<RadioSeries?>(nil)
    private let scrape = Locked(ScrapeState())
    private let daemonSeries: DaemonSeries

    /// Round-trip buckets: the pty path takes ~50 µs, a radio's deadline is
    /// a second or more.
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    public init() {
        daemonSeries = DaemonSeries(registry)
        daemonSeries.startTime.set(to: WallClock.unixSeconds())
    }

    // MARK: Events (radio thread)

    public func daemonEvent(_ event: RadioDaemonEvent) {
        switch event {
        case .identified(let id):
            identified(id)
        case .response(let frame, let command, let roundTrip):
            let s = radio()
            s.duration(for: command).record(roundTrip)
            // Settings, from the answers that carry them.
            let c = Command(rawValue: command)
            guard c == .setPower || c == .setChannel || c == .getState || c == .setTelemetryRate,
                  case .response(.ok(let reply))? = try? Message(frame: frame) else { return }
            switch reply {
            case .power(let p): s.powerSetting.set(to: p.dBm)
            case .channel(let ch): s.channel.set(to: Double(ch))
            case .telemetryRate(let r): s.telemetryRate.set(to: Double(r))
            case .state(let st):
                s.powerSetting.set(to: st.power.dBm)
                s.channel.set(to: Double(st.channel))
                s.telemetryRate.set(to: Double(st.telemetryRate))
                s.transmitting.set(to: st.mode == .transmit ? 1 : 0)
                s.record(st.measurements)
            default: break
            }
        case .telemetry(let frame):
            guard case .telemetry(let sample)? = try? Message(frame: frame) else { return }
            let s = radio()
            s.record(sample.measurements)
            s.lastTelemetry.set(to: WallClock.unixSeconds())
        case .linkLost:
            radio().linkUp.set(to: 0)
        case .linkBack:
            radio().linkUp.set(to: 1)
        }
    }

    /// The radio's series, made at its first event; labelled "unknown"
    /// until the radio answers Identify.
    private func radio() -> RadioSeries {
        series.withLock { s in
            if let s { return s }
            let made = RadioSeries(registry, identity: nil)
            s = made
            return made
        }
    }

    /// The radio is known: its series get its labels. Series labelled
    /// "unknown" before (the daemon's first Identify went unanswered) are
    /// removed, and the radio's counters start again under the new labels
    /// with the totals so far.
    private func identified(_ id: Identity) {
        let old = series.withLock { s -> RadioSeries? in
            if s?.isIdentified == true { return nil }
            defer { s = RadioSeries(registry, identity: id) }
            return s
        }
        guard let old else { return }
        old.unregister(from: registry)
        scrape.withLock { st in
            st.counters?.unregister(from: registry)
            st.counters = nil
            st.radioLast = RadioDaemon.Statistics()
        }
    }

    // MARK: Scrape (the metrics server's thread)

    private struct ScrapeState {
        /// The figures the radio's and the daemon's counters were last brought to.
        var radioLast = RadioDaemon.Statistics()
        var daemonLast = RadioDaemon.Statistics()
        var counters: RadioCounters?
    }

    /// Brings the counters up to the daemon's figures; called before each
    /// exposition.
    public func collect(_ now: RadioDaemon.Statistics, clientsConnected: Int) {
        let radio = radio()
        scrape.withLock { st in
            let c = st.counters ?? RadioCounters(registry, labels: radio.labels)
            st.counters = c
            func add(_ fed: [Fed], since was: RadioDaemon.Statistics) {
                for (counter, key) in fed {
                    let delta = now[keyPath: key] - was[keyPath: key]
                    if delta > 0 { counter.increment(by: Int64(delta)) }
                }
            }
            add(c.fed, since: st.radioLast)
            add(daemonSeries.fed, since: st.daemonLast)
            st.radioLast = now
            st.daemonLast = now
        }
        daemonSeries.clients.set(to: Double(clientsConnected))
    }

    /// The exposition, counters brought up to date first.
    public func exposition(_ statistics: RadioDaemon.Statistics, clientsConnected: Int, into buffer: inout [UInt8]) {
        collect(statistics, clientsConnected: clientsConnected)
        registry.emit(into: &buffer)
    }

    /// Voltage standing wave ratio from forward and reflected power in dBm:
    /// |Γ| = 10^((reflected − forward) / 20), VSWR = (1 + |Γ|) / (1 − |Γ|);
    /// infinite when nothing goes forward of what comes back.
    public static func vswr(forwardDBm: Double, reflectedDBm: Double) -> Double {
        let gamma = pow(10, (reflectedDBm - forwardDBm) / 20)
        return gamma >= 1 ? .infinity : (1 + gamma) / (1 - gamma)
    }
}

/// A counter and the daemon statistic it follows.
private typealias Fed = (counter: Counter, statistic: KeyPath<RadioDaemon.Statistics, Int>)

/// The gauges and histograms of one radio.
private struct RadioSeries: Sendable {
    let labels: [(String, String)]
    let isIdentified: Bool
    let info: Gauge
    let rssi, snr, temperature, supply, forward, reflected, vswr: Gauge
    let powerSetting, channel, telemetryRate, transmitting: Gauge
    let lastTelemetry: Gauge
    let linkUp: Gauge
    let durations: [UInt8: DurationHistogram]
    let otherDuration: DurationHistogram

    init(_ r: PrometheusCollectorRegistry, identity: Identity?) {
        let l = [("serial", identity?.serialNumber ?? "unknown"), ("model", identity?.model ?? "unknown")]
        labels = l
        isIdentified = identity != nil
        info = r.gauge("radio_info", labels: l + [
            ("firmware", identity?.firmwareVersion ?? "unknown"),
            ("protocol", identity.map { String($0.protocolVersion) } ?? "unknown"),
        ], help: "The radio's identity from Identify (always 1).")
        info.set(to: 1)
        rssi = r.gauge("radio_rssi_dbm", labels: l, help: "Received signal strength, dBm (telemetry).")
        snr = r.gauge("radio_snr_db", labels: l, help: "Signal-to-noise ratio, dB (telemetry).")
        temperature = r.gauge("radio_temperature_celsius", labels: l, help: "Radio temperature, degrees Celsius (telemetry).")
        supply = r.gauge("radio_supply_volts", labels: l, help: "Supply voltage, volts (telemetry).")
        forward = r.gauge("radio_forward_power_dbm", labels: l, help: "Forward power at the antenna port, dBm (telemetry).")
        reflected = r.gauge("radio_reflected_power_dbm", labels: l, help: "Reflected power at the antenna port, dBm (telemetry).")
        vswr = r.gauge("radio_vswr_ratio", labels: l, help: "Voltage standing wave ratio from forward and reflected power (1 = matched).")
        powerSetting = r.gauge("radio_power_setting_dbm", labels: l, help: "Transmit power setting, dBm (last SetPower or GetState answer).")
        channel = r.gauge("radio_channel", labels: l, help: "Channel setting (last SetChannel or GetState answer).")
        telemetryRate = r.gauge("radio_telemetry_rate_hertz", labels: l, help: "Telemetry rate setting, frames per second.")
        transmitting = r.gauge("radio_transmitting", labels: l, help: "1 while the radio reports transmit mode (GetState).")
        lastTelemetry = r.gauge("radio_last_telemetry_timestamp_seconds", labels: l,
                                    help: "Unix time of the last telemetry frame from the radio.")
        linkUp = r.gauge("radio_link_up", labels: l, help: "1 while the daemon's link to the radio is up, 0 during an outage.")
        linkUp.set(to: 1)
        var d: [UInt8: DurationHistogram] = [:]
        for c in Command.known {
            d[c.rawValue] = r.histogram("radio_request_duration_seconds", labels: l + [("command", c.description)],
                                                    buckets: RadioMetrics.durationBuckets,
                                                    help: "Round trip from a request written to the radio to its answer, by command.")
        }
        durations = d
        otherDuration = r.histogram("radio_request_duration_seconds", labels: l + [("command", "other")],
                                                buckets: RadioMetrics.durationBuckets,
                                                help: "Round trip from a request written to the radio to its answer, by command.")
    }

    func duration(for command: UInt8) -> DurationHistogram { durations[command] ?? otherDuration }

    func unregister(from r: PrometheusCollectorRegistry) {
        for g in [info, rssi, snr, temperature, supply, forward, reflected, vswr, powerSetting, channel, telemetryRate,
                  transmitting, lastTelemetry, linkUp] { r.unregisterGauge(g) }
        for h in Array(durations.values) + [otherDuration] { r.unregisterDurationHistogram(h) }
    }

    func record(_ m: Measurements) {
        rssi.set(to: Double(m.rssiDeciDBm) / 10)
        snr.set(to: Double(m.snrDeciDB) / 10)
        temperature.set(to: Double(m.temperatureDeciC) / 10)
        supply.set(to: Double(m.supplyMillivolts) / 1000)
        let f = Double(m.forwardDeciDBm) / 10, r = Double(m.reflectedDeciDBm) / 10
        forward.set(to: f)
        reflected.set(to: r)
        vswr.set(to: RadioMetrics.vswr(forwardDBm: f, reflectedDBm: r))
    }
}

/// Counters about the radio, fed from the daemon's statistics at scrape.
private struct RadioCounters: Sendable {
    let requests, responses, retries, expired, crcErrors, framingErrors, discardedBytes, unmatched: Counter
    let linkLosses, reconnects, stateQueries: Counter

    init(_ r: PrometheusCollectorRegistry, labels l: [(String, String)]) {
        requests = r.counter("radio_requests_total", labels: l, help: "Requests written to the radio for clients.")
        responses = r.counter("radio_responses_total", labels: l, help: "Radio responses delivered to the client that asked.")
        retries = r.counter("radio_request_retries_total", labels: l,
                                help: "Client requests repeating one of the same client's still unanswered (same command and arguments): retries.")
        expired = r.counter("radio_request_timeouts_total", labels: l,
                                help: "Requests the radio never answered within the daemon's memory of them (10 s).")
        crcErrors = r.counter("radio_crc_errors_total", labels: l, help: "Frames from the radio with a bad CRC.")
        framingErrors = r.counter("radio_resyncs_total", labels: l,
                                      help: "Frames from the radio that did not decode (COBS, too short, oversized); the decoder resynced at the next delimiter.")
        discardedBytes = r.counter("radio_discarded_bytes_total", labels: l, help: "Bytes from the radio thrown away with bad frames.")
        unmatched = r.counter("radio_unmatched_responses_total", labels: l,
                                  help: "Radio responses that matched no request in flight (late, duplicated, or the client had left).")
        linkLosses = r.counter("radio_link_losses_total", labels: l, help: "Times the radio's port went away.")
        reconnects = r.counter("radio_reconnects_total", labels: l, help: "Times the radio's port came back after an outage.")
        stateQueries = r.counter("radio_daemon_state_queries_total", labels: l,
                                     help: "GetState and Identify requests the daemon sent itself to keep these metrics current.")
    }

    /// Each counter with the daemon statistic it follows.
    var fed: [Fed] {
        [(requests, \.requests), (responses, \.responses), (retries, \.retries), (expired, \.expired),
         (crcErrors, \.radioCRCErrors), (framingErrors, \.radioFramingErrors), (discardedBytes, \.radioDiscardedBytes),
         (unmatched, \.unmatched), (linkLosses, \.outages), (reconnects, \.linkBacks), (stateQueries, \.stateQueries)]
    }

    func unregister(from r: PrometheusCollectorRegistry) {
        for (c, _) in fed { r.unregisterCounter(c) }
    }
}

/// The daemon's own series (no radio labels: Prometheus adds `instance`).
private struct DaemonSeries: Sendable {
    let clients, startTime: Gauge
    let accepted, refused, cutOffSlow, cutOffIdle, busy, telemetryFrames, telemetryDeliveries: Counter
    let clientDecodeErrors, ignoredFrames, descriptorShortages: Counter

    init(_ r: PrometheusCollectorRegistry) {
        clients = r.gauge("radio_daemon_clients", help: "Clients connected now.")
        startTime = r.gauge("radio_daemon_start_time_seconds", help: "Unix time the daemon started.")
        accepted = r.counter("radio_daemon_clients_accepted_total", help: "Client connections accepted.")
        refused = r.counter("radio_daemon_clients_refused_total", help: "Client connections refused at --max-clients.")
        let cutHelp = "Clients disconnected by the daemon: slow (did not read), idle (no complete frame within --frame-timeout)."
        cutOffSlow = r.counter("radio_daemon_clients_cut_off_total", labels: [("reason", "slow")], help: cutHelp)
        cutOffIdle = r.counter("radio_daemon_clients_cut_off_total", labels: [("reason", "idle")], help: cutHelp)
        busy = r.counter("radio_daemon_busy_replies_total", help: "Requests the daemon answered busy itself.")
        telemetryFrames = r.counter("radio_daemon_telemetry_frames_total", help: "Telemetry frames from the radio.")
        telemetryDeliveries = r.counter("radio_daemon_telemetry_deliveries_total",
                                            help: "Telemetry frames queued to clients (frames times clients): the fan-out.")
        clientDecodeErrors = r.counter("radio_daemon_client_decode_errors_total", help: "Frames from clients that did not decode.")
        ignoredFrames = r.counter("radio_daemon_ignored_frames_total", help: "Frames dropped: not requests, or another protocol version.")
        descriptorShortages = r.counter("radio_daemon_descriptor_shortages_total",
                                            help: "Accepts that failed for want of file descriptors.")
    }

    /// Each counter with the daemon statistic it follows.
    var fed: [Fed] {
        [(accepted, \.clientsAccepted), (refused, \.clientsRefused), (cutOffSlow, \.slowClients),
         (cutOffIdle, \.idleClients), (busy, \.busyReplies), (telemetryFrames, \.telemetryFrames),
         (telemetryDeliveries, \.telemetryDeliveries), (clientDecodeErrors, \.clientDecodeErrors),
         (ignoredFrames, \.ignoredFrames), (descriptorShortages, \.descriptorShortages)]
    }
}

/// Metrics by their full names (units and `_total` in the name), each with
/// its HELP line, through the registry's descriptor API.
extension PrometheusCollectorRegistry {
    fileprivate func gauge(_ name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    fileprivate func counter(_ name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    fileprivate func histogram(_ name: String, labels: [(String, String)], buckets: [Duration], help: String) -> DurationHistogram {
        makeDurationHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help),
                              labels: labels, buckets: buckets)
    }
}
