import FoundationEssentials
import Glibc
import RadioIO
import RadioDriver
import RadioProtocol

/// A port as the commands report it: `text` for people (the transport's
/// name, "sim (/dev/pts/3)"); `port` (the string given, "sim") and
/// `device` (the tty behind it, if any and if different) for JSON, one
/// fact per key.
struct PortLabel: Sendable {
    let text: String
    let port: String
    let device: String?
}

/// Everything the CLI prints on stdout: text for a person, or one JSON object.
enum Output {
    static func identity(_ id: Identity, port: PortLabel, json: Bool, statistics: RadioClient.Statistics? = nil) {
        let counters = statistics.map(Output.counters) ?? []
        if json {
            JSON.emit(IdentityJSON(id, port: port, stats: statistics.map { _ in
                Dictionary(uniqueKeysWithValues: counters.map { ($0.key, $0.value) })
            }))
            return
        }
        table([
            ("Port", port.text),
            ("Model", id.model),
            ("Serial number", id.serialNumber),
            ("Firmware", id.firmwareVersion),
            ("Protocol", "\(id.protocolVersion)"),
            ("Power range", "\(id.powerRange.lower) to \(id.powerRange.upper), 0.1 dB steps"),
            ("Channels", "\(id.channelRange.lower) to \(id.channelRange.upper)"),
        ] + counters.map { ($0.label, "\($0.value)") })
    }

    /// The client's counters: JSON key, text label, value.
    static func counters(_ s: RadioClient.Statistics) -> [(key: String, label: String, value: Int)] {
        [
            ("requests", "Requests sent", s.requests),
            ("responses", "Responses matched", s.responses),
            ("retries", "Retries", s.retries),
            ("timeouts", "Timeouts", s.timeouts),
            ("crc_errors", "CRC errors", s.crcErrors),
            ("framing_errors", "Framing errors (resyncs)", s.framingErrors),
            ("discarded_bytes", "Bytes discarded", s.discardedBytes),
            ("unmatched_responses", "Unmatched responses", s.unmatchedResponses),
            ("other_version_frames", "Frames of another version", s.otherVersionFrames),
            ("telemetry_frames", "Telemetry frames", s.telemetryFrames),
            ("disconnections", "Disconnections", s.disconnections),
        ]
    }

    static func state(_ s: RadioState, port: PortLabel, json: Bool) {
        let m = s.measurements
        if json {
            JSON.emit(StateJSON(s, port: port))
            return
        }
        table([
            ("Port", port.text),
            ("Power", s.power.description),
            ("Channel", "\(s.channel)"),
            ("Mode", s.mode == .transmit ? "tx" : "rx"),
            ("Telemetry", s.telemetryRate == 0 ? "off" : "\(s.telemetryRate) Hz"),
            ("RSSI", formatTenths(Int(m.rssiDeciDBm)) + " dBm"),
            ("SNR", formatTenths(Int(m.snrDeciDB)) + " dB"),
            ("Temperature", formatTenths(Int(m.temperatureDeciC)) + " °C"),
            ("Supply", millis(Int(m.supplyMillivolts)) + " V"),
            ("Forward power", formatTenths(Int(m.forwardDeciDBm)) + " dBm"),
            ("Reflected power", formatTenths(Int(m.reflectedDeciDBm)) + " dBm"),
        ])
    }

    static func applied(_ what: String, text: String, json value: AppliedJSON, json: Bool) {
        if json {
            JSON.emit(value)
        } else {
            print("\(what) set to \(text)")
        }
    }

    static func pings(_ rtts: [Duration], lost: Int, port: PortLabel, json: Bool) {
        let us = rtts.map(micros).sorted()
        let sent = rtts.count + lost
        let minimum = us.first ?? 0, maximum = us.last ?? 0
        let median = us.isEmpty ? 0 : us[(us.count - 1) / 2]
        let average = us.isEmpty ? 0 : us.reduce(0, +) / us.count
        if json {
            JSON.emit(PingJSON(port: port.port, device: port.device, sent: sent, received: rtts.count, lost: lost,
                               rtt_us: rtts.isEmpty ? [:] : ["min": minimum, "p50": median, "mean": average, "max": maximum]))
            return
        }
        print("\(sent) sent, \(rtts.count) received, \(lost) lost; rtt min/p50/mean/max = \(minimum)/\(median)/\(average)/\(maximum) µs")
    }

    static func micros(_ d: Duration) -> Int {
        Int(d.inNanoseconds / 1000)
    }

    private static func millis(_ v: Int) -> String {
        "\(v / 1000).\(String(repeating: "0", count: 3 - String(v % 1000).count))\(v % 1000)"
    }

    private static func table(_ rows: [(String, String)]) {
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            print(key + ":" + String(repeating: " ", count: width - key.count + 2) + value)
        }
    }

}

/// `--trace`: one stderr line per frame, as pyserial's spy:// does:
/// wall-clock time, direction, the bytes on the wire, the decoded message.
enum Trace {
    @Sendable static func write(_ event: RadioClient.TraceEvent) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var seconds = ts.tv_sec
        localtime_r(&seconds, &t)
        let micros = ts.tv_nsec / 1000
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        let stamp = "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(micros, 6))"
        let line = "\(stamp) \(event.direction.rawValue) \(hexString(event.bytes))  \(event.summary)\n"
        Console.error(line)
    }
}
