import RadioFirmware
import RadioProtocol
import RadioSimulator
import Testing

/// The C core and the Swift simulator are two implementations of the radio
/// side. Fed the same bytes, they must answer with the same frames: same
/// types, sequence numbers, statuses and values. Only the measurements in a
/// GetState reply differ (the simulator makes up noisy ones; the core reads
/// its sensor hook), so those 12 bytes are left out of the comparison.
@Suite("C firmware core agrees with the Swift simulator")
struct FirmwareAgreementTests {
    /// Frames with GetState measurements blanked.
    private func comparable(_ bytes: [UInt8]) -> [Frame] {
        frames(in: bytes).map { frame in
            var f = frame
            if f.type == (Command.getState.rawValue | 0x80), f.payload.first == Status.ok.rawValue, f.payload.count == 20 {
                f.payload.replaceSubrange(8..<20, with: repeatElement(0, count: 12))
            }
            return f
        }
    }

    private final class Pair {
        let core = FirmwareCore()
        var simulator = SimulatorEngine(configuration: SimulatorConfiguration())
        var compared = 0

        func send(_ input: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            var fromSimulator: [UInt8] = []
            simulator.receive(input, into: &fromSimulator)
            let fromCore = core.exchange(input)
            let a = FirmwareAgreementTests().comparable(fromCore), b = FirmwareAgreementTests().comparable(fromSimulator)
            #expect(a == b, "\(what): C \(hexString(fromCore)) vs Swift \(hexString(fromSimulator))",
                    sourceLocation: sourceLocation)
            #expect(core.power == simulator.radio.power.deciDBm, "\(what): power", sourceLocation: sourceLocation)
            #expect(core.channel == simulator.radio.channel, "\(what): channel", sourceLocation: sourceLocation)
            #expect(core.telemetryRate == simulator.radio.telemetryRate, "\(what): rate", sourceLocation: sourceLocation)
            compared += a.count
        }
    }

    @Test func everyCommandAtAndPastItsLimits() {
        let pair = Pair()
        var sequence: UInt16 = 0
        func next() -> UInt16 { sequence &+= 1; return sequence }
        for p: Int16 in [-100, 300, -101, 301, 0, 125, .min, .max] {
            pair.send(wire(.setPower(Power(deciDBm: p)), sequence: next()), "SetPower \(p)")
        }
        for ch: UInt16 in [0, 1, 1024, 1025, 42, 256, .max] {
            pair.send(wire(.setChannel(ch), sequence: next()), "SetChannel \(ch)")
        }
        for hz: UInt16 in [0, 1, 5000, 5001, 100, .max] {
            pair.send(wire(.setTelemetryRate(hz), sequence: next()), "SetTelemetryRate \(hz)")
        }
        for count in [0, 1, 6, 128, 249] {
            pair.send(wire(.ping((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37) }), sequence: next()), "Ping \(count)")
        }
        pair.send(wire(.identify, sequence: next()), "Identify")
        pair.send(wire(.getState, sequence: next()), "GetState")
        pair.send(wire(.identify, sequence: 0), "sequence 0")
        pair.send(wire(.getState, sequence: 0xFFFF), "sequence 0xFFFF")
        #expect(pair.compared == 30)
    }

    @Test func everyErrorStatus() {
        let pair = Pair()
        // Payloads of the wrong length, for every request type.
        for type: UInt8 in 1...6 {
            for length in [0, 1, 2, 3, 250] {
                pair.send(wire(type: type, sequence: UInt16(type) << 8 | UInt16(length), payload: Array(repeating: 7, count: length)),
                          "type \(type) with \(length) payload bytes")
            }
        }
        // Unknown request types, and types a radio ignores.
        for type: UInt8 in [0x07, 0x20, 0x3F, 0x00, 0x40, 0x41, 0x7F, 0x80, 0x82, 0xC1, 0xFF] {
            pair.send(wire(type: type, sequence: 0x0102, payload: [1, 2]), "type \(type)")
        }
        // Versions it does not speak, with known, unknown and non-request types.
        for version: UInt8 in [0, 2, 0x7F, 0xFF] {
            for type: UInt8 in [0x01, 0x02, 0x3F, 0x40, 0x82] {
                pair.send(wire(version: version, type: type, sequence: 9, payload: [0x7D, 0x00]), "version \(version) type \(type)")
            }
        }
        #expect(pair.compared == 30 + 3 + 12)
    }

    /// PROTOCOL.md §7: a request is checked for version, then type, then
    /// payload, then values, and answered with the first failure, in a
    /// version-1 frame with the request's number and type | 0x80; a frame
    /// that is not a request is ignored whatever its version. Both radios.
    @Test func checksComeInTheSpecsOrder() {
        let pair = Pair()
        let cases: [(wire: [UInt8], answer: (type: UInt8, status: Status)?, what: String)] = [
            (wire(version: 2, type: 0x3F, sequence: 11, payload: [1, 2, 3]), (0xBF, .unsupportedVersion),
             "another version, an unknown type and a bad payload: the version"),
            (wire(type: 0x3F, sequence: 12, payload: [1, 2, 3]), (0xBF, .unknownCommand), "an unknown type with a payload: the type"),
            (wire(type: Command.setPower.rawValue, sequence: 13, payload: [0x7F]), (0x82, .malformed),
             "SetPower with one byte: the payload"),
            (wire(.setPower(Power(deciDBm: 450)), sequence: 14), (0x82, .outOfRange), "SetPower 45 dBm: the value"),
            (wire(type: Command.ping.rawValue, sequence: 15, payload: Array(repeating: 9, count: 250)), (0x85, .malformed),
             "Ping of 250 bytes"),
            (wire(version: 2, type: 0x40, sequence: 16, payload: [1]), nil, "another version of a non-request type"),
        ]
        for c in cases {
            let before = pair.compared
            pair.send(c.wire, c.what)
            #expect(pair.compared == before + (c.answer == nil ? 0 : 1), "\(c.what): one answer, or none")
        }
        // The answers themselves, from the simulator (the core agreed above).
        var simulator = SimulatorEngine(configuration: SimulatorConfiguration())
        for c in cases {
            var out: [UInt8] = []
            simulator.receive(c.wire, into: &out)
            let answer = frames(in: out).first
            if let expected = c.answer {
                #expect(answer?.version == 1, "\(c.what)")
                #expect(answer?.type == expected.type, "\(c.what)")
                #expect(answer?.sequence == (frames(in: c.wire).first?.sequence ?? 0), "\(c.what)")
                #expect(answer?.payload == [expected.status.rawValue], "\(c.what): \(answer.map { hexString($0.payload) } ?? "none")")
            } else {
                #expect(answer == nil, "\(c.what)")
            }
        }
    }

    /// PROTOCOL.md §7: pipelined requests are answered in the order they came.
    @Test func pipelinedRequestsAreAnsweredInOrder() {
        let pair = Pair()
        let batch = [wire(.setChannel(7), sequence: 40), wire(.identify, sequence: 41), wire(.ping([1, 2]), sequence: 42),
                     wire(.setPower(Power(deciDBm: 10)), sequence: 43)].flatMap { $0 }
        var out: [UInt8] = []
        var simulator = SimulatorEngine(configuration: SimulatorConfiguration())
        simulator.receive(batch, into: &out)
        #expect(frames(in: out).map(\.sequence) == [40, 41, 42, 43])
        pair.send(batch, "four requests in one write")
        #expect(pair.compared == 4)
    }

    /// PROTOCOL.md §6.3: the telemetry counter is not reset by
    /// SetTelemetryRate, rate 0 included; frames that resume carry the next number.
    @Test func theTelemetryCounterCarriesOnAcrossRateZero() {
        let core = FirmwareCore()
        var clock: UInt32 = 0
        func telemetry(for ms: UInt32) -> [UInt16] {
            var seqs: [UInt16] = []
            for _ in 0..<ms {
                clock += 1
                core.tick(clock)
                seqs += frames(in: core.drain()).filter { $0.type == FrameType.telemetry }.map(\.sequence)
            }
            return seqs
        }
        let first = telemetry(for: 350)
        #expect(first.count >= 3)
        _ = core.exchange(wire(.setTelemetryRate(0), sequence: 1))
        #expect(telemetry(for: 500).isEmpty)
        _ = core.exchange(wire(.setTelemetryRate(10), sequence: 2))
        let resumed = telemetry(for: 350)
        #expect(resumed.first == (first.last ?? 0) &+ 1, "first \(first), resumed \(resumed)")
    }

    @Test func corruptInputIsDroppedAndTheNextFrameAnswered() {
        let pair = Pair()
        let good = wire(.setPower(Power(deciDBm: 55)), sequence: 77)
        var badCRC = good
        badCRC[badCRC.count - 3] ^= 0x10
        pair.send(badCRC, "bad CRC")
        pair.send(Array(good.dropLast(4)) + [0], "truncated")
        pair.send([0x05, 0x01, 0x00], "block runs past the delimiter")
        pair.send(Array(repeating: 0x41, count: 600) + [0], "oversized run")
        pair.send(Array(repeating: 0x41, count: 258) + [0], "258 bytes, then a delimiter")
        pair.send([0, 0, 0], "delimiters only")
        pair.send([0x13, 0x37] + good, "garbage runs into a frame")
        pair.send(good, "the frame after")
        // A frame split across writes at every offset.
        for cut in 1..<good.count {
            pair.send(Array(good[..<cut]), "first \(cut) bytes")
            pair.send(Array(good[cut...]), "rest after \(cut)")
        }
        #expect(pair.compared == good.count)
    }

    /// Random frames, some valid, some with wrong versions, types, lengths
    /// and corrupt bytes; the same seed gives the same run.
    @Test func randomFramesAgree() {
        let pair = Pair()
        var state: UInt64 = 0x5EED
        func random(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        for round in 0..<3000 {
            let version: UInt8 = random(8) == 0 ? UInt8(random(256)) : 1
            let type: UInt8 = random(4) == 0 ? UInt8(random(256)) : UInt8(1 + random(6))
            let length = [0, 1, 2, 3, random(251)][random(5)]
            var input = wire(version: version, type: type, sequence: UInt16(random(65536)),
                             payload: (0..<length).map { _ in UInt8(random(256)) })
            if random(10) == 0 { input[random(input.count)] = UInt8(random(256)) }
            if random(20) == 0 { input.insert(contentsOf: (0..<random(40)).map { _ in UInt8(random(256)) }, at: 0) }
            pair.send(input, "round \(round): \(hexString(input))")
        }
        #expect(pair.compared > 2000)
    }
}
