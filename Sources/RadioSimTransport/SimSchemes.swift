public import RadioDriver
public import RadioSimulator

/// `sim`, `sim://?telemetry-hz=50&fault=corrupt=0.01`: the simulator in
/// this process, behind a real pty.
public struct SimScheme: PortScheme {
    public static let name = "sim"
    public static let options = ["telemetry-hz", "seed", "baud", "fault", "quirk"]
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
    public static let options = ["telemetry-hz", "seed", "fault", "quirk"]
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
        if let spec = query.take("quirk") {
            do {
                quirks = try Quirks(parsing: spec)
            } catch {
                throw .invalidPort("\(error.description) in '\(query.text)'")
            }
        }
    }
}

extension PortSchemes {
    /// The driver's schemes and the simulators' (`sim`, `loop`, and the
    /// firmware in QEMU, `qemu`).
    public static let withSimulators = PortSchemes.standard
        .adding(SimScheme.self, word: "sim")
        .adding(LoopScheme.self, word: "loop")
        .adding(FirmwareScheme.self, word: "qemu")
}

/// `qemu`, `qemu://PATH/TO/IMAGE.elf`: the reference firmware in QEMU's
/// lm3s6965evb board, on a pty, started for this port and stopped with it.
/// `qemu` alone runs `.build/firmware/radio-fw.elf` (what `make firmware`
/// builds), from the current directory.
public struct FirmwareScheme: PortScheme {
    public static let name = "qemu"
    public static let options = ["qemu"]
    public static let usage = "qemu, qemu://IMAGE.elf?qemu=QEMU-BINARY"
    public static let defaultImage = ".build/firmware/radio-fw.elf"
    public let configuration: FirmwareEmulator.Configuration
    public let settings: SerialSettings

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        var configuration = FirmwareEmulator.Configuration(image: body.isEmpty ? FirmwareScheme.defaultImage : body)
        if let qemu = query.take("qemu") { configuration.emulator = qemu }
        self.configuration = configuration
        self.settings = settings
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        try FirmwareTransport(configuration: configuration, settings: settings)
    }
}

/// `qemu://`: the firmware in QEMU, on its pty.
public typealias FirmwareTransport = PtyRadioTransport<FirmwareEmulator>

extension PtyRadioTransport where Radio == FirmwareEmulator {
    public convenience init(configuration: FirmwareEmulator.Configuration, settings: SerialSettings) throws(RadioError) {
        let emulator: FirmwareEmulator
        do {
            emulator = try FirmwareEmulator(configuration)
        } catch {
            switch error {
            case .emulatorNotFound: throw .system("starting \(configuration.emulator)", .noSuchFileOrDirectory)
            case .cannotStart(let what, let errno): throw .system("starting \(what)", errno)
            case .imageNotFound, .notAnELFImage: throw .invalidPort(error.description)
            case .emulatorExited, .noAnswer: throw .disconnected(error.description)
            }
        }
        try self.init(emulator, name: "qemu:\(configuration.image) (\(emulator.slavePath))", settings: settings)
    }
}
