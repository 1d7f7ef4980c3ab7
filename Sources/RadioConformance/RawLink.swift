public import RadioDriver
public import RadioProtocol

/// A frame as the conformance suite reads it: decoded leniently, so that a
/// radio that gets one rule wrong (its CRC, its sequence numbers) still
/// shows what it answered, and only the case about that rule fails.
public struct ReceivedFrame: Sendable, Equatable {
    public let version: UInt8
    public let type: UInt8
    public let sequence: UInt16
    public let payload: [UInt8]
    /// False when the CRC did not match (the frame is still shown).
    public let crcGood: Bool
    /// The raw frame (before COBS), CRC included, for byte-for-byte checks.
    public let raw: [UInt8]
    /// When its delimiter arrived.
    public let at: ContinuousClock.Instant

    public var isTelemetry: Bool { type == FrameType.telemetry }
}

/// Raw access to a port for the suite: bytes out as given, frames in as
/// they come, with nothing of the driver's matching, retries or checks in
/// between.
public final class RawLink {
    let transport: any RadioTransport
    private var pending: [UInt8] = []
    private var received: [ReceivedFrame] = []
    /// Everything received so far (answers and telemetry), for cases that
    /// look back over the run (the CRC of every answer).
    public private(set) var log: [ReceivedFrame] = []
    /// Chunks between delimiters that were not frames (bad COBS, too short).
    public private(set) var junk = 0

    public init(transport: any RadioTransport) {
        self.transport = transport
    }

    public func send(_ bytes: [UInt8]) throws(RadioError) {
        try transport.send(bytes, deadline: .now + .seconds(5))
    }

    /// Sends bytes one write at a time, `gap` apart.
    public func sendSlowly(_ bytes: [UInt8], gap: Duration) throws(RadioError) {
        for b in bytes {
            try send([b])
            poll(for: gap)
        }
    }

    /// Reads for `duration`, keeping what arrives.
    public func poll(for duration: Duration) {
        let end = ContinuousClock.now + duration
        repeat {
            let left = max(ContinuousClock.now.duration(to: end), .zero)
            guard (try? transport.waitForInput(timeout: left)) != nil else { return }
            drain()
        } while ContinuousClock.now < end
    }

    /// The first frame `matching` that arrives within `limit` (earlier
    /// frames that match none are kept for later calls); nil if none.
    public func next(within limit: Duration, _ matching: (ReceivedFrame) -> Bool) -> ReceivedFrame? {
        let end = ContinuousClock.now + limit
        while true {
            if let i = received.firstIndex(where: matching) { return received.remove(at: i) }
            let left = ContinuousClock.now.duration(to: end)
            guard left > .zero else { return nil }
            guard (try? transport.waitForInput(timeout: left)) != nil else { return nil }
            drain()
        }
    }

    /// Forgets the frames not yet taken (telemetry, strays).
    public func discard() {
        drain()
        received.removeAll()
    }

    /// The telemetry frames received and not yet taken, oldest first, taken.
    public func takeTelemetry() -> [ReceivedFrame] {
        drain()
        let telemetry = received.filter(\.isTelemetry)
        received.removeAll { $0.isTelemetry }
        return telemetry
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { (b) throws(RadioError) in try transport.read(into: b) }
            } catch {
                return
            }
            guard n > 0 else { return }
            for byte in buffer[0..<n] {
                if byte != 0 {
                    if pending.count < 4 * Frame.maxWireSize { pending.append(byte) }
                    continue
                }
                defer { pending.removeAll(keepingCapacity: true) }
                guard !pending.isEmpty else { continue }
                guard let raw = try? COBS.decode(pending), raw.count >= Frame.minRawSize else {
                    junk += 1
                    continue
                }
                let body = raw[0..<(raw.count - 2)]
                let crc = UInt16(raw[raw.count - 2]) | UInt16(raw[raw.count - 1]) << 8
                let frame = ReceivedFrame(version: raw[0], type: raw[1], sequence: UInt16(raw[2]) | UInt16(raw[3]) << 8,
                                          payload: Array(raw[4..<(raw.count - 2)]), crcGood: CRC16.checksum(body) == crc,
                                          raw: raw, at: .now)
                received.append(frame)
                log.append(frame)
                if log.count > 100_000 { log.removeFirst(50_000) }
            }
        }
    }
}
