/// Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).
///
/// COBS removes every 0x00 from a byte string so that 0x00 can delimit frames.
/// The encoded form is a series of blocks; each block starts with a code byte
/// `n` (1...255) followed by `n - 1` non-zero data bytes. A block with
/// `n < 255` stands for its data followed by one 0x00, except that the final
/// zero of the whole string is implied and not sent. A block with `n == 255`
/// has no zero after it.
///
///     raw:      11 22 00 33
///     encoded:  03 11 22 02 33
///
/// The encoder here is the canonical one: after a 255 block it starts a new
/// block only when more data follows, so 254 non-zero bytes encode to
/// `FF` + data, with no trailing `01`.
public enum COBS {
    /// The most bytes COBS adds to `count` raw bytes.
    public static func maxOverhead(forRawCount count: Int) -> Int {
        count == 0 ? 1 : (count + 253) / 254
    }

    /// Streaming encoder that appends to an output buffer without any
    /// intermediate copy of the raw bytes.
    public struct Encoder {
        private var codeIndex: Int? = nil
        private var code: UInt8 = 1
        private var isEmpty = true

        public init() {}

        public mutating func append(_ byte: UInt8, to out: inout [UInt8]) {
            isEmpty = false
            let index: Int
            if let open = codeIndex {
                index = open
            } else {
                // Open a block lazily, so that a 255 block ending the input
                // is not followed by a needless `01`.
                index = out.count
                out.append(0)
                code = 1
                codeIndex = index
            }
            if byte == 0 {
                out[index] = code
                codeIndex = out.count
                out.append(0)
                code = 1
            } else {
                out.append(byte)
                code += 1
                if code == 0xFF {
                    out[index] = 0xFF
                    codeIndex = nil
                }
            }
        }

        /// Closes the last block. An empty input encodes to the single byte `01`.
        public mutating func finish(into out: inout [UInt8]) {
            if let open = codeIndex {
                out[open] = code
            } else if isEmpty {
                out.append(0x01)
            }
            codeIndex = nil
            code = 1
            isEmpty = true
        }
    }

    /// Encodes `raw` and returns the encoded bytes (without a delimiter).
    public static func encode<C: Collection>(_ raw: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + maxOverhead(forRawCount: raw.count))
        var encoder = Encoder()
        for byte in raw { encoder.append(byte, to: &out) }
        encoder.finish(into: &out)
        return out
    }

    public enum DecodeError: Error, Equatable, Sendable {
        /// A code byte was 0x00, or a block ran past the end of the frame.
        case invalidBlock
        /// The decoded bytes would not fit in the output buffer.
        case overflow
    }

    /// Decodes one encoded frame (the bytes between two delimiters) into
    /// `output`, returning the number of raw bytes written.
    public static func decode(
        _ encoded: UnsafeBufferPointer<UInt8>,
        into output: UnsafeMutableBufferPointer<UInt8>
    ) throws(DecodeError) -> Int {
        var read = 0
        var written = 0
        let n = encoded.count
        while read < n {
            let code = Int(encoded[read])
            if code == 0 { throw .invalidBlock }
            read += 1
            let blockEnd = read + code - 1
            if blockEnd > n { throw .invalidBlock }
            if written + (code - 1) > output.count { throw .overflow }
            while read < blockEnd {
                let byte = encoded[read]
                if byte == 0 { throw .invalidBlock }
                output[written] = byte
                written += 1
                read += 1
            }
            if code != 0xFF && read < n {
                if written >= output.count { throw .overflow }
                output[written] = 0
                written += 1
            }
        }
        return written
    }

    /// Convenience wrapper over `decode(_:into:)` for arrays.
    public static func decode(_ encoded: [UInt8]) throws(DecodeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: encoded.count)
        let count = try encoded.withUnsafeBufferPointer { (input) throws(DecodeError) -> Int in
            try out.withUnsafeMutableBufferPointer { (output) throws(DecodeError) -> Int in
                try decode(input, into: output)
            }
        }
        out.removeSubrange(count...)
        return out
    }
}
