import Foundation
import Testing

/// Discovery and the udev rules against mocked devices under umockdev
/// (Tests/umockdev/testbed.py builds them): an FTDI radio found by the ID
/// table, a CP210x radio the rules tagged, a plain FTDI cable, an Arduino on
/// ttyACM0 and the console, none of them real; and the stock adapters of
/// Tests/umockdev/devices, whose ttys are ptys with real things behind them.
@Suite("Discovery under umockdev", .serialized)
struct DiscoveryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let testbed = root.appendingPathComponent("Tests/umockdev/testbed.py").path
    static let cli = productsDirectory.appendingPathComponent("radio-cli").path

    func underUmockdev(_ arguments: [String]) async throws -> Finished {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/umockdev-wrapper"),
                     "umockdev is not installed: `make deps` installs it")
        return try await runProgram("/usr/bin/umockdev-wrapper", ["/usr/bin/python3", Self.testbed] + arguments)
    }

    func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test("list --json finds the two radios and nothing else, with their properties")
    func listsRadios() async throws {
        let done = try await underUmockdev([Self.cli, "list"])
        #expect(done.status == 0, "\(done.stderr)")
        let radios = try #require(JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [[String: Any]])
        #expect(radios.compactMap { $0["usb_serial"] as? String } == ["A1B2C3", "CP0042"])

        let ftdi = try #require(radios.first)
        #expect(ftdi["devnode"] as? String == "/dev/ttyUSB0")
        #expect(ftdi["vendor_id"] as? String == "0403")
        #expect(ftdi["product_id"] as? String == "6001")
        #expect(ftdi["manufacturer"] as? String == "FTDI")
        #expect(ftdi["product"] as? String == "HIL Radio 2")
        #expect(ftdi["driver"] as? String == "ftdi_sio")
        #expect(ftdi["latency_timer_ms"] as? Int == 16)
        #expect(ftdi["tagged"] as? Bool == false)
        #expect(ftdi["stable_link"] is NSNull)

        #expect(ftdi["known_radio"] as? Bool == true)
        #expect(ftdi["bus"] as? String == "usb")
        #expect(ftdi["links"] as? [String] == [])
        #expect(ftdi["held_by"] as? [Any] != nil)
        #expect(ftdi["probe"] == nil, "no probe without --probe")

        let cp = try #require(radios.last)
        #expect(cp["devnode"] as? String == "/dev/ttyUSB1")
        #expect(cp["driver"] as? String == "cp210x")
        #expect(cp["tagged"] as? Bool == true)
        #expect(cp["stable_link"] as? String == "/dev/radio/CP0042")
        #expect(cp["latency_timer_ms"] is NSNull)

        // --all adds the plain FTDI cable and the Arduino (CDC-ACM); the
        // console, with no device behind it, is no port.
        let all = try await underUmockdev([Self.cli, "run", "list", "--all"])
        #expect(all.status == 0, "\(all.stderr)")
        let listed: [String] = all.stdout.split(separator: "\n").map { line in
            String(line.prefix { $0 != " " })
        }
        #expect(listed == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/radio/CP0042", "/dev/ttyUSB2"], "\(all.stdout)")
        #expect(all.stdout.contains("/dev/ttyACM0  2341:0043  serial ARD123  Arduino (www.arduino.cc) Arduino Uno  cdc_acm  free  not a known radio"))
        #expect(all.stdout.contains("radio (adapter table)") && all.stdout.contains("radio (udev rules)"))

        // The 16 ms FTDI default is called out, with the fix; the CP210x has no timer.
        #expect(done.stderr.contains("warning: /dev/ttyUSB0 has a 16 ms latency timer"))
        #expect(done.stderr.contains("/sys/bus/usb-serial/devices/ttyUSB0/latency_timer"))
        #expect(!done.stderr.contains("ttyUSB1"))
    }

    @Test("list --watch sees a radio plugged in and pulled out")
    func watchesHotplug() async throws {
        let done = try await underUmockdev([Self.cli, "hotplug"])
        #expect(done.status == 0, "\(done.stderr)")
        let events = try objects(done.stdout)
        try #require(events.count == 3, "\(done.stdout)")
        #expect(events[0]["event"] as? String == "present")
        #expect((events[0]["radio"] as? [String: Any])?["usb_serial"] as? String == "A1B2C3")
        #expect(events[1]["event"] as? String == "add")
        let added = try #require(events[1]["radio"] as? [String: Any])
        #expect(added["devnode"] as? String == "/dev/ttyUSB5")
        #expect(added["usb_serial"] as? String == "Z9Y8X7")
        #expect(added["product_id"] as? String == "6015")
        #expect(events[2]["event"] as? String == "remove")
        #expect(events[2]["devnode"] as? String == "/dev/ttyUSB5")
        #expect(events[2]["usb_serial"] as? String == "Z9Y8X7")
    }

    @Test("udev:// finds the tty by serial number; an unknown serial is refused by name")
    func opensBySerial() async throws {
        // The mocked tty has no device node to open: reaching "no such port:
        // /dev/ttyUSB0" shows the serial number was resolved to it.
        let found = try await underUmockdev([Self.cli, "run", "info", "--port", "udev://?serial=A1B2C3", "--timeout", "0.3"])
        #expect(found.status == 69)
        #expect(found.stderr.contains("no such port: /dev/ttyUSB0"), "\(found.stderr)")
        #expect(found.stdout.isEmpty)

        let unknown = try await underUmockdev([Self.cli, "run", "info", "--port", "udev://?serial=NOPE", "--timeout", "0.3"])
        #expect(unknown.status == 69)
        #expect(unknown.stderr.contains("no attached port has that USB serial number, and no free port's radio answered"),
                "\(unknown.stderr)")
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        #expect(unknown.stdout.isEmpty)
    }

    // The stock adapters of Tests/umockdev/devices (testbed.py `stock`): an
    // FT230X with a radio-sim (serial STOCK-1) behind it, a silent CP2102, a
    // CH340 that `sleep` holds open, a USB keyboard, a 16550A on ttyS0 and an
    // 8250 placeholder without a UART on ttyS1.
    static let sim = productsDirectory.appendingPathComponent("radio-sim").path

    func stock(_ arguments: [String]) async throws -> Finished {
        try await underUmockdev([Self.cli, "stock", Self.sim] + arguments)
    }

    func port(_ ports: [[String: Any]], _ devnode: String) throws -> [String: Any] {
        try #require(ports.first { $0["devnode"] as? String == devnode }, "\(devnode) not listed")
    }

    @Test("list --all shows a stock FT230X, CP2102 and CH340 and the mainboard UART; not the keyboard or an empty 8250 slot")
    func listsStockAdapters() async throws {
        let done = try await stock(["list", "--all", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let ports = try #require(JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [[String: Any]])
        #expect(ports.compactMap { $0["devnode"] as? String } == ["/dev/ttyS0", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2"])
        #expect(ports.allSatisfy { $0["known_radio"] as? Bool == false && $0["probe"] == nil })

        let ftdi = try port(ports, "/dev/ttyUSB0")
        #expect(ftdi["vendor_id"] as? String == "0403")
        #expect(ftdi["product_id"] as? String == "6015")
        #expect(ftdi["product"] as? String == "FT230X Basic UART")
        #expect(ftdi["manufacturer"] as? String == "FTDI")
        #expect(ftdi["usb_serial"] as? String == "D30AB1CD")
        #expect(ftdi["driver"] as? String == "ftdi_sio")
        #expect(ftdi["latency_timer_ms"] as? Int == 16)
        #expect(ftdi["links"] as? [String] == ["/dev/serial/by-id/usb-FTDI_FT230X_Basic_UART_D30AB1CD-if00-port0",
                                               "/dev/serial/by-path/pci-0000:00:14.0-usb-0:3:1.0-port0"])
        #expect((ftdi["held_by"] as? [Any])?.isEmpty == true)

        let cp = try port(ports, "/dev/ttyUSB1")
        #expect(cp["vendor_id"] as? String == "10c4")
        #expect(cp["product"] as? String == "CP2102 USB to UART Bridge Controller")
        #expect(cp["driver"] as? String == "cp210x")
        #expect(cp["latency_timer_ms"] is NSNull)

        let ch = try port(ports, "/dev/ttyUSB2")
        #expect(ch["vendor_id"] as? String == "1a86")
        #expect(ch["product_id"] as? String == "7523")
        #expect(ch["driver"] as? String == "ch341")
        #expect(ch["usb_serial"] is NSNull, "the CH340 has no serial number")
        let holders = try #require(ch["held_by"] as? [[String: Any]])
        #expect(holders.map { $0["command"] as? String } == ["sleep"])
        #expect(holders.first?["how"] as? String == "open")

        let uart = try port(ports, "/dev/ttyS0")
        #expect(uart["bus"] as? String == "pnp")
        #expect(uart["driver"] as? String == "serial")
        #expect(uart["vendor_id"] is NSNull)

        // The FT230X's 16 ms timer is called out with the fix; the others have none.
        #expect(done.stderr.contains("warning: /dev/ttyUSB0 has a 16 ms latency timer"), "\(done.stderr)")
        #expect(done.stderr.contains("/sys/bus/usb-serial/devices/ttyUSB0/latency_timer"))
        #expect(!done.stderr.contains("warning: /dev/ttyUSB1"))

        // Without --all: no radio among them, and a hint where to look.
        let radios = try await stock(["list"])
        #expect(radios.status == 0)
        #expect(radios.stdout.isEmpty)
        #expect(radios.stderr.contains("no radios attached (radio-cli list --all shows every serial port"), "\(radios.stderr)")
    }

    /// The line testbed.py prints on stderr about what reached the mocked lines.
    func testbedReport(_ stderr: String) throws -> [String: Any] {
        let line = try #require(stderr.split(separator: "\n").first { $0.hasPrefix("{\"testbed\"") }, "\(stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try #require(object["testbed"] as? [String: Any])
    }

    @Test("list --all --probe identifies the radio behind the FT230X, calls the CP2102 silent and skips the held CH340")
    func probesStockAdapters() async throws {
        let done = try await stock(["list", "--all", "--probe", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let ports = try #require(JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [[String: Any]])
        let radio = try #require(try port(ports, "/dev/ttyUSB0")["probe"] as? [String: Any])
        #expect(radio["result"] as? String == "radio")
        #expect(radio["serial_number"] as? String == "STOCK-1")
        #expect(radio["model"] as? String == "RS-100 Simulated Radio")
        let silent = try #require(try port(ports, "/dev/ttyUSB1")["probe"] as? [String: Any])
        #expect(silent["result"] as? String == "silent")
        let busy = try #require(try port(ports, "/dev/ttyUSB2")["probe"] as? [String: Any])
        #expect(busy["result"] as? String == "skipped")
        #expect((busy["reason"] as? String)?.contains("in use by pid") == true)
        #expect((busy["reason"] as? String)?.contains("(sleep)") == true)

        // Nothing reached the held port; the silent one got one Identify and
        // its 9600 baud back.
        let report = try testbedReport(done.stderr)
        #expect(report["ttyUSB2_received"] as? Int == 0)
        #expect(report["ttyUSB1_received"] as? Int == 9)
        #expect(report["ttyUSB1_settings_kept"] as? Bool == true)

        let text = try await stock(["list", "--all", "--probe"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("/dev/ttyUSB0  0403:6015  serial D30AB1CD  FTDI FT230X Basic UART  ftdi_sio  latency 16 ms") })
        #expect(lines.contains { $0.hasPrefix("    probe: radio: RS-100 Simulated Radio, serial STOCK-1, firmware 1.0.0-sim") })
        #expect(lines.contains("    open it wherever it is plugged in: --port 'udev://?serial=STOCK-1'"))
        #expect(lines.contains { $0.hasPrefix("    probe: skipped, nothing written: in use by pid ") && $0.hasSuffix(" (sleep)") })
        #expect(lines.contains { $0.hasPrefix("    probe: no answer within 100 ms and nothing received") })
    }

    @Test("list --all --probe --watch probes a stock cable as it is plugged in")
    func probesArrivals() async throws {
        let done = try await underUmockdev([Self.cli, "stock-hotplug", Self.sim, "list", "--all", "--probe", "--watch", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let events = try objects(done.stdout)
        try #require(events.count == 5, "\(done.stdout)")
        #expect(events.prefix(3).map { $0["event"] as? String } == ["present", "present", "present"])
        #expect(events.prefix(3).map { ($0["port"] as? [String: Any])?["devnode"] as? String }
                == ["/dev/ttyS0", "/dev/ttyUSB1", "/dev/ttyUSB2"])
        #expect(events[3]["event"] as? String == "add")
        let added = try #require(events[3]["port"] as? [String: Any])
        #expect(added["devnode"] as? String == "/dev/ttyUSB0")
        #expect(added["product"] as? String == "FT230X Basic UART")
        let probe = try #require(added["probe"] as? [String: Any])
        #expect(probe["result"] as? String == "radio")
        #expect(probe["serial_number"] as? String == "STOCK-1")
        #expect(events[4]["event"] as? String == "remove")
        #expect(events[4]["devnode"] as? String == "/dev/ttyUSB0")
        #expect(events[4]["usb_serial"] as? String == "D30AB1CD")
    }

    @Test("udev:// opens a radio by the serial it answers Identify with, or a stock cable by its USB serial")
    func opensByIdentifySerial() async throws {
        for serial in ["STOCK-1", "D30AB1CD"] {
            let done = try await stock(["info", "--port", "udev://?serial=\(serial)", "--timeout", "2"])
            #expect(done.status == 0, "\(serial): \(done.stderr)")
            #expect(done.stdout.contains("Serial number:  STOCK-1"), "\(done.stdout)")
            // The held CH340 was not written to on the way.
            #expect(try testbedReport(done.stderr)["ttyUSB2_received"] as? Int == 0)
        }
    }

    @Test("udev:// by Identify serial follows the radio to another USB port, probing only at the open and the arrival")
    func reconnectsByIdentifySerial() async throws {
        let done = try await underUmockdev([Self.cli, "stock-reconnect", Self.sim,
                                            "monitor", "--port", "udev://?serial=STOCK-1", "--json", "--fields", "rssi"])
        #expect(done.status == 0, "\(done.stderr)")
        let events = try objects(done.stdout)
        let kinds = events.map { $0["event"] as? String ?? "sample" }
        // A sample, the outage, and samples again once it is back on ttyUSB3.
        let outage = try #require(kinds.firstIndex(of: "disconnected"), "\(done.stdout)")
        #expect(kinds[..<outage].contains("sample"))
        #expect(kinds[(outage + 1)...].contains("sample"), "the radio never came back: \(done.stdout)")
        // One Identify (9 bytes) reached the silent CP2102 at the open and
        // one at the arrival; none while the radio was away for 1.5 s,
        // whatever the reconnect loop polled.
        let report = try testbedReport(done.stderr)
        #expect(report["at_open"] as? Int == 9)
        #expect(report["while_away"] as? Int == 0)
        #expect(report["at_arrival"] as? Int == 9)
    }

    static let udevTest = root.appendingPathComponent("Tests/umockdev/udev-rules-test.sh").path
    static var canRunUdevadm: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/udevadm")
    }

    /// What `udevadm test` printed for each device, by syspath.
    func udevadmTest(_ rules: String) async throws -> (status: Int32, byDevice: [String: String], all: String) {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/umockdev-wrapper"),
                     "umockdev is not installed: `make deps` installs it")
        let done = try await runProgram(Self.udevTest, [rules], limit: .seconds(120))
        var byDevice: [String: String] = [:]
        for chunk in done.stdout.components(separatedBy: "### ").dropFirst() {
            let lines = chunk.split(separator: "\n", maxSplits: 1)
            byDevice[String(lines[0])] = lines.count > 1 ? String(lines[1]) : ""
        }
        return (done.status, byDevice, done.stdout + done.stderr)
    }

    /// Lines where udev reports a problem in our rules file (not a device's log).
    func ruleErrors(_ output: String) -> [Substring] {
        output.split(separator: "\n").filter { $0.hasPrefix("/run/udev/rules.d/60-radio.rules:") }
    }

    @Test("udevadm accepts the rules, and they do what they say on a mocked FTDI radio",
          .enabled(if: DiscoveryTests.canRunUdevadm, "needs root (a private mount namespace) and udevadm"))
    func rulesWork() async throws {
        let result = try await udevadmTest(Self.root.appendingPathComponent("udev-rules/60-radio.rules").path)
        #expect(result.status == 0, "\(result.all.suffix(2000))")
        #expect(ruleErrors(result.all).isEmpty, "\(ruleErrors(result.all))")

        let tty = try #require(result.byDevice["/sys/devices/usb1/1-1/1-1:1.0/ttyUSB0/ttyUSB0"])
        for expected in ["ID_RADIO=1", "ID_RADIO_SERIAL=A1B2C3", "ID_MM_DEVICE_IGNORE=1",
                         "60-radio.rules:28 GROUP 20", "60-radio.rules:28 MODE 0660", "LINK 'radio/A1B2C3'"] {
            #expect(tty.contains(expected), "\(expected) missing")
        }
        #expect(tty.split(separator: "\n").contains { $0.hasPrefix("TAGS=") && $0.contains(":uaccess:") })

        let port = try #require(result.byDevice["/sys/devices/usb1/1-1/1-1:1.0/ttyUSB0"])
        #expect(port.contains("latency_timer' writing '1'"))

        // Issue 16 item 11: the serial comes from the device, and SYMLINK+=
        // took it raw (a space made two links, a slash a path). A serial
        // with other than [A-Za-z0-9._-] gets no link; the rest still applies.
        let evil = try #require(result.byDevice["/sys/devices/usb1/1-6/1-6:1.0/ttyUSB6/ttyUSB6"])
        #expect(evil.contains("ID_RADIO=1"))
        #expect(evil.contains("60-radio.rules:28 MODE 0660"), "\(evil)")
        #expect(!evil.contains("LINK 'radio/"), "\(evil.split(separator: "\n").filter { $0.contains("LINK") })")

        let cable = try #require(result.byDevice["/sys/devices/usb1/1-3/1-3:1.0/ttyUSB2/ttyUSB2"])
        #expect(!cable.contains("ID_RADIO"), "a plain FTDI cable must not be taken for a radio")
        #expect(!cable.contains("ID_MM_DEVICE_IGNORE"))
    }

    @Test("the udevadm check catches a broken rule",
          .enabled(if: DiscoveryTests.canRunUdevadm, "needs root (a private mount namespace) and udevadm"))
    func brokenRuleIsCaught() async throws {
        let good = try String(contentsOf: Self.root.appendingPathComponent("udev-rules/60-radio.rules"), encoding: .utf8)
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).rules")
        try good.replacingOccurrences(of: "GROUP=\"dialout\"", with: "GRUOP=\"dialout\"")
            .write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        let result = try await udevadmTest(broken.path)
        #expect(ruleErrors(result.all).contains { $0.contains("Invalid key 'GRUOP'") }, "\(ruleErrors(result.all))")
    }
}
