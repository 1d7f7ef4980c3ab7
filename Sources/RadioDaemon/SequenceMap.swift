import RadioProtocol

/// The daemon's table of requests in flight to the radio, keyed by the
/// sequence number it gave each one upstream (docs/PROTOCOL.md §11).
///
/// Clients number their requests independently, so two clients may both
/// send sequence 7. Each forwarded request gets an upstream number that no
/// other request in flight holds; the radio's response is matched on that
/// number and the command, and goes back with the client's own number.
/// Numbers are handed out in rising order, wrapping from 0xFFFF to 1, and a
/// number that may still be answered is never handed out again: a request
/// forgotten unanswered (`expire`) leaves its number *retired*, held until
/// the radio's late answer comes (which is then dropped, and frees it) or
/// `quarantine` has passed. So a late reply can never reach a newer
/// request, whatever the load; when no safe number is free, `allocate`
/// says so and the daemon answers `busy`.
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

    enum Slot: Equatable {
        case inFlight(Entry)
        /// Forgotten unanswered; the number is held until the late answer
        /// for `command` comes or `until` passes.
        case retired(command: UInt8, until: ContinuousClock.Instant)
    }

    private var slots: [UInt16: Slot] = [:]
    /// The driver's allocator: the same rules as a client's numbers.
    private var allocator: SequenceAllocator
    /// How long a retired number stays held when no late answer comes.
    let quarantine: Duration
    /// Requests in flight per client.
    private(set) var inFlight: [Int: Int] = [:]
    /// Requests in flight (retired numbers not counted).
    private(set) var count = 0

    init(quarantine: Duration = .seconds(60), firstSequence: UInt16 = 1) {
        self.quarantine = quarantine
        allocator = SequenceAllocator(next: firstSequence)
    }

    /// Numbers held for late answers.
    var retiredCount: Int { slots.count - count }

    /// Records a request and returns its upstream sequence number; nil when
    /// every number is in flight or retired.
    mutating func allocate(_ entry: Entry) -> UInt16? {
        guard let seq = allocator.allocate(notIn: slots) else { return nil }
        slots[seq] = .inFlight(entry)
        inFlight[entry.client, default: 0] += 1
        count += 1
        return seq
    }

    /// The request a response with this sequence number and command answers,
    /// removed from the table; nil when none is in flight (late, duplicated,
    /// or for another command), and then the table is unchanged, except
    /// that a late answer to a retired number frees that number.
    /// True while `seq` is in flight for `client`.
    func isInFlight(_ seq: UInt16, client: Int) -> Bool {
        if case .inFlight(let e)? = slots[seq] { return e.client == client }
        return false
    }

    mutating func take(_ seq: UInt16, command: UInt8) -> Entry? {
        switch slots[seq] {
        case .inFlight(let entry)? where entry.command == command:
            slots[seq] = nil
            release(entry.client)
            return entry
        case .retired(let retired, _)? where retired == command:
            slots[seq] = nil
            return nil
        default:
            return nil
        }
    }

    /// Forgets a request whose frame never reached the radio: its number is
    /// free at once, since nothing can answer it.
    mutating func cancel(_ seq: UInt16) {
        if case .inFlight(let entry)? = slots[seq] {
            slots[seq] = nil
            release(entry.client)
        }
    }

    /// Forgets requests sent before `cutoff` (the radio will not answer them
    /// now, and their clients have long since timed out), retiring their
    /// numbers until `now + quarantine`; frees numbers whose quarantine is
    /// over. Returns how many requests were forgotten.
    mutating func expire(sentBefore cutoff: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Int {
        var forgotten = 0
        for (seq, slot) in slots {
            switch slot {
            case .inFlight(let entry) where entry.sent < cutoff:
                slots[seq] = .retired(command: entry.command, until: now + quarantine)
                release(entry.client)
                forgotten += 1
            case .retired(_, let until) where until <= now:
                slots[seq] = nil
            default:
                continue
            }
        }
        return forgotten
    }

    /// Forgets everything (the radio link went down: nothing will be
    /// answered on it, and a reopened port starts with nothing pending).
    /// Returns how many requests were in flight.
    mutating func removeAll() -> Int {
        let n = count
        slots.removeAll(keepingCapacity: true)
        inFlight.removeAll()
        count = 0
        return n
    }

    private mutating func release(_ client: Int) {
        count -= 1
        if let n = inFlight[client], n > 1 { inFlight[client] = n - 1 } else { inFlight[client] = nil }
    }
}
