/// Writes one frame's wire bytes in a single pass: header, payload and CRC
/// go through the CRC and COBS stuffing as they are written, into a buffer
/// the caller owns, with no intermediate copy of the raw frame.
///
///     put(01) put(02) put(07 00) payload... finish()
///       raw:   01 02 07 00 2C 01 | crc lo hi
///       wire:  03 01 02 05 07 2C 01 lo hi ... 00
///
/// The buffer must hold `Frame.maxWireSize` bytes; a frame's payload is at
/// most `Frame.maxPayload`, which `finish` checks.
struct WireEncoder: PayloadWriter {
    private let out: UnsafeMutableRawBufferPointer
    private(set) var count = 0
    /// Where the open block's code byte goes; -1 when no block is open
    /// (blocks open lazily, so a 255 block ending the frame gets no `01`).
    private var codeIndex = -1
    private var code: UInt8 = 1
    private var crc = CRC16.initial
    private var raw = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Frame.maxWireSize, "a wire buffer holds Frame.maxWireSize bytes")
        self.out = out
    }

    /// Starts the frame: version, type, sequence.
    init(_ out: UnsafeMutableRawBufferPointer, version: UInt8 = Frame.protocolVersion, type: UInt8, sequence: UInt16) {
        self.init(out)
        u8(version)
        u8(type)
        u16(sequence)
    }

    mutating func u8(_ byte: UInt8) {
        crc = CRC16.update(crc, byte)
        raw += 1
        stuff(byte)
    }

    private mutating func stuff(_ byte: UInt8) {
        if codeIndex < 0 {
            codeIndex = count
            count += 1
            code = 1
        }
        if byte == 0 {
            out[codeIndex] = code
            codeIndex = count
            count += 1
            code = 1
        } else {
            out[count] = byte
            count += 1
            code += 1
            if code == 0xFF {
                out[codeIndex] = 0xFF
                codeIndex = -1
            }
        }
    }

    /// Appends the CRC, closes the last block and writes the delimiter.
    /// Returns the frame's length on the wire.
    mutating func finish() -> Int {
        precondition(raw - Frame.headerSize <= Frame.maxPayload, "frame payload exceeds \(Frame.maxPayload) bytes")
        let check = crc
        stuff(UInt8(truncatingIfNeeded: check))
        stuff(UInt8(truncatingIfNeeded: check >> 8))
        if codeIndex >= 0 { out[codeIndex] = code }
        codeIndex = -1
        out[count] = Frame.delimiter
        count += 1
        return count
    }
}

/// Runs `body` with a stack buffer of `Frame.maxWireSize` bytes, for
/// `Message.encode(sequence:into:)`: a frame encoded with no allocation.
@inlinable
public func withWireBuffer<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try withUnsafeTemporaryAllocation(byteCount: Frame.maxWireSize, alignment: 1, body)
}

extension Array where Element == UInt8 {
    /// Appends the bytes a `WireEncoder` writes, through a stack buffer.
    mutating func appendWire(_ encode: (UnsafeMutableRawBufferPointer) -> Int) {
        withWireBuffer { buffer in
            let n = encode(buffer)
            append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }
}
