import RadioDriver
import RadioProtocol
import RadioSimulator
import Testing

@Suite("loop:// and port strings")
struct LoopAndAddressTests {
    @Test func everyCommandThroughMemory() async throws {
        let radio = try RadioClient(port: "loop://?telemetry-hz=0")
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
        let radio = try RadioClient(port: "sim://?seed=3&telemetry-hz=0")
        defer { radio.close() }
        #expect(radio.portName.contains("/dev/pts/"))
        #expect(try await radio.setChannel(3) == 3)
    }

    @Test func networkPortStringsParse() throws {
        #expect(try PortAddress(parsing: "tcp://lab-pc:2000")
            == .network(host: "lab-pc", port: 2000, rfc2217: false, SerialSettings()))
        #expect(try PortAddress(parsing: "rfc2217://[::1]:2001?baud=9600&control=off&reconnect=off")
            == .network(host: "::1", port: 2001, rfc2217: true, SerialSettings(baud: 9600), setControl: false, reconnect: false))
        #expect(try PortAddress(parsing: "rfc2217://10.0.0.5:2001?baud=57600").baud == 57600)
        #expect(try PortAddress(parsing: "tcp://lab-pc:2000").baud == nil)
        for bad in ["tcp://lab-pc", "tcp://:2000", "tcp://lab-pc:0", "tcp://lab-pc:99999", "tcp://lab-pc:2000?baud=9600",
                    "rfc2217://lab-pc:2001?control=maybe"] {
            #expect(throws: RadioError.self, "\(bad)") { try PortAddress(parsing: bad) }
        }
        #expect(try PortAddress(parsing: "unix:///run/radio.sock") == .unix(path: "/run/radio.sock"))
        #expect(try PortAddress(parsing: "unix:///run/radio.sock?reconnect=off") == .unix(path: "/run/radio.sock", reconnect: false))
        #expect(try PortAddress(parsing: "unix:///run/radio.sock").baud == nil)
        for bad in ["unix://", "unix://radio.sock", "unix:///run/radio.sock?baud=9600"] {
            #expect(throws: RadioError.self, "\(bad)") { try PortAddress(parsing: bad) }
        }
    }

    @Test func portStringsParse() throws {
        #expect(try PortAddress(parsing: "/dev/ttyUSB0") == .serial(path: "/dev/ttyUSB0", SerialSettings()))
        #expect(try PortAddress(parsing: "serial:///dev/ttyUSB0?baud=9600&rtscts=on")
            == .serial(path: "/dev/ttyUSB0", SerialSettings(baud: 9600, hardwareFlowControl: true)))
        var config = SimulatorConfiguration()
        #expect(try PortAddress(parsing: "sim") == .sim(config, SerialSettings()))
        config.seed = 7
        config.telemetryHz = 0
        #expect(try PortAddress(parsing: "loop://?seed=7&telemetry-hz=0") == .loop(config))
    }

    @Test(arguments: [
        "", "foo://x", "loop://?speed=3", "loop://?seed", "loop://?seed=-1", "sim://host",
        "serial://", "serial:///dev/x?baud=fast", "serial:///dev/x?rtscts=maybe", "loop://?telemetry-hz=99999",
    ])
    func badPortStringsAreUsageErrors(_ text: String) {
        do {
            let address = try PortAddress(parsing: text)
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
