import Foundation
import Testing

/// The image `make firmware` builds (`make test` builds it first).
private let image = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/firmware/radio-fw.elf").path

/// radio-cli against the reference firmware on an emulated Cortex-M3: through
/// `radio-sim --firmware` (a process, like a board on a cable) and through
/// the `qemu://` port scheme (QEMU started for the command).
@Suite("radio-cli against the C firmware in QEMU", .serialized)
struct FirmwareEndToEndTests {
    private func requireImage() throws {
        try #require(FileManager.default.fileExists(atPath: image), "no \(image): run `make firmware` (make test does)")
    }

    @Test func aLabSessionThroughRadioSimFirmware() async throws {
        try requireImage()
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("radio-fw-\(UUID().uuidString)").path
        let board = try SimProcess(["--firmware", image, "--link", link])
        let port = ["--port", link]

        let info = try await run("radio-cli", ["info"] + port)
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("RS-100 C99 Firmware"))
        #expect(info.stdout.contains("FW-0001"))
        #expect(info.stdout.contains("-10.0 dBm to 30.0 dBm"))

        let power = try await run("radio-cli", ["set-power", "20.5"] + port)
        #expect(power.status == 0, "\(power.stderr)")
        #expect(power.stdout == "power set to 20.5 dBm\n")
        let channel = try await run("radio-cli", ["set-channel", "42"] + port)
        #expect(channel.stdout == "channel set to 42\n", "\(channel.stderr)")

        // The board kept its state between the processes.
        let state = try await run("radio-cli", ["get-state", "--json"] + port)
        #expect(state.status == 0, "\(state.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any])
        #expect(json["power_dbm"] as? Double == 20.5)
        #expect(json["channel"] as? Int == 42)
        #expect(json["telemetry_hz"] as? Int == 10)

        // Out of range: the firmware says so, the CLI exits 65 with one line.
        let tooHigh = try await run("radio-cli", ["set-power", "45"] + port)
        #expect(tooHigh.status == 65)
        #expect(tooHigh.stderr.contains("out of range") && tooHigh.stderr.split(separator: "\n").count == 1)

        let ping = try await run("radio-cli", ["ping", "--count", "5", "--interval", "0", "--json"] + port)
        #expect(ping.status == 0, "\(ping.stderr)")
        let pj = try #require(try JSONSerialization.jsonObject(with: Data(ping.stdout.utf8)) as? [String: Any])
        #expect(pj["received"] as? Int == 5)

        // Telemetry from the board's timer: consecutive samples, 100 ms apart.
        let monitor = try await run("radio-cli", ["monitor", "--count", "5", "--json"] + port)
        #expect(monitor.status == 0, "\(monitor.stderr)")
        let samples = monitor.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(samples.count == 5)
        let uptimes = samples.compactMap { $0["uptime_ms"] as? Int }
        #expect(uptimes.count == 5)
        for (a, b) in zip(uptimes, uptimes.dropFirst()) { #expect(b - a == 100, "\(uptimes)") }

        let bench = try await run("radio-cli", ["bench", "--count", "200", "--warmup", "20", "--json"] + port)
        #expect(bench.status == 0, "\(bench.stderr)")
        let bj = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        let commands = try #require(bj["commands"] as? [String: [String: Any]])
        #expect(commands["set-power"]?["count"] as? Int == 200)
        #expect(commands["set-power"]?["errors"] as? Int == 0)
        #expect(commands["set-channel"]?["errors"] as? Int == 0)

        #expect(board.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: link))
    }

    @Test func theQemuSchemeStartsAndStopsTheBoardPerCommand() async throws {
        try requireImage()
        let state = try await run("radio-cli", ["get-state", "--json", "--port", "qemu://\(image)"])
        #expect(state.status == 0, "\(state.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(state.stdout.utf8)) as? [String: Any])
        // A fresh board each time: power-on settings.
        #expect(json["power_dbm"] as? Double == -10)
        #expect(json["channel"] as? Int == 1)
    }

    @Test func badImagesAndEmulatorsAreOneLineErrors() async throws {
        try requireImage()
        let missing = try await run("radio-cli", ["info", "--port", "qemu:///nonexistent/radio.elf"])
        #expect(missing.status == 64)
        #expect(missing.stderr == "radio-cli: invalid port: no firmware image at /nonexistent/radio.elf "
                    + "(make firmware builds .build/firmware/radio-fw.elf)\n")

        let notELF = try await run("radio-sim", ["--firmware", #filePath])
        #expect(notELF.status == 65)
        #expect(notELF.stderr.hasSuffix("is not an ELF image (make firmware builds .build/firmware/radio-fw.elf)\n"))

        let noQemu = try await run("radio-cli", ["info", "--port", "qemu://\(image)?qemu=no-such-qemu"])
        #expect(noQemu.status == 71)
        #expect(noQemu.stderr == "radio-cli: starting no-such-qemu: No such file or directory\n")

        let simOption = try await run("radio-sim", ["--firmware", image, "--fault", "corrupt=0.1"])
        #expect(simOption.status == 64)
        #expect(simOption.stderr.contains("--fault is a simulator option"))
    }
}
