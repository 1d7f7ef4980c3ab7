/// A request's command code (frame type 0x01...0x3F). A reply to command `c`
/// has frame type `c | 0x80`.
public struct Command: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let identify = Command(rawValue: 0x01)
    public static let setPower = Command(rawValue: 0x02)
    public static let setChannel = Command(rawValue: 0x03)
    public static let getState = Command(rawValue: 0x04)
    public static let ping = Command(rawValue: 0x05)
    public static let setTelemetryRate = Command(rawValue: 0x06)

    public static let known: [Command] = [.identify, .setPower, .setChannel, .getState, .ping, .setTelemetryRate]

    public var description: String {
        switch self {
        case .identify: "Identify"
        case .setPower: "SetPower"
        case .setChannel: "SetChannel"
        case .getState: "GetState"
        case .ping: "Ping"
        case .setTelemetryRate: "SetTelemetryRate"
        case .lock: "Lock"
        case .unlock: "Unlock"
        case .lease: "Lease"
        case .claim: "Claim"
        case .status: "Status"
        default: "Command(0x\(hex(rawValue)))"
        }
    }
}

/// Frame type codes (docs/PROTOCOL.md §4).
public enum FrameType {
    public static let responseFlag: UInt8 = 0x80
    public static let telemetry: UInt8 = 0x40
    /// A sharing daemon's notice that its link to the radio went down or
    /// came back (docs/PROTOCOL.md §6.4).
    public static let link: UInt8 = 0x41
    public static func isRequest(_ type: UInt8) -> Bool { type >= 0x01 && type <= 0x3F }
    public static func isTelemetry(_ type: UInt8) -> Bool { type >= 0x40 && type <= 0x7F }
    public static func isResponse(_ type: UInt8) -> Bool { type & responseFlag != 0 }
}

/// The first byte of every response payload.
public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let ok = Status(rawValue: 0x00)
    /// A value was outside the range the radio reports in Identify.
    public static let outOfRange = Status(rawValue: 0x01)
    /// The radio cannot take the command now; trying again later may work.
    public static let busy = Status(rawValue: 0x02)
    /// The radio does not know the command code.
    public static let unknownCommand = Status(rawValue: 0x03)
    /// The frame was intact but its payload had the wrong length or layout.
    public static let malformed = Status(rawValue: 0x04)
    /// The frame's version byte is not one the radio speaks.
    public static let unsupportedVersion = Status(rawValue: 0x05)
    /// The radio failed internally (PA fault, synthesizer unlocked, ...).
    public static let hardwareFault = Status(rawValue: 0x06)

    public var description: String {
        switch self {
        case .ok: "ok"
        case .outOfRange: "out of range"
        case .busy: "busy"
        case .unknownCommand: "unknown command"
        case .malformed: "malformed request"
        case .unsupportedVersion: "unsupported protocol version"
        case .hardwareFault: "hardware fault"
        case .notHeld: "lease not held"
        default: "status 0x\(hex(rawValue))"
        }
    }
}

/// A request from the host to the radio.
public enum Request: Hashable, Sendable {
    case identify
    case setPower(Power)
    case setChannel(UInt16)
    case getState
    /// Ping echoes up to `Request.maxPingBytes` bytes.
    case ping([UInt8])
    /// Telemetry frames per second; 0 stops telemetry.
    case setTelemetryRate(UInt16)
    /// Answered by a sharing daemon, never by a radio (types 0x20-0x2F).
    /// Boxed: a Lock's strings would otherwise make every request (and
    /// every copy of one on the round-trip path) several words larger.
    indirect case daemon(DaemonRequest)

    public static let maxPingBytes = Frame.maxPayload - 1

    public var command: Command {
        switch self {
        case .identify: .identify
        case .setPower: .setPower
        case .setChannel: .setChannel
        case .getState: .getState
        case .ping: .ping
        case .setTelemetryRate: .setTelemetryRate
        case .daemon(let d): d.command
        }
    }
}

/// The body of a successful response.
public enum Reply: Hashable, Sendable {
    case identity(Identity)
    /// The power now set (a radio may round the request to its step size).
    case power(Power)
    case channel(UInt16)
    case state(RadioState)
    case pong([UInt8])
    case telemetryRate(UInt16)
    /// Boxed, as `Request.daemon` is.
    indirect case daemon(DaemonReply)

    public var command: Command {
        switch self {
        case .identity: .identify
        case .power: .setPower
        case .channel: .setChannel
        case .state: .getState
        case .pong: .ping
        case .telemetryRate: .setTelemetryRate
        case .daemon(let d): d.command
        }
    }
}

/// A response from the radio: a reply, or a non-ok status for `command`.
public enum Response: Hashable, Sendable {
    case ok(Reply)
    case failure(Command, Status)

    public var command: Command {
        switch self {
        case .ok(let reply): reply.command
        case .failure(let command, _): command
        }
    }
}

/// Everything a frame can carry.
public enum Message: Hashable, Sendable {
    case request(Request)
    case response(Response)
    case telemetry(TelemetrySample)
    /// From a sharing daemon, not a radio: its radio link went down or came back.
    case link(LinkNotice)
    /// From a sharing daemon: its write lease changed, or refused a request
    /// (then the frame carries that request's sequence number). Boxed.
    indirect case lease(LeaseNotice)
}

/// A sharing daemon's notice about its own link to the radio (frame type
/// 0x41). While the link is down the daemon answers requests `busy`.
public struct LinkNotice: Hashable, Sendable {
    public var isUp: Bool
    /// Why the link went down (UTF-8, at most `LinkNotice.maxReasonBytes`).
    public var reason: String

    public static let maxReasonBytes = Frame.maxPayload - 1

    public init(isUp: Bool, reason: String = "") {
        self.isUp = isUp
        self.reason = reason
    }
}

/// Why an intact frame did not parse as a message.
public enum MessageError: Error, Hashable, Sendable {
    case unsupportedVersion(UInt8)
    case unknownType(UInt8)
    /// The payload's length or contents did not fit the type's layout.
    case malformedPayload(type: UInt8)
}

extension Message {
    /// The frame type and sequence number this message goes out with.
    /// Telemetry frames carry the sample's own sequence number, Link
    /// notices 0; `sequence` is used otherwise.
    public func header(sequence: UInt16) -> (type: UInt8, sequence: UInt16) {
        switch self {
        case .request(let request): (request.command.rawValue, sequence)
        case .response(let response): (response.command.rawValue | FrameType.responseFlag, sequence)
        case .telemetry(let sample): (FrameType.telemetry, sample.sequence)
        case .link: (FrameType.link, 0)
        case .lease: (FrameType.lease, sequence)
        }
    }

    /// Lays out the payload (docs/PROTOCOL.md §5-6): the one place that
    /// knows each message's fields, for arrays and wire buffers alike.
    func writePayload<W: PayloadWriter>(to w: inout W) {
        switch self {
        case .request(let request):
            switch request {
            case .identify, .getState: break
            case .setPower(let p): w.i16(p.deciDBm)
            case .setChannel(let c): w.u16(c)
            case .ping(let bytes):
                precondition(bytes.count <= Request.maxPingBytes, "ping payload too long")
                w.bytes(bytes)
            case .setTelemetryRate(let hz): w.u16(hz)
            case .daemon(let d): w.daemonRequest(d)
            }
        case .response(let response):
            switch response {
            case .failure(_, let status):
                w.u8(status.rawValue)
            case .ok(let reply):
                w.u8(Status.ok.rawValue)
                switch reply {
                case .identity(let id):
                    w.u8(id.protocolVersion)
                    w.i16(id.powerRange.lower.deciDBm)
                    w.i16(id.powerRange.upper.deciDBm)
                    w.u16(id.channelRange.lower)
                    w.u16(id.channelRange.upper)
                    w.string(id.model)
                    w.string(id.serialNumber)
                    w.string(id.firmwareVersion)
                case .power(let p): w.i16(p.deciDBm)
                case .channel(let c): w.u16(c)
                case .state(let s):
                    w.i16(s.power.deciDBm)
                    w.u16(s.channel)
                    w.u8(s.mode.rawValue)
                    w.u16(s.telemetryRate)
                    w.measurements(s.measurements)
                case .pong(let bytes):
                    precondition(bytes.count <= Request.maxPingBytes, "pong payload too long")
                    w.bytes(bytes)
                case .telemetryRate(let hz): w.u16(hz)
                case .daemon(let d): w.daemonReply(d)
                }
            }
        case .telemetry(let sample):
            w.u32(sample.uptimeMillis)
            w.measurements(sample.measurements)
        case .link(let notice):
            w.u8(notice.isUp ? 1 : 0)
            w.text(notice.reason, limit: LinkNotice.maxReasonBytes)
        case .lease(let notice):
            w.leaseNotice(notice)
        }
    }

    /// The frame that carries this message (see `header(sequence:)`).
    public func frame(sequence: UInt16) -> Frame {
        var w = ArrayWriter()
        writePayload(to: &w)
        let (type, seq) = header(sequence: sequence)
        return Frame(type: type, sequence: seq, payload: w.buffer)
    }

    /// Writes the message's frame, wire-ready (COBS, delimiter), into
    /// `buffer` of at least `Frame.maxWireSize` bytes; returns its length.
    /// Nothing is allocated: the request path's encoder.
    public func encode(sequence: UInt16, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let (type, seq) = header(sequence: sequence)
        var w = WireEncoder(buffer, type: type, sequence: seq)
        writePayload(to: &w)
        return w.finish()
    }

    /// Appends the message's frame, wire-ready, to `out`.
    public func encode(sequence: UInt16, into out: inout [UInt8]) {
        out.appendWire { encode(sequence: sequence, into: $0) }
    }

    /// Parses a frame that passed its CRC.
    public init(frame: Frame) throws(MessageError) {
        let parsed = frame.payload.withUnsafeBytes { payload in
            Result { () throws(MessageError) -> Message in
                try Message(view: FrameView(version: frame.version, type: frame.type, sequence: frame.sequence,
                                            payload: payload))
            }
        }
        self = try parsed.get()
    }

    /// Parses a frame in place, as the decoder shows it (`FrameDecoder.feedViews`).
    public init(view frame: FrameView) throws(MessageError) {
        guard frame.version == Frame.protocolVersion else { throw .unsupportedVersion(frame.version) }
        let type = frame.type
        var r = ByteReader(frame.payload)
        let malformed = MessageError.malformedPayload(type: type)
        if FrameType.isRequest(type) {
            let request: Request
            switch Command(rawValue: type) {
            case .identify: request = .identify
            case .getState: request = .getState
            case .setPower: request = .setPower(Power(deciDBm: try r.i16(or: malformed)))
            case .setChannel: request = .setChannel(try r.u16(or: malformed))
            case .ping:
                // At most 249 bytes (docs/PROTOCOL.md): the Pong adds a status byte.
                guard r.remaining <= Request.maxPingBytes else { throw malformed }
                request = .ping(r.rest())
            case .setTelemetryRate: request = .setTelemetryRate(try r.u16(or: malformed))
            case let c where Command.isDaemonCommand(c.rawValue): request = .daemon(try r.daemonRequest(c, or: malformed))
            default: throw .unknownType(type)
            }
            try r.expectEnd(or: malformed)
            self = .request(request)
        } else if type == FrameType.telemetry {
            let uptime = try r.u32(or: malformed)
            let m = try r.measurements(or: malformed)
            try r.expectEnd(or: malformed)
            self = .telemetry(TelemetrySample(sequence: frame.sequence, uptimeMillis: uptime, measurements: m))
        } else if type == FrameType.link {
            let state = try r.u8(or: malformed)
            guard state <= 1, let reason = r.restAsString() else { throw malformed }
            self = .link(LinkNotice(isUp: state == 1, reason: reason))
        } else if type == FrameType.lease {
            let notice = try r.leaseNotice(or: malformed)
            try r.expectEnd(or: malformed)
            self = .lease(notice)
        } else if FrameType.isResponse(type) {
            let command = Command(rawValue: type & ~FrameType.responseFlag)
            let status = Status(rawValue: try r.u8(or: malformed))
            if status != .ok {
                try r.expectEnd(or: malformed)
                self = .response(.failure(command, status))
                return
            }
            let reply: Reply
            switch command {
            case .identify:
                let version = try r.u8(or: malformed)
                let pMin = try r.i16(or: malformed), pMax = try r.i16(or: malformed)
                let cMin = try r.u16(or: malformed), cMax = try r.u16(or: malformed)
                let model = try r.string(or: malformed)
                let serial = try r.string(or: malformed)
                let firmware = try r.string(or: malformed)
                reply = .identity(Identity(
                    model: model, serialNumber: serial, firmwareVersion: firmware, protocolVersion: version,
                    powerRange: ClosedSpan(Power(deciDBm: pMin), Power(deciDBm: pMax)),
                    channelRange: ClosedSpan(cMin, cMax)))
            case .setPower: reply = .power(Power(deciDBm: try r.i16(or: malformed)))
            case .setChannel: reply = .channel(try r.u16(or: malformed))
            case .getState:
                let power = Power(deciDBm: try r.i16(or: malformed))
                let channel = try r.u16(or: malformed)
                guard let mode = TransmitMode(rawValue: try r.u8(or: malformed)) else { throw malformed }
                let rate = try r.u16(or: malformed)
                let m = try r.measurements(or: malformed)
                reply = .state(RadioState(power: power, channel: channel, mode: mode, telemetryRate: rate, measurements: m))
            case .ping: reply = .pong(r.rest())
            case .setTelemetryRate: reply = .telemetryRate(try r.u16(or: malformed))
            case let c where Command.isDaemonCommand(c.rawValue): reply = .daemon(try r.daemonReply(c, or: malformed))
            default: throw .unknownType(type)
            }
            try r.expectEnd(or: malformed)
            self = .response(.ok(reply))
        } else {
            throw .unknownType(type)
        }
    }
}

@usableFromInline
func hex(_ byte: UInt8) -> String {
    let digits: [Character] = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

/// Lower-case hex with a space between bytes, as in traces: "01 a2 ff".
public func hexString<C: Collection>(_ bytes: C, separator: String = " ") -> String where C.Element == UInt8 {
    let digits: [Character] = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(bytes.count * (2 + separator.count))
    var first = true
    for b in bytes {
        if !first { s += separator }
        first = false
        s.append(digits[Int(b >> 4)])
        s.append(digits[Int(b & 0xF)])
    }
    return s
}

/// Parses hex with optional spaces ("01a2 ff"); nil on anything else.
public func bytes(fromHex text: String) -> [UInt8]? {
    var out: [UInt8] = []
    var high: UInt8? = nil
    for ch in text.utf8 {
        if ch == UInt8(ascii: " ") { continue }
        let v: UInt8
        switch ch {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = ch - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = ch - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): v = ch - UInt8(ascii: "A") + 10
        default: return nil
        }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return high == nil ? out : nil
}
