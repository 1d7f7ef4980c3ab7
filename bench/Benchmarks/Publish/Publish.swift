import BenchSupport
import Benchmark
import Foundation
import RadioDriver
import RadioProtocol

// The publish path of the telemetry hub, under the names the system we
// replace used, so its users' history lines up. Each benchmark iteration is
// one publish; subscribers are attached but do not read, so once their
// buffers fill every publish also takes the drop-oldest path: the cost a
// slow subscriber imposes.

let sample = TelemetrySample(
    sequence: 0, uptimeMillis: 0,
    measurements: Measurements(rssiDeciDBm: -712, snrDeciDB: 438, temperatureDeciC: 412,
                               supplyMillivolts: 13_790, forwardDeciDBm: 198, reflectedDeciDBm: -12))

/// Publishes `scaledIterations` samples with consecutive sequence numbers,
/// measured between two runs of the same-run reference (`Paired`).
func publish(_ hub: TelemetryHub, _ benchmark: Benchmark) {
    let reference = ReferenceWork()
    var s = sample
    var i = 0
    Paired.measure(benchmark, referenceCalls: 1000, reference: { blackHole(reference.call()) },
                   warmUp: { reference.warm() }) { n in
        for _ in 0..<n {
            i += 1
            s.sequence = UInt16(truncatingIfNeeded: i)
            s.uptimeMillis = UInt32(truncatingIfNeeded: i)
            blackHole(hub.publish(s))
        }
    }
}

/// The same fan-out the way a Swift developer writes it by default: one
/// AsyncStream per subscriber, newest kept, yield to each.
func referenceFanOut(_ continuations: [AsyncStream<TelemetrySample>.Continuation], _ benchmark: Benchmark) {
    var s = sample
    for i in benchmark.scaledIterations {
        s.sequence = UInt16(truncatingIfNeeded: i)
        for c in continuations { blackHole(c.yield(s)) }
    }
}

let benchmarks: @Sendable () -> Void = {
    BenchSettings.pinToConfiguredCPU()
    Benchmark.defaultConfiguration = BenchSettings.configuration(scalingFactor: .kilo, maxIterations: 1_000_000)

    for round in 1...BenchSettings.rounds {
        let tag = "#\(round)"
        Benchmark("PublishWithoutSubscribers\(tag)") { benchmark in
            publish(TelemetryHub(), benchmark)
        }

        for (group, counts) in [("PublishWithSubscribers", [10]), ("PublishWithManySubscribers", [50, 100, 500])] {
            for n in counts {
                Benchmark("\(group)/Subscribers_\(n)\(tag)") { benchmark in
                    let hub = TelemetryHub()
                    let subscriptions = (0..<n).map { _ in hub.subscribe() }
                    publish(hub, benchmark)
                    blackHole(subscriptions)
                }
            }
        }

        for n in [10, 500] {
            Benchmark("ReferenceAsyncStream/Subscribers_\(n)\(tag)") { benchmark in
                let streams = (0..<n).map { _ in AsyncStream<TelemetrySample>.makeStream(bufferingPolicy: .bufferingNewest(256)) }
                benchmark.startMeasurement()
                referenceFanOut(streams.map(\.continuation), benchmark)
                benchmark.stopMeasurement()
                blackHole(streams.map(\.stream))
            }
        }
    }

    // The scaled malloc column above rounds to whole mallocs per publish.
    // Here each iteration is exactly one publish, so every percentile is an
    // exact count: 0 means no publish allocated at all.
    for n in [0, 10, 500] {
        Benchmark("PublishAllocations/Subscribers_\(n)",
                  configuration: .init(metrics: [.mallocCountTotal], scalingFactor: .one,
                                       maxDuration: .seconds(1), maxIterations: 100_000)) { benchmark in
            let hub = TelemetryHub()
            let subscriptions = (0..<n).map { _ in hub.subscribe(TelemetryFilter(bufferSize: 64)) }
            var s = sample
            // Fill the rings first, so the measured publishes take the
            // drop-oldest path too.
            for i in 0..<100 { s.sequence = UInt16(i); hub.publish(s) }
            benchmark.startMeasurement()
            s.sequence = UInt16(truncatingIfNeeded: 100 + benchmark.currentIteration)
            hub.publish(s)
            benchmark.stopMeasurement()
            blackHole(subscriptions)
        }
    }
}
