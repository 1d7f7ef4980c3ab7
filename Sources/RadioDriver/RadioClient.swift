import RadioIO
public import RadioProtocol
import Locking

/// The async client for one radio: a reader thread and the callers'
/// continuations around a `RequestEngine`, which does all the protocol
/// work (sequence numbers, matching, deadlines, retries, decoding).
///
/// Who owns what: the engine and the flags beside it live in `Core.state`
/// (one lock); the read buffer lives in `Core.input`, held by whoever is
/// pumping input, which is the reader thread, or on `loop://` the caller
/// itself, inline. Deadlines are kept by the reader thread: it sleeps no
/// later than the earliest one the engine holds. Callers send their own
/// frames from their own tasks.
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

    /// Counters since the client opened: the engine's and the decoder's,
    /// and the port's outages.
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
        /// Frames of another protocol version, dropped as undecodable.
        public var otherVersionFrames = 0
        public var crcErrors = 0
        public var framingErrors = 0
        public var discardedBytes = 0
        /// Times the port went away and the transport set out to reopen it.
        public var disconnections = 0
        public init() {}
    }

    public let portName: String
    /// The tty the radio is on now, where the port is one (`RadioTransport.device`).
    public var device: String? { core.transport.device }
    public let options: Options
    private let core: Core

    /// Opens the port a port string names (see `PortSchemes`).
    public convenience init(port: String, settings: SerialSettings = SerialSettings(),
                            options: Options = Options(), schemes: PortSchemes = .standard) throws(RadioError) {
        self.init(transport: try schemes.open(port, settings: settings), options: options)
    }

    /// Runs the client over an already open transport, which it then owns.
    public init(transport: any RadioTransport, options: Options = Options()) {
        portName = transport.name
        self.options = options
        core = Core(transport: transport, options: options)
        let core = self.core
        startThread(name: "radio-reader") { core.readLoop() }
    }

    deinit { close() }

    /// Ends every waiting call with `.closed` and releases the port.
    /// Safe to call more than once.
    public func close() { core.close() }

    public var statistics: Statistics { core.state.withLock { $0.statistics } }

    /// Runs `body` on this client's reader thread. A caller making one round
    /// trip after another (a benchmark, a tight script) then resumes on the
    /// thread that read its reply, saving a thread wake-up per round trip.
    /// Keep `body` to radio calls and light work: while it runs, the reader
    /// is not reading. On a transport that answers inline (`loop://`) there
    /// is no hand-off to save, and `body` runs where it is.
    public func onReaderThread<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        if core.transport.answersInline { return try await body() }
        return try await withTaskExecutorPreference(core.executor, operation: body)
    }

    /// Why the port went away, once it has (nil while connected or after close()).
    public var disconnection: RadioError? { core.state.withLock { $0.disconnected } }

    /// The last lease notice a sharing daemon sent this client (§6.5), if any.
    public var lastLeaseNotice: LeaseNotice? { core.state.withLock { $0.leaseNotice } }

    /// The radio's telemetry, fanned out to every subscriber in this process.
    public var telemetry: TelemetryHub { core.telemetry }

    /// Subscribes to telemetry; see `TelemetryHub.subscribe(_:)`. The
    /// subscription ends when the client closes or the port goes away.
    public func subscribe(_ filter: TelemetryFilter = TelemetryFilter()) -> TelemetrySubscription {
        core.telemetry.subscribe(filter)
    }

    // MARK: Commands

    public func identify(timeout: Duration? = nil) async throws(RadioError) -> Identity {
        guard case .identity(let id) = try await send(.identify, timeout: timeout) else {
            throw .malformedResponse(.identify)
        }
        if let why = id.incompatibility { throw .incompatibleRadio(why) }
        // The radio said who it is: from now on a reconnect by path must
        // find this radio again, not whatever took the path.
        if core.transport.expectedSerialNumber == nil { core.transport.expectSerialNumber(id.serialNumber) }
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

    /// Sends a request that a sharing daemon answers itself (lease, status:
    /// docs/PROTOCOL.md §11.1-11.2). A radio answers it `unknown command`,
    /// which throws `.device(command, .unknownCommand)`. `retries` nil: the
    /// client's own; a waiting Lock is sent once (its answer comes when the
    /// lease is granted, so the deadline is how long to wait).
    public func daemon(_ request: DaemonRequest, timeout: Duration? = nil) async throws(RadioError) -> DaemonReply {
        var attempts: Int?
        if case .lock(let l) = request, l.wait { attempts = 1 }
        let response = try await perform(.daemon(request), timeout: timeout ?? options.timeout, attempts: attempts)
        switch response {
        case .ok(.daemon(let reply)) where reply.command == request.command: return reply
        case .ok: throw .malformedResponse(request.command)
        case .failure(let command, let status): throw .device(command, status)
        }
    }

    /// Every command in protocol version 1 sets an absolute value or reads,
    /// so repeating one is harmless: each may be retried. So are the lease
    /// requests: a repeated Lock from the holder renews, a repeated Unlock
    /// finds nothing to release.
    static func isIdempotent(_ request: Request) -> Bool { true }

    private func perform(_ request: Request, timeout: Duration, attempts fixed: Int? = nil) async throws(RadioError) -> Response {
        let attempts = fixed ?? (RadioClient.isIdempotent(request) ? max(1, options.retries + 1) : 1)
        let key = try core.register(request, timeout: timeout, attempts: attempts)
        var wake = await core.attempt(key, request)
        while true {
            switch wake {
            case .failed(let error):
                throw error
            case .step(.done(let outcome)):
                return try core.result(of: outcome, timeout: timeout)
            case .step(.busy):
                // The radio asked for a moment: a short pause, then again.
                try? await Task.sleep(for: .milliseconds(5))
                wake = await core.next(key, request)
            }
        }
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

