import Foundation
import Testing

/// Discovery and the udev rules against mocked devices under umockdev
/// (Tests/umockdev/testbed.py builds them): an FTDI radio found by the ID
/// table, a CP210x radio the rules tagged, a plain FTDI cable, an Arduino on
/// ttyACM0 and the console, none of them real.
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
        #expect(radios.compactMap { $0["serial"] as? String } == ["A1B2C3", "CP0042"])

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

        let cp = try #require(radios.last)
        #expect(cp["devnode"] as? String == "/dev/ttyUSB1")
        #expect(cp["driver"] as? String == "cp210x")
        #expect(cp["tagged"] as? Bool == true)
        #expect(cp["stable_link"] as? String == "/dev/radio/CP0042")
        #expect(cp["latency_timer_ms"] is NSNull)

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
        #expect((events[0]["radio"] as? [String: Any])?["serial"] as? String == "A1B2C3")
        #expect(events[1]["event"] as? String == "add")
        let added = try #require(events[1]["radio"] as? [String: Any])
        #expect(added["devnode"] as? String == "/dev/ttyUSB5")
        #expect(added["serial"] as? String == "Z9Y8X7")
        #expect(added["product_id"] as? String == "6015")
        #expect(events[2]["event"] as? String == "remove")
        #expect(events[2]["devnode"] as? String == "/dev/ttyUSB5")
        #expect(events[2]["serial"] as? String == "Z9Y8X7")
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
        #expect(unknown.stderr.contains("no attached radio has that serial number"), "\(unknown.stderr)")
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        #expect(unknown.stdout.isEmpty)
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
