public import Histogram
public import RadioDriver
public import RadioProtocol

/// A command `radio-cli bench` can time.
public enum BenchCommand: String, CaseIterable, Sendable {
    case setPower = "set-power"
    case setChannel = "set-channel"
    case getState = "get-state"
    case ping

    /// The request for round trip `i`: set commands alternate between two
    /// values inside the radio's ranges, so every call changes something.
    func request(_ i: Int, identity: Identity) -> Request {
        switch self {
        case .setPower:
            let r = identity.powerRange
            return .setPower(i % 2 == 0 ? r.lower : r.upper)
        case .setChannel:
            let r = identity.channelRange
            return .setChannel(i % 2 == 0 ? r.lower : r.upper)
        case .getState:
            return .getState
        case .ping:
            return .ping([UInt8(truncatingIfNeeded: i), 0x5A, 0xA5, 0x00, 0xFF, 0x01, 0x02, 0x03])
        }
    }
}

/// What one command's round trips measured.
public struct CommandResult: Sendable {
    public let command: BenchCommand
    /// Round-trip times in nanoseconds, successful calls only.
    public var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    public var errors = 0
    /// The last error seen, for the report.
    public var lastError: RadioError?
    /// Wall time for all round trips, errors included.
    public var elapsed: Duration = .zero
    /// Bytes on the wire for one request and its reply.
    public let requestBytes: Int
    public let replyBytes: Int

    public var count: Int { Int(histogram.totalCount) + errors }

    /// Round trips per second over the whole run.
    public var throughput: Double {
        let s = elapsed.inSeconds
        return s > 0 ? Double(count) / s : 0
    }

    /// The time the bits need on a serial line at `baud`, both directions,
    /// 10 bits per byte (8N1): no link at that rate can do a round trip faster.
    public func wireFloor(baud: Int) -> Duration {
        .nanoseconds(Int64((requestBytes + replyBytes) * 10) * 1_000_000_000 / Int64(baud))
    }
}

/// Times sequential round trips of each command against one radio.
public struct LinkBenchmark: Sendable {
    public var commands: [BenchCommand]
    public var count: Int
    /// Round trips per command before measuring, to warm caches and paths.
    public var warmup: Int

    public init(commands: [BenchCommand], count: Int, warmup: Int = 50) {
        self.commands = commands
        self.count = count
        self.warmup = warmup
    }

    /// Runs every command `count` times, one in flight at a time. `progress`
    /// is called with (round trips done, total) now and then. Once `stop`
    /// says so, no further round trip starts: the results hold what was
    /// measured (a command not begun is left out).
    public func run(on radio: RadioClient,
                    progress: @Sendable (Int, Int) -> Void = { _, _ in },
                    stop: @escaping @Sendable () -> Bool = { false }) async throws(RadioError) -> [CommandResult] {
        let identity = try await radio.identify()
        var results: [CommandResult] = []
        let total = count * commands.count
        for (n, command) in commands.enumerated() where !stop() {
            let sample = Message.request(command.request(1, identity: identity)).frame(sequence: 0x0101).wireBytes.count
            let reply = try await replyBytes(command, radio: radio, identity: identity)
            var result = CommandResult(command: command, requestBytes: sample, replyBytes: reply)
            let clock = ContinuousClock()
            let start = clock.now
            // One request in flight: resume on the reader thread, which saves
            // a thread wake-up per round trip (RadioClient.onReaderThread).
            result = await radio.onReaderThread { () async -> CommandResult in
                var result = result
                for i in 0..<warmup where !stop() { _ = try? await radio.send(command.request(i, identity: identity)) }
                for i in 0..<count {
                    if stop() { break }
                    let t0 = clock.now
                    do throws(RadioError) {
                        _ = try await radio.send(command.request(i, identity: identity))
                        let dt = clock.now - t0
                        _ = result.histogram.record(nanoseconds(dt))
                    } catch {
                        result.errors += 1
                        result.lastError = error
                    }
                    if i % 64 == 0 { progress(n * count + i, total) }
                }
                return result
            }
            result.elapsed = clock.now - start
            progress((n + 1) * count, total)
            results.append(result)
        }
        return results
    }

    /// The reply's size on the wire, from one real reply re-encoded.
    private func replyBytes(_ command: BenchCommand, radio: RadioClient, identity: Identity) async throws(RadioError) -> Int {
        let reply = try await radio.send(command.request(1, identity: identity))
        return Message.response(.ok(reply)).frame(sequence: 0x0101).wireBytes.count
    }
}
