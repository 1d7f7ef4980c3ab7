import RadioProtocol

/// The daemon's table of requests in flight to the radio, keyed by the
/// sequence number it gave each one upstream (docs/PROTOCOL.md §11).
///
/// Clients number their requests independently, so two clients may both
/// send sequence 7. Each forwarded request gets an upstream number that no
/// other request in flight holds; the radio's response is matched on that
/// number and the command, and goes back with the client's own number.
/// Numbers are handed out in rising order, wrapping from 0xFFFF to 1, so a
/// number comes round again only after 65,534 others: a reply that arrives
/// after its entry expired (see `expire`) is almost surely dropped rather
/// than matched to a newer request.
struct SequenceMap {
    struct Entry: Equatable {
        /// The client that sent the request (the daemon's connection id).
        var client: Int
        /// The sequence number the client gave it.
        var clientSequence: UInt16
        /// The request's frame type (its command).
        var command: UInt8
        var sent: ContinuousClock.Instant
    }

    private var entries: [UInt16: Entry] = [:]
    /// The driver's allocator: the same rules as a client's numbers.
    private var allocator = SequenceAllocator()
    /// Requests in flight per client.
    private(set) var inFlight: [Int: Int] = [:]

    var count: Int { entries.count }

    /// Records a request and returns its upstream sequence number; nil when
    /// every number is in flight.
    mutating func allocate(_ entry: Entry) -> UInt16? {
        guard let seq = allocator.allocate(notIn: entries) else { return nil }
        entries[seq] = entry
        inFlight[entry.client, default: 0] += 1
        return seq
    }

    /// The request a response with this sequence number and command answers,
    /// removed from the table; nil when none is in flight (late, duplicated,
    /// or for another command), and then the table is unchanged.
    mutating func take(_ seq: UInt16, command: UInt8) -> Entry? {
        guard let entry = entries[seq], entry.command == command else { return nil }
        entries[seq] = nil
        release(entry.client)
        return entry
    }

    /// Forgets a request whose frame never reached the radio.
    mutating func cancel(_ seq: UInt16) {
        if let entry = entries.removeValue(forKey: seq) { release(entry.client) }
    }

    /// Forgets requests sent before `cutoff`: the radio will not answer
    /// them now, and their clients have long since timed out. Returns how many.
    mutating func expire(sentBefore cutoff: ContinuousClock.Instant) -> Int {
        let old = entries.filter { $0.value.sent < cutoff }
        for (seq, entry) in old {
            entries[seq] = nil
            release(entry.client)
        }
        return old.count
    }

    /// Forgets everything (the radio link went down: nothing will be answered).
    mutating func removeAll() -> Int {
        let n = entries.count
        entries.removeAll(keepingCapacity: true)
        inFlight.removeAll()
        return n
    }

    private mutating func release(_ client: Int) {
        if let n = inFlight[client], n > 1 { inFlight[client] = n - 1 } else { inFlight[client] = nil }
    }
}
