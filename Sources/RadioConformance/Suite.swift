public import RadioDriver
public import RadioProtocol

/// How much a rule binds (docs/PROTOCOL.md §12).
public enum Requirement: String, Sendable {
    case must = "MUST"
    case should = "SHOULD"
}

/// One case of the suite: what it checks and where the spec says so.
public struct ConformanceCase: Sendable {
    public let name: String
    public let section: String
    public let requirement: Requirement
    public let summary: String
}

public enum Outcome: Sendable, Equatable {
    case pass
    /// A pass with what was measured (the response times).
    case measured(String)
    case fail(String)
    case skipped(String)

    public var word: String {
        switch self {
        case .pass, .measured: "pass"
        case .fail: "fail"
        case .skipped: "skipped"
        }
    }
}

public struct CaseResult: Sendable {
    public let conformanceCase: ConformanceCase
    public let outcome: Outcome
    /// A failed SHOULD: reported, but the radio still conforms.
    public var isWarning: Bool { conformanceCase.requirement == .should && outcome.word == "fail" }
    public var isFailure: Bool { conformanceCase.requirement == .must && outcome.word == "fail" }
}

/// The conformance suite (docs/PROTOCOL.md §12) against any port: it reads
/// the radio's settings first and puts them back at the end, and each case
/// checks one rule, reading answers leniently (by type, CRC or not) so that
/// a radio that breaks one rule fails that rule's case alone.
public final class ConformanceSuite {
    /// The cases, in the order they run.
    public static let cases: [ConformanceCase] = [
        .init(name: "identify", section: "6.2", requirement: .must,
              summary: "Identify answers ok: protocol 1, ranges in order, strings of 1 to 32 bytes"),
        .init(name: "crc", section: "2.1", requirement: .must, summary: "every answer carries a good CRC"),
        .init(name: "vectors", section: "6", requirement: .must,
              summary: "every request vector of docs/vectors.json is answered as the spec says, byte for byte where it fixes the bytes"),
        .init(name: "sequence-echo", section: "5", requirement: .must,
              summary: "every answer carries its request's sequence number (0, 1, 0x00FF, 0x7FFF, 0xFFFF tried)"),
        .init(name: "response-time", section: "7.1", requirement: .must,
              summary: "every answer begins within 50 ms of its request (line time excluded)"),
        .init(name: "response-time-fast", section: "7.1", requirement: .should,
              summary: "the median answer begins within 10 ms"),
        .init(name: "set-and-get", section: "6.1", requirement: .must,
              summary: "SetPower and SetChannel answer the value set, and GetState reports it"),
        .init(name: "range-edges", section: "7", requirement: .must,
              summary: "the ends of Identify's ranges are taken; one step beyond is out of range and changes nothing"),
        .init(name: "ping", section: "6.1", requirement: .must,
              summary: "Ping of 0, 1 and 249 bytes is echoed byte for byte; 250 bytes is malformed"),
        .init(name: "telemetry-rates", section: "6.1", requirement: .must, summary: "SetTelemetryRate 0, 1 and 10 are taken"),
        .init(name: "unknown-command", section: "7", requirement: .must,
              summary: "types 0x07 and 0x3F are answered unknown command, byte for byte"),
        .init(name: "unsupported-version", section: "10", requirement: .must,
              summary: "a version-2 request is answered unsupported version in a version-1 frame, byte for byte"),
        .init(name: "malformed", section: "6", requirement: .must,
              summary: "payloads of the wrong length are answered malformed, byte for byte"),
        .init(name: "not-a-request", section: "7", requirement: .must,
              summary: "frames of types 0x00, 0x40 and 0x84 get no answer"),
        .init(name: "corrupt-frames", section: "3.2", requirement: .must,
              summary: "bad CRC, bad COBS, too short and oversized frames get no answer, and the next request does"),
        .init(name: "byte-at-a-time", section: "3", requirement: .must, summary: "a request written one byte at a time is answered"),
        .init(name: "garbage-between-frames", section: "3.2", requirement: .must,
              summary: "requests with noise before, between and after them are answered"),
        .init(name: "pipelined", section: "7.2", requirement: .must,
              summary: "8 requests sent back to back are all answered"),
        .init(name: "pipelined-order", section: "7.2", requirement: .should, summary: "... in the order sent"),
        .init(name: "telemetry", section: "6.3", requirement: .should,
              summary: "at 10 Hz, 7 to 13 frames a second, numbered without gaps"),
    ]

    let link: RawLink
    /// Line rate, for the time bytes take on the wire (nil: no line, a pty or network).
    let baud: Int?
    private var sequence: UInt16 = 0x0100
    /// What the radio answered to Identify at the start.
    public private(set) var identity: Identity?
    /// How long an answer may take before a case gives up on it. Only the
    /// response-time cases judge speed; the rest wait generously, so that
    /// a slow radio fails only those.
    let patience: Duration

    public init(link: RawLink, baud: Int?, patience: Duration = .seconds(2)) {
        self.link = link
        self.baud = baud
        self.patience = max(patience, .seconds(2))
    }

    /// Runs the cases (all, or those named in `only`) and puts the radio's
    /// power, channel and telemetry rate back as they were.
    public func run(only: Set<String>? = nil) -> [CaseResult] {
        link.discard()
        let before = state()
        let identity = identify()
        self.identity = identity
        var results: [CaseResult] = []
        for c in Self.cases where only?.contains(c.name) ?? true {
            results.append(CaseResult(conformanceCase: c, outcome: run(c.name, identity: identity)))
        }
        if let before {
            _ = ask(.setPower(before.power))
            _ = ask(.setChannel(before.channel))
            _ = ask(.setTelemetryRate(before.telemetryRate))
        }
        return results
    }

    // MARK: Exchanges

    func nextSequence() -> UInt16 {
        sequence = sequence == 0xFFF0 ? 0x0100 : sequence + 1
        return sequence
    }

    /// Sends `frame` and returns the first answer of its type (any sequence
    /// number, any CRC), or nil.
    func exchange(_ frame: Frame, within limit: Duration? = nil) -> ReceivedFrame? {
        exchange(raw: frame.wireBytes, answerType: frame.type | FrameType.responseFlag, within: limit)
    }

    func exchange(raw: [UInt8], answerType: UInt8, within limit: Duration? = nil) -> ReceivedFrame? {
        guard (try? link.send(raw)) != nil else { return nil }
        return link.next(within: limit ?? patience) { $0.type == answerType }
    }

    func request(_ r: Request, sequence: UInt16? = nil) -> Frame {
        Message.request(r).frame(sequence: sequence ?? nextSequence())
    }

    /// The answer to `r`, parsed (nil if none came or it did not parse).
    func ask(_ r: Request) -> Response? {
        guard let answer = exchange(request(r)) else { return nil }
        return parse(answer)
    }

    func parse(_ answer: ReceivedFrame) -> Response? {
        let frame = Frame(version: answer.version, type: answer.type, sequence: answer.sequence, payload: answer.payload)
        guard case .response(let response) = try? Message(frame: frame) else { return nil }
        return response
    }

    func state() -> RadioState? {
        if case .ok(.state(let s)) = ask(.getState) { return s }
        return nil
    }

    func identify() -> Identity? {
        if case .ok(.identity(let id)) = ask(.identify) { return id }
        return nil
    }

    /// True when nothing but telemetry arrives for `duration`.
    func silence(for duration: Duration) -> ReceivedFrame? {
        link.next(within: duration) { !$0.isTelemetry }
    }

    /// The frame a radio must answer with, byte for byte, raw (before COBS).
    func expectedRaw(type: UInt8, sequence: UInt16, payload: [UInt8]) -> [UInt8] {
        var raw = [Frame.protocolVersion, type, UInt8(truncatingIfNeeded: sequence), UInt8(truncatingIfNeeded: sequence >> 8)] + payload
        let crc = CRC16.checksum(raw)
        raw += [UInt8(truncatingIfNeeded: crc), UInt8(truncatingIfNeeded: crc >> 8)]
        return raw
    }

    /// Line time of `bytes` on the wire at the port's baud (10 bits a byte).
    func lineTime(_ bytes: Int) -> Duration {
        guard let baud, baud > 0 else { return .zero }
        return .nanoseconds(Int64(bytes) * 10 * 1_000_000_000 / Int64(baud))
    }

    // MARK: Cases

    func run(_ name: String, identity: Identity?) -> Outcome {
        link.discard()
        switch name {
        case "identify": return checkIdentify(identity)
        case "crc": return checkCRC()
        case "vectors": return checkVectors(identity)
        case "sequence-echo": return checkSequenceEcho()
        case "response-time": return checkResponseTime(limit: .milliseconds(50), median: false)
        case "response-time-fast": return checkResponseTime(limit: .milliseconds(10), median: true)
        case "set-and-get": return checkSetAndGet(identity)
        case "range-edges": return checkRangeEdges(identity)
        case "ping": return checkPing()
        case "telemetry-rates": return checkTelemetryRates()
        case "unknown-command": return checkStatusOnly([(0x07, [], 0x03), (0x3F, [], 0x03)])
        case "unsupported-version": return checkUnsupportedVersion()
        case "malformed":
            return checkStatusOnly([(Command.setPower.rawValue, [0x01], 0x04), (Command.setPower.rawValue, [0x01, 0x02, 0x03], 0x04),
                                    (Command.getState.rawValue, [0x00], 0x04), (Command.setChannel.rawValue, [], 0x04)])
        case "not-a-request": return checkNotARequest()
        case "corrupt-frames": return checkCorruptFrames()
        case "byte-at-a-time": return checkByteAtATime()
        case "garbage-between-frames": return checkGarbage()
        case "pipelined": return checkPipelined(order: false)
        case "pipelined-order": return checkPipelined(order: true)
        case "telemetry": return checkTelemetry()
        default: return .skipped("no such case")
        }
    }

    func checkIdentify(_ identity: Identity?) -> Outcome {
        guard let id = identity else { return .fail("no parseable ok answer to Identify") }
        if id.protocolVersion != 1 { return .fail("protocol version \(id.protocolVersion), not 1") }
        if id.powerRange.lower > id.powerRange.upper { return .fail("power range upside down: \(id.powerRange)") }
        if id.channelRange.lower > id.channelRange.upper { return .fail("channel range upside down") }
        for (what, s) in [("model", id.model), ("serial number", id.serialNumber), ("firmware version", id.firmwareVersion)]
        where s.utf8.isEmpty || s.utf8.count > 32 {
            return .fail("\(what) is \(s.utf8.count) bytes, not 1 to 32")
        }
        return .pass
    }

    func checkCRC() -> Outcome {
        for r in [Request.identify, .getState, .ping([0x00, 0xFF, 0x00])] {
            guard let answer = exchange(request(r)) else { return .fail("no answer to \(r)") }
            if !answer.crcGood { return .fail("the answer to \(r) has a wrong CRC") }
        }
        if let bad = link.log.first(where: { !$0.crcGood && !$0.isTelemetry }) {
            return .fail("an answer of type 0x\(hex(bad.type)) had a wrong CRC")
        }
        return .pass
    }

    /// The 250-byte Ping vector is replayed by the `ping` case, whose rule it is.
    static let longPingVector = "Ping with a 250-byte payload"

    func checkVectors(_ identity: Identity?) -> Outcome {
        guard let id = identity else { return .skipped("no Identify") }
        for v in ConformanceVectors.requests where v.name != Self.longPingVector {
            guard let wire = bytes(hex: v.wire), let raw = try? COBS.decode(Array(wire.dropLast())), raw.count >= Frame.minRawSize else {
                return .skipped("vector '\(v.name)' does not decode")
            }
            let type = raw[1], payload = Array(raw[4..<(raw.count - 2)])
            guard let answer = exchange(raw: wire, answerType: type | FrameType.responseFlag) else {
                return .fail("no answer to the vector '\(v.name)'")
            }
            let status: UInt8? = switch v.error {
            case "malformed_payload": Status.malformed.rawValue
            case "unknown_type": Status.unknownCommand.rawValue
            case "unsupported_version": Status.unsupportedVersion.rawValue
            default: nil
            }
            if let status {
                let want = expectedRaw(type: type | FrameType.responseFlag, sequence: answer.sequence, payload: [status])
                if answer.raw.dropLast(2) != want.dropLast(2) {
                    return .fail("'\(v.name)': answered \(hexes(answer.raw.dropLast(2))), want \(hexes(want.dropLast(2)))")
                }
                continue
            }
            if let why = judge(type: type, payload: payload, answer: answer, identity: id) { return .fail("'\(v.name)': \(why)") }
        }
        return .pass
    }

    /// Field by field, or byte for byte where the answer is fixed: nil when
    /// the answer is what the spec requires.
    func judge(type: UInt8, payload: [UInt8], answer: ReceivedFrame, identity id: Identity) -> String? {
        let u16 = payload.count >= 2 ? UInt16(payload[0]) | UInt16(payload[1]) << 8 : 0
        let outOfRange: [UInt8] = [Status.outOfRange.rawValue]
        switch Command(rawValue: type) {
        case .ping:
            let want = expectedRaw(type: 0x85, sequence: answer.sequence, payload: [0x00] + payload)
            return answer.raw.dropLast(2) == want.dropLast(2) ? nil : "the echo differs"
        case .setPower:
            let asked = Int16(bitPattern: u16)
            guard id.powerRange.contains(Power(deciDBm: asked)) else {
                return answer.payload == outOfRange ? nil : "answered \(hexes(answer.payload)), not out of range"
            }
            guard case .ok(.power(let p)) = parse(answer) else { return "answered \(hexes(answer.payload)), not ok" }
            return abs(Int(p.deciDBm) - Int(asked)) <= 5 ? nil : "set \(p), asked \(Power(deciDBm: asked))"
        case .setChannel:
            guard id.channelRange.contains(u16) else {
                return answer.payload == outOfRange ? nil : "answered \(hexes(answer.payload)), not out of range"
            }
            guard case .ok(.channel(let c)) = parse(answer) else { return "answered \(hexes(answer.payload)), not ok" }
            return c == u16 ? nil : "set channel \(c), asked \(u16)"
        case .setTelemetryRate:
            if answer.payload == outOfRange && u16 > 10 { return nil }  // above 10 Hz a radio may refuse (§6.1)
            guard case .ok(.telemetryRate(let hz)) = parse(answer) else { return "answered \(hexes(answer.payload))" }
            return hz == u16 ? nil : "set \(hz) Hz, asked \(u16)"
        case .identify:
            guard case .ok(.identity) = parse(answer) else { return "the Identify answer does not parse" }
            return nil
        case .getState:
            guard case .ok(.state) = parse(answer) else { return "the GetState answer does not parse" }
            return nil
        default:
            return "a request type the suite does not know"
        }
    }

    func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let b = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    func checkSequenceEcho() -> Outcome {
        for s: UInt16 in [0, 1, 0x00FF, 0x7FFF, 0xFFFF] {
            guard let answer = exchange(request(.getState, sequence: s)) else { return .fail("no answer to GetState #\(s)") }
            if answer.sequence != s { return .fail("GetState #\(s) answered with #\(answer.sequence)") }
        }
        return .pass
    }

    func checkResponseTime(limit: Duration, median: Bool) -> Outcome {
        var times: [Duration] = []
        for _ in 0..<20 {
            let frame = request(.getState)
            let start = ContinuousClock.now
            guard let answer = exchange(frame) else { return .fail("no answer to GetState") }
            // The request's and the answer's time on the line are not the radio's.
            times.append(max(.zero, start.duration(to: answer.at) - lineTime(frame.wireBytes.count + answer.raw.count + 2)))
        }
        times.sort()
        let judged = median ? times[times.count / 2] : times[times.count - 1]
        let text = "\(median ? "median" : "slowest") \(ms(judged)) of 20 GetState"
        return judged <= limit ? .measured(text) : .fail("\(text), over \(ms(limit))")
    }

    func checkSetAndGet(_ identity: Identity?) -> Outcome {
        guard let id = identity else { return .skipped("no Identify") }
        let power = Power(deciDBm: Int16((Int(id.powerRange.lower.deciDBm) + Int(id.powerRange.upper.deciDBm)) / 2))
        let channel = UInt16((Int(id.channelRange.lower) + Int(id.channelRange.upper)) / 2)
        guard case .ok(.power(let p)) = ask(.setPower(power)) else { return .fail("SetPower \(power) not answered ok") }
        if abs(Int(p.deciDBm) - Int(power.deciDBm)) > 5 { return .fail("SetPower \(power) answered \(p) (more than its step off)") }
        guard case .ok(.channel(let c)) = ask(.setChannel(channel)) else { return .fail("SetChannel \(channel) not answered ok") }
        if c != channel { return .fail("SetChannel \(channel) answered \(c)") }
        guard let s = state() else { return .fail("no GetState answer") }
        if s.power != p || s.channel != channel { return .fail("GetState reports \(s.power), channel \(s.channel)") }
        return .pass
    }

    func checkRangeEdges(_ identity: Identity?) -> Outcome {
        guard let id = identity else { return .skipped("no Identify") }
        let lo = id.powerRange.lower.deciDBm, hi = id.powerRange.upper.deciDBm
        for p in [lo, hi] {
            guard case .ok = ask(.setPower(Power(deciDBm: p))) else { return .fail("SetPower \(Power(deciDBm: p)) (an end of the range) refused") }
        }
        for c in [id.channelRange.lower, id.channelRange.upper] {
            guard case .ok = ask(.setChannel(c)) else { return .fail("SetChannel \(c) (an end of the range) refused") }
        }
        guard let before = state() else { return .fail("no GetState answer") }
        var beyond: [Request] = []
        if lo > Int16.min { beyond.append(.setPower(Power(deciDBm: lo - 1))) }
        if hi < Int16.max { beyond.append(.setPower(Power(deciDBm: hi + 1))) }
        if id.channelRange.lower > 0 { beyond.append(.setChannel(id.channelRange.lower - 1)) }
        if id.channelRange.upper < .max { beyond.append(.setChannel(id.channelRange.upper + 1)) }
        for r in beyond {
            guard let answer = exchange(request(r)) else { return .fail("no answer to \(r)") }
            if answer.payload != [Status.outOfRange.rawValue] { return .fail("\(r) answered \(hexes(answer.payload)), not out of range") }
        }
        guard let after = state() else { return .fail("no GetState answer") }
        if after.power != before.power || after.channel != before.channel { return .fail("a refused value changed the settings") }
        return .pass
    }

    func checkPing() -> Outcome {
        for count in [0, 1, 249] {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            guard let answer = exchange(request(.ping(bytes))) else { return .fail("no answer to Ping of \(count) bytes") }
            let want = expectedRaw(type: 0x85, sequence: answer.sequence, payload: [0x00] + bytes)
            if answer.raw.dropLast(2) != want.dropLast(2) { return .fail("Ping of \(count) bytes: the echo differs") }
        }
        // docs/vectors.json's 250-byte Ping, as it is.
        guard let vector = ConformanceVectors.requests.first(where: { $0.name == Self.longPingVector }),
              let long = bytes(hex: vector.wire) else { return .skipped("no 250-byte Ping vector") }
        guard let answer = exchange(raw: long, answerType: 0x85) else { return .fail("no answer to a 250-byte Ping (malformed expected)") }
        if answer.payload != [Status.malformed.rawValue] { return .fail("a 250-byte Ping was answered \(answer.payload.first.map { "status \($0)" } ?? "empty"), not malformed") }
        return .pass
    }

    func checkTelemetryRates() -> Outcome {
        for hz: UInt16 in [0, 1, 10] {
            guard case .ok(.telemetryRate(let set)) = ask(.setTelemetryRate(hz)) else { return .fail("SetTelemetryRate \(hz) refused") }
            if set != hz { return .fail("SetTelemetryRate \(hz) answered \(set)") }
        }
        return .pass
    }

    /// Requests of `type` with `payload`, each answered by exactly the
    /// status byte given (the spec fixes every byte of such answers).
    func checkStatusOnly(_ tries: [(type: UInt8, payload: [UInt8], status: UInt8)]) -> Outcome {
        for t in tries {
            let frame = Frame(type: t.type, sequence: nextSequence(), payload: t.payload)
            guard let answer = exchange(frame) else { return .fail("no answer to type 0x\(hex(t.type)) with \(t.payload.count) payload bytes") }
            let want = expectedRaw(type: t.type | FrameType.responseFlag, sequence: answer.sequence, payload: [t.status])
            if answer.raw.dropLast(2) != want.dropLast(2) {
                return .fail("type 0x\(hex(t.type)), \(t.payload.count) payload bytes: answered \(hexes(answer.raw.dropLast(2))), want \(hexes(want.dropLast(2)))")
            }
        }
        return .pass
    }

    func checkUnsupportedVersion() -> Outcome {
        let frame = Frame(version: 2, type: Command.getState.rawValue, sequence: nextSequence())
        guard let answer = exchange(frame) else { return .fail("no answer to a version-2 GetState") }
        let want = expectedRaw(type: 0x84, sequence: answer.sequence, payload: [Status.unsupportedVersion.rawValue])
        if answer.raw.dropLast(2) != want.dropLast(2) { return .fail("answered \(hexes(answer.raw.dropLast(2))), want \(hexes(want.dropLast(2)))") }
        return .pass
    }

    func checkNotARequest() -> Outcome {
        for type: UInt8 in [0x00, 0x40, 0x84] {
            let payload: [UInt8] = type == 0x40 ? [UInt8](repeating: 0, count: 16) : []
            guard (try? link.send(Frame(type: type, sequence: nextSequence(), payload: payload).wireBytes)) != nil else { return .fail("send failed") }
            if let answer = silence(for: .milliseconds(300)) { return .fail("type 0x\(hex(type)) was answered (type 0x\(hex(answer.type)))") }
        }
        return .pass
    }

    func checkCorruptFrames() -> Outcome {
        var raw = expectedRaw(type: Command.getState.rawValue, sequence: nextSequence(), payload: [])
        raw[raw.count - 2] ^= 0x01
        let badCRC = COBS.encode(raw) + [0x00]
        let cases: [(String, [UInt8])] = [
            ("a bad CRC", badCRC),
            ("bad COBS", [0x05, 0x01, 0x04, 0x00]),
            ("a 5-byte frame", COBS.encode([0x01, 0x04, 0x01, 0x00, 0x00]) + [0x00]),
            ("300 bytes without a delimiter", [UInt8](repeating: 0x11, count: 300) + [0x00]),
        ]
        for (what, bytes) in cases {
            guard (try? link.send(bytes)) != nil else { return .fail("send failed") }
            if let answer = silence(for: .milliseconds(300)) { return .fail("\(what) was answered (type 0x\(hex(answer.type)))") }
            guard exchange(request(.getState)) != nil else { return .fail("after \(what), a good GetState got no answer") }
        }
        return .pass
    }

    func checkByteAtATime() -> Outcome {
        let frame = request(.setChannel(state()?.channel ?? 1))
        guard (try? link.sendSlowly(frame.wireBytes, gap: .milliseconds(2))) != nil else { return .fail("send failed") }
        guard link.next(within: patience, { $0.type == frame.type | FrameType.responseFlag }) != nil else {
            return .fail("no answer to a SetChannel written one byte at a time")
        }
        return .pass
    }

    func checkGarbage() -> Outcome {
        let noise: [UInt8] = [0x13, 0x37, 0xFF, 0x02, 0x99, 0x41, 0x41, 0x7E]
        let a = Frame(type: Command.ping.rawValue, sequence: nextSequence(), payload: [0xA1])
        let b = Frame(type: Command.ping.rawValue, sequence: nextSequence(), payload: [0xB2])
        let bytes = noise + [0x00] + a.wireBytes + noise + [0x00] + b.wireBytes + noise + [0x00]
        guard (try? link.send(bytes)) != nil else { return .fail("send failed") }
        for (name, marker) in [("first", UInt8(0xA1)), ("second", 0xB2)] {
            guard link.next(within: patience, { $0.type == 0x85 && $0.payload == [0x00, marker] }) != nil else {
                return .fail("the \(name) Ping between noise got no answer")
            }
        }
        return .pass
    }

    /// Eight Pings in one write, told apart by their payloads (not by
    /// sequence number, which is another case's).
    func checkPipelined(order: Bool) -> Outcome {
        let frames = (0..<8).map { Frame(type: Command.ping.rawValue, sequence: nextSequence(), payload: [0xC0 | UInt8($0), 0x5A]) }
        guard (try? link.send(frames.flatMap(\.wireBytes))) != nil else { return .fail("send failed") }
        var seen: [UInt8] = []
        while seen.count < frames.count {
            guard let answer = link.next(within: patience, { $0.type == 0x85 && $0.payload.count == 3 && $0.payload[0] == 0 }) else { break }
            seen.append(answer.payload[1] & 0x0F)
        }
        if Set(seen).count < frames.count { return .fail("\(Set(seen).count) of 8 back-to-back Pings answered") }
        if order && seen != Array(0..<8) { return .fail("answered in the order \(seen)") }
        return .pass
    }

    func checkTelemetry() -> Outcome {
        guard case .ok = ask(.setTelemetryRate(10)) else { return .fail("SetTelemetryRate 10 refused") }
        _ = link.takeTelemetry()
        link.poll(for: .seconds(1))
        let frames = link.takeTelemetry()
        _ = ask(.setTelemetryRate(0))
        if !(7...13).contains(frames.count) { return .fail("\(frames.count) frames in 1 s at 10 Hz") }
        for (a, b) in zip(frames, frames.dropFirst()) where b.sequence != a.sequence &+ 1 {
            return .fail("telemetry #\(a.sequence) followed by #\(b.sequence)")
        }
        return .pass
    }

    func ms(_ d: Duration) -> String {
        let micros = max(0, d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000)
        return micros < 1000 ? "\(micros) µs" : "\(micros / 1000).\(String(micros % 1000 / 100)) ms"
    }

    func hex(_ b: UInt8) -> String { (b < 16 ? "0" : "") + String(b, radix: 16) }
    func hexes<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 { bytes.map(hex).joined(separator: " ") }
}
