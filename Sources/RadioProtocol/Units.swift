/// Transmit power in tenths of a dBm: `Power(deciDBm: 125)` is 12.5 dBm.
public struct Power: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var deciDBm: Int16
    public init(deciDBm: Int16) { self.deciDBm = deciDBm }

    /// Rounds `dBm` to the nearest 0.1 dB; nil when it cannot be represented
    /// (not finite, or outside ±3276.7 dBm).
    public init?(dBm: Double) {
        guard dBm.isFinite else { return nil }
        let tenths = (dBm * 10).rounded()
        guard tenths >= Double(Int16.min), tenths <= Double(Int16.max) else { return nil }
        deciDBm = Int16(tenths)
    }

    public var dBm: Double { Double(deciDBm) / 10 }
    public static func < (a: Power, b: Power) -> Bool { a.deciDBm < b.deciDBm }
    public var description: String { formatTenths(Int(deciDBm)) + " dBm" }
}

/// Formats a value held in tenths with exactly one decimal: 125 → "12.5", -5 → "-0.5".
public func formatTenths(_ tenths: Int) -> String {
    let sign = tenths < 0 ? "-" : ""
    let magnitude = tenths.magnitude
    return "\(sign)\(magnitude / 10).\(magnitude % 10)"
}

/// A closed range of channel numbers or powers that a radio accepts.
public struct ClosedSpan<Value: Comparable & Hashable & Sendable>: Hashable, Sendable {
    public var lower: Value
    public var upper: Value
    public init(_ lower: Value, _ upper: Value) {
        self.lower = lower
        self.upper = upper
    }
    public func contains(_ value: Value) -> Bool { lower <= value && value <= upper }
}

/// The radio's transmitter state.
public enum TransmitMode: UInt8, Hashable, Sendable {
    case receive = 0
    case transmit = 1
}

/// The values a radio measures, carried in GetState replies and telemetry.
public struct Measurements: Hashable, Sendable {
    /// Received signal strength, 0.1 dBm.
    public var rssiDeciDBm: Int16
    /// Signal-to-noise ratio, 0.1 dB.
    public var snrDeciDB: Int16
    /// PA temperature, 0.1 °C.
    public var temperatureDeciC: Int16
    /// Supply voltage, mV.
    public var supplyMillivolts: UInt16
    /// Forward power at the antenna port, 0.1 dBm.
    public var forwardDeciDBm: Int16
    /// Reflected power at the antenna port, 0.1 dBm.
    public var reflectedDeciDBm: Int16

    public init(rssiDeciDBm: Int16, snrDeciDB: Int16, temperatureDeciC: Int16,
                supplyMillivolts: UInt16, forwardDeciDBm: Int16, reflectedDeciDBm: Int16) {
        self.rssiDeciDBm = rssiDeciDBm
        self.snrDeciDB = snrDeciDB
        self.temperatureDeciC = temperatureDeciC
        self.supplyMillivolts = supplyMillivolts
        self.forwardDeciDBm = forwardDeciDBm
        self.reflectedDeciDBm = reflectedDeciDBm
    }

    static let encodedSize = 12
}

/// The Identify reply.
public struct Identity: Hashable, Sendable {
    public var model: String
    public var serialNumber: String
    public var firmwareVersion: String
    public var protocolVersion: UInt8
    public var powerRange: ClosedSpan<Power>
    public var channelRange: ClosedSpan<UInt16>

    public init(model: String, serialNumber: String, firmwareVersion: String, protocolVersion: UInt8,
                powerRange: ClosedSpan<Power>, channelRange: ClosedSpan<UInt16>) {
        self.model = model
        self.serialNumber = serialNumber
        self.firmwareVersion = firmwareVersion
        self.protocolVersion = protocolVersion
        self.powerRange = powerRange
        self.channelRange = channelRange
    }

    /// The longest model, serial or firmware string, in UTF-8 bytes.
    public static let maxStringBytes = 32

    /// Why a host that speaks this protocol cannot drive the radio this
    /// Identify describes; nil when it can.
    public var incompatibility: String? {
        if protocolVersion != Frame.protocolVersion {
            return "it speaks protocol version \(protocolVersion); this host speaks version \(Frame.protocolVersion)"
        }
        if powerRange.lower > powerRange.upper {
            return "it reports a power range from \(powerRange.lower) down to \(powerRange.upper)"
        }
        if channelRange.lower > channelRange.upper {
            return "it reports channels from \(channelRange.lower) down to \(channelRange.upper)"
        }
        return nil
    }
}

/// The GetState reply.
public struct RadioState: Hashable, Sendable {
    public var power: Power
    public var channel: UInt16
    public var mode: TransmitMode
    /// Telemetry frames per second; 0 when telemetry is off.
    public var telemetryRate: UInt16
    public var measurements: Measurements

    public init(power: Power, channel: UInt16, mode: TransmitMode, telemetryRate: UInt16, measurements: Measurements) {
        self.power = power
        self.channel = channel
        self.mode = mode
        self.telemetryRate = telemetryRate
        self.measurements = measurements
    }
}

/// One unsolicited telemetry frame.
public struct TelemetrySample: Hashable, Sendable {
    /// The frame's sequence number: it counts telemetry frames, so a jump
    /// shows how many were lost on the line.
    public var sequence: UInt16
    /// Milliseconds since the radio started (wraps after 49.7 days).
    public var uptimeMillis: UInt32
    public var measurements: Measurements

    public init(sequence: UInt16, uptimeMillis: UInt32, measurements: Measurements) {
        self.sequence = sequence
        self.uptimeMillis = uptimeMillis
        self.measurements = measurements
    }
}

extension Duration {
    /// Whole nanoseconds, truncated toward zero: the one conversion of a
    /// Duration to a number the project uses (the engine's clock, histograms,
    /// dispatch timeouts, the simulator's jitter).
    @inlinable
    public var inNanoseconds: Int64 {
        let c = components
        return c.seconds &* 1_000_000_000 &+ c.attoseconds / 1_000_000_000
    }

    /// Seconds, as a Double, for rates and reports.
    @inlinable
    public var inSeconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
