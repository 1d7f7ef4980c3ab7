import Foundation
import RadioFirmware
import RadioProtocol
import Testing

/// docs/vectors.json as JSON objects.
private func loadVectorFile() -> [String: Any] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/vectors.json")
    guard let data = try? Data(contentsOf: url),
          let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        fatalError("cannot read \(url.path) as a JSON object")
    }
    return root
}

private func cases(_ group: String) -> [[String: Any]] { loadVectorFile()[group] as? [[String: Any]] ?? [] }

private func bytes(_ any: Any?) -> [UInt8] { (any as? String).flatMap { bytes(fromHex: $0) } ?? [] }

/// The raw frame a vector's "frame" object describes (without the CRC).
private func rawHeaderAndPayload(_ any: Any?) -> [UInt8] {
    let f = any as? [String: Any] ?? [:]
    let sequence = f["sequence"] as? Int ?? -1
    return [UInt8(f["version"] as? Int ?? 0), UInt8(f["type"] as? Int ?? 0),
            UInt8(sequence & 0xFF), UInt8((sequence >> 8) & 0xFF)] + bytes(f["payload"])
}

/// Every event the C decoder reports for a stream fed one byte at a time:
/// a good frame as its bytes without the CRC, an error by the vectors' name.
private func decodeEvents(_ stream: [UInt8]) -> [String] {
    var decoder = rfw_decoder()
    rfw_decoder_reset(&decoder)
    var events: [String] = []
    for byte in stream {
        let result = rfw_decoder_push(&decoder, byte)
        switch result {
        case RFW_DECODE_MORE: continue
        case RFW_DECODE_FRAME:
            var count = 0
            guard let raw = rfw_decoder_frame(&decoder, &count) else { events.append("nil frame"); continue }
            events.append("frame " + hexString(Array(UnsafeBufferPointer(start: raw, count: count - 2))))
        case RFW_DECODE_INVALID_COBS: events.append("invalid_cobs")
        case RFW_DECODE_TOO_SHORT: events.append("too_short")
        case RFW_DECODE_OVERSIZED: events.append("oversized")
        case RFW_DECODE_CRC_MISMATCH: events.append("crc_mismatch")
        default: events.append("unknown result \(result.rawValue)")
        }
        precondition(decoder.count <= RFW_MAX_ENCODED)
    }
    return events
}

@Suite("C firmware core against docs/vectors.json")
struct FirmwareVectorTests {
    @Test func crcCheckValue() {
        let check = Array("123456789".utf8)
        #expect(rfw_crc16(check, check.count) == 0x29B1)
        let crc = loadVectorFile()["crc"] as? [String: Any]
        #expect(bytes(crc?["check"]) == [0x29, 0xB1])
    }

    @Test func limitsMatch() {
        let limits = loadVectorFile()["limits"] as? [String: Any]
        #expect(limits?["max_payload"] as? Int == Int(RFW_MAX_PAYLOAD))
        #expect(limits?["max_raw_frame"] as? Int == Int(RFW_MAX_RAW))
        #expect(limits?["max_encoded_frame"] as? Int == Int(RFW_MAX_ENCODED))
    }

    @Test func cobsVectorsEncodeAndDecode() {
        let all = cases("cobs")
        #expect(all.count >= 10)
        for c in all {
            let raw = bytes(c["raw"]), encoded = bytes(c["encoded"])
            var out = [UInt8](repeating: 0xEE, count: raw.count + 2)
            let n = rfw_cobs_encode(raw, raw.count, &out)
            #expect(Array(out.prefix(n)) == encoded, "encode \(hexString(raw))")
            var buffer = encoded
            let decoded = rfw_cobs_decode(&buffer, buffer.count)
            #expect(decoded == Int32(raw.count), "decode \(hexString(encoded))")
            #expect(Array(buffer.prefix(max(0, Int(decoded)))) == raw, "decode \(hexString(encoded))")
        }
    }

    @Test func everyFrameVectorDecodesByteByByte() {
        let all = cases("frames")
        #expect(all.count >= 20)
        for c in all {
            let name = c["name"] as? String ?? "?"
            #expect(decodeEvents(bytes(c["wire"])) == ["frame " + hexString(rawHeaderAndPayload(c["frame"]))], "\(name)")
        }
    }

    @Test func everyStreamVectorYieldsItsEvents() {
        let all = cases("streams")
        #expect(all.count >= 8)
        for c in all {
            let name = c["name"] as? String ?? "?"
            let expected = (c["events"] as? [[String: Any]] ?? []).map { event -> String in
                if let f = event["frame"] { return "frame " + hexString(rawHeaderAndPayload(f)) }
                return event["error"] as? String ?? "?"
            }
            #expect(!expected.isEmpty)
            #expect(decodeEvents(bytes(c["wire"])) == expected, "\(name)")
        }
    }

    /// Each response and telemetry vector is produced by the C core, byte for
    /// byte, from the request (or the clock) that leads to it.
    @Test func theCoreProducesEveryRadioFrameVectorExactly() throws {
        var produced = 0
        var notARadioAnswer: [String] = []
        for c in cases("frames") {
            let name = c["name"] as? String ?? "?"
            let expected = bytes(c["wire"])
            let frame = try #require(frames(in: expected).first, "\(name)")
            let message = try Message(frame: frame)
            let core: FirmwareCore
            var got: [UInt8]
            switch message {
            case .response(.ok(.identity(let id))):
                var identity = FirmwareCore.Identity()
                identity.model = id.model
                identity.serialNumber = id.serialNumber
                identity.firmwareVersion = id.firmwareVersion
                identity.power = (id.powerRange.lower.deciDBm, id.powerRange.upper.deciDBm)
                identity.channel = (id.channelRange.lower, id.channelRange.upper)
                core = FirmwareCore(identity)
                got = core.exchange(wire(.identify, sequence: frame.sequence))
            case .response(.ok(.power(let p))):
                core = FirmwareCore()
                got = core.exchange(wire(.setPower(p), sequence: frame.sequence))
            case .response(.failure(.setPower, .outOfRange)):
                core = FirmwareCore()
                got = core.exchange(wire(.setPower(Power(deciDBm: 301)), sequence: frame.sequence))
            case .response(.ok(.channel(let ch))):
                core = FirmwareCore()
                got = core.exchange(wire(.setChannel(ch), sequence: frame.sequence))
            case .response(.ok(.state(let state))):
                core = FirmwareCore()
                _ = core.exchange(wire(.setPower(state.power), sequence: 1))
                _ = core.exchange(wire(.setChannel(state.channel), sequence: 2))
                _ = core.exchange(wire(.setTelemetryRate(state.telemetryRate), sequence: 3))
                rfw_set_mode(core.radio, state.mode == .transmit ? 1 : 0)
                core.sensors = rfw_measurements(state.measurements)
                got = core.exchange(wire(.getState, sequence: frame.sequence))
            case .response(.ok(.pong(let data))):
                core = FirmwareCore()
                got = core.exchange(wire(.ping(data), sequence: frame.sequence))
            case .response(.ok(.telemetryRate(let hz))):
                core = FirmwareCore()
                got = core.exchange(wire(.setTelemetryRate(hz), sequence: frame.sequence))
            case .telemetry(let sample):
                // At 10 Hz one frame per 100 ms tick: the frame numbered n
                // leaves at start + 100 (n + 1).
                core = FirmwareCore()
                core.sensors = rfw_measurements(sample.measurements)
                let start = sample.uptimeMillis &- 100 &* (UInt32(sample.sequence) + 1)
                core.tick(start)
                for n in 0...UInt32(sample.sequence) {
                    got = core.drain()
                    core.tick(start &+ 100 &* (n + 1))
                }
                got = core.drain()
            case .response:
                // "Busy" for GetState and "unknown command" for Ping are
                // answers this core never gives to a good request.
                notARadioAnswer.append(name)
                continue
            case .request, .link, .lease:
                continue
            }
            #expect(hexString(got) == hexString(expected), "\(name)")
            produced += 1
        }
        #expect(produced == 8)
        #expect(notARadioAnswer == ["Busy", "Unknown command reply"])
    }

    /// Each request vector is understood: the core acts on it and answers ok.
    /// Responses, telemetry and Link frames sent to a radio are ignored.
    @Test func theCoreActsOnEveryRequestVectorAndIgnoresTheRest() throws {
        for c in cases("frames") {
            let name = c["name"] as? String ?? "?"
            let input = bytes(c["wire"])
            let frame = try #require(frames(in: input).first, "\(name)")
            let core = FirmwareCore()
            let answers = frames(in: core.exchange(input))
            guard case .request(let request) = try Message(frame: frame) else {
                #expect(answers.isEmpty, "\(name): a radio answers only requests")
                #expect(core.counters.ignored == 1, "\(name)")
                continue
            }
            let answer = try #require(answers.first, "\(name): no answer")
            #expect(answers.count == 1)
            #expect(answer.sequence == frame.sequence, "\(name)")
            #expect(answer.type == frame.type | 0x80, "\(name)")
            #expect(answer.payload.first == Status.ok.rawValue, "\(name)")
            switch request {
            case .setPower(let p): #expect(core.power == p.deciDBm, "\(name)")
            case .setChannel(let ch): #expect(core.channel == ch, "\(name)")
            case .setTelemetryRate(let hz): #expect(core.telemetryRate == hz, "\(name)")
            case .ping(let data): #expect(Array(answer.payload.dropFirst()) == data, "\(name)")
            case .identify, .getState: #expect(answer.payload.count > 1, "\(name)")
            case .daemon: Issue.record("\(name): a daemon's request among the radio's vectors")
            }
        }
    }

    /// A malformed request is answered with the status the spec gives; a
    /// malformed response, Link or telemetry frame is none of a radio's business.
    @Test func everyMessageErrorVectorGetsItsStatusOrIsIgnored() throws {
        let statusForError: [String: Status] = [
            "malformed_payload": .malformed, "unknown_type": .unknownCommand, "unsupported_version": .unsupportedVersion,
        ]
        let all = cases("message_errors")
        #expect(all.count >= 10)
        var answeredCount = 0
        for c in all {
            let name = c["name"] as? String ?? "?"
            let input = bytes(c["wire"])
            let frame = try #require(frames(in: input).first, "\(name)")
            let core = FirmwareCore()
            let answers = frames(in: core.exchange(input))
            guard FrameType.isRequest(frame.type) else {
                #expect(answers.isEmpty, "\(name)")
                continue
            }
            let status = try #require(statusForError[c["error"] as? String ?? ""], "\(name): error name")
            #expect(answers == [Frame(type: frame.type | 0x80, sequence: frame.sequence, payload: [status.rawValue])],
                    "\(name)")
            #expect(core.hookCalls == 0, "\(name): nothing applied")
            answeredCount += 1
        }
        #expect(answeredCount >= 5)
    }
}
