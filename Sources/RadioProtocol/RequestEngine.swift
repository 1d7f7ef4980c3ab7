/// The host side of the protocol with no I/O, shaped like h11: it is told
/// what happened (a call made, bytes read, time passed) and says what to
/// do (which frame to send, whom to wake with what). Threads, clocks and
/// file descriptors belong to whoever drives it (`RadioClient`).
///
///     register(request, timeout, attempts, now) -> key
///     attach(key, waiter)                        -> .send(sequence, deadline) | .finished(step)
///     encode(key-or-request, sequence, buffer)   -> the attempt's wire bytes
///     receive(bytes) { event }                   -> .resume(waiter, .done(response)), .telemetry, .link
///     expire(now) { event }                      -> .send(request, next number) | .resume(waiter, .done(.timeout))
///     nextAttempt(key, now)                      -> after `.busy`; then attach again
///
/// A response completes a call only if it carries the sequence number of one
/// of the call's attempts and the command the call sent. Every attempt gets
/// a new number; a late answer to an earlier attempt of a call still in
/// progress completes it (every v1 command is idempotent, so either answer is
/// the answer). A number whose call gave up (timeout, cancel, lost link) is
/// *retired*: it stays reserved for `linger` nanoseconds, so an answer that
/// comes late is dropped as unmatched and never completes a newer call.
///
/// Time is nanoseconds on any monotonic clock the driver picks.
public struct RequestEngine<Waiter> {
    /// What a waiting caller is told.
    public enum Step {
        /// The call is over.
        case done(CallOutcome)
        /// The radio answered `busy` and attempts remain: wait a little
        /// (at most 5 ms, or the attempt's deadline), then `nextAttempt`.
        case busy
    }

    /// What `receive` and `expire` report, in the order it happened.
    public enum Event {
        case resume(Waiter, Step)
        /// An attempt got no answer in its share of the deadline: send the
        /// request again now, under this new number (the same waiter goes on
        /// waiting). Retries are kept on time by whoever keeps time, not by
        /// a caller that may be slow to be scheduled.
        case send(Request, sequence: UInt16, key: UInt16)
        case telemetry(TelemetrySample)
        case link(LinkNotice)
        /// A sharing daemon's lease notice (a refusal has ended its call already).
        case lease(LeaseNotice)
    }

    /// What `attach` and `nextAttempt` say to do.
    public enum Action {
        /// Send the attempt's frame (`RequestEngine.encode`) with this
        /// sequence number, by `deadline`, the attempt's.
        case send(sequence: UInt16, deadline: Int64)
        /// No send: the call ended before this attempt went out.
        case finished(Step)
        /// `nextAttempt` only: the next number is allocated; attach a waiter.
        case ready
    }

    public enum RegisterError: Error, Equatable, Sendable {
        /// Every sequence number is in flight or retired.
        case sequenceSpaceExhausted
    }

    /// Counters since the engine was made (the decoder's included).
    public struct Statistics: Sendable, Hashable {
        /// Request frames handed out to send; a retry counts again.
        public var requests = 0
        /// Responses that completed the call waiting for them.
        public var responses = 0
        public var retries = 0
        public var timeouts = 0
        /// Responses that matched no call in progress (late, duplicated, or
        /// for another command): dropped, never delivered.
        public var unmatchedResponses = 0
        public var telemetryFrames = 0
        /// Frames with a version byte other than 1: undecodable (PROTOCOL.md
        /// §8), dropped before any matching, so the valid reply that follows
        /// still completes its call.
        public var otherVersionFrames = 0
        public init() {}
    }

    @usableFromInline struct Call {
        @usableFromInline var waiter: Waiter?
        /// A step that came while no waiter was attached, kept for the next attach.
        @usableFromInline var early: Step?
        @usableFromInline let request: Request
        @usableFromInline var attempt = 0
        @usableFromInline let attempts: Int
        @usableFromInline let start: Int64
        @usableFromInline let timeout: Int64
        /// The current attempt's deadline and number.
        @usableFromInline var deadline: Int64
        @usableFromInline var sequence: UInt16
        /// Earlier attempts' numbers (the first is the call's key).
        @usableFromInline var earlier: [UInt16] = []
        /// The decoder's discarded-byte count when the attempt went out, to
        /// tell "garbage came back" from "nothing came back".
        @usableFromInline var discardedAtStart: Int
        /// A sharing daemon said it refuses this call's attempt (its lease
        /// is another's): the `busy` that follows ends the call, no retry.
        @usableFromInline var refusal: LeaseNotice?

        @usableFromInline init(request: Request, attempts: Int, start: Int64, timeout: Int64, sequence: UInt16,
                               discardedAtStart: Int) {
            self.request = request
            self.attempts = attempts
            self.start = start
            self.timeout = timeout
            self.sequence = sequence
            self.discardedAtStart = discardedAtStart
            deadline = RequestEngine.attemptDeadline(start: start, timeout: timeout, attempt: 0, of: attempts)
        }

        @usableFromInline var finalDeadline: Int64 { start &+ timeout }
        @usableFromInline var command: Command { request.command }
    }

    @usableFromInline enum Slot {
        /// A call, under its first attempt's number (its key).
        case call(Call)
        /// A later attempt of the call with this key.
        case attempt(of: UInt16)
        /// Given up on; reserved until then.
        case retired(until: Int64)
    }

    @usableFromInline var slots: [UInt16: Slot] = [:]
    @usableFromInline var allocator = SequenceAllocator()
    @usableFromInline var decoder = FrameDecoder()
    /// Nothing in `slots` is due before this.
    @usableFromInline var nextDue: Int64 = .max
    @usableFromInline var scratch: [UInt16] = []
    public var statistics = Statistics()
    /// How long a given-up number stays reserved.
    public var linger: Int64
    /// When set, `receive` reports every frame and decode error with its
    /// wire bytes and a one-line summary (`--trace`).
    public var trace: ((_ wire: ArraySlice<UInt8>, _ summary: String) -> Void)?

    /// `linger`: how long a given-up number stays reserved; `firstSequence`:
    /// where numbering starts (tests start near the wrap).
    public init(linger: Duration = .seconds(30), firstSequence: UInt16 = 1) {
        self.linger = linger.inNanoseconds
        allocator = SequenceAllocator(next: firstSequence)
        slots.reserveCapacity(16)
        scratch.reserveCapacity(16)
    }

    /// The decoder's counters: CRC errors, resyncs, bytes discarded.
    public var decoderCounters: FrameDecoder.Counters { decoder.counters }

    /// Calls registered and not yet over.
    public var callsInProgress: Int {
        slots.values.reduce(0) { n, slot in if case .call = slot { n + 1 } else { n } }
    }

    /// Numbers held now: calls, their attempts, and retired numbers.
    public var numbersHeld: Int { slots.count }

    /// The earliest time `expire` has work (a deadline, a number to free).
    public var nextDeadline: Int64? { nextDue == .max ? nil : nextDue }

    /// Forgets any partial frame, as after reopening a port.
    public mutating func resetDecoder() { decoder = FrameDecoder() }

    /// Attempts share the deadline evenly; the last one ends at the deadline.
    @inlinable
    static func attemptDeadline(start: Int64, timeout: Int64, attempt: Int, of attempts: Int) -> Int64 {
        attempt >= attempts - 1 ? start &+ timeout : start &+ timeout / Int64(attempts) &* Int64(attempt + 1)
    }

    // MARK: Calls

    /// Records a call and gives it its first number, which is its key from
    /// now on. `attempts` is 1 plus the retries allowed.
    @inlinable
    public mutating func register(_ request: Request, timeout: Duration, attempts: Int, now: Int64)
        throws(RegisterError) -> UInt16 {
        lastNow = now
        guard let seq = allocator.allocate(notIn: slots) else { throw .sequenceSpaceExhausted }
        slots[seq] = .call(Call(request: request, attempts: max(1, attempts), start: now,
                                     timeout: max(0, timeout.inNanoseconds), sequence: seq,
                                     discardedAtStart: decoder.counters.discardedBytes))
        return seq
    }

    /// Attaches the waiter for the call's current attempt; says which
    /// number that attempt goes out with.
    @inlinable
    public mutating func attach(_ key: UInt16, _ waiter: Waiter) -> Action {
        guard case .call(var call)? = slots[key] else { return .finished(.done(.aborted)) }
        if let early = call.early {
            call.early = nil
            if case .done = early { end(call, key: key, answered: nil) } else { slots[key] = .call(call) }
            return .finished(early)
        }
        call.waiter = waiter
        let deadline = call.deadline, seq = call.sequence
        slots[key] = .call(call)
        statistics.requests += 1
        if deadline < nextDue { nextDue = deadline }
        return .send(sequence: seq, deadline: deadline)
    }

    /// Writes a request's frame, wire-ready, into `buffer` (at least
    /// `Frame.maxWireSize` bytes, as `withWireBuffer` gives); returns its length.
    @inlinable
    public static func encode(_ request: Request, sequence: UInt16, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        Message.request(request).encode(sequence: sequence, into: buffer)
    }

    /// After `.busy`: gives the call its next attempt's number
    /// (then `attach`), or ends it when its deadline has passed.
    @inlinable
    public mutating func nextAttempt(_ key: UInt16, now: Int64) -> Action {
        guard case .call(var call)? = slots[key] else { return .finished(.done(.aborted)) }
        if let early = call.early {
            call.early = nil
            if case .done = early { end(call, key: key, answered: nil) } else { slots[key] = .call(call) }
            return .finished(early)
        }
        let lastAttempt = call.attempt + 1 >= call.attempts
        if lastAttempt || now >= call.finalDeadline {
            let outcome = timeoutOutcome(call)
            statistics.timeouts += 1
            end(call, key: key, answered: nil)
            return .finished(.done(outcome))
        }
        lastNow = now
        guard let seq = allocator.allocate(notIn: slots) else {
            end(call, key: key, answered: nil)
            return .finished(.done(.aborted))
        }
        call.attempt += 1
        call.earlier.append(call.sequence)
        call.sequence = seq
        call.deadline = RequestEngine.attemptDeadline(start: call.start, timeout: call.timeout, attempt: call.attempt,
                                                      of: call.attempts)
        call.discardedAtStart = decoder.counters.discardedBytes
        slots[seq] = .attempt(of: key)
        slots[key] = .call(call)
        statistics.retries += 1
        return .ready
    }

    /// The caller gave up (its task was cancelled). Returns the waiter to
    /// resume with `.done(.cancelled)`, or nil when none is attached (the
    /// next `attach` or `nextAttempt` then says so).
    @inlinable
    public mutating func cancel(_ key: UInt16) -> Waiter? {
        guard case .call(var call)? = slots[key] else { return nil }
        guard let waiter = call.waiter else {
            call.early = .done(.cancelled)
            slots[key] = .call(call)
            return nil
        }
        end(call, key: key, answered: nil)
        return waiter
    }

    /// Ends every call in progress (the port went away, the client closed):
    /// each waiting caller is resumed with `.done(.aborted)`; a call between
    /// attempts learns it at its next step. Their numbers stay retired.
    @inlinable
    public mutating func abortAll(_ handle: (Event) -> Void) {
        scratch.removeAll(keepingCapacity: true)
        for (key, slot) in slots { if case .call = slot { scratch.append(key) } }
        for key in scratch {
            guard case .call(var call)? = slots[key] else { continue }
            if let waiter = call.waiter {
                end(call, key: key, answered: nil)
                handle(.resume(waiter, .done(.aborted)))
            } else {
                call.early = .done(.aborted)
                slots[key] = .call(call)
            }
        }
    }

    /// Removes a call: the answered number is free again, the others retire.
    @inlinable
    mutating func end(_ call: Call, key: UInt16, answered: UInt16?) {
        slots[call.sequence] = nil
        for seq in call.earlier { slots[seq] = nil }
        if call.sequence != answered { retire(call.sequence) }
        for seq in call.earlier where seq != answered { retire(seq) }
    }

    @inlinable
    mutating func retire(_ seq: UInt16) {
        // From the latest time the engine has seen (every register and
        // expire tells it); `expire` frees the number once due.
        let until = lastNow &+ linger
        slots[seq] = .retired(until: until)
        if until < nextDue { nextDue = until }
    }

    /// The time `expire` last saw, for retirements made between calls.
    @usableFromInline var lastNow: Int64 = 0

    @inlinable
    func timeoutOutcome(_ call: Call) -> CallOutcome {
        let garbage = decoder.counters.discardedBytes - call.discardedAtStart
        return garbage > 0 ? .noValidResponse(call.command, discardedBytes: garbage) : .timeout(call.command)
    }

    // MARK: Time

    /// Ends attempts whose deadline has passed: while attempts remain, the
    /// call moves to its next attempt (`.send`), else it ends with
    /// `.done(.timeout)` or `.noValidResponse`. Frees retired numbers that
    /// are due.
    @inlinable
    public mutating func expire(now: Int64, _ handle: (Event) -> Void) {
        lastNow = now
        guard now >= nextDue else { return }
        var due: Int64 = .max
        scratch.removeAll(keepingCapacity: true)
        for (key, slot) in slots {
            switch slot {
            case .retired(let until):
                if until <= now { scratch.append(key) } else { due = min(due, until) }
            case .call(let call):
                guard call.waiter != nil else { continue }
                if call.deadline <= now { scratch.append(key) } else { due = min(due, call.deadline) }
            case .attempt:
                continue
            }
        }
        nextDue = due
        for key in scratch {
            switch slots[key] {
            case .retired?:
                slots[key] = nil
            case .call(var call)?:
                guard let waiter = call.waiter else { continue }
                if call.attempt + 1 < call.attempts && now < call.finalDeadline,
                   let seq = allocator.allocate(notIn: slots) {
                    call.attempt += 1
                    call.earlier.append(call.sequence)
                    call.sequence = seq
                    call.deadline = RequestEngine.attemptDeadline(start: call.start, timeout: call.timeout,
                                                                  attempt: call.attempt, of: call.attempts)
                    call.discardedAtStart = decoder.counters.discardedBytes
                    slots[seq] = .attempt(of: key)
                    slots[key] = .call(call)
                    nextDue = min(nextDue, call.deadline)
                    statistics.retries += 1
                    statistics.requests += 1
                    handle(.send(call.request, sequence: seq, key: key))
                } else {
                    call.waiter = nil
                    let outcome = timeoutOutcome(call)
                    statistics.timeouts += 1
                    end(call, key: key, answered: nil)
                    handle(.resume(waiter, .done(outcome)))
                }
            default:
                continue
            }
        }
    }

    // MARK: Input

    /// Feeds bytes read from the port; reports every call it completes,
    /// telemetry sample and Link notice, in order.
    @inlinable
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) -> Void) {
        var decoder = self.decoder
        self.decoder = FrameDecoder.placeholder
        defer { self.decoder = decoder }
        decoder.feedViews(bytes) { event, wire in
            switch event {
            case .error(let error):
                trace?(wire, "decode error: \(error)")
            case .frame(let frame):
                dispatch(frame, wire: wire, handle)
            }
        }
    }

    @inlinable
    mutating func dispatch(_ frame: FrameView, wire: ArraySlice<UInt8>, _ handle: (Event) -> Void) {
        guard frame.version == Frame.protocolVersion else {
            statistics.otherVersionFrames += 1
            trace?(wire, "seq=\(frame.sequence) version \(frame.version): not this protocol's, dropped")
            return
        }
        let message = Result { () throws(MessageError) -> Message in try Message(view: frame) }
        if let trace {
            switch message {
            case .success(let m): trace(wire, "seq=\(frame.sequence) \(m)")
            case .failure(let e): trace(wire, "seq=\(frame.sequence) type=0x\(hex(frame.type)) undecodable: \(e)")
            }
        }
        switch message {
        case .success(.telemetry(let sample)):
            statistics.telemetryFrames += 1
            handle(.telemetry(sample))
            return
        case .success(.link(let notice)):
            handle(.link(notice))
            return
        case .success(.lease(let notice)):
            if notice.event == .refused {
                let key: UInt16? = switch slots[frame.sequence] {
                case .call?: frame.sequence
                case .attempt(let k)?: k
                default: nil
                }
                if let key, case .call(var call)? = slots[key] {
                    call.refusal = notice
                    slots[key] = .call(call)
                }
            }
            handle(.lease(notice))
            return
        default:
            break
        }
        guard FrameType.isResponse(frame.type) else { return }
        let command = Command(rawValue: frame.type & ~FrameType.responseFlag)
        let seq = frame.sequence
        let key: UInt16
        switch slots[seq] {
        case .call?: key = seq
        case .attempt(let k)?: key = k
        default:
            statistics.unmatchedResponses += 1
            return
        }
        // Only the call that sent this number, for this command, gets it.
        guard case .call(var call)? = slots[key], call.command == command, call.early == nil else {
            statistics.unmatchedResponses += 1
            return
        }
        statistics.responses += 1
        let step: Step
        switch message {
        case .success(.response(.failure(_, .busy))) where call.refusal != nil:
            // Held by another: a retry would be refused the same way.
            step = .done(.leased(command, call.refusal ?? LeaseNotice(event: .refused, holder: "")))
        case .success(.response(.failure(_, .busy))) where call.attempt + 1 < call.attempts:
            step = .busy
        case .success(.response(let r)):
            step = .done(.response(r))
        default:
            step = .done(.malformedResponse(command))
        }
        let waiter = call.waiter
        if case .done = step, waiter != nil {
            end(call, key: key, answered: seq)
        } else {
            // Busy, or between attempts: the call goes on (or learns at its
            // next step); this attempt is answered and stops being timed.
            call.waiter = nil
            call.early = waiter == nil ? step : nil
            slots[key] = .call(call)
        }
        if let waiter { handle(.resume(waiter, step)) }
    }
}

/// How a call ended, in the protocol's terms; the driver adds its own
/// (the port's) reason for `.aborted`.
public enum CallOutcome: Sendable, Hashable {
    case response(Response)
    /// No answer to any attempt before the deadline.
    case timeout(Command)
    /// Bytes came back during the last attempt, but none formed a valid frame.
    case noValidResponse(Command, discardedBytes: Int)
    /// The answer passed its CRC but did not parse.
    case malformedResponse(Command)
    /// A sharing daemon answered `busy` because another holds its lease.
    case leased(Command, LeaseNotice)
    case cancelled
    /// Ended from outside (`abortAll`, or a call the engine no longer knows).
    case aborted
}

extension FrameDecoder {
    /// An empty decoder that allocates nothing, to stand in while the real
    /// one is moved out for a feed (so that the engine can be mutated from
    /// the feed's callback without copying the decoder's buffers).
    public static var placeholder: FrameDecoder { FrameDecoder(empty: ()) }
}

extension RequestEngine.Step: Sendable {}
extension RequestEngine.Action: Sendable {}
