import RadioProtocol
import Testing

/// The request engine on its own: no port, no threads, no clock. Time is
/// whatever number the test says it is; waiters are plain integers.
@Suite("request engine")
struct RequestEngineTests {
    typealias Engine = RequestEngine<Int>
    static let ms: Int64 = 1_000_000

    /// Everything the engine reported, in order.
    struct Log {
        var resumed: [(Int, Engine.Step)] = []
        var sent: [(Request, UInt16)] = []
        var telemetry: [TelemetrySample] = []
        var links: [LinkNotice] = []
        var leases: [LeaseNotice] = []
        mutating func take(_ event: Engine.Event) {
            switch event {
            case .resume(let w, let s): resumed.append((w, s))
            case .telemetry(let t): telemetry.append(t)
            case .link(let n): links.append(n)
            case .lease(let n): leases.append(n)
            case .send(let r, let seq, _): sent.append((r, seq))
            }
        }
    }

    /// Registers and attaches a call; returns its key and first number.
    func start(_ engine: inout Engine, _ request: Request, waiter: Int, timeout: Duration = .seconds(1),
               attempts: Int = 1, now: Int64 = 0) throws -> (key: UInt16, seq: UInt16) {
        let key = try engine.register(request, timeout: timeout, attempts: attempts, now: now)
        guard case .send(let seq, _) = engine.attach(key, waiter) else {
            Issue.record("attach did not say send")
            return (key, 0)
        }
        return (key, seq)
    }

    /// The radio's answer, as bytes on the wire.
    func answer(_ response: Response, seq: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        Message.response(response).encode(sequence: seq, into: &out)
        return out
    }

    func feed(_ engine: inout Engine, _ bytes: [UInt8]) -> Log {
        var log = Log()
        bytes.withUnsafeBytes { b in engine.receive(b) { log.take($0) } }
        return log
    }

    func outcome(_ log: Log) -> CallOutcome? {
        guard log.resumed.count == 1, case .done(let o) = log.resumed[0].1 else { return nil }
        return o
    }

    @Test func theFrameToSendIsTheRequestWithTheCallsNumber() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .setPower(Power(deciDBm: 205)), waiter: 1)
        let wire = withWireBuffer { b in Array(b[0..<Engine.encode(.setPower(Power(deciDBm: 205)), sequence: seq, into: b)]) }
        var expected: [UInt8] = []
        Message.request(.setPower(Power(deciDBm: 205))).frame(sequence: seq).encode(into: &expected)
        #expect(wire == expected)
        #expect(seq == 1)
    }

    @Test func aResponseCompletesTheCallWithItsNumberAndCommand() throws {
        var engine = Engine()
        let (_, a) = try start(&engine, .setChannel(7), waiter: 10)
        let (_, b) = try start(&engine, .getState, waiter: 20)
        #expect(a != b)
        let log = feed(&engine, answer(.ok(.channel(7)), seq: a))
        #expect(log.resumed.map(\.0) == [10])
        #expect(outcome(log) == .response(.ok(.channel(7))))
        #expect(engine.statistics.responses == 1 && engine.callsInProgress == 1)
        // Answered numbers are free again at once; nothing is retired.
        #expect(engine.numbersHeld == 1)
    }

    /// PROTOCOL.md §8: a frame whose version is not 1 is undecodable. It
    /// used to complete the call as a malformed reply (exit 65); it is
    /// dropped, and the version-1 reply after it completes the call.
    @Test func aFrameOfAnotherVersionIsDroppedAndTheReplyAfterItCounts() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .setChannel(7), waiter: 10)
        var wrong = Message.response(.ok(.channel(7))).frame(sequence: seq)
        wrong.version = 2
        var bytes: [UInt8] = []
        wrong.encode(into: &bytes)
        let sample = Measurements(rssiDeciDBm: -700, snrDeciDB: 200, temperatureDeciC: 300, supplyMillivolts: 13_800,
                                  forwardDeciDBm: 100, reflectedDeciDBm: 0)
        var telemetry = Message.telemetry(TelemetrySample(sequence: 1, uptimeMillis: 5, measurements: sample))
            .frame(sequence: 0)
        telemetry.version = 0
        telemetry.encode(into: &bytes)
        let first = feed(&engine, bytes)
        #expect(first.resumed.isEmpty && first.telemetry.isEmpty)
        #expect(engine.statistics.otherVersionFrames == 2)
        #expect(engine.statistics.unmatchedResponses == 0)
        let log = feed(&engine, answer(.ok(.channel(7)), seq: seq))
        #expect(outcome(log) == .response(.ok(.channel(7))))
    }

    /// PROTOCOL.md §6.2: a reserved status (0x08...0xFF, and 0x07 outside
    /// a daemon's lease answers) is the call's failure with that value:
    /// not malformed, not retried.
    @Test func aReservedStatusFailsTheCallWithItsValue() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .getState, waiter: 5, attempts: 3)
        var bytes: [UInt8] = []
        Frame(type: Command.getState.rawValue | FrameType.responseFlag, sequence: seq, payload: [0x08]).encode(into: &bytes)
        let log = feed(&engine, bytes)
        #expect(outcome(log) == .response(.failure(.getState, Status(rawValue: 0x08))))
        #expect(engine.statistics.retries == 0)
        #expect(Status(rawValue: 0x08).description == "status 0x08")
    }

    /// §11.1: a daemon's refusal notice, then busy, ends the call at once
    /// (no retry: it would be refused the same way), naming the holder.
    @Test func aLeaseRefusalEndsTheCallWithTheHolder() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .setPower(Power(deciDBm: 10)), waiter: 2, attempts: 3)
        let notice = LeaseNotice(event: .refused, holder: "alice@pc:1", reason: "sweep", heldSeconds: 5, leftSeconds: 55)
        var bytes = Message.lease(notice).frame(sequence: seq).wireBytes
        bytes += answer(.failure(.setPower, .busy), seq: seq)
        let log = feed(&engine, bytes)
        #expect(outcome(log) == .leased(.setPower, notice))
        #expect(log.leases == [notice])
        #expect(engine.statistics.retries == 0)
        // Without the notice, busy is retried as before.
        let (_, seq2) = try start(&engine, .setPower(Power(deciDBm: 10)), waiter: 3, attempts: 3)
        let plain = feed(&engine, answer(.failure(.setPower, .busy), seq: seq2))
        #expect(plain.resumed.count == 1 && plain.leases.isEmpty)
        if case .busy? = plain.resumed.first?.1 {} else { Issue.record("a plain busy is not retried: \(plain.resumed)") }
    }

    @Test func aResponseForAnotherCommandIsUnmatched() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .setChannel(7), waiter: 1)
        let log = feed(&engine, answer(.ok(.power(Power(deciDBm: 7))), seq: seq))
        #expect(log.resumed.isEmpty)
        #expect(engine.statistics.unmatchedResponses == 1 && engine.callsInProgress == 1)
        // The right answer still completes it.
        #expect(outcome(feed(&engine, answer(.ok(.channel(7)), seq: seq))) == .response(.ok(.channel(7))))
    }

    @Test func aDuplicateResponseIsDroppedNotDeliveredTwice() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .getState, waiter: 1)
        let reply = answer(.failure(.getState, .hardwareFault), seq: seq)
        let log = feed(&engine, reply + reply)
        #expect(log.resumed.count == 1)
        #expect(outcome(log) == .response(.failure(.getState, .hardwareFault)))
        #expect(engine.statistics.unmatchedResponses == 1)
    }

    @Test func anUnknownNumberIsUnmatched() {
        var engine = Engine()
        let log = feed(&engine, answer(.ok(.channel(1)), seq: 999))
        #expect(log.resumed.isEmpty && engine.statistics.unmatchedResponses == 1)
    }

    // The wrap-around tests start near 0xFFFF rather than make 65,535 calls:
    // under ThreadSanitizer a full lap takes tens of seconds of the
    // cooperative pool that every other test shares.

    @Test func numbersWrapPastFFFFSkippingZeroAndTheProbe() throws {
        var engine = Engine(firstSequence: 0xFFFC)
        var seen: [UInt16] = []
        // Each call answered at once, so every number is free again.
        for i in 0..<6 {
            let (_, seq) = try start(&engine, .setChannel(1), waiter: i)
            seen.append(seq)
            _ = feed(&engine, answer(.ok(.channel(1)), seq: seq))
        }
        #expect(seen == [0xFFFC, 0xFFFD, 0xFFFF, 1, 2, 3])
        #expect(engine.numbersHeld == 0)
    }

    @Test func theAllocatorSkipsNumbersStillHeld() {
        var allocator = SequenceAllocator(next: 0xFFFF)
        let held: [UInt16: Bool] = [1: true, 2: true, 4: true]
        var got: [UInt16] = []
        for _ in 0..<3 { if let seq = allocator.allocate(notIn: held) { got.append(seq) } }
        #expect(got == [0xFFFF, 3, 5])
        // A full lap finds the one free number, and none when all are held.
        var full = [UInt16: Bool](minimumCapacity: 65_536)
        for n in UInt16(1)...UInt16.max where n != 0x8000 { full[n] = true }
        #expect(allocator.allocate(notIn: full) == 0x8000)
        full[0x8000] = true
        #expect(allocator.allocate(notIn: full) == nil)
    }

    @Test func aGivenUpNumberIsHeldUntilItsLingerEnds() throws {
        var engine = Engine(linger: .seconds(5), firstSequence: 0xFFFD)
        let (_, old) = try start(&engine, .setChannel(5), waiter: 1, timeout: .milliseconds(100))
        var log = Log()
        engine.expire(now: 100 * Self.ms) { log.take($0) }
        #expect(outcome(log) == .timeout(.setChannel))
        // Retired: still held (so the allocator skips it, as above), and its
        // late answer completes nothing, not even a call now waiting.
        #expect(engine.numbersHeld == 1)
        let (_, waiting) = try start(&engine, .setChannel(5), waiter: 7, now: 100 * Self.ms)
        #expect(waiting != old)
        #expect(feed(&engine, answer(.ok(.channel(5)), seq: old)).resumed.isEmpty)
        #expect(engine.statistics.unmatchedResponses == 1)
        // After the linger it is free again.
        engine.expire(now: 100 * Self.ms + 5_000 * Self.ms) { log.take($0) }
        #expect(engine.numbersHeld == 1)
    }

    @Test func expiryRetriesOnTimeWithANewNumberThenTimesOut() throws {
        var engine = Engine()
        let (_, first) = try start(&engine, .getState, waiter: 1, timeout: .milliseconds(300), attempts: 3)
        #expect(engine.nextDeadline == 100 * Self.ms)
        var log = Log()
        engine.expire(now: 99 * Self.ms) { log.take($0) }
        #expect(log.resumed.isEmpty && log.sent.isEmpty)
        // The attempt's share is up: the engine asks for the frame again,
        // under a new number, and the caller goes on waiting.
        engine.expire(now: 100 * Self.ms) { log.take($0) }
        #expect(log.resumed.isEmpty)
        guard log.sent.count == 1, log.sent[0].0 == .getState else { Issue.record("no retry: \(log.sent)"); return }
        let second = log.sent[0].1
        #expect(second != first && engine.nextDeadline == 200 * Self.ms)
        #expect(engine.statistics.retries == 1 && engine.statistics.requests == 2)
        engine.expire(now: 200 * Self.ms) { log.take($0) }
        #expect(log.sent.count == 2 && Set(log.sent.map(\.1)).count == 2 && engine.nextDeadline == 300 * Self.ms)
        // The last attempt ends at the call's deadline with a timeout.
        engine.expire(now: 300 * Self.ms) { log.take($0) }
        #expect(log.resumed.map(\.0) == [1])
        #expect(outcome(log) == .timeout(.getState))
        #expect(engine.statistics.timeouts == 1 && engine.callsInProgress == 0)
        // All three numbers are retired, not free.
        #expect(engine.numbersHeld == 3)
    }

    @Test func aLateAnswerToAnEarlierAttemptCompletesTheCall() throws {
        var engine = Engine()
        let (_, first) = try start(&engine, .setPower(Power(deciDBm: 10)), waiter: 1, timeout: .milliseconds(200),
                                   attempts: 2)
        var log = Log()
        engine.expire(now: 100 * Self.ms) { log.take($0) }
        #expect(log.sent.count == 1)
        log = feed(&engine, answer(.ok(.power(Power(deciDBm: 10))), seq: first))
        #expect(log.resumed.map(\.0) == [1])
        #expect(outcome(log) == .response(.ok(.power(Power(deciDBm: 10)))))
        // The unanswered retry's number stays retired.
        #expect(engine.numbersHeld == 1)
    }

    @Test func busyAsksForAnotherAttemptWhileAttemptsRemain() throws {
        var engine = Engine()
        let (key, seq) = try start(&engine, .setChannel(3), waiter: 1, attempts: 2)
        var log = feed(&engine, answer(.failure(.setChannel, .busy), seq: seq))
        guard log.resumed.count == 1, case .busy = log.resumed[0].1 else { Issue.record("\(log.resumed)"); return }
        #expect(engine.nextAttempt(key, now: 5 * Self.ms).isReady)
        guard case .send(let again, _) = engine.attach(key, 2) else { Issue.record("no second attempt"); return }
        log = feed(&engine, answer(.failure(.setChannel, .busy), seq: again))
        // The last attempt's busy is the answer.
        #expect(outcome(log) == .response(.failure(.setChannel, .busy)))
    }

    @Test func garbageDuringAnAttemptIsNoValidResponseNotATimeout() throws {
        var engine = Engine()
        _ = try start(&engine, .identify, waiter: 1, timeout: .milliseconds(50))
        _ = feed(&engine, [0x13, 0x37, 0x42, 0x00, 0x99, 0x00])
        var log = Log()
        engine.expire(now: 50 * Self.ms) { log.take($0) }
        guard case .noValidResponse(.identify, let n)? = outcome(log) else { Issue.record("\(log.resumed)"); return }
        #expect(n == 4)
    }

    @Test func aMalformedAnswerEndsTheCallAsMalformed() throws {
        var engine = Engine()
        let (_, seq) = try start(&engine, .setPower(Power(deciDBm: 1)), waiter: 1)
        var wire: [UInt8] = []
        Frame(type: Command.setPower.rawValue | FrameType.responseFlag, sequence: seq, payload: [0, 1]).encode(into: &wire)
        #expect(outcome(feed(&engine, wire)) == .malformedResponse(.setPower))
    }

    @Test func cancelBeforeAttachIsToldAtAttach() throws {
        var engine = Engine()
        let key = try engine.register(.getState, timeout: .seconds(1), attempts: 1, now: 0)
        #expect(engine.cancel(key) == nil)
        guard case .finished(.done(.cancelled)) = engine.attach(key, 1) else { Issue.record("not told"); return }
        #expect(engine.callsInProgress == 0)
    }

    @Test func cancelWhileWaitingHandsBackTheWaiterAndRetiresTheNumber() throws {
        var engine = Engine()
        let (key, seq) = try start(&engine, .getState, waiter: 42)
        #expect(engine.cancel(key) == 42)
        #expect(feed(&engine, answer(.ok(.channel(1)), seq: seq)).resumed.isEmpty)
        #expect(engine.numbersHeld == 1)
    }

    @Test func abortEndsEveryWaitingCall() throws {
        var engine = Engine()
        _ = try start(&engine, .getState, waiter: 1)
        _ = try start(&engine, .identify, waiter: 2)
        var log = Log()
        engine.abortAll { log.take($0) }
        #expect(Set(log.resumed.map(\.0)) == [1, 2])
        #expect(log.resumed.allSatisfy { if case .done(.aborted) = $0.1 { true } else { false } })
        #expect(engine.callsInProgress == 0)
    }

    @Test func telemetryAndLinkNoticesPassThroughInOrder() throws {
        var engine = Engine()
        let sample = TelemetrySample(sequence: 9, uptimeMillis: 1234, measurements: Measurements(
            rssiDeciDBm: -700, snrDeciDB: 300, temperatureDeciC: 400, supplyMillivolts: 13_800,
            forwardDeciDBm: 100, reflectedDeciDBm: -100))
        var wire: [UInt8] = []
        Message.telemetry(sample).encode(sequence: 0, into: &wire)
        Message.link(LinkNotice(isUp: false, reason: "unplugged")).encode(sequence: 0, into: &wire)
        let log = feed(&engine, wire)
        #expect(log.telemetry == [sample])
        #expect(log.links == [LinkNotice(isUp: false, reason: "unplugged")])
        #expect(engine.statistics.telemetryFrames == 1)
    }
}

extension RequestEngine.Action {
    /// True for `.ready` (attach next).
    var isReady: Bool { if case .ready = self { true } else { false } }
}
