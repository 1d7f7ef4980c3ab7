public import Benchmark
import Foundation

/// Settings every suite shares, from the environment that
/// scripts/performance-monitor.sh sets.
public enum BenchSettings {
    static let environment = ProcessInfo.processInfo.environment
    static let slow = environment["RADIO_BENCH_MODE"] == "slow"

    /// `RADIO_BENCH_MODE=fast` (every push) keeps each benchmark short;
    /// `slow` (nightly) runs longer for tighter percentiles.
    public static let duration: Duration = slow ? .seconds(1) : .milliseconds(100)

    /// Each benchmark is registered once per round ("SetPower/pty#3"),
    /// rounds outermost, so the rounds interleave: a noisy second on this
    /// shared machine lands on one round of many benchmarks, not on every
    /// round of one. The report takes the median and the fastest round's
    /// p50. RADIO_BENCH_ROUNDS overrides (3 in the fast suite, 5 in the slow).
    public static let rounds = max(1, Int(environment["RADIO_BENCH_ROUNDS"] ?? "") ?? (slow ? 5 : 3))

    /// Wall clock, malloc count and malloc bytes, in nanoseconds.
    public static func configuration(scalingFactor: BenchmarkScalingFactor, warmupIterations: Int = 1,
                                     maxIterations: Int) -> Benchmark.Configuration {
        Benchmark.Configuration(
            metrics: [.wallClock, .mallocCountTotal, .mallocBytesCount],
            timeUnits: .nanoseconds,
            warmupIterations: warmupIterations,
            scalingFactor: scalingFactor,
            maxDuration: duration,
            maxIterations: maxIterations)
    }
}
