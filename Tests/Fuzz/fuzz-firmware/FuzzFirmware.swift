// libFuzzer target for the C firmware core (Sources/RadioFirmware), run by
// `make fuzz` next to fuzz-codec, seeded from docs/vectors.json.
//
// Each input is a byte stream from a hostile host, fed to the core in pieces
// whose size the first byte chooses, with the output drained in runs whose
// size the second byte chooses. Checks, after every piece:
//  - the decoder never holds more than one largest encoded frame, and the
//    output queue never more than its capacity;
//  - everything the core sends decodes (by the Swift decoder) with no error,
//    and is a response that parses;
//  - the Swift simulator, fed the same bytes, gives the same answers (with
//    GetState's measurements left out): the two radio implementations agree.
// A violated check traps, which libFuzzer reports with the input.
import CFuzz
import RadioFirmware
import RadioProtocol
import RadioSimulator

@_cdecl("fuzz_firmware_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzFirmware(data, size) }
}

/// A C string for the identity: a static string's bytes (NUL-terminated)
/// live as long as the program.
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFirmware(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let step = size > 0 ? Int(input[0] % 31) + 1 : 1
    let drainStep = size > 1 ? Int(input[1] % 64) + 1 : 64

    var identity = rfw_identity()
    identity.model = cString("RS-100 Simulated Radio")
    identity.serial_number = cString("SIM-0001")
    identity.firmware_version = cString("1.0.0-sim")
    identity.power_min_deci_dbm = -100
    identity.power_max_deci_dbm = 300
    identity.channel_min = 1
    identity.channel_max = 1024
    identity.telemetry_hz = 0  // the simulator engine sends no telemetry by itself
    identity.max_telemetry_hz = 5000
    let radio = UnsafeMutablePointer<rfw>.allocate(capacity: 1)
    defer { radio.deallocate() }
    rfw_init(radio, &identity, nil)
    var configuration = SimulatorConfiguration()
    configuration.telemetryHz = 0  // as the core's, so GetState's rate agrees
    var simulator = SimulatorEngine(configuration: configuration)

    var offset = 0
    while offset < size {
        let end = min(offset + step, size)
        let piece = UnsafeRawBufferPointer(rebasing: input[offset..<end])
        rfw_feed_bytes(radio, piece.bindMemory(to: UInt8.self).baseAddress, piece.count)
        precondition(radio.pointee.decoder.count <= RFW_MAX_ENCODED, "decoder holds \(radio.pointee.decoder.count) bytes")
        precondition(rfw_tx_pending(radio) <= Int(RFW_TX_CAPACITY))

        var fromCore: [UInt8] = []
        while true {
            var bytes: UnsafePointer<UInt8>?
            let run = rfw_tx_peek(radio, &bytes)
            guard run > 0, let bytes else { break }
            let taken = min(run, drainStep)
            fromCore.append(contentsOf: UnsafeBufferPointer(start: bytes, count: taken))
            rfw_tx_consume(radio, taken)
        }
        var fromSimulator: [UInt8] = []
        simulator.receive(piece, into: &fromSimulator)
        precondition(comparable(fromCore) == comparable(fromSimulator),
                     "C \(hexString(fromCore)) vs Swift \(hexString(fromSimulator))")
        offset = end
    }
    precondition(rfw_get_counters(radio).pointee.responses_dropped == 0, "a drained queue dropped a response")
    return 0
}

/// The frames in the output, checked, with GetState measurements blanked.
func comparable(_ bytes: [UInt8]) -> [Frame] {
    var decoder = FrameDecoder()
    var frames: [Frame] = []
    decoder.feed(bytes) { event in
        guard case .frame(var f) = event else { preconditionFailure("the core sent bytes that do not decode: \(event)") }
        guard case .response? = try? Message(frame: f) else { preconditionFailure("the core sent a non-response: \(f)") }
        if f.type == 0x84, f.payload.first == 0, f.payload.count == 20 {
            f.payload.replaceSubrange(8..<20, with: repeatElement(0, count: 12))
        }
        frames.append(f)
    }
    return frames
}
