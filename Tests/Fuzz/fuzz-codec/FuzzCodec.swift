// libFuzzer target for the frame decoder and the message parser:
// `make fuzz` (FUZZ_TIME seconds, corpus seeded from docs/vectors.json).
//
// Each input is used twice:
//  - as a byte stream, fed to a FrameDecoder in pieces whose size the first
//    byte chooses (so frames straddle reads at every offset). The decoder's
//    buffer must never exceed one maximum encoded frame, whatever it is fed;
//    every frame it yields must re-encode to bytes that decode to the same
//    frame, and every message parsed from one must re-encode to itself;
//  - as a frame (type = first byte, payload = the rest) handed straight to the
//    message parser, which the CRC would otherwise shield from most inputs.
// A violated check traps, which libFuzzer reports with the input.
import CFuzz
import RadioProtocol

/// The executable's entry (SwiftPM links `main` to it): libFuzzer's driver.
@_cdecl("fuzz_codec_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzCodec(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCodec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let step = size > 0 ? Int(input[0] % 17) + 1 : 1

    var decoder = FrameDecoder()
    var frames: [Frame] = []
    var offset = 0
    while offset < size {
        let end = min(offset + step, size)
        decoder.feed(UnsafeRawBufferPointer(rebasing: input[offset..<end])) { event, _ in
            if case .frame(let frame) = event { frames.append(frame) }
        }
        precondition(decoder.bufferedCount <= Frame.maxEncodedSize, "decoder buffered \(decoder.bufferedCount) bytes")
        offset = end
    }

    for frame in frames {
        precondition(frame.payload.count <= Frame.maxPayload)
        var wire: [UInt8] = []
        frame.encode(into: &wire)
        precondition(wire.count <= Frame.maxWireSize)
        var again = FrameDecoder()
        var back: [Frame] = []
        again.feed(wire) { if case .frame(let f) = $0 { back.append(f) } }
        precondition(back == [frame], "a decoded frame did not survive re-encoding")
        checkMessage(frame)
    }

    if size > 0 {
        let payload = Array(input.dropFirst().prefix(Frame.maxPayload))
        checkMessage(Frame(type: input[0], sequence: 0x1234, payload: payload))
    }
    return 0
}

/// A frame either fails to parse with a typed error, or parses to a message
/// that encodes back to a frame parsing to the same message.
func checkMessage(_ frame: Frame) {
    guard let message = try? Message(frame: frame) else { return }
    let reencoded = message.frame(sequence: frame.sequence)
    guard let back = try? Message(frame: reencoded) else {
        preconditionFailure("a parsed message did not re-encode to a parsable frame: \(message)")
    }
    precondition(back == message, "message changed across re-encoding: \(message) -> \(back)")
}
