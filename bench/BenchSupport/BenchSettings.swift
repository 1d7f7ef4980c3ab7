public import Benchmark
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Settings every suite shares, from the environment that
/// scripts/performance-monitor.sh sets.
public enum BenchSettings {
    static let environment = ProcessInfo.processInfo.environment
    static let slow = environment["RADIO_BENCH_MODE"] == "slow"

    /// `RADIO_BENCH_MODE=fast` (every push) keeps each benchmark short;
    /// `slow` (nightly) runs longer for tighter percentiles.
    public static let duration: Duration = slow ? .seconds(1) : .milliseconds(100)

    /// Each benchmark is registered once per round ("SetPower/pty#3"), and
    /// package-benchmark runs every benchmark in a process of its own, so
    /// each round is an independent draw of the per-process state (thread
    /// placement, memory layout) that moves times on this VM. The report
    /// takes the median over rounds. RADIO_BENCH_ROUNDS overrides (3 in the
    /// fast suite, 5 in the slow, 7 for the gate).
    public static let rounds = max(1, Int(environment["RADIO_BENCH_ROUNDS"] ?? "") ?? (slow ? 5 : 3))

    /// Pins this benchmark process, and the threads and processes it starts,
    /// to CPU `RADIO_BENCH_CPU` when set. The benchmark tool that starts it
    /// stays on every CPU, so its own work does not queue behind the
    /// measurement. On this 2-vCPU VM an unpinned round trip's threads land
    /// in placements whose times differ by 20-45 %.
    public static func pinToConfiguredCPU() {
        guard let text = environment["RADIO_BENCH_CPU"], let cpu = Int(text), cpu >= 0, cpu < 1024 else { return }
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { bits in
            bits[cpu / 8] |= UInt8(1) << UInt8(cpu % 8)
        }
        // glibc declares sched_setaffinity only under _GNU_SOURCE, which the
        // Glibc module does not set: look it up by name (RTLD_DEFAULT is null).
        typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
        guard let symbol = dlsym(nil, "sched_setaffinity") else { return }
        let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
        // The call sets one thread's mask, and a new thread inherits its
        // creator's: so set every thread running now (the runtime's pools
        // already exist), twice in case one was being created meanwhile.
        var failed = false
        for _ in 0..<2 {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? ["0"]
            for tid in threads.compactMap({ pid_t($0) }) {
                if withUnsafeBytes(of: &set, { setAffinity(tid, $0.count, $0.baseAddress!) }) != 0 { failed = true }
            }
        }
        if failed {
            FileHandle.standardError.write(Data("BenchSettings: cannot pin every thread to CPU \(cpu)\n".utf8))
        }
    }

    /// Wall clock, malloc count and malloc bytes.
    public static let metrics: [BenchmarkMetric] = [.wallClock, .mallocCountTotal, .mallocBytesCount]

    /// `metrics`, times in nanoseconds.
    public static func configuration(scalingFactor: BenchmarkScalingFactor, warmupIterations: Int = 1,
                                     maxIterations: Int) -> Benchmark.Configuration {
        Benchmark.Configuration(
            metrics: metrics,
            timeUnits: .nanoseconds,
            warmupIterations: warmupIterations,
            scalingFactor: scalingFactor,
            maxDuration: duration,
            maxIterations: maxIterations)
    }
}
