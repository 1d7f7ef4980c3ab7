import Foundation
import RadioDiscovery
public import RadioSimulator

/// Where the radio is, parsed from a port string as pyserial's
/// `serial_for_url` does. Each scheme is one case here and one transport type.
///
///     /dev/ttyUSB0, /dev/pts/5           termios on that tty
///     serial:///dev/ttyUSB0?baud=9600    the same, with options
///     udev://?serial=A1B2C3              the attached radio with that USB serial number
///     sim, sim://?telemetry-hz=50        simulator in-process, behind a real pty
///     sim://?fault=corrupt=0.01,fragment the same, acting out faults (FaultConfiguration)
///     loop://, loop://?seed=7            simulator in-process, through memory
public enum PortAddress: Hashable, Sendable {
    case serial(path: String, SerialSettings, reconnect: Bool = true)
    /// The radio whose USB adapter has this serial number, wherever it is attached.
    case udev(serial: String, SerialSettings, reconnect: Bool = true)
    case sim(SimulatorConfiguration, SerialSettings)
    case loop(SimulatorConfiguration)

    /// The schemes and the query options each takes, for help and errors.
    public static let schemes: [(scheme: String, options: [String])] = [
        ("serial", ["baud", "rtscts", "reconnect"]),
        ("udev", ["serial", "baud", "rtscts", "reconnect"]),
        ("sim", ["telemetry-hz", "seed", "baud", "fault"]),
        ("loop", ["telemetry-hz", "seed", "fault"]),
    ]

    /// Parses a port string. `settings` are the line settings to use where
    /// the string does not give them (the CLI's `--baud`, `--rtscts`).
    public init(parsing text: String, settings: SerialSettings = SerialSettings()) throws(RadioError) {
        if text.isEmpty { throw .invalidPort("empty port string") }
        guard let schemeEnd = text.range(of: "://") else {
            if text == "sim" {
                self = .sim(SimulatorConfiguration(), settings)
            } else if text == "loop" {
                self = .loop(SimulatorConfiguration())
            } else {
                self = .serial(path: text, settings)
            }
            return
        }
        let scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
        let rest = text[schemeEnd.upperBound...]
        let (body, query) = rest.firstIndex(of: "?").map { (String(rest[..<$0]), String(rest[rest.index(after: $0)...])) }
            ?? (String(rest), "")
        guard let allowed = PortAddress.schemes.first(where: { $0.scheme == scheme })?.options else {
            let known = PortAddress.schemes.map { "\($0.scheme)://" }.joined(separator: ", ")
            throw .invalidPort("unknown scheme '\(scheme)://' in '\(text)' (known: \(known), or a tty path)")
        }
        var options = try PortAddress.parseQuery(query, allowed: allowed, in: text)
        var settings = settings
        if let baud = options.removeValue(forKey: "baud") {
            guard let b = Int(baud), b > 0 else { throw .invalidPort("baud must be a positive integer, not '\(baud)'") }
            settings.baud = b
        }
        if let flow = options.removeValue(forKey: "rtscts") {
            switch flow {
            case "1", "true", "on", "yes": settings.hardwareFlowControl = true
            case "0", "false", "off", "no": settings.hardwareFlowControl = false
            default: throw .invalidPort("rtscts must be on or off, not '\(flow)'")
            }
        }
        var reconnect = true
        if let value = options.removeValue(forKey: "reconnect") {
            switch value {
            case "1", "true", "on", "yes": reconnect = true
            case "0", "false", "off", "no": reconnect = false
            default: throw .invalidPort("reconnect must be on or off, not '\(value)'")
            }
        }
        var config = SimulatorConfiguration()
        if let hz = options.removeValue(forKey: "telemetry-hz") {
            guard let v = UInt16(hz), v <= config.maxTelemetryHz else {
                throw .invalidPort("telemetry-hz must be 0...\(config.maxTelemetryHz), not '\(hz)'")
            }
            config.telemetryHz = v
        }
        if let spec = options.removeValue(forKey: "fault") {
            do {
                config.faults = try FaultConfiguration(parsing: spec)
            } catch {
                throw .invalidPort("\(error.description) in '\(text)'")
            }
        }
        if let seed = options.removeValue(forKey: "seed") {
            guard let v = UInt64(seed) else { throw .invalidPort("seed must be an unsigned integer, not '\(seed)'") }
            config.seed = v
        }
        switch scheme {
        case "serial":
            guard !body.isEmpty else { throw .invalidPort("serial:// needs a path, as in serial:///dev/ttyUSB0") }
            self = .serial(path: body, settings, reconnect: reconnect)
        case "udev":
            guard body.isEmpty else { throw .invalidPort("udev:// takes no host or path, only options: '\(text)'") }
            guard let serial = options.removeValue(forKey: "serial") else {
                throw .invalidPort("udev:// needs a serial number, as in udev://?serial=A1B2C3 (radio-cli list shows them)")
            }
            self = .udev(serial: serial, settings, reconnect: reconnect)
        case "sim":
            guard body.isEmpty else { throw .invalidPort("sim:// takes no host or path, only options: '\(text)'") }
            self = .sim(config, settings)
        default:
            guard body.isEmpty else { throw .invalidPort("loop:// takes no host or path, only options: '\(text)'") }
            self = .loop(config)
        }
    }

    private static func parseQuery(_ query: String, allowed: [String], in text: String) throws(RadioError) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).lowercased()
            guard allowed.contains(key) else {
                throw .invalidPort("unknown option '\(key)' in '\(text)' (this scheme takes: \(allowed.joined(separator: ", ")))")
            }
            guard parts.count == 2, !parts[1].isEmpty else { throw .invalidPort("option '\(key)' needs a value in '\(text)'") }
            result[key] = String(parts[1])
        }
        return result
    }

    /// Opens the transport this address names.
    public func openTransport() throws(RadioError) -> any RadioTransport {
        switch self {
        case .serial(let path, let settings, let reconnect):
            if !reconnect { return try SerialTransport(path: path, settings: settings) }
            return try ReconnectingTransport(name: path) { () throws(RadioError) in
                try SerialTransport(path: path, settings: settings)
            }
        case .udev(let serial, let settings, let reconnect):
            let open = { @Sendable () throws(RadioError) -> any RadioTransport in
                try SerialTransport(path: try PortAddress.resolve(serial: serial), settings: settings)
            }
            if !reconnect { return try open() }
            return try ReconnectingTransport(name: "udev://?serial=\(serial)", watchHotplug: true, open: open)
        case .sim(let config, let settings): return try SimTransport(configuration: config, settings: settings)
        case .loop(let config): return LoopTransport(configuration: config)
        }
    }

    /// The tty of the attached radio with this USB serial number.
    static func resolve(serial: String) throws(RadioError) -> String {
        let radio: AttachedRadio?
        do {
            radio = try RadioDiscovery.radio(serialNumber: serial)
        } catch {
            throw .notFound("udev://?serial=\(serial) (\(error.description))")
        }
        guard let radio else {
            throw .notFound("udev://?serial=\(serial): no attached radio has that serial number (radio-cli list shows what is attached)")
        }
        return radio.path
    }

    /// The line rate, where the port is a serial line.
    public var baud: Int? {
        switch self {
        case .serial(_, let s, _), .udev(_, let s, _), .sim(_, let s): s.baud
        case .loop: nil
        }
    }
}
