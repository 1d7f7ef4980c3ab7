/// One protocol frame, before COBS stuffing (docs/PROTOCOL.md §2).
///
///     offset  size  field
///     0       1     version   (1 for this protocol)
///     1       1     type      (request 0x01..0x3F, telemetry 0x40..0x7F, response = request | 0x80)
///     2       2     sequence  (little-endian)
///     4       n     payload   (0 ≤ n ≤ 250)
///     4+n     2     CRC-16/CCITT-FALSE over bytes 0..<4+n, little-endian
///
/// On the wire the frame is COBS-encoded and followed by one 0x00 delimiter.
public struct Frame: Equatable, Hashable, Sendable {
    public var version: UInt8
    public var type: UInt8
    public var sequence: UInt16
    public var payload: [UInt8]

    public init(version: UInt8 = Frame.protocolVersion, type: UInt8, sequence: UInt16, payload: [UInt8] = []) {
        self.version = version
        self.type = type
        self.sequence = sequence
        self.payload = payload
    }

    /// The protocol version this implementation speaks.
    public static let protocolVersion: UInt8 = 1
    /// The frame delimiter on the wire.
    public static let delimiter: UInt8 = 0x00
    public static let headerSize = 4
    public static let crcSize = 2
    /// The largest payload a frame may carry.
    public static let maxPayload = 250
    /// The largest raw (unstuffed) frame: header + payload + CRC.
    public static let maxRawSize = headerSize + maxPayload + crcSize
    /// The smallest raw frame: header + CRC, with an empty payload.
    public static let minRawSize = headerSize + crcSize
    /// The largest COBS-encoded frame, without its delimiter.
    public static let maxEncodedSize = maxRawSize + COBS.maxOverhead(forRawCount: maxRawSize)
    /// The largest frame on the wire, delimiter included.
    public static let maxWireSize = maxEncodedSize + 1

    /// Appends the COBS-encoded frame and its delimiter to `out`.
    ///
    /// - Precondition: `payload.count <= Frame.maxPayload`.
    public func encode(into out: inout [UInt8]) {
        precondition(payload.count <= Frame.maxPayload, "frame payload exceeds \(Frame.maxPayload) bytes")
        out.appendWire { buffer in
            var w = WireEncoder(buffer, version: version, type: type, sequence: sequence)
            w.bytes(payload)
            return w.finish()
        }
    }

    /// The frame as bytes on the wire: COBS-encoded, delimiter included.
    public var wireBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Frame.maxWireSize)
        encode(into: &out)
        return out
    }
}

/// A frame that passed its CRC, seen where the decoder holds it: the
/// payload is valid only during the decoder's callback. The hot paths
/// (the driver's replies, the simulator's requests) parse it in place;
/// `frame` copies it out.
public struct FrameView {
    public let version: UInt8
    public let type: UInt8
    public let sequence: UInt16
    public let payload: UnsafeRawBufferPointer

    public init(version: UInt8, type: UInt8, sequence: UInt16, payload: UnsafeRawBufferPointer) {
        self.version = version
        self.type = type
        self.sequence = sequence
        self.payload = payload
    }

    /// A copy that outlives the callback.
    public var frame: Frame { Frame(version: version, type: type, sequence: sequence, payload: Array(payload)) }
}
