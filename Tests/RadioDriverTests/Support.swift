import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Synchronization
import Testing

/// Numbers the simulators `withPtyRadio` starts.
private let ptyRadioCount = Atomic<Int>(0)

/// A simulator on a real pty in this process, and a client on its slave
/// through the termios transport, as with hardware. Unless a test passes
/// its own options, calls get a 10 s deadline: tests that are not about
/// deadlines must not fail because a sanitized, parallel run is slow.
/// Each simulator has a serial number of its own (PTY-1, PTY-2, ...): once
/// a test stops its simulator, a test running alongside may get the same
/// /dev/pts number, and the client, which reopens a tty path that comes
/// back, must see by the reopen's Identify check that it is another radio.
func withPtyRadio<T>(
    _ configure: (inout SimulatorConfiguration) -> Void = { _ in },
    // 30 s: a first attempt gets 10 s, which outlasts the multi-second
    // stalls a loaded sanitized CI run has shown (5.5 s once), so that a
    // test not about timing sees no retry and no late, unmatched reply.
    options: RadioClient.Options = RadioClient.Options(timeout: .seconds(30)),
    _ body: (PtySimulator, RadioClient) async throws -> T
) async throws -> T {
    var config = SimulatorConfiguration()
    config.telemetryHz = 0
    config.serialNumber = "PTY-\(ptyRadioCount.add(1, ordering: .relaxed).newValue)"
    configure(&config)
    let sim = try PtySimulator(configuration: config)
    defer { sim.stop() }
    let client = try RadioClient(port: sim.slavePath, options: options)
    defer { client.close() }
    return try await body(sim, client)
}

/// A simulator on a real pty with telemetry off, for tests that open and
/// close clients on it themselves.
func quietSimulator() throws -> PtySimulator {
    var config = SimulatorConfiguration()
    config.telemetryHz = 0
    return try PtySimulator(configuration: config)
}

/// Runs `body` and returns the RadioError it throws, or records an issue.
func expectRadioError<T>(_ body: () async throws(RadioError) -> T) async -> RadioError? {
    do {
        let value = try await body()
        Issue.record("expected an error, got \(value)")
        return nil
    } catch {
        return error
    }
}

extension RadioError {
    var isTimeout: Bool { if case .timeout = self { true } else { false } }
    var isDisconnected: Bool { if case .disconnected = self { true } else { false } }
}

/// Checks a subscriber's events: every jump in the sample sequence is
/// announced, by `.gap` (lost on the line) or `.dropped` (this subscriber
/// fell behind), with exactly the missing count. A loaded host, such as a
/// sanitizer build on two cores, may starve a subscriber or lose frames on
/// the line; it may never lose them silently.
func expectEveryLossAnnounced(_ events: [TelemetryEvent], sourceLocation: SourceLocation = #_sourceLocation) {
    var previous: UInt16?
    var announced = 0
    for event in events {
        switch event {
        case .dropped(let n), .gap(let n):
            announced += n
        case .disconnected:
            // The radio's sequence restarts after a reconnect.
            previous = nil
            announced = 0
        case .reconnected:
            break
        case .sample(let s):
            if let p = previous {
                #expect(s.sequence == p &+ 1 &+ UInt16(truncatingIfNeeded: announced),
                        "after #\(p) with \(announced) announced lost", sourceLocation: sourceLocation)
            }
            previous = s.sequence
            announced = 0
        }
    }
}

/// Reads events until `n` samples have arrived.
func samples(_ n: Int, from subscription: TelemetrySubscription) async -> [TelemetryEvent] {
    var events: [TelemetryEvent] = []
    var count = 0
    for await e in subscription {
        events.append(e)
        if case .sample = e { count += 1 }
        if count == n { break }
    }
    return events
}

/// A task executor with a thread of its own, for tests that judge how long a
/// driver call took. On the shared cooperative pool (two threads here), other
/// tests' blocking waits can hold both threads, and a call the driver ended on
/// time resumes seconds later: the test would be timing the pool, not the
/// driver (a CI run saw a 9.2 s "hang" that way). Jobs preferring this
/// executor run on its thread, whatever the pool is doing.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is read and written only while `condition` is
    // locked; `condition` (NSCondition) is itself thread-safe.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// One for the whole test process: its thread runs as long as the process.
    static let timing = DedicatedExecutor(name: "timing tests")

    private init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
