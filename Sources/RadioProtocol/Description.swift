// One-line descriptions of messages, for traces and logs.

extension Request: CustomStringConvertible {
    public var description: String {
        switch self {
        case .identify: "Identify"
        case .setPower(let p): "SetPower \(p)"
        case .setChannel(let c): "SetChannel \(c)"
        case .getState: "GetState"
        case .ping(let b): "Ping \(b.count) bytes"
        case .setTelemetryRate(let hz): "SetTelemetryRate \(hz) Hz"
        case .daemon(let d): d.description
        }
    }
}

extension Reply: CustomStringConvertible {
    public var description: String {
        switch self {
        case .identity(let id):
            "Identity model=\"\(id.model)\" serial=\"\(id.serialNumber)\" firmware=\"\(id.firmwareVersion)\" "
                + "protocol=\(id.protocolVersion) power=\(id.powerRange.lower)...\(id.powerRange.upper) "
                + "channels=\(id.channelRange.lower)...\(id.channelRange.upper)"
        case .power(let p): "Power \(p)"
        case .channel(let c): "Channel \(c)"
        case .state(let s):
            "State power=\(s.power) channel=\(s.channel) mode=\(s.mode == .transmit ? "tx" : "rx") telemetry=\(s.telemetryRate) Hz \(s.measurements)"
        case .pong(let b): "Pong \(b.count) bytes"
        case .telemetryRate(let hz): "TelemetryRate \(hz) Hz"
        case .daemon(let d): d.description
        }
    }
}

extension Response: CustomStringConvertible {
    public var description: String {
        switch self {
        case .ok(let reply): "ok \(reply)"
        case .failure(let c, let s): "\(c) failed: \(s)"
        }
    }
}

extension Measurements: CustomStringConvertible {
    public var description: String {
        "rssi=\(formatTenths(Int(rssiDeciDBm))) dBm snr=\(formatTenths(Int(snrDeciDB))) dB "
            + "temp=\(formatTenths(Int(temperatureDeciC))) °C supply=\(supplyMillivolts / 1000).\(String(1000 + supplyMillivolts % 1000).dropFirst()) V "
            + "fwd=\(formatTenths(Int(forwardDeciDBm))) dBm refl=\(formatTenths(Int(reflectedDeciDBm))) dBm"
    }
}

extension Message: CustomStringConvertible {
    public var description: String {
        switch self {
        case .request(let r): r.description
        case .response(let r): r.description
        case .telemetry(let t): "Telemetry uptime=\(t.uptimeMillis) ms \(t.measurements)"
        case .link(let n): n.isUp ? "Link up" : "Link down: \(n.reason)"
        case .lease(let n): "Lease \(n.event) holder=\"\(n.holder)\" \(n.leftSeconds) s left"
        }
    }
}
