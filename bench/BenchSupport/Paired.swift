public import Benchmark
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Same-run references for the time gate.
///
/// On this shared VM the host's noise comes and goes over tens to hundreds
/// of milliseconds and can double a benchmark's time, and it does not slow
/// everything alike (fixed CPU work barely moves while memory-heavy work
/// doubles). So each gated sample is measured between two runs of a
/// reference doing similar work, and its time over the reference's is
/// written, one line per sample, to a file in RADIO_BENCH_RELATIVE_DIR
/// (scripts/performance-monitor.sh sets it; scripts/perfreport.py reads it):
/// package-benchmark's exporter rescales custom metrics by the benchmark's
/// scaling factor and time unit, which garbles a plain ratio.
public enum Paired {
    /// The samples file of this process, opened on first use.
    nonisolated(unsafe) private static var file: Int32 = -2

    private static func write(_ line: String) {
        // Benchmarks run one at a time on one task, so the unsynchronised
        // `file` is only ever touched by one thread at once.
        if file == -2 {
            guard let dir = ProcessInfo.processInfo.environment["RADIO_BENCH_RELATIVE_DIR"] else { file = -1; return }
            file = open("\(dir)/\(getpid()).tsv", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        guard file >= 0 else { return }
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        _ = bytes.withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
    }

    /// Records one sample's ratio: `body` (the measured iterations, `count`
    /// of them, taking `bodyTime`) over the reference (`referenceCalls` calls
    /// in `referenceTime`), in thousandths.
    public static func record(_ benchmark: Benchmark, bodyTime: Duration, count: Int,
                              referenceTime: Duration, referenceCalls: Int) {
        let perIteration = bodyTime / count
        let perReference = referenceTime / referenceCalls
        guard perReference > .zero else { return }
        write("\(benchmark.name)\t\(perIteration / perReference)")
    }

    /// Alternations of reference and body in the `relative` run.
    static let slices = 8

    /// One sample of a synchronous benchmark. `body(n)` runs n iterations.
    /// First the sample proper: `scaledIterations` of `body`, measured (the
    /// wall clock and malloc metrics). Then, unmeasured, the `relative` run:
    /// the same number of iterations in eight slices, each after a slice of
    /// `referenceCalls` calls of `reference`, timed apart, so that body and
    /// reference see the same moment's noise (a time slice lost to another
    /// process, caches another tenant emptied).
    /// `warmUp` runs, untimed, before each slice of the reference: so that
    /// the reference finds its data as it left it, whatever the body's
    /// slice did to the caches. A reference that paid for the body's cache
    /// footprint would move with the code under test (the 500-subscriber
    /// publish evicted ReferenceWork's table: 392 ns a call in the baseline
    /// of 2026-12-02, 136 ns in a run of 2026-12-06, about 100 ns next to the
    /// small bodies), and a faster reference makes the code look slower.
    public static func measure(_ benchmark: Benchmark, referenceCalls: Int, reference: () -> Void,
                               warmUp: () -> Void = {}, body: (Int) -> Void) {
        let n = benchmark.scaledIterations.count
        benchmark.startMeasurement()
        body(n)
        benchmark.stopMeasurement()
        let clock = ContinuousClock()
        var bodyTime = Duration.zero, referenceTime = Duration.zero
        let slice = max(1, n / slices), calls = max(1, referenceCalls / slices)
        for _ in 0..<slices {
            warmUp()
            let t0 = clock.now
            for _ in 0..<calls { reference() }
            let t1 = clock.now
            body(slice)
            let t2 = clock.now
            referenceTime += t1 - t0
            bodyTime += t2 - t1
        }
        record(benchmark, bodyTime: bodyTime, count: slice * slices, referenceTime: referenceTime,
               referenceCalls: calls * slices)
    }

    /// `measure` for an async body.
    public static func measure(_ benchmark: Benchmark, referenceCalls: Int, reference: () async throws -> Void,
                               body: (Int) async throws -> Void) async throws {
        let n = benchmark.scaledIterations.count
        benchmark.startMeasurement()
        try await body(n)
        benchmark.stopMeasurement()
        let clock = ContinuousClock()
        var bodyTime = Duration.zero, referenceTime = Duration.zero
        let slice = max(1, n / slices), calls = max(1, referenceCalls / slices)
        for _ in 0..<slices {
            let t0 = clock.now
            for _ in 0..<calls { try await reference() }
            let t1 = clock.now
            try await body(slice)
            let t2 = clock.now
            referenceTime += t1 - t0
            bodyTime += t2 - t1
        }
        record(benchmark, bodyTime: bodyTime, count: slice * slices, referenceTime: referenceTime,
               referenceCalls: calls * slices)
    }
}

/// The reference for in-memory work (codec, publish): about 150 ns of mixed
/// work, dependent loads through a 64 KB table (what cache contention from
/// other tenants slows) and byte arithmetic over a frame-sized buffer (what
/// it does not). Not thread-safe: one per benchmark. A class, so that
/// `Paired.measure`'s reference and warm-up closures can share one.
public final class ReferenceWork {
    private var table: [UInt32]
    private var buffer: [UInt8]
    private var cursor: UInt32 = 0
    private var sink: UInt32 = 0

    public init() {
        // A single-cycle permutation (stride coprime to the size), so the
        // chase visits the whole table.
        let size = 16_384
        table = (0..<size).map { UInt32(($0 &* 7_919 &+ 1) % size) }
        buffer = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    }

    /// Reads the whole table and buffer in order: back in cache, as the
    /// reference left them (a few µs; untimed, before each slice).
    @inline(never)
    public func warm() {
        var s: UInt32 = 0
        table.withUnsafeBufferPointer { t in for v in t { s &+= v } }
        buffer.withUnsafeBufferPointer { b in for v in b { s &+= UInt32(v) } }
        sink = s
    }

    @inline(never)
    public func call() -> UInt32 {
        var c = cursor
        table.withUnsafeBufferPointer { t in
            for _ in 0..<24 { c = t[Int(c)] }
        }
        var h: UInt32 = 2_166_136_261
        buffer.withUnsafeBufferPointer { b in
            for byte in b.prefix(64) { h = (h ^ UInt32(byte)) &* 16_777_619 }
        }
        cursor = c
        return h ^ c
    }
}
