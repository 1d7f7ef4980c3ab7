public import RadioProtocol

/// How the simulated radio presents itself and behaves. Later options (fault
/// injection, wire-time emulation) join this struct; the runners pass it on.
public struct SimulatorConfiguration: Sendable, Hashable {
    public var model = "RS-100 Simulated Radio"
    public var serialNumber = "SIM-0001"
    public var firmwareVersion = "1.0.0-sim"
    public var powerRange = ClosedSpan(Power(deciDBm: -100), Power(deciDBm: 300))
    public var channelRange = ClosedSpan<UInt16>(1, 1024)
    /// Telemetry frames per second at start-up; 0 is off.
    public var telemetryHz: UInt16 = 10
    /// The highest rate SetTelemetryRate accepts.
    public var maxTelemetryHz: UInt16 = 5000
    /// Seeds the measurement noise, so runs with the same seed match.
    public var seed: UInt64 = 1
    /// Emulate a serial line at this rate on the pty (nil: as fast as the
    /// pty goes). Only the pty server uses it.
    public var baud: Int? = nil
    /// Faults to act out (none by default); see `FaultConfiguration`.
    public var faults = FaultConfiguration()
    /// How Identify misdescribes the radio (none by default); see `Quirks`.
    public var quirks = Quirks()

    public init() {}
}

/// SplitMix64: small, fast, and reproducible from a seed.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in -spread...spread.
    mutating func jitter(_ spread: Int) -> Int {
        Int(next() % UInt64(2 * spread + 1)) - spread
    }
}

/// The radio's behaviour with no I/O: it takes request frames and gives
/// response frames, and makes telemetry samples when asked.
public struct SimulatedRadio: Sendable {
    public let configuration: SimulatorConfiguration
    public private(set) var power: Power
    public private(set) var channel: UInt16
    public private(set) var telemetryRate: UInt16
    /// Successful SetPower and SetChannel commands taken, for tests that
    /// check at-most-once application.
    public private(set) var appliedCommands = 0
    private var rng: SplitMix64
    private var rssi: Int = -700
    private var telemetrySequence: UInt16 = 0

    public init(configuration: SimulatorConfiguration) {
        self.configuration = configuration
        power = configuration.powerRange.lower
        channel = configuration.channelRange.lower
        telemetryRate = configuration.telemetryHz
        rng = SplitMix64(seed: configuration.seed)
    }

    public var identity: Identity {
        let q = configuration.quirks
        return Identity(model: configuration.model, serialNumber: configuration.serialNumber,
                        firmwareVersion: configuration.firmwareVersion,
                        protocolVersion: q.identifyVersion ?? Frame.protocolVersion,
                        powerRange: q.claimedPowerRange ?? configuration.powerRange,
                        channelRange: q.claimedChannelRange ?? configuration.channelRange)
    }

    /// Answers one frame. Returns nil for frames a radio does not answer
    /// (responses and telemetry sent to it).
    public mutating func handle(_ frame: Frame) -> Frame? {
        frame.payload.withUnsafeBytes { payload in
            handle(FrameView(version: frame.version, type: frame.type, sequence: frame.sequence, payload: payload))
        }.map { Message.response($0).frame(sequence: frame.sequence) }
    }

    /// Answers one frame where the decoder holds it; nil for frames a radio
    /// does not answer.
    public mutating func handle(_ frame: FrameView) -> Response? {
        guard FrameType.isRequest(frame.type) else { return nil }
        let command = Command(rawValue: frame.type)
        // A radio does not know a daemon's requests (§11.1), whatever their
        // payload: the version check still comes first (§7).
        if Command.isDaemonCommand(frame.type) && frame.version == Frame.protocolVersion {
            return .failure(command, .unknownCommand)
        }
        do {
            let message = try Message(view: frame)
            guard case .request(let request) = message else { return nil }
            return handle(request)
        } catch {
            if case .malformedPayload = error, command == .ping, configuration.quirks.acceptsLongPing,
               frame.version == Frame.protocolVersion, frame.payload.count == Frame.maxPayload {
                return .ok(.pong(Array(frame.payload.prefix(Frame.maxPayload - 1))))
            }
            switch error {
            case .unsupportedVersion: return .failure(command, .unsupportedVersion)
            case .unknownType: return .failure(command, .unknownCommand)
            case .malformedPayload: return .failure(command, .malformed)
            }
        }
    }

    public mutating func handle(_ request: Request) -> Response {
        switch request {
        case .identify:
            return .ok(.identity(identity))
        case .setPower(let p):
            guard configuration.quirks.noRangeCheck || configuration.powerRange.contains(p) else {
                return .failure(.setPower, .outOfRange)
            }
            power = p
            appliedCommands += 1
            return .ok(.power(p))
        case .setChannel(let c):
            guard configuration.quirks.noRangeCheck || configuration.channelRange.contains(c) else {
                return .failure(.setChannel, .outOfRange)
            }
            channel = c
            appliedCommands += 1
            return .ok(.channel(c))
        case .getState:
            return .ok(.state(RadioState(power: power, channel: channel, mode: .receive,
                                         telemetryRate: telemetryRate, measurements: measure())))
        case .ping(let bytes):
            return .ok(.pong(bytes))
        case .setTelemetryRate(let hz):
            guard hz <= configuration.maxTelemetryHz else { return .failure(.setTelemetryRate, .outOfRange) }
            telemetryRate = hz
            return .ok(.telemetryRate(hz))
        case .daemon(let d):
            return .failure(d.command, .unknownCommand)
        }
    }

    /// One telemetry sample; its sequence number counts samples.
    public mutating func telemetry(uptimeMillis: UInt32) -> TelemetrySample {
        defer { telemetrySequence &+= 1 }
        return TelemetrySample(sequence: telemetrySequence, uptimeMillis: uptimeMillis, measurements: measure())
    }

    /// Plausible readings: RSSI wanders around -70 dBm and depends a little on
    /// the channel; the PA warms with power; forward power follows the set
    /// power less 0.2 dB of cable, with a 1.2:1 match reflecting ~21 dB down.
    private mutating func measure() -> Measurements {
        rssi += rng.jitter(5)
        rssi = min(max(rssi, -1100), -300)
        let channelOffset = Int(channel % 16) - 8
        let rssiNow = rssi + channelOffset
        let noiseFloor = -1150 + rng.jitter(10)
        let temperature = 350 + Int(power.deciDBm) / 2 + rng.jitter(3)
        let supply = 13_800 + rng.jitter(40)
        let forward = Int(power.deciDBm) - 2 + rng.jitter(1)
        return Measurements(
            rssiDeciDBm: Int16(rssiNow), snrDeciDB: Int16(rssiNow - noiseFloor),
            temperatureDeciC: Int16(temperature), supplyMillivolts: UInt16(supply),
            forwardDeciDBm: Int16(forward), reflectedDeciDBm: Int16(forward - 210))
    }
}

/// The simulator at the byte level, still without I/O: bytes in from the
/// host, bytes out to it. Both runners (pty and in-memory) drive this.
public struct SimulatorEngine: Sendable {
    public private(set) var radio: SimulatedRadio
    private var decoder = FrameDecoder()
    private var scratch: [UInt8] = []
    private var injector: FaultInjector?
    /// The quirks that change answers on the wire (`bad-crc`,
    /// `no-seq-echo`), looked up once; nil for a radio without them.
    private let wireQuirks: Quirks?
    /// Set when a `stall` fault fired on the last request; the pty server
    /// takes it (`takeStall()`) and stops answering for the stall's time.
    private var stallPending = false

    public init(configuration: SimulatorConfiguration) {
        radio = SimulatedRadio(configuration: configuration)
        wireQuirks = configuration.quirks.changesWire ? configuration.quirks : nil
        scratch.reserveCapacity(Frame.maxWireSize)
        if !configuration.faults.isEmpty {
            injector = FaultInjector(faults: configuration.faults, seed: configuration.seed)
        }
    }

    public var decoderCounters: FrameDecoder.Counters { decoder.counters }

    /// The faults acted out so far.
    public var faultCounters: FaultCounters { injector?.counters ?? FaultCounters() }

    /// The configured faults.
    public var faults: FaultConfiguration { injector?.faults ?? FaultConfiguration() }

    /// True once after a request that fired a `stall` fault.
    public mutating func takeStall() -> Bool {
        defer { stallPending = false }
        return stallPending
    }

    /// The delay before the next response goes out (`delay` and `jitter`).
    public mutating func responseDelay() -> Duration { injector?.responseDelay() ?? .zero }

    /// Applies output corruption to `bytes[start...]` (what the radio just sent).
    public mutating func corruptOutput(_ bytes: inout [UInt8], from start: Int) {
        injector?.corrupt(&bytes, from: start)
    }

    /// Feeds bytes from the host and appends the wire bytes of every
    /// response to `output`. Corrupt frames are dropped unanswered: the
    /// host cannot trust a sequence number that failed its CRC.
    public mutating func receive<C: Collection>(_ bytes: C, into output: inout [UInt8]) where C.Element == UInt8 {
        guard var injector else {
            // The fault-free path parses each request where the decoder
            // holds it and writes the answer straight into `output`:
            // nothing is allocated per request.
            // The decoder is moved out (not copied) so feeding it does not
            // copy its buffers.
            var decoder = self.decoder
            self.decoder = .placeholder
            let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
                decoder.feedViews(UnsafeRawBufferPointer(buffer)) { event, _ in
                    if case .frame(let frame) = event, let response = self.radio.handle(frame) {
                        if let quirks = self.wireQuirks {
                            let reply = Message.response(response).frame(sequence: frame.sequence)
                            SimulatorEngine.appendQuirky(reply, quirks, into: &output)
                        } else {
                            Message.response(response).encode(sequence: frame.sequence, into: &output)
                        }
                    }
                }
            }
            self.decoder = decoder
            if done == nil { receive(Array(bytes), into: &output) }
            return
        }
        // Faults: the line corrupts what the host sent, the radio misses
        // or mangles frames, and the line corrupts what it sends back.
        var input = Array(bytes)
        injector.corrupt(&input)
        let start = output.count
        var radio = self.radio
        var stall = false
        decoder.feed(input) { event in
            guard case .frame(let frame) = event, FrameType.isRequest(frame.type) else { return }
            if injector.chance(injector.faults.dropRequest) {
                injector.counters.droppedRequests += 1
                return
            }
            if var reply = radio.handle(frame) {
                let quirks = radio.configuration.quirks
                if quirks.sequenceNotEchoed { reply.sequence &+= 1 }
                injector.emit(reply, badCRC: quirks.badReplyCRC, into: &output)
            }
            if injector.stallNow() { stall = true }
        }
        injector.corrupt(&output, from: start)
        self.radio = radio
        self.injector = injector
        if stall { stallPending = true }
    }

    /// An answer as the wire quirks (`bad-crc`, `no-seq-echo`) send it.
    static func appendQuirky(_ reply: Frame, _ quirks: Quirks, into output: inout [UInt8]) {
        var frame = reply
        if quirks.sequenceNotEchoed { frame.sequence &+= 1 }
        if quirks.badReplyCRC { frame.encodeWithBadCRC(into: &output) } else { frame.encode(into: &output) }
    }

    /// Appends one telemetry frame to `output`.
    public mutating func appendTelemetry(uptimeMillis: UInt32, into output: inout [UInt8]) {
        let sample = radio.telemetry(uptimeMillis: uptimeMillis)
        let start = output.count
        Message.telemetry(sample).encode(sequence: sample.sequence, into: &output)
        injector?.corrupt(&output, from: start)
    }

    /// Time between telemetry frames, or nil when telemetry is off.
    public var telemetryInterval: Duration? {
        radio.telemetryRate == 0 ? nil : .nanoseconds(1_000_000_000 / Int64(radio.telemetryRate))
    }
}
