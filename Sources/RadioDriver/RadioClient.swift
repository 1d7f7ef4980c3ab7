import Foundation
public import RadioProtocol
import Locking

/// The async client for one radio.
///
/// Many tasks may call it at once. Each request gets its own sequence number;
/// whoever holds the decoder (the reader thread, or on `loop://` the caller
/// itself, inline) decodes what the radio sends and hands each
/// response to the caller whose sequence number it carries, and only if the
/// response is for the command that caller sent. Deadlines are kept by the
/// reader thread: it sleeps no later than the earliest one.
public final class RadioClient: Sendable {
    public struct Options: Sendable {
        /// The deadline of one call, retries included.
        public var timeout: Duration = .seconds(1)
        /// Further attempts an idempotent command may make when an attempt
        /// gets no answer. The attempts share the deadline evenly.
        public var retries: Int = 2
        /// Called for every frame sent or received, and every decode error.
        public var trace: (@Sendable (TraceEvent) -> Void)?
        public init(timeout: Duration = .seconds(1), retries: Int = 2,
                    trace: (@Sendable (TraceEvent) -> Void)? = nil) {
            self.timeout = timeout
            self.retries = retries
            self.trace = trace
        }
    }

    /// One line of a frame trace.
    public struct TraceEvent: Sendable {
        public enum Direction: String, Sendable { case sent = "->", received = "<-" }
        public var direction: Direction
        /// The bytes on the wire, delimiter included.
        public var bytes: [UInt8]
        /// The decoded message, or why it did not decode.
        public var summary: String
    }

    /// Counters since the client opened.
    public struct Statistics: Sendable, Hashable {
        /// Request frames sent; a retry counts again.
        public var requests = 0
        /// Responses delivered to the caller that was waiting for them.
        public var responses = 0
        public var retries = 0
        public var timeouts = 0
        public var telemetryFrames = 0
        /// Responses that matched no waiting request (late, duplicated, or
        /// for another command): dropped, never delivered.
        public var unmatchedResponses = 0
        public var crcErrors = 0
        public var framingErrors = 0
        public var discardedBytes = 0
        /// Times the port went away and the transport set out to reopen it.
        public var disconnections = 0
        public init() {}
    }

    public let portName: String
    public let options: Options
    private let shared: Shared

    /// Opens the port a port string names (see `PortAddress`).
    public convenience init(port: String, settings: SerialSettings = SerialSettings(),
                            options: Options = Options()) throws(RadioError) {
        let address = try PortAddress(parsing: port, settings: settings)
        try self.init(address: address, options: options)
    }

    public convenience init(address: PortAddress, options: Options = Options()) throws(RadioError) {
        self.init(transport: try address.openTransport(), options: options)
    }

    /// Runs the client over an already open transport, which it then owns.
    public init(transport: any RadioTransport, options: Options = Options()) {
        portName = transport.name
        self.options = options
        shared = Shared(transport: transport, options: options)
        let shared = self.shared
        let thread = Thread { shared.readLoop() }
        thread.name = "radio-reader"
        thread.start()
    }

    deinit { close() }

    /// Ends every waiting call with `.closed` and releases the port.
    /// Safe to call more than once.
    public func close() { shared.close() }

    public var statistics: Statistics { shared.state.withLock { $0.statistics } }

    /// Runs `body` on this client's reader thread. A caller making one round
    /// trip after another (a benchmark, a tight script) then resumes on the
    /// thread that read its reply, saving a thread wake-up per round trip.
    /// Keep `body` to radio calls and light work: while it runs, the reader
    /// is not reading. On a transport that answers inline (`loop://`) there
    /// is no hand-off to save, and `body` runs where it is.
    public func onReaderThread<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        if shared.transport.answersInline { return try await body() }
        return try await withTaskExecutorPreference(shared.executor, operation: body)
    }

    /// Why the port went away, once it has (nil while connected or after close()).
    public var disconnection: RadioError? { shared.state.withLock { $0.disconnected } }

    /// The radio's telemetry, fanned out to every subscriber in this process.
    public var telemetry: TelemetryHub { shared.telemetry }

    /// Subscribes to telemetry; see `TelemetryHub.subscribe(_:)`. The
    /// subscription ends when the client closes or the port goes away.
    public func subscribe(_ filter: TelemetryFilter = TelemetryFilter()) -> TelemetrySubscription {
        shared.telemetry.subscribe(filter)
    }

    // MARK: Commands

    public func identify(timeout: Duration? = nil) async throws(RadioError) -> Identity {
        guard case .identity(let id) = try await send(.identify, timeout: timeout) else {
            throw .malformedResponse(.identify)
        }
        return id
    }

    /// Sets transmit power; returns the power the radio applied.
    public func setPower(_ power: Power, timeout: Duration? = nil) async throws(RadioError) -> Power {
        guard case .power(let p) = try await send(.setPower(power), timeout: timeout) else {
            throw .malformedResponse(.setPower)
        }
        return p
    }

    public func setChannel(_ channel: UInt16, timeout: Duration? = nil) async throws(RadioError) -> UInt16 {
        guard case .channel(let c) = try await send(.setChannel(channel), timeout: timeout) else {
            throw .malformedResponse(.setChannel)
        }
        return c
    }

    public func state(timeout: Duration? = nil) async throws(RadioError) -> RadioState {
        guard case .state(let s) = try await send(.getState, timeout: timeout) else {
            throw .malformedResponse(.getState)
        }
        return s
    }

    /// Sends a ping and checks the echo; returns the round-trip time.
    public func ping(_ payload: [UInt8] = [], timeout: Duration? = nil) async throws(RadioError) -> Duration {
        let start = ContinuousClock.now
        guard case .pong(let echo) = try await send(.ping(payload), timeout: timeout), echo == payload else {
            throw .malformedResponse(.ping)
        }
        return ContinuousClock.now - start
    }

    public func setTelemetryRate(_ hz: UInt16, timeout: Duration? = nil) async throws(RadioError) -> UInt16 {
        guard case .telemetryRate(let r) = try await send(.setTelemetryRate(hz), timeout: timeout) else {
            throw .malformedResponse(.setTelemetryRate)
        }
        return r
    }

    /// Sends any request and returns the radio's successful reply; a
    /// non-ok status throws `.device(command, status)`.
    public func send(_ request: Request, timeout: Duration? = nil) async throws(RadioError) -> Reply {
        if case .ping(let bytes) = request, bytes.count > Request.maxPingBytes {
            throw .invalidRequest("a ping carries at most \(Request.maxPingBytes) bytes, not \(bytes.count)")
        }
        let response = try await perform(request, timeout: timeout ?? options.timeout)
        switch response {
        case .ok(let reply) where reply.command == request.command: return reply
        case .ok: throw .malformedResponse(request.command)
        case .failure(let command, let status): throw .device(command, status)
        }
    }

    /// Every command in protocol version 1 sets an absolute value or reads,
    /// so repeating one is harmless: each may be retried.
    static func isIdempotent(_ request: Request) -> Bool { true }

    private func perform(_ request: Request, timeout: Duration) async throws(RadioError) -> Response {
        let start = ContinuousClock.now
        let deadline = start + timeout
        let attempts = RadioClient.isIdempotent(request) ? max(1, options.retries + 1) : 1
        var lastError = RadioError.timeout(request.command, timeout)
        for attempt in 0..<attempts {
            if Task.isCancelled { throw .cancelled }
            let attemptDeadline = attempt == attempts - 1 ? deadline : start + timeout * (attempt + 1) / attempts
            if attempt > 0 { shared.state.withLock { $0.statistics.retries += 1 } }
            // Each attempt is a new frame with its own sequence number.
            switch await shared.attempt(.request(request), command: request.command, deadline: attemptDeadline) {
            case .success(.failure(let command, .busy)) where attempt < attempts - 1:
                lastError = .device(command, .busy)
                try? await Task.sleep(until: min(attemptDeadline, .now + .milliseconds(5)), clock: .continuous)
            case .success(let response):
                return response
            case .failure(.timeout(let c, _)):
                lastError = .timeout(c, timeout)
            case .failure(let error) where error.isNoAnswer:
                lastError = error
            case .failure(let error):
                throw error
            }
        }
        throw lastError
    }
}

extension RadioError {
    /// True for failures where the radio did not answer, which a retry may cure.
    public var isNoAnswer: Bool {
        switch self {
        case .timeout, .noValidResponse: true
        default: false
        }
    }
}

/// The state the calling tasks and the reader thread share.
final class Shared: Sendable {
    typealias Outcome = Result<Response, RadioError>

    struct Pending {
        let command: Command
        let deadline: ContinuousClock.Instant
        /// Decoder's discarded-byte count when the request went out, to tell
        /// "garbage came back" from "nothing came back".
        let discardedAtStart: Int
        var continuation: UnsafeContinuation<Outcome, Never>?
        /// Set when the outcome arrives before the continuation is stored.
        var outcome: Outcome?
    }

    struct ReaderState {
        var decoder = FrameDecoder()
        /// Allocated once; freed when the client goes (`Shared.deinit`).
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    }

    struct State {
        var pending: [UInt16: Pending] = [:]
        var nextSequence: UInt16 = 1
        var closed = false
        var disconnected: RadioError?
        /// Set while a sharing daemon reports its radio link down (a Link
        /// notice): calls fail at once, as they do while a local port is away.
        var upstreamAway: RadioError?
        var readerWakeAt: ContinuousClock.Instant?
        /// close() ran on the reader thread, so the reader closes the port.
        var closeTransportOnExit = false
        var statistics = RadioClient.Statistics()
    }

    let state = Locked(State())
    /// The decoder and its read buffer, held by whoever is pumping input.
    let input = Locked(ReaderState())
    let telemetry = TelemetryHub()
    let executor: ReaderExecutor
    let transport: any RadioTransport
    let options: RadioClient.Options
    let readerDone = DispatchSemaphore(value: 0)

    init(transport: any RadioTransport, options: RadioClient.Options) {
        self.transport = transport
        self.options = options
        executor = ReaderExecutor(wake: { transport.interrupt() })
    }

    deinit { input.withLock { $0.buffer.deallocate() } }

    /// Sends one request frame and waits for its response or its deadline.
    func attempt(_ message: Message, command: Command, deadline: ContinuousClock.Instant) async -> Outcome {
        let registered: Result<UInt16, RadioError> = state.withLock { s in
            if s.closed { return .failure(.closed) }
            if let gone = s.disconnected { return .failure(gone) }
            if let away = s.upstreamAway { return .failure(away) }
            // 65,535 numbers and far fewer calls in flight: this ends quickly.
            var seq = s.nextSequence
            while seq == 0 || seq == IdentityProbe.sequence || s.pending[seq] != nil { seq &+= 1 }
            s.nextSequence = seq &+ 1
            s.pending[seq] = Pending(command: command, deadline: deadline,
                                     discardedAtStart: s.statistics.discardedBytes)
            s.statistics.requests += 1
            return .success(seq)
        }
        let seq: UInt16
        switch registered {
        case .success(let s): seq = s
        case .failure(let e): return .failure(e)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Frame.maxWireSize)
        message.frame(sequence: seq).encode(into: &bytes)

        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Outcome, Never>) in
                // Store the continuation, unless the outcome (a cancellation)
                // came first; and see whether the reader sleeps past our deadline.
                // nil: not stored (the outcome came first); else whether the
                // reader must be woken to keep our deadline.
                let wakeReader: Bool? = state.withLock { s in
                    guard var p = s.pending[seq], p.outcome == nil else { return nil }
                    p.continuation = continuation
                    s.pending[seq] = p
                    return s.readerWakeAt.map { deadline < $0 } ?? true
                }
                guard let wakeReader else {
                    let outcome = state.withLock { $0.pending.removeValue(forKey: seq)?.outcome } ?? .failure(.cancelled)
                    continuation.resume(returning: outcome)
                    return
                }
                if let trace = options.trace {
                    trace(.init(direction: .sent, bytes: bytes, summary: "seq=\(seq) \(message)"))
                }
                do throws(RadioError) {
                    try transport.send(bytes, deadline: deadline)
                } catch {
                    finish(seq, .failure(error))
                    return
                }
                if transport.answersInline {
                    // The reply is already there: decode it on this thread,
                    // which resumes this very continuation before the task
                    // suspends. Errors reach the reader thread's next pump.
                    try? pump()
                } else if wakeReader {
                    transport.interrupt()
                }
            }
        } onCancel: {
            finish(seq, .failure(.cancelled))
        }
    }

    /// Delivers an outcome to the caller waiting on `seq`, once.
    func finish(_ seq: UInt16, _ outcome: Outcome) {
        let continuation: UnsafeContinuation<Outcome, Never>? = state.withLock { s in
            guard var p = s.pending[seq] else { return nil }
            if let c = p.continuation {
                s.pending[seq] = nil
                return c
            }
            if p.outcome == nil { p.outcome = outcome }
            s.pending[seq] = p
            return nil
        }
        continuation?.resume(returning: outcome)
    }

    // MARK: Reader thread

    func readLoop() {
        let clock = ContinuousClock()
        var endReason: RadioError = .closed
        executor.attach()
        while true {
            let busy = executor.hasWork
            let wait: Duration? = state.withLock { s in
                if s.closed { return nil }
                let now = clock.now
                var wake = now + .milliseconds(250)
                for p in s.pending.values where p.outcome == nil {
                    wake = min(wake, p.deadline)
                }
                s.readerWakeAt = wake
                return busy ? .zero : max(now.duration(to: wake), .zero)
            }
            guard let wait else { break }
            do throws(RadioError) {
                if wait > .zero { try transport.waitForInput(timeout: wait) }
                try pump()
            } catch {
                if case .disconnected(let why) = error, transport.reconnects, !state.withLock({ $0.closed }) {
                    // The port went away and the transport will reopen it:
                    // the calls in flight fail now, and the client goes on.
                    linkLost(error)
                    telemetry.linkLost(why)
                    continue
                }
                endReason = error
                break
            }
            expire(now: clock.now)
            // Callers that asked to run here (onReaderThread) resume now.
            executor.runPending()
        }
        failAll(endReason)
        executor.runPending()
        executor.stop()
        if state.withLock({ $0.closeTransportOnExit }) { transport.close() }
        telemetry.finishAll()
        readerDone.signal()
    }

    /// Reads what the transport holds and dispatches every frame in it.
    /// Whoever calls this holds the decoder for the whole time, so bytes are
    /// consumed and decoded in order: the reader thread, or a caller whose
    /// transport answered inline.
    func pump() throws(RadioError) {
        try input.withLock { (r: inout ReaderState) throws(RadioError) in
            while true {
                let n = try transport.read(into: r.buffer)
                if n == 0 { return }
                let before = r.decoder.counters
                r.decoder.feed(UnsafeRawBufferPointer(rebasing: r.buffer[0..<n]),
                               withWireBytes: { event, wire in handle(event, wire: wire) })
                let after = r.decoder.counters
                if after != before {
                    state.withLock { s in
                        s.statistics.crcErrors += after.crcErrors - before.crcErrors
                        s.statistics.framingErrors += (after.cobsErrors + after.shortFrames + after.oversized)
                            - (before.cobsErrors + before.shortFrames + before.oversized)
                        s.statistics.discardedBytes += after.discardedBytes - before.discardedBytes
                    }
                }
            }
        }
    }

    private func handle(_ event: FrameDecoder.Event, wire: ArraySlice<UInt8>) {
        switch event {
        case .error(let error):
            if let trace = options.trace {
                trace(.init(direction: .received, bytes: Array(wire), summary: "decode error: \(error)"))
            }
        case .frame(let frame):
            let message = Result { () throws(MessageError) -> Message in try Message(frame: frame) }
            if let trace = options.trace {
                let summary: String
                switch message {
                case .success(let m): summary = "seq=\(frame.sequence) \(m)"
                case .failure(let e): summary = "seq=\(frame.sequence) type=0x\(hexString([frame.type])) undecodable: \(e)"
                }
                trace(.init(direction: .received, bytes: Array(wire) + [Frame.delimiter], summary: summary))
            }
            if case .success(.telemetry(let sample)) = message {
                state.withLock { $0.statistics.telemetryFrames += 1 }
                telemetry.publish(sample)
                return
            }
            if case .success(.link(let notice)) = message {
                upstreamLink(notice)
                return
            }
            guard FrameType.isResponse(frame.type) else { return }
            let command = Command(rawValue: frame.type & ~FrameType.responseFlag)
            let outcome: Shared.Outcome
            switch message {
            case .success(.response(let r)): outcome = .success(r)
            default: outcome = .failure(.malformedResponse(command))
            }
            let matched = state.withLock { s -> Bool in
                // Only the caller that sent this sequence number, for this
                // command, may get this response.
                guard let p = s.pending[frame.sequence], p.command == command, p.outcome == nil else {
                    s.statistics.unmatchedResponses += 1
                    return false
                }
                s.statistics.responses += 1
                return true
            }
            if matched { finish(frame.sequence, outcome) }
            // The radio said who it is: from now on a reconnect by path
            // must find this radio again, not whatever took the path.
            if matched, case .success(.response(.ok(.identity(let identity)))) = message,
               let port = transport as? ReconnectingTransport, port.expectedSerialNumber == nil {
                port.expectSerialNumber(identity.serialNumber)
            }
        }
    }

    private func expire(now: ContinuousClock.Instant) {
        let expired: [(UInt16, RadioError)] = state.withLock { s in
            var out: [(UInt16, RadioError)] = []
            for (seq, p) in s.pending where p.deadline <= now && p.outcome == nil {
                let garbage = s.statistics.discardedBytes - p.discardedAtStart
                s.statistics.timeouts += 1
                out.append((seq, garbage > 0
                    ? .noValidResponse(p.command, discardedBytes: garbage)
                    : .timeout(p.command, .zero)))
            }
            return out
        }
        for (seq, error) in expired { finish(seq, .failure(error)) }
    }

    /// Fails every call in flight with `reason`, without ending the client,
    /// and starts a fresh decoder for the reopened port.
    private func linkLost(_ reason: RadioError) {
        let waiting: [UInt16] = state.withLock { s in
            s.statistics.disconnections += 1
            // A daemon we reconnect to says again if its radio is away.
            s.upstreamAway = nil
            return Array(s.pending.keys)
        }
        input.withLock { $0.decoder = FrameDecoder() }
        for seq in waiting { finish(seq, .failure(reason)) }
    }

    /// A sharing daemon's radio link went down or came back. Down is what a
    /// local reconnecting port going away is: the calls in flight fail, new
    /// calls fail at once until it is up, and subscribers get `.disconnected`.
    private func upstreamLink(_ notice: LinkNotice) {
        guard !notice.isUp else {
            state.withLock { $0.upstreamAway = nil }
            return
        }
        let why = "\(transport.name): the daemon lost its radio (\(notice.reason.isEmpty ? "no reason given" : notice.reason)); it is reconnecting"
        let waiting: [UInt16] = state.withLock { s in
            let first = s.upstreamAway == nil
            s.upstreamAway = .disconnected(why)
            if first { s.statistics.disconnections += 1 }
            return Array(s.pending.keys)
        }
        for seq in waiting { finish(seq, .failure(.disconnected(why))) }
        telemetry.linkLost(why)
    }

    private func failAll(_ reason: RadioError) {
        let waiting: [UInt16] = state.withLock { s in
            if !s.closed { s.disconnected = reason }
            return Array(s.pending.keys)
        }
        let error: RadioError = state.withLock { $0.closed } ? .closed : reason
        for seq in waiting { finish(seq, .failure(error)) }
    }

    func close() {
        let first = state.withLock { s -> Bool in
            if s.closed { return false }
            s.closed = true
            return true
        }
        guard first else { return }
        transport.interrupt()
        if executor.isCurrentThread {
            // Called from a task running on the reader thread (or a deinit
            // there): waiting for the reader would wait for ourselves. The
            // reader closes the transport when it leaves its loop.
            state.withLock { $0.closeTransportOnExit = true }
            return
        }
        readerDone.wait()
        transport.close()
    }
}
