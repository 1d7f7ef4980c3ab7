import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

@Suite("loop:// and port strings")
struct LoopAndAddressTests {
    @Test func everyCommandThroughMemory() async throws {
        let radio = try RadioClient(port: "loop://?telemetry-hz=0", schemes: .withSimulators)
        defer { radio.close() }
        #expect(try await radio.identify().serialNumber == "SIM-0001")
        #expect(try await radio.setPower(Power(deciDBm: -30)) == Power(deciDBm: -30))
        #expect(try await radio.setChannel(9) == 9)
        let state = try await radio.state()
        #expect(state.power == Power(deciDBm: -30) && state.channel == 9)
        _ = try await radio.ping(Array(0...200))
        let error = await expectRadioError { () async throws(RadioError) in try await radio.setChannel(5000) }
        #expect(error == .device(.setChannel, .outOfRange))
        // A request the frame cannot carry is refused before it is sent.
        let tooBig = await expectRadioError { () async throws(RadioError) in try await radio.ping([UInt8](repeating: 1, count: 250)) }
        #expect(tooBig == .invalidRequest("a ping carries at most 249 bytes, not 250"))
        _ = try await radio.ping([UInt8](repeating: 1, count: 249))
    }

    @Test func simStartsASimulatorBehindARealPty() async throws {
        let radio = try RadioClient(port: "sim://?seed=3&telemetry-hz=0", schemes: .withSimulators)
        defer { radio.close() }
        #expect(radio.portName.contains("/dev/pts/"))
        #expect(try await radio.setChannel(3) == 3)
    }

    /// The scheme a port string parses to, as its concrete type.
    func parse<S: PortScheme>(_ text: String, as _: S.Type, schemes: PortSchemes = .withSimulators) throws -> S {
        let address = try schemes.parse(text)
        guard let port = address.port as? S else {
            Issue.record("'\(text)' parsed as \(type(of: address.port)), not \(S.self)")
            throw RadioError.invalidPort(text)
        }
        return port
    }

    @Test func networkPortStringsParse() throws {
        let tcp = try parse("tcp://lab-pc:2000", as: TCPScheme.self)
        #expect(tcp.address == HostAndPort(host: "lab-pc", port: 2000) && tcp.reconnect && tcp.baud == nil)
        let rfc = try parse("rfc2217://[::1]:2001?baud=9600&control=off&reconnect=off", as: RFC2217Scheme.self)
        #expect(rfc.address == HostAndPort(host: "::1", port: 2001) && rfc.settings.baud == 9600)
        #expect(!rfc.setControl && !rfc.reconnect)
        #expect(try PortSchemes.standard.parse("rfc2217://10.0.0.5:2001?baud=57600").baud == 57600)
        for bad in ["tcp://lab-pc", "tcp://:2000", "tcp://lab-pc:0", "tcp://lab-pc:99999", "tcp://lab-pc:2000?baud=9600",
                    "rfc2217://lab-pc:2001?control=maybe"] {
            #expect(throws: RadioError.self, "\(bad)") { try PortSchemes.standard.parse(bad) }
        }
        let unix = try parse("unix:///run/radio.sock", as: UnixScheme.self)
        #expect(unix.path == "/run/radio.sock" && unix.reconnect && unix.connectsPerClient)
        #expect(try !parse("unix:///run/radio.sock?reconnect=off", as: UnixScheme.self).reconnect)
        #expect(try PortSchemes.standard.parse("unix:///run/radio.sock").baud == nil)
        for bad in ["unix://", "unix://radio.sock", "unix:///run/radio.sock?baud=9600"] {
            #expect(throws: RadioError.self, "\(bad)") { try PortSchemes.standard.parse(bad) }
        }
    }

    @Test func portStringsParse() throws {
        let tty = try parse("/dev/ttyUSB0", as: SerialScheme.self)
        #expect(tty.path == "/dev/ttyUSB0" && tty.settings == SerialSettings() && !tty.connectsPerClient)
        #expect(tty.devicePath() == "/dev/ttyUSB0")
        let serial = try parse("serial:///dev/ttyUSB0?baud=9600&rtscts=on", as: SerialScheme.self)
        #expect(serial.settings == SerialSettings(baud: 9600, hardwareFlowControl: true))
        #expect(try parse("sim", as: SimScheme.self).configuration == SimulatorConfiguration())
        var config = SimulatorConfiguration()
        config.seed = 7
        config.telemetryHz = 0
        #expect(try parse("loop://?seed=7&telemetry-hz=0", as: LoopScheme.self).configuration == config)
        #expect(try parse("loop", as: LoopScheme.self).configuration == SimulatorConfiguration())
    }

    /// The driver's own table has no simulator: `sim` is a tty path there,
    /// and `loop://` an unknown scheme; a program adds what it links.
    @Test func theDriversTableLeavesTheSimulatorOut() throws {
        #expect(try parse("sim", as: SerialScheme.self, schemes: .standard).path == "sim")
        #expect(throws: RadioError.self) { try PortSchemes.standard.parse("loop://") }
        let table = PortSchemes.standard.adding(LoopScheme.self, word: "loop")
        #expect(try parse("loop", as: LoopScheme.self, schemes: table).configuration == SimulatorConfiguration())
        #expect(table.forms.map(\.usage).contains(LoopScheme.usage))
    }

    @Test(arguments: [
        "", "foo://x", "loop://?speed=3", "loop://?seed", "loop://?seed=-1", "sim://host",
        "serial://", "serial:///dev/x?baud=fast", "serial:///dev/x?rtscts=maybe", "loop://?telemetry-hz=99999",
    ])
    func badPortStringsAreUsageErrors(_ text: String) {
        do {
            let address = try PortSchemes.withSimulators.parse(text)
            Issue.record("'\(text)' parsed as \(address)")
        } catch {
            guard case .invalidPort = error else {
                Issue.record("'\(text)' gave \(error)")
                return
            }
        }
    }

    @Test func missingPathIsNotFound() {
        #expect(throws: RadioError.notFound("/dev/does-not-exist")) {
            _ = try RadioClient(port: "/dev/does-not-exist")
        }
    }

    @Test func aRegularFileIsNotATerminal() {
        #expect(throws: RadioError.notATerminal("/etc/hostname")) {
            _ = try RadioClient(port: "/etc/hostname")
        }
    }
}
