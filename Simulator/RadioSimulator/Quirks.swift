public import RadioProtocol

/// Ways the simulated radio misdescribes itself in Identify, for testing a
/// host against radios that do not keep to the spec. The radio still
/// enforces its real ranges. Parsed from a comma-separated list
/// (`radio-sim --quirk`, `sim://?quirk=`):
///
///     identify-version=2       Identify reports protocol version 2
///     claim-power=-10:40       Identify reports -10 to 40 dBm (the radio takes -10 to 30)
///     claim-channels=1:2048    Identify reports channels 1 to 2048 (the radio takes 1 to 1024)
///
/// A claimed range may be given upside down (`claim-power=30:-10`), as a
/// broken radio might report it.
public struct Quirks: Sendable, Hashable {
    public var identifyVersion: UInt8?
    public var claimedPowerRange: ClosedSpan<Power>?
    public var claimedChannelRange: ClosedSpan<UInt16>?

    public init() {}

    public var isEmpty: Bool { self == Quirks() }

    public static let names = ["identify-version", "claim-power", "claim-channels"]

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
            default:
                throw .init(description: "unknown quirk '\(name)' (known: \(Quirks.names.joined(separator: ", ")))")
            }
        }
    }
}
