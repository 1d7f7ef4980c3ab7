import FoundationEssentials
import Glibc
import RadioDiscovery
import RadioDriver
import RadioIO
import RadioProtocol

/// Every `--json` output is one of these `Encodable` values, written by one
/// encoder (sorted keys, slashes unescaped), one object per line.
enum JSON {
    static func line<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else { return "null" }
        return text
    }

    /// Writes the value and a newline to stdout at once (a reader of a
    /// pipe sees each line as it happens).
    static func emit<T: Encodable>(_ value: T) {
        Console.out((line(value) + "\n"))
    }
}

/// `info --json`.
struct IdentityJSON: Encodable {
    let port: String
    let device: String?
    let model: String
    let serial_number: String
    let firmware_version: String
    let protocol_version: Int
    let power_range_dbm: [Double]
    let channel_range: [Int]
    /// With `--stats` only.
    let stats: [String: Int]?

    init(_ id: Identity, port: PortLabel, stats: [String: Int]?) {
        self.port = port.port
        device = port.device
        model = id.model
        serial_number = id.serialNumber
        firmware_version = id.firmwareVersion
        protocol_version = Int(id.protocolVersion)
        power_range_dbm = [id.powerRange.lower.dBm, id.powerRange.upper.dBm]
        channel_range = [Int(id.channelRange.lower), Int(id.channelRange.upper)]
        self.stats = stats
    }
}

/// `get-state --json`.
struct StateJSON: Encodable {
    let port: String
    let device: String?
    let power_dbm: Double
    let channel: Int
    let mode: String
    let telemetry_hz: Int
    let rssi_dbm: Double
    let snr_db: Double
    let temperature_c: Double
    let supply_v: Double
    let forward_power_dbm: Double
    let reflected_power_dbm: Double

    init(_ s: RadioState, port: PortLabel) {
        let m = s.measurements
        self.port = port.port
        device = port.device
        power_dbm = s.power.dBm
        channel = Int(s.channel)
        mode = s.mode == .transmit ? "tx" : "rx"
        telemetry_hz = Int(s.telemetryRate)
        rssi_dbm = Double(m.rssiDeciDBm) / 10
        snr_db = Double(m.snrDeciDB) / 10
        temperature_c = Double(m.temperatureDeciC) / 10
        supply_v = Double(m.supplyMillivolts) / 1000
        forward_power_dbm = Double(m.forwardDeciDBm) / 10
        reflected_power_dbm = Double(m.reflectedDeciDBm) / 10
    }
}

/// `set-power --json`, `set-channel --json`: one of the two values.
struct AppliedJSON: Encodable {
    let port: String
    let device: String?
    let ok = true
    var power_dbm: Double?
    var channel: Int?
}

/// `ping --json`.
struct PingJSON: Encodable {
    let port: String
    let device: String?
    let sent: Int
    let received: Int
    let lost: Int
    /// min, p50, mean, max; empty when nothing came back.
    let rtt_us: [String: Int]
}

/// `bench --json`.
struct BenchJSON: Encodable {
    struct Command: Encodable {
        let count: Int
        let errors: Int
        /// min, mean, p50, p90, p99, p99.9, max; empty with no round trip.
        let latency_us: [String: Double]
        let throughput_per_s: Double
        let request_bytes: Int
        let reply_bytes: Int
        let wire_floor_us: Double?
        let last_error: String?
    }
    let port: String
    let device: String?
    let count: Int
    /// null when the port is not a serial line.
    let baud: Int?
    let commands: [String: Command]
    /// The signal that cut the run short ("SIGINT"); absent when it ran to the end.
    var interrupted: String? = nil

    enum CodingKeys: String, CodingKey { case port, device, count, baud, commands, interrupted }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(port, forKey: .port)
        try c.encodeIfPresent(device, forKey: .device)
        try c.encode(count, forKey: .count)
        try c.encode(baud, forKey: .baud)  // null, not absent
        try c.encode(commands, forKey: .commands)
        try c.encodeIfPresent(interrupted, forKey: .interrupted)
    }
}

/// `load --json`.
struct LoadJSON: Encodable {
    let port: String
    let device: String?
    let clients: Int
    let rate_per_s: Double
    let command: String
    let duration_s: Double
    let scheduled: Int
    let sent: Int
    /// Due within the duration, but the duration ended first.
    let not_sent: Int
    let ok: Int
    let errors: Int
    let error_kinds: [String: Int]
    let achieved_rate_per_s: Double
    let elapsed_s: Double
    /// Percentiles by name (p50 ... p99.99, min, max, mean); empty with no samples.
    let latency_us: [String: Double]
    let service_time_us: [String: Double]
    let max_start_lag_us: Double
    /// The signal that cut the run short ("SIGINT"); absent when it ran to the end.
    var interrupted: String? = nil
}

/// `monitor --json`: a sample with the chosen fields, or an event.
struct SampleJSON: Encodable {
    let event = "sample"
    let seq: Int
    let uptime_ms: Int
    /// Wall clock when the sample was shown, UTC (2026-12-06T07:56:17.123Z).
    let time: String
    var rssi_dbm: Double?
    var snr_db: Double?
    var temperature_c: Double?
    var supply_v: Double?
    var forward_power_dbm: Double?
    var reflected_power_dbm: Double?
}

struct MonitorEventJSON: Encodable {
    let event: String
    let time = WallClock.iso8601()
    var count: Int?
    var missed: Int?
    var reason: String?
    /// `reconnected`: the radio's settings after the outage, and whether
    /// they differ from before it.
    var power_dbm: Double?
    var channel: Int?
    var telemetry_hz: Int?
    var settings_changed: Bool?
}

/// A port as `list --json` prints it: the port's keys (every one, null
/// where unknown), `held_by` (the other processes that have it open or
/// locked) and, with --probe, `probe`.
struct PortEntry: Encodable {
    let port: AttachedPort
    let holders: [PortHolder]
    let probe: ProbeResult?

    enum CodingKeys: String, CodingKey { case heldBy = "held_by", probe }
    func encode(to encoder: any Encoder) throws {
        try port.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(holders.map(HolderJSON.init), forKey: .heldBy)
        try c.encodeIfPresent(probe.map(ProbeJSON.init), forKey: .probe)
    }
}

struct HolderJSON: Encodable {
    let pid: Int32
    let command: String?
    let how: String
    init(_ h: PortHolder) {
        pid = h.pid
        command = h.command
        how = h.how
    }
    enum CodingKeys: String, CodingKey { case pid, command, how }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pid, forKey: .pid)
        try c.encode(command, forKey: .command)
        try c.encode(how, forKey: .how)
    }
}

/// `probe`: `result` (radio, skipped, silent, not_a_radio, failed), the
/// identity when a radio answered, and the one-line reason otherwise.
struct ProbeJSON: Encodable {
    let result: String
    var model: String?
    var serial_number: String?
    var firmware_version: String?
    var protocol_version: Int?
    var elapsed_ms: Double?
    var received_bytes: Int?
    var reason: String?

    init(_ r: ProbeResult) {
        result = r.kind
        switch r {
        case .radio(let id, let elapsed):
            model = id.model
            serial_number = id.serialNumber
            firmware_version = id.firmwareVersion
            protocol_version = Int(id.protocolVersion)
            elapsed_ms = (elapsed.inSeconds * 1_000_000).rounded() / 1000
        case .silent:
            received_bytes = 0
            reason = r.description
        case .notARadio(let bytes, _):
            received_bytes = bytes
            reason = r.description
        case .skipped, .failed:
            reason = r.description
        }
    }
}

/// `list --json --watch`: one event per line; the port under `radio`, or
/// under `port` with --all.
struct ListEventJSON: Encodable {
    let event: String
    var key = "radio"
    var entry: PortEntry?
    var devnode: String?
    var serial: String?

    init(event: String, key: String, entry: PortEntry) {
        self.event = event
        self.key = key
        self.entry = entry
    }

    init(event: String, devnode: String, serial: String?) {
        self.event = event
        self.devnode = devnode
        self.serial = serial
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(event, forKey: Key(stringValue: "event"))
        try c.encodeIfPresent(entry, forKey: Key(stringValue: key))
        if let devnode {
            try c.encode(devnode, forKey: Key(stringValue: "devnode"))
            try c.encode(serial, forKey: Key(stringValue: "usb_serial"))  // null when unknown
        }
    }
}

/// `serve --json`: one line per listener (and the metrics endpoint) when ready.
struct ListeningJSON: Encodable {
    let event: String
    let url: String
}
