import ArgumentParser
import FoundationEssentials
import Glibc
import RadioIO
import RadioDriver
import RadioProtocol

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Identify the radio: model, serial, firmware and ranges.",
        discussion: "Asks the radio for its Identify: what it is and the ranges it accepts."
            + examples(["radio-cli info", "radio-cli info --stats --port /dev/ttyUSB0", "radio-cli info --json | jq -r .serial_number"]))
    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Also print the link's counters: requests, retries, timeouts, CRC errors, resyncs, ...")
    var stats = false

    func run() async throws {
        let (port, id, statistics) = try await global.withRadio { r throws(RadioError) in
            (global.label(r), try await r.identify(), r.statistics)
        }
        Output.identity(id, port: port, json: global.json, statistics: stats ? statistics : nil)
    }
}

struct GetState: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-state", abstract: "Read power, channel, tx/rx and the radio's measurements.",
        discussion: "Power, channel, mode and telemetry rate as set, and the radio's latest measurements."
            + examples(["radio-cli get-state", "radio-cli get-state --json | jq .power_dbm", "radio-cli get-state --port tcp://lab-pc:7362"]))
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (port, state) = try await global.withRadio { r throws(RadioError) in (global.label(r), try await r.state()) }
        Output.state(state, port: port, json: global.json)
    }
}

struct SetPower: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-power",
        abstract: "Set transmit power in dBm (0.1 dB steps).",
        usage: "radio-cli set-power <dbm> [<options>]",
        discussion: "The value is checked against the range the radio reports in Identify."
            + examples(["radio-cli set-power 20.5", "radio-cli set-power -3.5 --port /dev/radio/A1B2C3",
                        "radio-cli set-power 10 --json"]))
    @OptionGroup var global: GlobalOptions
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Power in dBm, e.g. 20 or -3.5.", valueName: "dbm"))
    var values: [String] = []

    func requested() throws -> Power {
        let text = try single(values, name: "power in dBm")
        // Decimal only (Double would also take "0x14" and "1e1"), as channels are.
        guard isDecimal(text), let dBm = Double(text), dBm.isFinite else {
            throw ValidationError("power must be a number in dBm, such as 20 or -3.5, not '\(text)'")
        }
        guard (dBm * 10).magnitude <= Double(Int16.max) else {
            throw ValidationError("power '\(text)' dBm is beyond what the protocol can carry (-3276.8 to 3276.7 dBm)")
        }
        guard (dBm * 10 - (dBm * 10).rounded()).magnitude < 1e-6, let power = Power(dBm: dBm) else {
            throw ValidationError("power '\(text)' is not a multiple of the radio's 0.1 dB step")
        }
        return power
    }

    func validate() throws { _ = try requested() }

    func run() async throws {
        let power = try requested()
        var reported: ClosedSpan<Power>?
        let (port, applied) = try await global.withRadio { r throws(RadioError) -> (PortLabel, Power) in
            let range = try await r.identify().powerRange
            reported = range
            // Refused here, before anything is sent: the radio said its range.
            guard range.contains(power) else { throw .device(.setPower, .outOfRange) }
            return (global.label(r), try await r.setPower(power))
        } outOfRange: {
            reported.map { refusal("power", "\(power)", inside: $0.contains(power), "\($0.lower)", "\($0.upper)") }
        }
        Output.applied("power", text: applied.description, json: AppliedJSON(port: port.port, device: port.device, power_dbm: applied.dBm), json: global.json)
    }
}

struct SetChannel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-channel",
        abstract: "Set the channel number.",
        usage: "radio-cli set-channel <n> [<options>]",
        discussion: "The value is checked against the range the radio reports in Identify."
            + examples(["radio-cli set-channel 42", "radio-cli set-channel 7 --port 'udev://?serial=A1B2C3'"]))
    @OptionGroup var global: GlobalOptions
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Channel number.", valueName: "n"))
    var values: [String] = []

    func requested() throws -> UInt16 {
        let text = try single(values, name: "channel number")
        guard let n = Int(text) else {
            let digits = text.drop { $0 == "-" || $0 == "+" }
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) {
                throw ValidationError("channel \(text) is not a valid channel number (0...65535)")
            }
            throw ValidationError("channel must be a whole number, not '\(text)'")
        }
        guard let channel = UInt16(exactly: n) else {
            throw ValidationError("channel \(n) is not a valid channel number (0...65535)")
        }
        return channel
    }

    func validate() throws { _ = try requested() }

    func run() async throws {
        let channel = try requested()
        var reported: ClosedSpan<UInt16>?
        let (port, applied) = try await global.withRadio { r throws(RadioError) -> (PortLabel, UInt16) in
            let range = try await r.identify().channelRange
            reported = range
            guard range.contains(channel) else { throw .device(.setChannel, .outOfRange) }
            return (global.label(r), try await r.setChannel(channel))
        } outOfRange: {
            reported.map { refusal("channel", "\(channel)", inside: $0.contains(channel), "\($0.lower)", "\($0.upper)") }
        }
        Output.applied("channel", text: "\(applied)", json: AppliedJSON(port: port.port, device: port.device, channel: Int(applied)), json: global.json)
    }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping", abstract: "Measure round trips to the radio.",
        discussion: "Sends Ping with a payload the radio echoes back, and times each round trip."
            + examples(["radio-cli ping", "radio-cli ping -c 10 --interval 0.1 --size 64", "radio-cli ping --json | jq .rtt_us.p50"]))
    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Number of pings.") var count: Int = 4
    @Option(help: "Seconds between pings.") var interval: Double = 0.2
    @Option(help: "Payload bytes per ping (echoed back and checked).") var size: Int = 8

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1...1000000, got \(count)") }
        guard interval.isFinite, (0...60).contains(interval) else { throw ValidationError("--interval must be 0...60 seconds") }
        guard (0...Request.maxPingBytes).contains(size) else {
            throw ValidationError("--size must be 0...\(Request.maxPingBytes) bytes, got \(size)")
        }
    }

    func run() async throws {
        let json = global.json
        let count = count, size = size
        let gap = Duration.milliseconds(Int64((interval * 1000).rounded()))
        let (port, rtts, lost) = try await global.withRadio { r throws(RadioError) -> (PortLabel, [Duration], Int) in
            var rtts: [Duration] = []
            var lost = 0
            for i in 0..<count {
                // A different payload each time, so a stale echo cannot pass.
                let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                do throws(RadioError) {
                    let rtt = try await r.ping(payload)
                    rtts.append(rtt)
                    if !json { print("reply from \(r.portName): seq=\(i + 1) time=\(Output.micros(rtt)) µs") }
                } catch {
                    guard error.isNoAnswer else { throw error }
                    lost += 1
                    if !json { print("no reply: seq=\(i + 1): \(error)") }
                }
                if i + 1 < count && gap > .zero { try? await Task.sleep(for: gap) }
            }
            return (global.label(r), rtts, lost)
        }
        Output.pings(rtts, lost: lost, port: port, json: json)
        if rtts.isEmpty { throw Failure("no replies from \(port.text)", status: 75) }
    }
}

/// The one line for an *out of range* refusal: the value outside the range
/// Identify gave (refused before sending), or inside it and refused by the
/// radio all the same (its Identify and its checks disagree).
func refusal(_ what: String, _ value: String, inside: Bool, _ lower: String, _ upper: String) -> String {
    inside
        ? "the radio refused \(what) \(value) as out of range, although its Identify reports \(lower) to \(upper)"
        : "\(what) \(value) is out of range: this radio accepts \(lower) to \(upper)"
}

/// An optional sign, digits, and at most one decimal point among them.
func isDecimal(_ text: String) -> Bool {
    var digits = text.first == "-" || text.first == "+" ? Substring(text.dropFirst()) : Substring(text)
    guard !digits.isEmpty, digits.filter({ $0 == "." }).count <= 1 else { return false }
    digits.removeAll { $0 == "." }
    return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
}

/// The "Examples:" block at the end of a command's --help.
func examples(_ lines: [String]) -> String {
    "\n\nExamples:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
}
