/// Where a payload's little-endian fields go: an array (`ArrayWriter`), or
/// straight into a frame's wire bytes (`WireEncoder`), so that a message is
/// laid out once, in `Message.writePayload(to:)`, whichever it is.
protocol PayloadWriter {
    mutating func u8(_ v: UInt8)
}

extension PayloadWriter {
    mutating func u16(_ v: UInt16) {
        u8(UInt8(truncatingIfNeeded: v))
        u8(UInt8(truncatingIfNeeded: v >> 8))
    }
    mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    mutating func u32(_ v: UInt32) {
        u16(UInt16(truncatingIfNeeded: v))
        u16(UInt16(truncatingIfNeeded: v >> 16))
    }
    mutating func bytes<C: Collection>(_ v: C) where C.Element == UInt8 { for b in v { u8(b) } }
    /// A length byte, then UTF-8 cut at `limit` bytes on a character boundary.
    mutating func string(_ s: String, limit: Int = Identity.maxStringBytes) {
        let utf8 = utf8Prefix(s, limit)
        u8(UInt8(utf8.count))
        bytes(utf8)
    }

    /// UTF-8 cut at `limit` bytes on a character boundary, no length byte
    /// (a text that runs to the end of the payload).
    mutating func text(_ s: String, limit: Int) { bytes(utf8Prefix(s, limit)) }
    mutating func measurements(_ m: Measurements) {
        i16(m.rssiDeciDBm)
        i16(m.snrDeciDB)
        i16(m.temperatureDeciC)
        u16(m.supplyMillivolts)
        i16(m.forwardDeciDBm)
        i16(m.reflectedDeciDBm)
    }
}

/// At most `limit` bytes of `s`'s UTF-8, backed off any continuation bytes
/// (10xxxxxx) so that the cut ends a character and stays valid UTF-8.
func utf8Prefix(_ s: String, _ limit: Int) -> Substring.UTF8View {
    let utf8 = s.utf8
    var cut = min(utf8.count, limit)
    if cut < utf8.count {
        let start = utf8.startIndex
        while cut > 0 && (utf8[utf8.index(start, offsetBy: cut)] & 0xC0) == 0x80 { cut -= 1 }
    }
    return s[...].utf8.prefix(cut)
}

/// A payload collected in an array (for `Frame.payload`).
struct ArrayWriter: PayloadWriter {
    var buffer: [UInt8] = []
    mutating func u8(_ v: UInt8) { buffer.append(v) }
}

/// Little-endian field reader over a payload that stays where it is (a
/// decoder's buffer, an array's storage); every read names the error to
/// throw when the payload is too short.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func u8(or error: MessageError) throws(MessageError) -> UInt8 {
        guard index < bytes.count else { throw error }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func u16(or error: MessageError) throws(MessageError) -> UInt16 {
        let lo = try u8(or: error), hi = try u8(or: error)
        return UInt16(lo) | UInt16(hi) << 8
    }
    mutating func i16(or error: MessageError) throws(MessageError) -> Int16 {
        Int16(bitPattern: try u16(or: error))
    }
    mutating func u32(or error: MessageError) throws(MessageError) -> UInt32 {
        let lo = try u16(or: error), hi = try u16(or: error)
        return UInt32(lo) | UInt32(hi) << 16
    }
    mutating func string(or error: MessageError) throws(MessageError) -> String {
        let length = Int(try u8(or: error))
        guard length <= Identity.maxStringBytes, index + length <= bytes.count else { throw error }
        let slice = bytes[index..<index + length]
        index += length
        // Invalid UTF-8 is a malformed payload, not a string with U+FFFD in it.
        guard let s = String(validating: slice, as: UTF8.self) else { throw error }
        return s
    }
    mutating func measurements(or error: MessageError) throws(MessageError) -> Measurements {
        Measurements(
            rssiDeciDBm: try i16(or: error), snrDeciDB: try i16(or: error),
            temperatureDeciC: try i16(or: error), supplyMillivolts: try u16(or: error),
            forwardDeciDBm: try i16(or: error), reflectedDeciDBm: try i16(or: error))
    }
    /// What is left, as text; nil when it is not valid UTF-8.
    mutating func restAsString() -> String? {
        defer { index = bytes.count }
        return String(validating: bytes[index...], as: UTF8.self)
    }
    mutating func rest() -> [UInt8] {
        defer { index = bytes.count }
        return Array(bytes[index...])
    }
    var remaining: Int { bytes.count - index }
    func expectEnd(or error: MessageError) throws(MessageError) {
        guard index == bytes.count else { throw error }
    }
}
