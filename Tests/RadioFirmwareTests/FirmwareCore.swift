import Foundation
import RadioFirmware
import RadioProtocol

/// The C core (Sources/RadioFirmware) driven from Swift, for the tests: one
/// `struct rfw` on the heap, the identity's strings kept alive beside it, and
/// sensors read from `sensors`.
final class FirmwareCore {
    struct Identity {
        var model = "RS-100 Simulated Radio"
        var serialNumber = "SIM-0001"
        var firmwareVersion = "1.0.0-sim"
        var power: (min: Int16, max: Int16) = (-100, 300)
        var channel: (min: UInt16, max: UInt16) = (1, 1024)
        var telemetryHz: UInt16 = 10
        var maxTelemetryHz: UInt16 = 5000
    }

    /// What the hooks do: the sensors they report, and a status the setters
    /// return (RFW_OK, RFW_BUSY, RFW_HARDWARE_FAULT or anything else).
    var sensors = rfw_measurements()
    var setterStatus = UInt8(RFW_OK.rawValue)
    /// A setter that rounds power to whole dBm, as a radio with a 1 dB step.
    var roundPowerToWholeDBm = false
    private(set) var hookCalls = 0

    let radio: UnsafeMutablePointer<rfw>
    private var strings: [UnsafeMutablePointer<CChar>] = []

    init(_ identity: Identity = Identity()) {
        radio = .allocate(capacity: 1)
        strings = [strdup(identity.model), strdup(identity.serialNumber), strdup(identity.firmwareVersion)]
            .map { copy in
            guard let copy else { fatalError("strdup failed") }
            return copy
        }
        var id = rfw_identity()
        id.model = UnsafePointer(strings[0])
        id.serial_number = UnsafePointer(strings[1])
        id.firmware_version = UnsafePointer(strings[2])
        id.power_min_deci_dbm = identity.power.min
        id.power_max_deci_dbm = identity.power.max
        id.channel_min = identity.channel.min
        id.channel_max = identity.channel.max
        id.telemetry_hz = identity.telemetryHz
        id.max_telemetry_hz = identity.maxTelemetryHz
        var hooks = rfw_hooks()
        hooks.context = Unmanaged.passUnretained(self).toOpaque()
        hooks.set_power = { context, wanted, applied in
            let core = FirmwareCore.from(context)
            core.hookCalls += 1
            if core.roundPowerToWholeDBm { applied?.pointee = (wanted / 10) * 10 }
            return core.setterStatus
        }
        hooks.set_channel = { context, _, _ in
            let core = FirmwareCore.from(context)
            core.hookCalls += 1
            return core.setterStatus
        }
        hooks.read_sensors = { context, out in out?.pointee = FirmwareCore.from(context).sensors }
        rfw_init(radio, &id, &hooks)
    }

    deinit {
        radio.deallocate()
        strings.forEach { free($0) }
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> FirmwareCore {
        guard let context else { fatalError("hook called without its context") }
        return Unmanaged<FirmwareCore>.fromOpaque(context).takeUnretainedValue()
    }

    func feed(_ bytes: [UInt8]) { rfw_feed_bytes(radio, bytes, bytes.count) }
    func tick(_ uptimeMillis: UInt32) { rfw_tick(radio, uptimeMillis) }

    /// Everything queued, drained in runs of at most `chunk` bytes.
    func drain(chunk: Int = .max) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            var bytes: UnsafePointer<UInt8>?
            let run = rfw_tx_peek(radio, &bytes)
            guard run > 0, let bytes else { return out }
            let taken = min(run, chunk)
            out.append(contentsOf: UnsafeBufferPointer(start: bytes, count: taken))
            rfw_tx_consume(radio, taken)
        }
    }

    /// Feeds the bytes and returns what the radio answered.
    func exchange(_ bytes: [UInt8]) -> [UInt8] {
        feed(bytes)
        return drain()
    }

    var counters: rfw_counters { rfw_get_counters(radio).pointee }
    var power: Int16 { rfw_power(radio) }
    var channel: UInt16 { rfw_channel(radio) }
    var telemetryRate: UInt16 { rfw_telemetry_rate(radio) }
    var pending: Int { rfw_tx_pending(radio) }
}

extension rfw_measurements {
    init(_ m: Measurements) {
        self.init(rssi_deci_dbm: m.rssiDeciDBm, snr_deci_db: m.snrDeciDB, temperature_deci_c: m.temperatureDeciC,
                  supply_mv: m.supplyMillivolts, forward_deci_dbm: m.forwardDeciDBm, reflected_deci_dbm: m.reflectedDeciDBm)
    }
}

/// The frames in a byte stream, by the Swift decoder (the other implementation).
func frames(in bytes: [UInt8]) -> [Frame] {
    var decoder = FrameDecoder()
    var out: [Frame] = []
    decoder.feed(bytes) { if case .frame(let f) = $0 { out.append(f) } }
    return out
}

/// A request's wire bytes, by the Swift encoder.
func wire(_ request: Request, sequence: UInt16) -> [UInt8] {
    Message.request(request).frame(sequence: sequence).wireBytes
}

/// Wire bytes of an arbitrary frame (any version and type).
func wire(version: UInt8 = 1, type: UInt8, sequence: UInt16, payload: [UInt8] = []) -> [UInt8] {
    Frame(version: version, type: type, sequence: sequence, payload: payload).wireBytes
}
