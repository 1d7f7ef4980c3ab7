public import RadioDriver
public import RadioSimulator

/// `sim`, `sim://?telemetry-hz=50&fault=corrupt=0.01`: the simulator in
/// this process, behind a real pty.
public struct SimScheme: PortScheme {
    public static let name = "sim"
    public static let options = ["telemetry-hz", "seed", "baud", "fault"]
    public static let usage = "sim, sim://?telemetry-hz=N&seed=N&fault=SPEC"
    public let configuration: SimulatorConfiguration
    public let settings: SerialSettings

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        try PortQuery.expectEmpty(body, scheme: SimScheme.name, text: query.text)
        self.settings = try query.lineSettings(settings)
        configuration = try SimulatorConfiguration(query: &query)
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        try SimTransport(configuration: configuration, settings: settings)
    }

    public var baud: Int? { settings.baud }
}

/// `loop`, `loop://?seed=7`: the simulator in this process, through memory.
public struct LoopScheme: PortScheme {
    public static let name = "loop"
    public static let options = ["telemetry-hz", "seed", "fault"]
    public static let usage = "loop, loop://?telemetry-hz=N&seed=N&fault=SPEC"
    public let configuration: SimulatorConfiguration

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        try PortQuery.expectEmpty(body, scheme: LoopScheme.name, text: query.text)
        configuration = try SimulatorConfiguration(query: &query)
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        LoopTransport(configuration: configuration)
    }
}

extension SimulatorConfiguration {
    /// The options `sim://` and `loop://` share.
    init(query: inout PortQuery) throws(RadioError) {
        self.init()
        if let hz = try query.integer("telemetry-hz", in: 0...maxTelemetryHz) { telemetryHz = hz }
        if let seed = query.take("seed") {
            guard let v = UInt64(seed) else { throw .invalidPort("seed must be an unsigned integer, not '\(seed)'") }
            self.seed = v
        }
        if let spec = query.take("fault") {
            do {
                faults = try FaultConfiguration(parsing: spec)
            } catch {
                throw .invalidPort("\(error.description) in '\(query.text)'")
            }
        }
    }
}

extension PortSchemes {
    /// The driver's schemes and the simulator's two (`sim`, `loop`).
    public static let withSimulators = PortSchemes.standard
        .adding(SimScheme.self, word: "sim")
        .adding(LoopScheme.self, word: "loop")
}
