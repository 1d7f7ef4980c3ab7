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
