import RadioProtocol
import RadioSimulator
import Testing

/// The simulator's quirks: radios that break one rule of the spec every
/// time, for a conformance suite to catch. Each is checked at the byte
/// level, on the fault-free path and (with a fault that never fires) on
/// the fault path, which encodes answers on its own.
@Suite("radio-sim --quirk: radios that break one rule")
struct QuirkTests {
    /// What the radio sends back for `request`, decoded.
    func exchange(_ quirks: String, _ request: Frame, faultPath: Bool = false) throws -> [FrameDecoder.Event] {
        var configuration = SimulatorConfiguration()
        configuration.telemetryHz = 0
        configuration.quirks = try Quirks(parsing: quirks)
        if faultPath { configuration.faults = try FaultConfiguration(parsing: "corrupt=0.000000001") }
        var engine = SimulatorEngine(configuration: configuration)
        var output: [UInt8] = []
        engine.receive(request.wireBytes, into: &output)
        var decoder = FrameDecoder()
        var events: [FrameDecoder.Event] = []
        decoder.feed(output) { events.append($0) }
        return events
    }

    func request(_ r: Request, _ sequence: UInt16 = 0x1234) -> Frame { Message.request(r).frame(sequence: sequence) }

    @Test(arguments: [false, true])
    func badCRCSpoilsEveryAnswer(faultPath: Bool) throws {
        for r in [Request.identify, .getState, .setPower(Power(deciDBm: 100)), .ping([1, 2, 3])] {
            #expect(try exchange("bad-crc", request(r), faultPath: faultPath) == [.error(.crcMismatch)], "\(r)")
        }
        // Without the quirk the same answers decode.
        if case .frame = try exchange("", request(.identify), faultPath: faultPath).first {} else {
            Issue.record("a plain Identify did not decode")
        }
    }

    @Test(arguments: [false, true])
    func noSeqEchoAnswersWithTheNextNumber(faultPath: Bool) throws {
        let events = try exchange("no-seq-echo", request(.getState, 0xFFFF), faultPath: faultPath)
        guard case .frame(let answer) = events.first, events.count == 1 else {
            Issue.record("\(events)")
            return
        }
        #expect(answer.sequence == 0x0000, "0xFFFF + 1 wraps")
        #expect(answer.type == 0x84)
    }

    @Test func noRangeCheckAppliesAnyValue() throws {
        for (r, type) in [(Request.setPower(Power(deciDBm: 450)), UInt8(0x82)), (.setChannel(5000), 0x83)] {
            let events = try exchange("no-range-check", request(r))
            guard case .frame(let answer) = events.first else {
                Issue.record("\(events)")
                continue
            }
            #expect(answer.type == type && answer.payload.first == 0x00, "ok, not out of range: \(answer)")
        }
        // The plain radio refuses the same values.
        guard case .frame(let refused) = try exchange("", request(.setPower(Power(deciDBm: 450)))).first else { return }
        #expect(refused.payload == [0x01])
    }

    @Test func ping250IsAnsweredInsteadOfRefused() throws {
        let long = Frame(type: 0x05, sequence: 7, payload: (0..<250).map { UInt8(truncatingIfNeeded: $0) })
        guard case .frame(let quirky) = try exchange("ping-250", long).first,
              case .frame(let plain) = try exchange("", long).first else {
            Issue.record("no answer")
            return
        }
        #expect(quirky.payload.first == 0x00 && quirky.payload.count == 250, "ok and 249 bytes: \(quirky.payload.count)")
        #expect(plain.payload == [0x04], "the plain radio answers malformed")
    }

    @Test(arguments: [("bad-crc=1", "takes no value"), ("ping-251", "unknown quirk")])
    func badQuirkSpecsAreRefused(_ spec: String, _ text: String) {
        #expect(throws: FaultConfiguration.ParseError.self) { try Quirks(parsing: spec) }
        do {
            _ = try Quirks(parsing: spec)
        } catch {
            #expect(error.description.contains(text), "\(error.description)")
        }
    }
}
