public import RadioProtocol

/// What can go wrong between the host and the radio, for the simulator to
/// act out. Every random choice comes from the simulator's seed, so a run is
/// reproducible. Rates are probabilities in 0...1.
///
/// Parsed from a comma-separated list (`radio-sim --fault`, `sim://?fault=`):
///
///     corrupt=0.01          flip a random bit in each byte with this chance, both directions
///     drop-request=0.01     ignore a request frame (it is not applied)
///     drop-response=0.01    apply the request but send no response
///     duplicate=0.01        send a response twice
///     garbage=0.01          send a burst of noise (ending in a delimiter) before a response
///     wrong-seq=0.01        answer with the wrong sequence number
///     unknown-type=0.01     answer with a message type no protocol version defines
///     other-version=0.01    send a copy of the response with version byte 2 before it
///     delay=5ms             hold every response this long
///     jitter=2ms            plus up to this much more, at random
///     fragment              write what the radio sends one byte per write
///     fragment=random       write it in pieces of 1 to 7 bytes, at random
///     stall=0.001:500ms     after a request, with this chance, answer nothing for this long
///     hangup=10s            close the pty after this long, like a pulled adapter
///
/// The last five need a clock and a pty: the pty server acts them out; the
/// in-memory `loop://` transport ignores them.
public struct FaultConfiguration: Sendable, Hashable {
    public var corrupt = 0.0
    public var dropRequest = 0.0
    public var dropResponse = 0.0
    public var duplicate = 0.0
    public var garbage = 0.0
    public var wrongSequence = 0.0
    public var unknownType = 0.0
    public var otherVersion = 0.0
    public var delay: Duration = .zero
    public var jitter: Duration = .zero
    /// Largest piece per write when fragmenting: 1 (byte by byte) or 7
    /// (random 1...7); nil writes whole.
    public var fragment: Int?
    public var stallChance = 0.0
    public var stallFor: Duration = .zero
    public var hangupAfter: Duration?

    public init() {}

    /// True when no fault is configured.
    public var isEmpty: Bool { self == FaultConfiguration() }

    /// The spec's names, for help and errors.
    public static let names = ["corrupt", "drop-request", "drop-response", "duplicate", "garbage", "wrong-seq",
                               "unknown-type", "other-version", "delay", "jitter", "fragment", "stall", "hangup"]

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Parses `corrupt=0.01,drop-response=0.02,fragment,...`.
    public init(parsing spec: String) throws(ParseError) {
        self.init()
        for item in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).trimmingSpaces
            let value = parts.count == 2 ? String(parts[1]).trimmingSpaces : nil
            func rate() throws(ParseError) -> Double {
                guard let value, let r = Double(value), r.isFinite, (0...1).contains(r) else {
                    throw ParseError(description: "fault '\(name)' needs a rate in 0...1, as in \(name)=0.01")
                }
                return r
            }
            func duration() throws(ParseError) -> Duration {
                guard let value, let d = FaultConfiguration.duration(value) else {
                    throw ParseError(description: "fault '\(name)' needs a duration such as 5ms, 2s or 500us, not '\(value ?? "")'")
                }
                return d
            }
            switch name {
            case "corrupt": corrupt = try rate()
            case "drop-request": dropRequest = try rate()
            case "drop-response": dropResponse = try rate()
            case "duplicate": duplicate = try rate()
            case "garbage": garbage = try rate()
            case "wrong-seq": wrongSequence = try rate()
            case "unknown-type": unknownType = try rate()
            case "other-version": otherVersion = try rate()
            case "delay": delay = try duration()
            case "jitter": jitter = try duration()
            case "hangup": hangupAfter = try duration()
            case "fragment":
                switch value {
                case nil: fragment = 1
                case "random": fragment = 7
                default: throw ParseError(description: "fault 'fragment' takes no value, or 'random'")
                }
            case "stall":
                guard let value, let colon = value.firstIndex(of: ":"),
                      let chance = Double(value[..<colon]), chance.isFinite, (0...1).contains(chance),
                      let d = FaultConfiguration.duration(String(value[value.index(after: colon)...])) else {
                    throw ParseError(description: "fault 'stall' needs CHANCE:DURATION, as in stall=0.001:500ms")
                }
                stallChance = chance
                stallFor = d
            default:
                throw ParseError(description: "unknown fault '\(name)' (known: \(FaultConfiguration.names.joined(separator: ", ")))")
            }
        }
    }

    /// "5ms", "2s", "500us", "1.5s".
    static func duration(_ text: String) -> Duration? {
        for (suffix, scale) in [("ms", 1e-3), ("us", 1e-6), ("s", 1.0)] where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v.isFinite, v >= 0, v <= 86_400 else { return nil }
            return .nanoseconds(Int64((v * scale * 1e9).rounded()))
        }
        return nil
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// Counts of the faults acted out, for checking a run against what it did.
public struct FaultCounters: Sendable, Hashable {
    public var corruptedBytes = 0
    public var droppedRequests = 0
    public var droppedResponses = 0
    public var duplicatedResponses = 0
    public var garbageBursts = 0
    public var wrongSequences = 0
    public var unknownTypes = 0
    public var otherVersions = 0
    public var stalls = 0
    public init() {}
}

/// The byte- and frame-level faults, driven by their own random stream.
struct FaultInjector: Sendable {
    let faults: FaultConfiguration
    private var rng: SplitMix64
    var counters = FaultCounters()

    init(faults: FaultConfiguration, seed: UInt64) {
        self.faults = faults
        rng = SplitMix64(seed: seed ^ 0xFA17_FA17_FA17_FA17)
    }

    mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double(rng.next() >> 11) * 0x1p-53 < p
    }

    /// Flips one random bit in each byte, with the configured chance.
    mutating func corrupt(_ bytes: inout [UInt8], from start: Int = 0) {
        guard faults.corrupt > 0, start < bytes.count else { return }
        for i in start..<bytes.count where chance(faults.corrupt) {
            bytes[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            counters.corruptedBytes += 1
        }
    }

    /// Appends `reply` as the faults say: dropped, preceded by noise, with a
    /// wrong sequence number or type, or twice.
    mutating func emit(_ reply: Frame, badCRC: Bool = false, into output: inout [UInt8]) {
        if chance(faults.dropResponse) {
            counters.droppedResponses += 1
            return
        }
        if chance(faults.garbage) {
            counters.garbageBursts += 1
            let n = 1 + Int(rng.next() % 40)
            for _ in 0..<n { output.append(UInt8(truncatingIfNeeded: rng.next() | 1)) }
            output.append(Frame.delimiter)
        }
        var frame = reply
        if chance(faults.wrongSequence) {
            counters.wrongSequences += 1
            frame = Frame(type: frame.type, sequence: frame.sequence &+ 1 &+ UInt16(rng.next() % 100), payload: frame.payload)
        }
        if chance(faults.unknownType) {
            counters.unknownTypes += 1
            frame = Frame(type: FrameType.responseFlag | 0x7E, sequence: frame.sequence, payload: frame.payload)
        }
        if chance(faults.otherVersion) {
            // Its twin from a protocol version 2 radio: same number, same
            // type. A host must take it for undecodable (PROTOCOL.md §8).
            counters.otherVersions += 1
            var twin = frame
            twin.version = 2
            twin.encode(into: &output)
        }
        let encode = { (f: Frame, out: inout [UInt8]) in badCRC ? f.encodeWithBadCRC(into: &out) : f.encode(into: &out) }
        encode(frame, &output)
        if chance(faults.duplicate) {
            counters.duplicatedResponses += 1
            encode(frame, &output)
        }
    }

    /// True when the pty server should stall after this request.
    mutating func stallNow() -> Bool {
        guard chance(faults.stallChance) else { return false }
        counters.stalls += 1
        return true
    }

    /// A delay for the next response: `delay` plus up to `jitter`.
    mutating func responseDelay() -> Duration {
        guard faults.jitter > .zero else { return faults.delay }
        let nanos = faults.jitter.inNanoseconds
        return faults.delay + .nanoseconds(Int64(rng.next() % UInt64(max(nanos, 1) + 1)))
    }
}
