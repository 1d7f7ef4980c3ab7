/// One kind of port string, as pyserial's `serial_for_url` has one handler
/// per scheme: it parses what follows `NAME://` and opens its transport.
/// Adding a scheme is one type and one line in a `PortSchemes` table.
public protocol PortScheme: Sendable {
    /// The URL scheme, lower case: `tcp` for `tcp://host:port`.
    static var name: String { get }
    /// The query options it takes (`?baud=9600&reconnect=off`).
    static var options: [String] { get }
    /// The form in help and errors, as in `tcp://HOST:PORT`.
    static var usage: String { get }
    /// Parses the part between `://` and `?`; takes its options out of
    /// `query`. `settings` are the line settings where the string gives none.
    init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError)
    /// Opens the port, giving up on a connect after `timeout`.
    func open(timeout: Duration) throws(RadioError) -> any RadioTransport
    /// The line rate, where the port is a serial line.
    var baud: Int? { get }
    /// The tty behind the port, for the USB latency-timer check.
    func devicePath() -> String?
    /// True for a server that gives each connection its own session (a
    /// sharing daemon, a serial-port server): `load --clients N` opens N.
    var connectsPerClient: Bool { get }
}

extension PortScheme {
    public var baud: Int? { nil }
    public func devicePath() -> String? { nil }
    public var connectsPerClient: Bool { false }
}

/// A port string, parsed: which scheme, and that scheme's settings.
public struct PortAddress: Sendable, CustomStringConvertible {
    public let text: String
    public let port: any PortScheme
    /// Opens the port; a connect (or a server's handshake) gives up after `timeout`.
    public func openTransport(timeout: Duration = .seconds(3)) throws(RadioError) -> any RadioTransport {
        try port.open(timeout: timeout)
    }
    public var baud: Int? { port.baud }
    public var description: String { text }
}

/// The table of port schemes a program accepts. `standard` has what the
/// driver itself implements (ttys, ser2net's TCP and RFC 2217, a sharing
/// daemon's Unix socket); a program adds its own (radio-cli adds `sim`,
/// `loop` and `udev`), so the driver library links neither the simulator
/// nor libudev.
public struct PortSchemes: Sendable {
    private var schemes: [(name: String, type: any PortScheme.Type)] = []
    /// Words that stand for a whole port string (`sim` for `sim://`).
    private var words: [String: String] = [:]

    public init(_ schemes: [any PortScheme.Type]) {
        for s in schemes { self.schemes.append((s.name, s)) }
    }

    public static let standard = PortSchemes([
        SerialScheme.self, TCPScheme.self, RFC2217Scheme.self, UnixScheme.self,
    ])

    /// This table with `scheme` added; `word` alone then stands for `NAME://`.
    public func adding(_ scheme: any PortScheme.Type, word: String? = nil) -> PortSchemes {
        var copy = self
        copy.schemes.removeAll { $0.name == scheme.name }
        copy.schemes.append((scheme.name, scheme))
        if let word { copy.words[word] = "\(scheme.name)://" }
        return copy
    }

    /// Whether `text` is a bare word of the table (`sim`, `loop`, ...).
    public func isWord(_ text: String) -> Bool { words[text] != nil }

    /// The schemes, with their forms and options, for help.
    public var forms: [(usage: String, options: [String])] { schemes.map { ($0.type.usage, $0.type.options) } }

    /// Parses a port string: a tty path, a bare word, or `SCHEME://…?options`.
    public func parse(_ text: String, settings: SerialSettings = SerialSettings()) throws(RadioError) -> PortAddress {
        if text.isEmpty { throw .invalidPort("empty port string") }
        let full = words[text] ?? text
        guard let schemeEnd = full.firstRange(of: "://") else {
            // Anything else without a scheme is a tty path.
            var query = PortQuery()
            return PortAddress(text: text, port: try SerialScheme(body: text, query: &query, settings: settings))
        }
        let name = String(full[..<schemeEnd.lowerBound]).lowercased()
        let rest = full[schemeEnd.upperBound...]
        let (body, queryText) = rest.firstIndex(of: "?").map { (String(rest[..<$0]), String(rest[rest.index(after: $0)...])) }
            ?? (String(rest), "")
        guard let type = schemes.first(where: { $0.name == name })?.type else {
            let known = schemes.map { "\($0.name)://" }.joined(separator: ", ")
            throw .invalidPort("unknown scheme '\(name)://' in '\(text)' (known: \(known), or a tty path)")
        }
        var query = try PortQuery(parsing: queryText, allowed: type.options, in: text)
        let port = try type.init(body: body, query: &query, settings: settings)
        return PortAddress(text: text, port: port)
    }

    /// Parses and opens.
    public func open(_ text: String, settings: SerialSettings = SerialSettings(),
                     timeout: Duration = .seconds(3)) throws(RadioError) -> any RadioTransport {
        try parse(text, settings: settings).openTransport(timeout: timeout)
    }
}

/// A port string's options, each taken out by the scheme that reads it.
public struct PortQuery: Sendable {
    private var values: [String: String] = [:]
    /// The whole port string, for messages.
    public let text: String

    public init() { text = "" }

    init(parsing query: String, allowed: [String], in text: String) throws(RadioError) {
        self.text = text
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).lowercased()
            guard allowed.contains(key) else {
                let takes = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
                throw .invalidPort("unknown option '\(key)' in '\(text)' (this scheme takes: \(takes))")
            }
            guard parts.count == 2, !parts[1].isEmpty else { throw .invalidPort("option '\(key)' needs a value in '\(text)'") }
            values[key] = String(parts[1])
        }
    }

    /// The option's text, taken out; nil when absent.
    public mutating func take(_ key: String) -> String? { values.removeValue(forKey: key) }

    /// An on/off option; nil when absent.
    public mutating func flag(_ key: String) throws(RadioError) -> Bool? {
        guard let value = take(key) else { return nil }
        switch value {
        case "1", "true", "on", "yes": return true
        case "0", "false", "off", "no": return false
        default: throw .invalidPort("\(key) must be on or off, not '\(value)'")
        }
    }

    /// An unsigned integer option within `range`; nil when absent.
    public mutating func integer<T: FixedWidthInteger>(_ key: String, in range: ClosedRange<T>) throws(RadioError) -> T? {
        guard let value = take(key) else { return nil }
        guard let v = T(value), range.contains(v) else {
            throw .invalidPort("\(key) must be \(range.lowerBound)...\(range.upperBound), not '\(value)'")
        }
        return v
    }

    /// `baud` and `rtscts`, over `settings`.
    public mutating func lineSettings(_ settings: SerialSettings) throws(RadioError) -> SerialSettings {
        var s = settings
        if let baud = take("baud") {
            guard let b = Int(baud), b > 0 else { throw .invalidPort("baud must be a positive integer, not '\(baud)'") }
            s.baud = b
        }
        if let flow = try flag("rtscts") { s.hardwareFlowControl = flow }
        return s
    }

    /// For schemes that take no host or path.
    public static func expectEmpty(_ body: String, scheme: String, text: String) throws(RadioError) {
        guard body.isEmpty else { throw .invalidPort("\(scheme):// takes no host or path, only options: '\(text)'") }
    }
}

/// A host and a TCP port: `lab-pc:2001`, `[::1]:2001`, `10.0.0.5:0`. The
/// one parser for both `tcp://` ports and the daemon's `--listen`.
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public enum ParseError: Error, Equatable, Sendable {
        case noPort
        /// The text after the last colon is not 0...65535.
        case badPort(String)
        case noHost
    }

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init(parsing text: Substring) throws(ParseError) {
        guard let colon = text.lastIndex(of: ":") else { throw .noPort }
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else { throw .badPort(String(portText)) }
        var name = text[..<colon]
        if name.hasPrefix("[") && name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        guard !name.isEmpty else { throw .noHost }
        host = String(name)
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

// MARK: The driver's own schemes

/// A tty path, or `serial:///dev/ttyUSB0?baud=9600&rtscts=on&reconnect=off`.
public struct SerialScheme: PortScheme {
    public static let name = "serial"
    public static let options = ["baud", "rtscts", "reconnect"]
    public static let usage = "serial:///dev/ttyUSB0 (or a tty path)"
    public let path: String
    public let settings: SerialSettings
    public let reconnect: Bool

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        guard !body.isEmpty else { throw .invalidPort("serial:// needs a path, as in serial:///dev/ttyUSB0") }
        path = body
        self.settings = try query.lineSettings(settings)
        reconnect = try query.flag("reconnect") ?? true
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let path = path, settings = settings
        if !reconnect { return try SerialTransport(path: path, settings: settings) }
        return try ReconnectingTransport(name: path, timeout: timeout) { (_) throws(RadioError) in
            try SerialTransport(path: path, settings: settings)
        }
    }

    public var baud: Int? { settings.baud }
    public func devicePath() -> String? { path }
}

/// `tcp://host:port`: raw TCP to a serial-port server (ser2net's `tcp` accepter).
public struct TCPScheme: PortScheme {
    public static let name = "tcp"
    public static let options = ["reconnect"]
    public static let usage = "tcp://HOST:PORT"
    public let address: HostAndPort
    public let reconnect: Bool

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        address = try TCPScheme.hostAndPort(body, in: query.text)
        reconnect = try query.flag("reconnect") ?? true
    }

    /// The address part of tcp:// and rfc2217:// ports.
    static func hostAndPort(_ body: String, in text: String) throws(RadioError) -> HostAndPort {
        var b = Substring(body)
        if b.hasSuffix("/") { b.removeLast() }
        let a: HostAndPort
        do {
            a = try HostAndPort(parsing: b)
        } catch .noHost {
            throw .invalidPort("'\(text)' needs a host before the port")
        } catch {
            throw .invalidPort("'\(text)' needs a host and a port, as in tcp://lab-pc:2001")
        }
        guard a.port > 0 else { throw .invalidPort("'\(text)' needs a host and a port, as in tcp://lab-pc:2001") }
        return a
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let address = address
        return try SocketTransport.opener(name: "tcp://\(address)", reconnect: reconnect, timeout: timeout) { (deadline) throws(RadioError) in
            try SocketTransport(tcp: address, rfc2217: nil, name: "tcp://\(address)", deadline: deadline)
        }
    }

    public var connectsPerClient: Bool { true }
}

/// `rfc2217://host:port?baud=115200&control=off`: telnet with RFC 2217's
/// line settings (ser2net's `telnet(rfc2217)` accepter).
public struct RFC2217Scheme: PortScheme {
    public static let name = "rfc2217"
    public static let options = ["baud", "control", "reconnect"]
    public static let usage = "rfc2217://HOST:PORT"
    public let address: HostAndPort
    public let settings: SerialSettings
    /// Whether to set flow control (off with `control=off`).
    public let setControl: Bool
    public let reconnect: Bool

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        address = try TCPScheme.hostAndPort(body, in: query.text)
        self.settings = try query.lineSettings(settings)
        setControl = try query.flag("control") ?? true
        reconnect = try query.flag("reconnect") ?? true
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let name = "rfc2217://\(address)", address = address, baud = settings.baud, control = setControl
        return try SocketTransport.opener(name: name, reconnect: reconnect, timeout: timeout) { (deadline) throws(RadioError) in
            try SocketTransport(tcp: address, rfc2217: RFC2217Settings(baud: baud, setControl: control), name: name,
                                deadline: deadline)
        }
    }

    public var baud: Int? { settings.baud }
    public var connectsPerClient: Bool { true }
}

/// `unix:///run/radio.sock`: a sharing daemon's Unix socket (radio-cli serve).
public struct UnixScheme: PortScheme {
    public static let name = "unix"
    public static let options = ["reconnect"]
    public static let usage = "unix:///PATH/TO/SOCKET"
    public let path: String
    public let reconnect: Bool

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        guard body.hasPrefix("/") else {
            throw .invalidPort("unix:// needs an absolute socket path, as in unix:///run/radio.sock")
        }
        path = body
        reconnect = try query.flag("reconnect") ?? true
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let name = "unix://\(path)", path = path
        return try SocketTransport.opener(name: name, reconnect: reconnect, timeout: timeout) { (deadline) throws(RadioError) in
            try SocketTransport(unixPath: path, name: name, deadline: deadline)
        }
    }

    public var connectsPerClient: Bool { true }
}
