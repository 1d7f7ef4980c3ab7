public import RadioProtocol

/// Ways the simulated radio breaks the spec, every time (unlike the
/// random faults), for testing a host, or a conformance suite, against
/// radios that do not keep to it. Parsed from a comma-separated list
/// (`radio-sim --quirk`, `sim://?quirk=`):
///
///     identify-version=2       Identify reports protocol version 2
///     claim-power=-10:40       Identify reports -10 to 40 dBm (the radio takes -10 to 30)
///     claim-channels=1:2048    Identify reports channels 1 to 2048 (the radio takes 1 to 1024)
///     bad-crc                  every answer carries a wrong CRC (telemetry does not)
///     no-seq-echo              every answer carries the request's sequence number plus one
///     no-range-check           SetPower and SetChannel apply any value and answer ok
///     ping-250                 a 250-byte Ping (malformed) is answered ok, with its first 249 bytes
///
/// Without no-range-check the radio enforces its real ranges whatever
/// Identify claims.
/// A claimed range may be given upside down (`claim-power=30:-10`), as a
/// broken radio might report it.
public struct Quirks: Sendable, Hashable {
    public var identifyVersion: UInt8?
    public var claimedPowerRange: ClosedSpan<Power>?
    public var claimedChannelRange: ClosedSpan<UInt16>?
    public var badReplyCRC = false
    public var sequenceNotEchoed = false
    public var noRangeCheck = false
    public var acceptsLongPing = false

    public init() {}

    /// True when a quirk changes how answers go on the wire.
    var changesWire: Bool { badReplyCRC || sequenceNotEchoed }

    public var isEmpty: Bool { self == Quirks() }

    public static let names = ["identify-version", "claim-power", "claim-channels", "bad-crc", "no-seq-echo",
                               "no-range-check", "ping-250"]

    public init(parsing spec: String) throws(FaultConfiguration.ParseError) {
        self.init()
        for item in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1)
            let name = String(parts[0]), value = parts.count > 1 ? String(parts[1]) : ""
            func pair() -> (Substring, Substring)? {
                // "-10:40": the colon that is not a sign's.
                guard let colon = value.dropFirst().firstIndex(of: ":") else { return nil }
                return (value[..<colon], value[value.index(after: colon)...])
            }
            switch name {
            case "identify-version":
                guard let v = UInt8(value) else {
                    throw .init(description: "quirk 'identify-version' needs a version 0...255, as in identify-version=2")
                }
                identifyVersion = v
            case "claim-power":
                guard let (a, b) = pair(), let low = Double(a), let high = Double(b),
                      let lower = Power(dBm: low), let upper = Power(dBm: high) else {
                    throw .init(description: "quirk 'claim-power' needs LOW:HIGH in dBm, as in claim-power=-10:40")
                }
                claimedPowerRange = ClosedSpan(lower, upper)
            case "claim-channels":
                guard let (a, b) = pair(), let lower = UInt16(a), let upper = UInt16(b) else {
                    throw .init(description: "quirk 'claim-channels' needs LOW:HIGH, as in claim-channels=1:2048")
                }
                claimedChannelRange = ClosedSpan(lower, upper)
            case "bad-crc", "no-seq-echo", "no-range-check", "ping-250":
                guard value.isEmpty else { throw .init(description: "quirk '\(name)' takes no value") }
                switch name {
                case "bad-crc": badReplyCRC = true
                case "no-seq-echo": sequenceNotEchoed = true
                case "no-range-check": noRangeCheck = true
                default: acceptsLongPing = true
                }
            default:
                throw .init(description: "unknown quirk '\(name)' (known: \(Quirks.names.joined(separator: ", ")))")
            }
        }
    }
}

extension Frame {
    /// The frame on the wire with its CRC's lowest bit flipped: what the
    /// `bad-crc` quirk sends.
    func encodeWithBadCRC(into out: inout [UInt8]) {
        var raw: [UInt8] = [version, type, UInt8(truncatingIfNeeded: sequence), UInt8(truncatingIfNeeded: sequence >> 8)]
        raw += payload
        let crc = CRC16.checksum(raw) ^ 0x0001
        raw += [UInt8(truncatingIfNeeded: crc), UInt8(truncatingIfNeeded: crc >> 8)]
        out += COBS.encode(raw)
        out.append(Frame.delimiter)
    }
}
