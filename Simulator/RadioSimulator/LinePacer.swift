/// Emulates the timing of a full-duplex serial line at a given baud rate
/// (8N1: 10 bits per byte) between the simulator and a pty, which otherwise
/// moves bytes instantly. No I/O: the serve loop feeds it and asks what is due.
///
///     host writes 10 bytes ──▶ pty ──▶ readable at t ──▶ usable at t + 10·10/baud
///     radio replies 11 bytes ──▶ held until its last bit would be sent ──▶ pty
///
/// Each direction is busy while it carries bytes, so a burst queues behind
/// the one before it, as on a wire.
struct LinePacer {
    let nanosPerByte: Int64
    private var rxFreeAt: ContinuousClock.Instant
    private var txFreeAt: ContinuousClock.Instant
    private var inbound: [(ready: ContinuousClock.Instant, bytes: [UInt8])] = []
    private var outbound: [(ready: ContinuousClock.Instant, bytes: [UInt8])] = []
    /// A radio's transmit queue is finite: beyond this much line time queued,
    /// new output is dropped.
    static let maxBacklog = Duration.seconds(1)

    init(baud: Int, now: ContinuousClock.Instant) {
        nanosPerByte = 10_000_000_000 / Int64(max(baud, 1))
        rxFreeAt = now
        txFreeAt = now
    }

    private func lineTime(_ count: Int) -> Duration { .nanoseconds(nanosPerByte * Int64(count)) }

    /// Bytes the host wrote, read from the pty at `now`.
    mutating func received(_ bytes: ArraySlice<UInt8>, now: ContinuousClock.Instant) {
        let ready = max(now, rxFreeAt) + lineTime(bytes.count)
        rxFreeAt = ready
        inbound.append((ready, Array(bytes)))
    }

    /// Bytes the radio sends at `now`; false if the transmit queue is full
    /// and they were dropped.
    mutating func transmit(_ bytes: [UInt8], now: ContinuousClock.Instant) -> Bool {
        guard !bytes.isEmpty else { return true }
        if txFreeAt - now > LinePacer.maxBacklog { return false }
        let ready = max(now, txFreeAt) + lineTime(bytes.count)
        txFreeAt = ready
        outbound.append((ready, bytes))
        return true
    }

    /// Received bytes whose last bit has arrived by `now`.
    mutating func arrived(by now: ContinuousClock.Instant) -> [[UInt8]] {
        var due: [[UInt8]] = []
        while let first = inbound.first, first.ready <= now {
            inbound.removeFirst()
            due.append(first.bytes)
        }
        return due
    }

    /// Transmitted bytes whose last bit has gone out by `now`.
    mutating func sent(by now: ContinuousClock.Instant, into output: inout [UInt8]) {
        while let first = outbound.first, first.ready <= now {
            outbound.removeFirst()
            output.append(contentsOf: first.bytes)
        }
    }

    /// The next time something becomes due, if anything is queued.
    var nextEvent: ContinuousClock.Instant? {
        switch (inbound.first?.ready, outbound.first?.ready) {
        case let (a?, b?): min(a, b)
        case let (a?, nil): a
        case let (nil, b?): b
        case (nil, nil): nil
        }
    }
}
