/// Little-endian field writer for payloads.
struct ByteWriter {
    var buffer: [UInt8] = []
    mutating func u8(_ v: UInt8) { buffer.append(v) }
    mutating func u16(_ v: UInt16) {
        buffer.append(UInt8(truncatingIfNeeded: v))
        buffer.append(UInt8(truncatingIfNeeded: v >> 8))
    }
    mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    mutating func u32(_ v: UInt32) {
        u16(UInt16(truncatingIfNeeded: v))
        u16(UInt16(truncatingIfNeeded: v >> 16))
    }
    mutating func bytes(_ v: [UInt8]) { buffer.append(contentsOf: v) }
    /// A length byte, then UTF-8, cut at `Identity.maxStringBytes` on a
    /// character boundary.
    mutating func string(_ s: String) {
        var utf8 = Array(s.utf8)
        if utf8.count > Identity.maxStringBytes {
            var cut = Identity.maxStringBytes
            while cut > 0 && (utf8[cut] & 0xC0) == 0x80 { cut -= 1 }
            utf8 = Array(utf8[..<cut])
        }
        u8(UInt8(utf8.count))
        bytes(utf8)
    }
    mutating func measurements(_ m: Measurements) {
        i16(m.rssiDeciDBm)
        i16(m.snrDeciDB)
        i16(m.temperatureDeciC)
        u16(m.supplyMillivolts)
        i16(m.forwardDeciDBm)
        i16(m.reflectedDeciDBm)
    }
}

/// Little-endian field reader; every read names the error to throw when the
/// payload is too short.
struct ByteReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

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
    mutating func rest() -> [UInt8] {
        defer { index = bytes.count }
        return Array(bytes[index...])
    }
    func expectEnd(or error: MessageError) throws(MessageError) {
        guard index == bytes.count else { throw error }
    }
}
