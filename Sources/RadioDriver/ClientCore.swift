#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Locking
import RadioProtocol

/// What a caller waiting in `RadioClient` is resumed with.
enum Wake: Sendable {
    case step(RequestEngine<UnsafeContinuation<Wake, Never>>.Step)
    /// The call ended for a reason of the port's (send failed, link lost, closed).
    case failed(RadioError)
}

/// The reader thread and the continuations around the request engine.
///
/// Ownership: `state` (the engine, the link flags) is shared by the calling
/// tasks and the reader thread, always under its lock; `input` (the read
/// buffer) belongs to whoever pumps input, under its own lock, taken before
/// `state`'s. Callers write their own frames; only the reader thread waits
/// on the port.
final class Core: Sendable {
    typealias Engine = RequestEngine<UnsafeContinuation<Wake, Never>>

    struct State {
        var engine: Engine
        var closed = false
        /// The port is gone for good (the reader has ended).
        var disconnected: RadioError?
        /// The port went away and its coming back is still to be announced
        /// to telemetry subscribers (`.reconnected`).
        var linkBackPending = false
        /// Set while a sharing daemon reports its radio link down (a Link
        /// notice): calls fail at once, as they do while a local port is away.
        var upstreamAway: RadioError?
        /// What `.aborted` means for a call that learns it late.
        var abortReason: RadioError = .closed
        /// When the reader wakes next, in engine time.
        var readerWakeAt: Int64?
        /// close() ran on the reader thread, so the reader closes the port.
        var closeTransportOnExit = false
        var disconnections = 0
        /// The sharing daemon's last lease notice (§6.5).
        var leaseNotice: LeaseNotice?

        var statistics: RadioClient.Statistics {
            let e = engine.statistics, d = engine.decoderCounters
            var s = RadioClient.Statistics()
            s.requests = e.requests
            s.responses = e.responses
            s.retries = e.retries
            s.timeouts = e.timeouts
            s.telemetryFrames = e.telemetryFrames
            s.unmatchedResponses = e.unmatchedResponses
            s.otherVersionFrames = e.otherVersionFrames
            s.crcErrors = d.crcErrors
            s.framingErrors = d.cobsErrors + d.shortFrames + d.oversized
            s.discardedBytes = d.discardedBytes
            s.disconnections = disconnections
            return s
        }
    }

    /// Bytes just read, handed to the engine under the state lock.
    struct ReadBytes: @unchecked Sendable {
        // Sendable: the engine only reads them during `receive` (its decoder
        // copies what it keeps), so no reference to the buffer enters the
        // state, and the buffer is not touched by anyone else meanwhile (the
        // input lock is held around the whole pump).
        let bytes: UnsafeRawBufferPointer
    }

    /// The read buffer: allocated once, freed in deinit.
    struct Input: @unchecked Sendable {
        // Sendable: the pointer is reached only under `Core.input`'s lock,
        // and freed in Core.deinit when no thread can reach it.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    }

    let state: Locked<State>
    let input = Locked(Input())
    let telemetry = TelemetryHub()
    let executor: ReaderExecutor
    let transport: any RadioTransport
    let options: RadioClient.Options
    let readerDone = DispatchSemaphore(value: 0)

    /// Reads per wake-up at most (4 KiB each), so that a peer that never
    /// stops sending cannot keep the reader from its deadlines.
    static let readsPerWake = 16

    init(transport: any RadioTransport, options: RadioClient.Options) {
        self.transport = transport
        self.options = options
        executor = ReaderExecutor(wake: { transport.interrupt() })
        var engine = Engine()
        if let trace = options.trace {
            engine.trace = { wire, summary in
                trace(.init(direction: .received, bytes: wire.isEmpty ? [] : Array(wire) + [Frame.delimiter],
                            summary: summary))
            }
        }
        state = Locked(State(engine: engine))
    }

    deinit { input.withLock { $0.buffer.deallocate() } }

    /// Engine time: CLOCK_MONOTONIC in nanoseconds, read without Duration
    /// arithmetic (a round trip reads it twice).
    func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
    /// An engine time as a deadline for the transport (only computed when a
    /// write has to wait).
    func instant(_ t: Int64) -> ContinuousClock.Instant { .now + .nanoseconds(t - now()) }

    // MARK: Calls

    func register(_ request: Request, timeout: Duration, attempts: Int) throws(RadioError) -> UInt16 {
        let now = now()
        return try state.withLock { s throws(RadioError) -> UInt16 in
            if s.closed { throw .closed }
            if let gone = s.disconnected { throw gone }
            if let away = s.upstreamAway { throw away }
            do {
                return try s.engine.register(request, timeout: timeout, attempts: attempts, now: now)
            } catch {
                throw .overloaded(transport.name)
            }
        }
    }

    /// Sends the call's current attempt and waits for what comes of it.
    func attempt(_ key: UInt16, _ request: Request) async -> Wake {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Wake, Never>) in
                send(key, request, continuation)
            }
        } onCancel: {
            let waiter = state.withLock { $0.engine.cancel(key) }
            waiter?.resume(returning: .step(.done(.cancelled)))
        }
    }

    /// After `.busy`: the next attempt, or the end.
    func next(_ key: UInt16, _ request: Request) async -> Wake {
        let now = now()
        let action = state.withLock { $0.engine.nextAttempt(key, now: now) }
        if case .finished(let step) = action { return .step(step) }
        return await attempt(key, request)
    }

    private func send(_ key: UInt16, _ request: Request, _ continuation: UnsafeContinuation<Wake, Never>) {
        let (action, wakeReader) = state.withLock { s -> (Engine.Action, Bool) in
            let action = s.engine.attach(key, continuation)
            guard case .send(_, let deadline) = action else { return (action, false) }
            return (action, s.readerWakeAt.map { deadline < $0 } ?? true)
        }
        guard case .send(let seq, let deadline) = action else {
            if case .finished(let step) = action { continuation.resume(returning: .step(step)) }
            return
        }
        guard write(request, sequence: seq, key: key, deadline: instant(deadline)) else { return }
        if transport.answersInline {
            // The reply is already there: decode it on this thread, which
            // resumes this very continuation before the task suspends.
            // Errors reach the reader thread's next pump.
            try? pump()
        } else if wakeReader {
            transport.interrupt()
        }
    }

    /// What a finished call returns or throws.
    func result(of outcome: CallOutcome, timeout: Duration) throws(RadioError) -> Response {
        switch outcome {
        case .response(let r): return r
        case .timeout(let c): throw .timeout(c, timeout)
        case .noValidResponse(let c, let n): throw .noValidResponse(c, discardedBytes: n)
        case .malformedResponse(let c): throw .malformedResponse(c)
        case .leased(let c, let notice): throw .leased(c, notice)
        case .cancelled: throw .cancelled
        case .aborted: throw state.withLock { $0.abortReason }
        }
    }

    // MARK: Reader thread

    func readLoop() {
        var endReason: RadioError = .closed
        executor.attach()
        while true {
            let busy = executor.hasWork
            let now = now()
            let wait: Int64? = state.withLock { s in
                if s.closed { return nil }
                let wake = min(now + 250_000_000, s.engine.nextDeadline ?? .max)
                s.readerWakeAt = wake
                return busy ? 0 : max(wake - now, 0)
            }
            guard let wait else { break }
            do throws(RadioError) {
                if wait > 0 { try transport.waitForInput(timeout: .nanoseconds(wait)) }
                try pump(expiring: true)
            } catch {
                if case .disconnected(let why) = error, transport.reconnects, !state.withLock({ $0.closed }) {
                    // The port went away and the transport will reopen it:
                    // the calls in flight fail now, and the client goes on.
                    linkLost(error)
                    telemetry.linkLost(why)
                    state.withLock { $0.linkBackPending = true }
                    continue
                }
                endReason = error
                break
            }
            announceLinkBack()
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

    /// Reads what the transport holds (at most `readsPerWake` reads) and
    /// feeds it to the engine; the reader thread (`expiring`) then ends
    /// attempts that are due, in the same lock as the last feed. Telemetry
    /// and Link notices are published outside the lock.
    func pump(expiring: Bool = false) throws(RadioError) {
        var samples: [TelemetrySample] = []
        var notices: [LinkNotice] = []
        var retries: [Retry] = []
        defer { if !retries.isEmpty { send(retries) } }
        try input.withLock { (r: inout Input) throws(RadioError) in
            var expired = !expiring
            defer {
                if !expired {
                    let now = now()
                    state.withLock { s in Core.expire(&s, now: now, retries: &retries) }
                }
            }
            for _ in 0..<Core.readsPerWake {
                let n = try transport.read(into: r.buffer)
                if n == 0 { return }
                // A short read took all there was: no second read to learn
                // that (one syscall per reply, as a blocking read would be).
                let drained = n < r.buffer.count
                let bytes = ReadBytes(bytes: UnsafeRawBufferPointer(rebasing: r.buffer[0..<n]))
                let now = drained && !expired ? now() : 0
                state.withLock { s in
                    s.engine.receive(bytes.bytes) { event in
                        switch event {
                        case .resume(let waiter, let step): waiter.resume(returning: .step(step))
                        case .telemetry(let sample): samples.append(sample)
                        case .link(let notice): notices.append(notice)
                        case .lease(let notice): s.leaseNotice = notice
                        case .send: break  // only `expire` asks for sends
                        }
                    }
                    if now != 0 { Core.expire(&s, now: now, retries: &retries) }
                }
                if now != 0 { expired = true }
                if drained { return }
            }
        }
        if !samples.isEmpty { announceLinkBack() }
        for sample in samples { telemetry.publish(sample) }
        for notice in notices { upstreamLink(notice) }
    }

    /// Once the reopened port is in use, subscribers are told the link is
    /// back (before the first sample read from it).
    private func announceLinkBack() {
        guard !transport.isAway,
              state.withLock({ s in defer { s.linkBackPending = false }; return s.linkBackPending }) else { return }
        telemetry.linkBack()
    }

    /// Ends the attempts that are due (the engine says whom to wake), and
    /// collects the retries to send, which go out after the lock.
    private static func expire(_ s: inout State, now: Int64, retries: inout [Retry]) {
        s.engine.expire(now: now) { event in
            switch event {
            case .resume(let waiter, let step): waiter.resume(returning: .step(step))
            case .send(let request, let seq, let key): retries.append(Retry(request: request, sequence: seq, key: key))
            default: break
            }
        }
    }

    struct Retry: Sendable {
        let request: Request
        let sequence: UInt16
        let key: UInt16
    }

    /// Sends the retries `expire` asked for, from the reader thread: a write
    /// that the port does not take within a few milliseconds fails that
    /// call (`writeTimeout`) rather than hold up the reader.
    private func send(_ retries: [Retry]) {
        for r in retries {
            _ = write(r.request, sequence: r.sequence, key: r.key, deadline: .now + .milliseconds(10), retry: true)
        }
    }

    /// Writes one attempt's frame, encoded on the stack (a round trip
    /// allocates nothing to send). A failed write ends the call with the
    /// port's error; returns false then.
    private func write(_ request: Request, sequence: UInt16, key: UInt16,
                       deadline: @autoclosure () -> ContinuousClock.Instant, retry: Bool = false) -> Bool {
        let sent = withWireBuffer { buffer in
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<Engine.encode(request, sequence: sequence, into: buffer)])
            if let trace = options.trace {
                trace(.init(direction: .sent, bytes: Array(bytes),
                            summary: "seq=\(sequence) \(Message.request(request))" + (retry ? " (retry)" : "")))
            }
            return Result { () throws(RadioError) in try transport.send(bytes, deadline: deadline()) }
        }
        guard case .failure(let error) = sent else { return true }
        let waiter = state.withLock { $0.engine.cancel(key) }
        waiter?.resume(returning: .failed(error))
        return false
    }

    /// Fails every call in flight with `reason`.
    private func abortAll(_ s: inout State, _ reason: RadioError) {
        s.abortReason = reason
        s.engine.abortAll { event in
            if case .resume(let waiter, _) = event { waiter.resume(returning: .failed(reason)) }
        }
    }

    /// The port went away and will be reopened: calls in flight fail, and a
    /// fresh decoder waits for the reopened port.
    private func linkLost(_ reason: RadioError) {
        state.withLock { s in
            s.disconnections += 1
            // A daemon we reconnect to says again if its radio is away.
            s.upstreamAway = nil
            abortAll(&s, reason)
            s.engine.resetDecoder()
        }
    }

    /// A sharing daemon's radio link went down or came back. Down is what a
    /// local reconnecting port going away is: the calls in flight fail, new
    /// calls fail at once until it is up, and subscribers get `.disconnected`.
    private func upstreamLink(_ notice: LinkNotice) {
        guard !notice.isUp else {
            let wasAway = state.withLock { s in
                defer { s.upstreamAway = nil }
                return s.upstreamAway != nil
            }
            if wasAway { telemetry.linkBack() }
            return
        }
        let why = "\(transport.name): the daemon lost its radio (\(notice.reason.isEmpty ? "no reason given" : notice.reason)); it is reconnecting"
        state.withLock { s in
            if s.upstreamAway == nil { s.disconnections += 1 }
            s.upstreamAway = .disconnected(why)
            abortAll(&s, .disconnected(why))
        }
        telemetry.linkLost(why)
    }

    private func failAll(_ reason: RadioError) {
        state.withLock { s in
            if !s.closed { s.disconnected = reason }
            abortAll(&s, s.closed ? .closed : reason)
        }
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
