import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

func sample(_ seq: Int, uptime: Int? = nil, temperature: Int16 = 300, rssi: Int16 = -700) -> TelemetrySample {
    TelemetrySample(sequence: UInt16(truncatingIfNeeded: seq), uptimeMillis: UInt32(uptime ?? seq),
                    measurements: Measurements(rssiDeciDBm: rssi, snrDeciDB: 400, temperatureDeciC: temperature,
                                               supplyMillivolts: 13_800, forwardDeciDBm: 100, reflectedDeciDBm: -110))
}

/// Reads `n` events from a subscription.
func take(_ n: Int, from subscription: TelemetrySubscription) async -> [TelemetryEvent] {
    var events: [TelemetryEvent] = []
    for await event in subscription {
        events.append(event)
        if events.count == n { break }
    }
    return events
}

@Suite("Telemetry fan-out")
struct TelemetryHubTests {
    @Test func subscribersThatKeepUpGetEverySampleInOrder() async {
        let hub = TelemetryHub()
        let subscriptions = (0..<3).map { _ in hub.subscribe(TelemetryFilter(bufferSize: 2048)) }
        // Consumers run while the publisher publishes.
        await withTaskGroup(of: [TelemetryEvent].self) { group in
            for s in subscriptions { group.addTask { await take(1000, from: s) } }
            for i in 0..<1000 { hub.publish(sample(i)) }
            for await events in group {
                #expect(events == (0..<1000).map { .sample(sample($0)) })
            }
        }
        #expect(subscriptions.allSatisfy { $0.droppedCount == 0 })
    }

    @Test func aStuckSubscriberLosesTheOldestAndSeesTheCountWhileAFastOneLosesNone() async {
        let hub = TelemetryHub()
        let stuck = hub.subscribe(TelemetryFilter(bufferSize: 16))
        let fast = hub.subscribe(TelemetryFilter(bufferSize: 16))
        var fastEvents: [TelemetryEvent] = []
        var iterator = fast.makeAsyncIterator()
        for i in 0..<1000 {
            hub.publish(sample(i))
            // The fast subscriber reads each sample as it comes.
            if let e = await iterator.next() { fastEvents.append(e) }
        }
        #expect(fastEvents == (0..<1000).map { .sample(sample($0)) })
        #expect(fast.droppedCount == 0)

        // The stuck one wakes up: first the loss, then the newest 16, in order.
        let late = await take(17, from: stuck)
        #expect(late.first == .dropped(count: 984))
        #expect(Array(late.dropFirst()) == (984..<1000).map { .sample(sample($0)) })
        #expect(stuck.droppedCount == 984)
    }

    @Test func cancellingTheIteratingTaskUnsubscribes() async throws {
        let hub = TelemetryHub()
        let subscription = hub.subscribe()
        let task = Task { await take(1_000_000, from: subscription) }
        hub.publish(sample(0))
        #expect(hub.subscriberCount == 1)
        task.cancel()
        let got = await task.value
        #expect(got.count <= 1)
        #expect(hub.subscriberCount == 0)
        // Later samples go nowhere and cost nothing.
        hub.publish(sample(1))
    }

    @Test func droppingTheSubscriptionUnsubscribes() {
        let hub = TelemetryHub()
        do {
            let a = hub.subscribe(), b = hub.subscribe()
            #expect(hub.subscriberCount == 2)
            b.cancel()
            #expect(hub.subscriberCount == 1)
            _ = a
        }
        #expect(hub.subscriberCount == 0)
    }

    @Test func aSequenceJumpIsReportedAsAGap() async {
        let hub = TelemetryHub()
        let s = hub.subscribe()
        for seq in [0, 1, 2, 5, 6] { hub.publish(sample(seq)) }
        #expect(await take(6, from: s) == [
            .sample(sample(0)), .sample(sample(1)), .sample(sample(2)), .gap(missed: 2), .sample(sample(5)), .sample(sample(6)),
        ])
    }

    @Test func sequenceWrapIsNotAGap() async {
        let hub = TelemetryHub()
        let s = hub.subscribe()
        for seq in [65534, 65535, 65536, 65537] { hub.publish(sample(seq)) }
        #expect(await take(4, from: s).allSatisfy { if case .sample = $0 { true } else { false } })
    }

    @Test func decimationKeepsAtMostTheRequestedRate() async {
        let hub = TelemetryHub()
        let s = hub.subscribe(TelemetryFilter(maxRate: 10))  // 100 ms apart by the radio's clock
        for i in 0..<100 { hub.publish(sample(i, uptime: i * 10)) }  // 100 Hz for 1 s
        hub.finishAll()
        var uptimes: [UInt32] = []
        for await case .sample(let x) in s { uptimes.append(x.uptimeMillis) }
        #expect(uptimes == stride(from: 0, to: 1000, by: 100).map(UInt32.init))
    }

    @Test func fieldFilterDeliversOnlyChangesOfTheChosenFields() async {
        let hub = TelemetryHub()
        let s = hub.subscribe(TelemetryFilter(fields: .temperature))
        let temperatures: [Int16] = [300, 300, 301, 301, 301, 305]
        for (i, t) in temperatures.enumerated() { hub.publish(sample(i, temperature: t, rssi: Int16(-700 - i))) }
        hub.finishAll()
        var seen: [Int16] = []
        for await case .sample(let x) in s { seen.append(x.measurements.temperatureDeciC) }
        #expect(seen == [300, 301, 305])
    }

    @Test func predicateFilters() async {
        let hub = TelemetryHub()
        let weak = hub.subscribe(TelemetryFilter(where: { $0.measurements.rssiDeciDBm < -800 }))
        for (i, r) in [-700, -810, -790, -900].enumerated() { hub.publish(sample(i, rssi: Int16(r))) }
        hub.finishAll()
        var seen: [Int16] = []
        for await case .sample(let x) in weak { seen.append(x.measurements.rssiDeciDBm) }
        #expect(seen == [-810, -900])
    }

    @Test func closingTheClientEndsSubscriptions() async throws {
        var config = SimulatorConfiguration()
        config.telemetryHz = 100
        let radio = RadioClient(transport: LoopTransport(configuration: config))
        let subscription = radio.subscribe()
        let first = await take(3, from: subscription)
        #expect(first.count == 3)
        radio.close()
        // Iteration finishes (after any samples already held) instead of hanging.
        for await _ in subscription {}
        #expect(radio.telemetry.subscriberCount == 0)
    }

    @Test func manySubscribersOnARealPtyAllGetTheStream() async throws {
        try await withPtyRadio({ $0.telemetryHz = 500 }) { (_: PtySimulator, radio: RadioClient) async throws in
            let subscriptions = (0..<50).map { _ in radio.subscribe(TelemetryFilter(bufferSize: 1024)) }
            let results = await withTaskGroup(of: [TelemetryEvent].self) { group in
                for s in subscriptions { group.addTask { await samples(200, from: s) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 50)
            for events in results { expectEveryLossAnnounced(events) }
        }
    }
}
