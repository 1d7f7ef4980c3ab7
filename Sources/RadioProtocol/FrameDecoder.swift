/// Turns a byte stream into frames, recovering at the next delimiter after
/// any corruption. It owns no I/O: feed it the bytes you read.
///
///     bytes in:   ·· 9A 41 │ 00 │ 03 01 81 ·· 07 │ 00 │ 03 01 ·· 5C │ 00
///                 garbage  │    │ good frame     │    │ bad CRC       │
///     events out:      .error(.crcMismatch)  .frame(…)  .error(.crcMismatch)
///
/// Each run of bytes up to a 0x00 is one candidate frame. Empty runs (two
/// delimiters in a row, or a leading delimiter) are ignored. A run longer than
/// `Frame.maxEncodedSize` is discarded as it arrives: the decoder stops
/// storing bytes and reports `.oversized` once the delimiter ends it, so its
/// memory stays at one maximum-size frame whatever it is fed.
///
/// Garbage in front of the first frame therefore surfaces as one error (or
/// none, if it contains no delimiter and the first real frame's delimiter
/// ends it together with the frame: the CRC then fails and the next frame
/// decodes). Senders start a session with a lone 0x00 to flush such garbage.
public struct FrameDecoder: Sendable {
    public enum Error: Swift.Error, Equatable, Hashable, Sendable {
        /// The COBS blocks were inconsistent (a block ran past the delimiter).
        case invalidCOBS
        /// The frame was shorter than a header and a CRC.
        case tooShort
        /// The CRC did not match.
        case crcMismatch
        /// More than `Frame.maxEncodedSize` bytes came without a delimiter;
        /// they were discarded.
        case oversized
    }

    public enum Event: Equatable, Sendable {
        case frame(Frame)
        case error(Error)
    }

    /// Statistics since this decoder was made.
    public struct Counters: Equatable, Sendable {
        public var frames = 0
        public var crcErrors = 0
        public var cobsErrors = 0
        public var shortFrames = 0
        public var oversized = 0
        /// Bytes that did not end up in a good frame.
        public var discardedBytes = 0
        public init() {}
        public var errors: Int { crcErrors + cobsErrors + shortFrames + oversized }
    }

    private var encoded: [UInt8]
    private var raw: [UInt8]
    private var count = 0
    private var overflowing = false
    private var overflowBytes = 0
    public private(set) var counters = Counters()

    public init() {
        encoded = [UInt8](repeating: 0, count: Frame.maxEncodedSize)
        raw = [UInt8](repeating: 0, count: Frame.maxEncodedSize)
    }

    /// A decoder with no buffers, only to stand in (`placeholder`); never fed.
    @usableFromInline init(empty: ()) {
        encoded = []
        raw = []
    }

    /// The number of bytes of a partial frame held now.
    public var bufferedCount: Int { count }

    /// Forgets any partial frame, as after reopening a port.
    public mutating func reset() {
        count = 0
        overflowing = false
        overflowBytes = 0
    }

    /// Feeds bytes in, calling `handle` for every frame or error they complete.
    @inlinable
    public mutating func feed<C: Collection>(
        _ bytes: C, _ handle: (Event) throws -> Void
    ) rethrows where C.Element == UInt8 {
        try feed(bytes) { event, _ in try handle(event) }
    }

    /// `feed(_:withWireBytes:)` for any collection of bytes: contiguous ones
    /// go straight through, others are copied once.
    @inlinable
    public mutating func feed<C: Collection>(
        _ bytes: C, withWireBytes handle: (Event, ArraySlice<UInt8>) throws -> Void
    ) rethrows where C.Element == UInt8 {
        let done: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            try feed(UnsafeRawBufferPointer(buffer), withWireBytes: handle)
        }
        if done == nil {
            try Array(bytes).withUnsafeBytes { try feed($0, withWireBytes: handle) }
        }
    }

    /// Feeds bytes in, calling `handle` for every frame or error with the
    /// encoded bytes it came from (without the delimiter; empty for
    /// `.oversized`, whose bytes were not kept). The slice is valid only
    /// during the call: traces copy it, the good path ignores it.
    ///
    /// Not generic, so that callers in other modules run specialised code.
    public mutating func feed(
        _ bytes: UnsafeRawBufferPointer, withWireBytes handle: (Event, ArraySlice<UInt8>) throws -> Void
    ) rethrows {
        try feedViews(bytes) { event, wire in
            switch event {
            case .frame(let view): try handle(.frame(view.frame), wire)
            case .error(let error): try handle(.error(error), wire)
            }
        }
    }

    /// What `feedViews` reports: a frame seen in place, or an error.
    public enum ViewEvent {
        case frame(FrameView)
        case error(Error)
    }

    /// Feeds bytes in and shows each frame where the decoder holds it, with
    /// no copy: the view (and the wire slice) are valid only during the call.
    public mutating func feedViews(
        _ bytes: UnsafeRawBufferPointer, _ handle: (ViewEvent, ArraySlice<UInt8>) throws -> Void
    ) rethrows {
        for byte in bytes {
            if byte != Frame.delimiter {
                if overflowing {
                    overflowBytes += 1
                } else if count == Frame.maxEncodedSize {
                    overflowing = true
                    overflowBytes = count + 1
                    count = 0
                } else {
                    encoded[count] = byte
                    count += 1
                }
                continue
            }
            if overflowing {
                counters.oversized += 1
                counters.discardedBytes += overflowBytes
                overflowing = false
                overflowBytes = 0
                try handle(.error(.oversized), [])
                continue
            }
            if count == 0 { continue }
            defer { count = 0 }
            switch completeFrame() {
            case .failure(let error):
                try handle(.error(error), encoded[0..<count])
            case .success(let body):
                try raw.withUnsafeBytes { r in
                    let view = FrameView(version: r[0], type: r[1], sequence: UInt16(r[2]) | UInt16(r[3]) << 8,
                                         payload: UnsafeRawBufferPointer(rebasing: r[Frame.headerSize..<body]))
                    try handle(.frame(view), encoded[0..<count])
                }
            }
        }
    }

    /// Decodes the candidate held in `encoded`; on success the raw frame is
    /// in `raw` and the result is where its CRC starts.
    private mutating func completeFrame() -> Result<Int, Error> {
        let length = count
        let decoded: Int
        do {
            decoded = try encoded.withUnsafeBufferPointer { (input) throws(COBS.DecodeError) -> Int in
                try raw.withUnsafeMutableBufferPointer { (output) throws(COBS.DecodeError) -> Int in
                    try COBS.decode(UnsafeBufferPointer(rebasing: input[0..<length]), into: output)
                }
            }
        } catch {
            counters.cobsErrors += 1
            counters.discardedBytes += length
            return .failure(.invalidCOBS)
        }
        guard decoded >= Frame.minRawSize, decoded <= Frame.maxRawSize else {
            if decoded < Frame.minRawSize {
                counters.shortFrames += 1
                counters.discardedBytes += length
                return .failure(.tooShort)
            }
            counters.oversized += 1
            counters.discardedBytes += length
            return .failure(.oversized)
        }
        let body = decoded - Frame.crcSize
        let crc = raw.withUnsafeBufferPointer { r in
            var crc = CRC16.initial
            for i in 0..<body { crc = CRC16.update(crc, r[i]) }
            return crc
        }
        let sent = UInt16(raw[body]) | UInt16(raw[body + 1]) << 8
        guard crc == sent else {
            counters.crcErrors += 1
            counters.discardedBytes += length
            return .failure(.crcMismatch)
        }
        counters.frames += 1
        return .success(body)
    }
}
