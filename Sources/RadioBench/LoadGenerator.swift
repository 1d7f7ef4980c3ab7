public import Histogram
public import RadioDriver
public import RadioProtocol
import Locking

/// What `radio-cli load` sends.
public enum LoadCommand: String, CaseIterable, Sendable {
    /// SetPower and SetChannel in turn.
    case mix
    case setPower = "set-power"
    case setChannel = "set-channel"
    case getState = "get-state"
    case ping
}

/// A constant-rate load: `rate` requests per second in all, spread evenly
/// over `workers` callers, for `duration`.
public struct LoadPlan: Sendable {
    public var workers: Int
    public var rate: Double
    public var duration: Duration
    public var command: LoadCommand
    /// Tells this run's requests from another's (ping payloads, set values).
    public var salt: UInt32

    public init(workers: Int, rate: Double, duration: Duration, command: LoadCommand = .mix, salt: UInt32 = 0) {
        self.workers = workers
        self.rate = rate
        self.duration = duration
        self.command = command
        self.salt = salt
    }

    /// The time request `i` is due, after the start: request i is due at
    /// i / rate, and worker k sends requests k, k + workers, k + 2·workers…
    /// A time past what a Duration holds in nanoseconds (a tiny rate and a
    /// high i) saturates: it is after any run's end anyway.
    func due(_ i: Int) -> Duration {
        let ns = Double(i) * 1e9 / rate
        guard ns < LoadPlan.latestNanoseconds else { return .nanoseconds(Int64(LoadPlan.latestNanoseconds)) }
        return .nanoseconds(Int64(ns.rounded()))
    }

    /// 2^62 ns (146 years): far past any run, and exactly a Double.
    static let latestNanoseconds = 4_611_686_018_427_387_904.0

    /// The lowest rate a run accepts: one request a day, the longest run.
    public static let slowestRate = 1.0 / 86_400

    /// How many requests fall due within the duration.
    public var scheduled: Int {
        let seconds = duration.inSeconds
        return Int((seconds * rate).rounded(.up))
    }
}

/// Latency histograms and counts of a load run.
public struct LoadTally: Sendable {
    /// Nanoseconds from each request's *intended* send time to its reply:
    /// a stall delays the requests due during it, and they count it
    /// (the coordinated-omission correction of wrk2 and Vegeta).
    public var latency = LoadTally.histogram()
    /// Nanoseconds from the actual send to the reply (service time).
    public var serviceTime = LoadTally.histogram()
    public var sent = 0
    /// Requests due within the duration that were never sent, because the
    /// duration ended while the callers were behind.
    public var notSent = 0
    public var ok = 0
    /// Failed calls by kind ("timeout", "busy", "wrong reply", ...).
    public var errors: [String: Int] = [:]
    /// The latest any request started after it was due.
    public var maxStartLag: Duration = .zero
    public var errorCount: Int { errors.values.reduce(0, +) }

    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    }
}

/// What the progress callback sees about once a second.
public struct LoadProgress: Sendable {
    public var elapsed: Duration
    public var sent: Int
    public var ok: Int
    public var errors: Int
    /// Requests completed per second over the last interval.
    public var rate: Double
    /// Latency percentiles (corrected) over the last interval, nanoseconds; nil if none completed.
    public var p50: UInt64?
    public var p99: UInt64?
}

/// The result of a run.
public struct LoadReport: Sendable {
    public var plan: LoadPlan
    public var tally: LoadTally
    /// From the start until the last reply.
    public var elapsed: Duration
    /// Requests completed (ok or failed) per second.
    public var achievedRate: Double {
        let s = elapsed.inSeconds
        return s > 0 ? Double(tally.ok + tally.errorCount) / s : 0
    }
}

/// Sends requests at a constant rate, each at the time it is due, and
/// measures each from then (open-model load, as wrk2 and Vegeta do). A
/// worker whose previous call ran late sends the next at once, and that
/// one's latency includes the wait.
public enum LoadGenerator {
    /// Once `stop` says so, no further request is sent (those still due
    /// are reported as not sent) and the run ends when the calls in flight
    /// have ended.
    public static func run(_ plan: LoadPlan, clients: [RadioClient], identity: Identity,
                           progress: @escaping @Sendable (LoadProgress) -> Void = { _ in },
                           stop: @escaping @Sendable () -> Bool = { false }) async -> LoadReport {
        precondition(!clients.isEmpty && plan.workers > 0 && plan.rate > 0)
        let shared = Locked(Shared())
        let clock = ContinuousClock()
        let start = clock.now + .milliseconds(20)
        let end = start + plan.duration
        let reporter = Task {
            var last = start
            while !Task.isCancelled {
                try? await Task.sleep(until: last + .seconds(1), clock: .continuous)
                if Task.isCancelled { break }
                let now = clock.now
                let p = shared.withLock { s -> LoadProgress in
                    let interval = s.interval
                    s.interval = LoadTally.histogram()
                    let done = s.intervalDone
                    s.intervalDone = 0
                    let seconds = Double((now - last) / .milliseconds(1)) / 1000
                    return LoadProgress(
                        elapsed: now - start, sent: s.tally.sent, ok: s.tally.ok, errors: s.tally.errorCount,
                        rate: seconds > 0 ? Double(done) / seconds : 0,
                        p50: interval.totalCount > 0 ? interval.valueAtPercentile(50) : nil,
                        p99: interval.totalCount > 0 ? interval.valueAtPercentile(99) : nil)
                }
                last = now
                progress(p)
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for k in 0..<plan.workers {
                let client = clients[k % clients.count]
                group.addTask {
                    // Resume on the connection's reader thread: no extra
                    // thread hand-off between a reply and the next request.
                    await client.onReaderThread {
                        await worker(k, plan: plan, client: client, identity: identity, start: start, end: end,
                                     shared: shared, stop: stop)
                    }
                }
            }
        }
        let finished = clock.now
        reporter.cancel()
        var tally = shared.withLock { $0.tally }
        tally.notSent = max(0, plan.scheduled - tally.sent)
        return LoadReport(plan: plan, tally: tally, elapsed: finished - start)
    }

    private struct Shared {
        var tally = LoadTally()
        var interval = LoadTally.histogram()
        var intervalDone = 0
    }

    private static func worker(_ k: Int, plan: LoadPlan, client: RadioClient, identity: Identity,
                               start: ContinuousClock.Instant, end: ContinuousClock.Instant,
                               shared: Locked<Shared>, stop: @Sendable () -> Bool) async {
        let clock = ContinuousClock()
        var i = k
        while true {
            let due = start + plan.due(i)
            if due >= end { break }
            // Asleep until due, but looking at `stop` every 100 ms.
            while clock.now < due && !stop() {
                try? await Task.sleep(until: min(due, clock.now + .milliseconds(100)), tolerance: .zero, clock: .continuous)
            }
            if stop() { break }
            let sent = clock.now
            // The duration is over: what is still due is not sent (the
            // report counts it), and the run ends within one deadline, when
            // the calls in flight have their answer or their timeout.
            if sent >= end { break }
            let failure = await call(i, plan: plan, client: client, identity: identity)
            let done = clock.now
            shared.withLock { s in
                s.tally.sent += 1
                s.tally.maxStartLag = max(s.tally.maxStartLag, sent - due)
                s.intervalDone += 1
                if let failure {
                    s.tally.errors[failure, default: 0] += 1
                } else {
                    s.tally.ok += 1
                    let corrected = nanoseconds(done - due)
                    _ = s.tally.latency.record(corrected)
                    _ = s.tally.serviceTime.record(nanoseconds(done - sent))
                    _ = s.interval.record(corrected)
                }
            }
            i += plan.workers
        }
    }

    /// Makes call `i` and checks the reply is the one asked for; returns
    /// the kind of failure, or nil.
    private static func call(_ i: Int, plan: LoadPlan, client: RadioClient, identity: Identity) async -> String? {
        let command: LoadCommand = plan.command == .mix ? (i % 2 == 0 ? .setPower : .setChannel) : plan.command
        // Values that differ from call to call and from run to run, so a
        // reply delivered to the wrong caller shows as a wrong reply.
        let mixed = UInt32(truncatingIfNeeded: i) &* 2_654_435_761 ^ plan.salt
        do throws(RadioError) {
            switch command {
            case .setPower:
                let r = identity.powerRange
                let span = UInt32(Int(r.upper.deciDBm) - Int(r.lower.deciDBm) + 1)
                let want = Power(deciDBm: Int16(Int(r.lower.deciDBm) + Int(mixed % span)))
                if try await client.setPower(want) != want { return "wrong reply" }
            case .setChannel:
                let r = identity.channelRange
                let span = UInt32(r.upper - r.lower) + 1
                let want = r.lower + UInt16(mixed % span)
                if try await client.setChannel(want) != want { return "wrong reply" }
            case .getState:
                _ = try await client.state()
            case .ping, .mix:
                var payload: [UInt8] = []
                for v in [plan.salt, UInt32(truncatingIfNeeded: i)] {
                    for shift in stride(from: 0, to: 32, by: 8) { payload.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
                }
                _ = try await client.ping(payload)
            }
            return nil
        } catch {
            return kind(of: error)
        }
    }

    static func kind(of error: RadioError) -> String {
        switch error {
        case .timeout: "timeout"
        case .device(_, let status): status == .busy ? "busy" : "radio: \(status)"
        case .malformedResponse: "wrong reply"
        case .noValidResponse: "garbled"
        case .disconnected: "disconnected"
        case .writeTimeout: "write timeout"
        case .closed: "closed"
        case .cancelled: "cancelled"
        default: "other"
        }
    }

}

/// A duration in whole nanoseconds, for histograms; 0 for a negative one.
public func nanoseconds(_ d: Duration) -> UInt64 {
    UInt64(max(0, d.inNanoseconds))
}
