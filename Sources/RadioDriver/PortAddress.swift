import Foundation
import RadioDiscovery
public import RadioSimulator

/// Where the radio is, parsed from a port string as pyserial's
/// `serial_for_url` does. Each scheme is one case here and one transport type.
///
///     /dev/ttyUSB0, /dev/pts/5           termios on that tty
///     serial:///dev/ttyUSB0?baud=9600    the same, with options
///     udev://?serial=A1B2C3              the attached radio with that USB serial number
///     tcp://host:port                    raw TCP to a serial-port server (ser2net `tcp`)
///     rfc2217://host:port?baud=115200    telnet + RFC 2217 line settings (ser2net `telnet(rfc2217)`)
///     unix:///run/radio.sock             a sharing daemon's Unix socket (radio-cli serve)
///     sim, sim://?telemetry-hz=50        simulator in-process, behind a real pty
///     sim://?fault=corrupt=0.01,fragment the same, acting out faults (FaultConfiguration)
///     loop://, loop://?seed=7            simulator in-process, through memory
public enum PortAddress: Hashable, Sendable {
    case serial(path: String, SerialSettings, reconnect: Bool = true)
    /// The radio whose USB adapter has this serial number, wherever it is attached.
    case udev(serial: String, SerialSettings, reconnect: Bool = true)
    /// A serial-port server on the network: raw TCP, or RFC 2217 when
    /// `rfc2217` (then `setControl` says whether to set flow control).
    case network(host: String, port: UInt16, rfc2217: Bool, SerialSettings, setControl: Bool = true, reconnect: Bool = true)
    /// A Unix-domain socket on this host: a sharing daemon (`radio-cli serve`).
    case unix(path: String, reconnect: Bool = true)
    case sim(SimulatorConfiguration, SerialSettings)
    case loop(SimulatorConfiguration)

    /// The schemes and the query options each takes, for help and errors.
    public static let schemes: [(scheme: String, options: [String])] = [
        ("serial", ["baud", "rtscts", "reconnect"]),
        ("udev", ["serial", "baud", "rtscts", "reconnect"]),
        ("tcp", ["reconnect"]),
        ("rfc2217", ["baud", "control", "reconnect"]),
        ("unix", ["reconnect"]),
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
        if let flow = try PortAddress.flag("rtscts", &options) { settings.hardwareFlowControl = flow }
        let reconnect = try PortAddress.flag("reconnect", &options) ?? true
        let setControl = try PortAddress.flag("control", &options) ?? true
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
        case "tcp", "rfc2217":
            let (host, port) = try PortAddress.hostAndPort(body, in: text)
            self = .network(host: host, port: port, rfc2217: scheme == "rfc2217", settings, setControl: setControl,
                            reconnect: reconnect)
        case "unix":
            guard body.hasPrefix("/") else {
                throw .invalidPort("unix:// needs an absolute socket path, as in unix:///run/radio.sock")
            }
            self = .unix(path: body, reconnect: reconnect)
        case "sim":
            guard body.isEmpty else { throw .invalidPort("sim:// takes no host or path, only options: '\(text)'") }
            self = .sim(config, settings)
        default:
            guard body.isEmpty else { throw .invalidPort("loop:// takes no host or path, only options: '\(text)'") }
            self = .loop(config)
        }
    }

    /// An on/off option taken out of `options`; nil when absent.
    private static func flag(_ key: String, _ options: inout [String: String]) throws(RadioError) -> Bool? {
        guard let value = options.removeValue(forKey: key) else { return nil }
        switch value {
        case "1", "true", "on", "yes": return true
        case "0", "false", "off", "no": return false
        default: throw .invalidPort("\(key) must be on or off, not '\(value)'")
        }
    }

    /// "host:port", "[::1]:port".
    static func hostAndPort(_ body: String, in text: String) throws(RadioError) -> (String, UInt16) {
        var host = Substring(body)
        if host.hasSuffix("/") { host.removeLast() }
        guard let colon = host.lastIndex(of: ":"), let port = UInt16(host[host.index(after: colon)...]), port > 0 else {
            throw .invalidPort("'\(text)' needs a host and a port, as in tcp://lab-pc:2001")
        }
        var name = host[..<colon]
        if name.hasPrefix("[") && name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        guard !name.isEmpty else { throw .invalidPort("'\(text)' needs a host before the port") }
        return (String(name), port)
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
        case .network(let host, let port, let rfc2217, let settings, let setControl, let reconnect):
            let name = "\(rfc2217 ? "rfc2217" : "tcp")://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            let open = { @Sendable () throws(RadioError) -> any RadioTransport in
                try SocketTransport(host: host, port: port, rfc2217: rfc2217 ? settings.baud : nil,
                                    setControl: setControl, name: name)
            }
            if !reconnect { return try open() }
            return try ReconnectingTransport(name: name, open: open)
        case .unix(let path, let reconnect):
            let name = "unix://\(path)"
            let open = { @Sendable () throws(RadioError) -> any RadioTransport in
                try SocketTransport(unixPath: path, name: name)
            }
            if !reconnect { return try open() }
            return try ReconnectingTransport(name: name, open: open)
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
        case .network(_, _, let rfc2217, let s, _, _): rfc2217 ? s.baud : nil
        case .loop, .unix: nil
        }
    }
}
