import RadioFirmware
import RadioProtocol
import Testing

/// What only the C core has: the hardware hooks, the telemetry clock, the
/// bounded output queue and string cutting.
@Suite("C firmware core")
struct FirmwareCoreTests {
    private func answer(_ core: FirmwareCore, _ request: Request, sequence: UInt16 = 5) throws -> Response {
        let replies = frames(in: core.exchange(wire(request, sequence: sequence)))
        #expect(replies.count == 1)
        let frame = try #require(replies.first)
        #expect(frame.sequence == sequence)
        guard case .response(let response) = try Message(frame: frame) else {
            Issue.record("not a response: \(frame)")
            return .failure(request.command, .malformed)
        }
        return response
    }

    @Test func hooksSayBusyOrFaultAndNothingChanges() throws {
        let core = FirmwareCore()
        core.setterStatus = UInt8(RFW_BUSY.rawValue)
        #expect(try answer(core, .setPower(Power(deciDBm: 50))) == .failure(.setPower, .busy))
        core.setterStatus = UInt8(RFW_HARDWARE_FAULT.rawValue)
        #expect(try answer(core, .setChannel(9)) == .failure(.setChannel, .hardwareFault))
        // A hook returning a status it may not (out of range, say) is a fault.
        core.setterStatus = UInt8(RFW_OUT_OF_RANGE.rawValue)
        #expect(try answer(core, .setChannel(9)) == .failure(.setChannel, .hardwareFault))
        #expect(core.power == -100 && core.channel == 1)
        core.setterStatus = UInt8(RFW_OK.rawValue)
        #expect(try answer(core, .setChannel(9)) == .ok(.channel(9)))
        #expect(core.hookCalls == 4)
        // Out of range is decided before the hardware is touched.
        #expect(try answer(core, .setPower(Power(deciDBm: 301))) == .failure(.setPower, .outOfRange))
        #expect(core.hookCalls == 4)
    }

    @Test func aHookMayRoundAndTheReplySaysWhatWasSet() throws {
        let core = FirmwareCore()
        core.roundPowerToWholeDBm = true
        #expect(try answer(core, .setPower(Power(deciDBm: 127))) == .ok(.power(Power(deciDBm: 120))))
        #expect(core.power == 120)
        guard case .ok(.state(let state)) = try answer(core, .getState) else {
            Issue.record("GetState failed")
            return
        }
        #expect(state.power == Power(deciDBm: 120))
    }

    @Test func stringsAreCutAtACharacterBoundary() throws {
        var identity = FirmwareCore.Identity()
        identity.model = String(repeating: "a", count: 31) + "é" // 'é' is 2 bytes: 33 in all
        identity.serialNumber = String(repeating: "x", count: 40)
        identity.firmwareVersion = ""
        let core = FirmwareCore(identity)
        guard case .ok(.identity(let id)) = try answer(core, .identify) else {
            Issue.record("Identify failed")
            return
        }
        #expect(id.model == String(repeating: "a", count: 31))
        #expect(id.serialNumber == String(repeating: "x", count: 32))
        #expect(id.firmwareVersion.isEmpty)
    }

    /// Telemetry at the set rate: 10 Hz over one second of 1 ms ticks is 10
    /// frames; 5000 Hz is 5 frames a tick; counters run on without gaps.
    @Test func telemetryFollowsTheRateOnTheClock() throws {
        let core = FirmwareCore()
        core.sensors.supply_mv = 13_800
        core.tick(1_000)
        var out: [UInt8] = []
        for ms in 1...1000 {
            core.tick(UInt32(1_000 + ms))
            out += core.drain()
        }
        var samples = try frames(in: out).map { try Message(frame: $0) }
        #expect(samples.count == 10)
        guard case .telemetry(let last)? = samples.last else {
            Issue.record("not telemetry: \(String(describing: samples.last))")
            return
        }
        #expect(last.sequence == 9 && last.uptimeMillis == 2_000 && last.measurements.supplyMillivolts == 13_800)

        // A stalled main loop comes back with at most 4 frames, not a burst.
        core.tick(60_000)
        #expect(frames(in: core.drain()).count == 4)

        #expect(try answer(core, .setTelemetryRate(5000)) == .ok(.telemetryRate(5000)))
        core.tick(60_001)
        samples = try frames(in: core.drain()).map { try Message(frame: $0) }
        #expect(samples.count == 5)
        if case .telemetry(let first)? = samples.first {
            #expect(first.sequence == 14 && first.uptimeMillis == 60_001)
        } else {
            Issue.record("not telemetry: \(String(describing: samples.first))")
        }

        #expect(try answer(core, .setTelemetryRate(0)) == .ok(.telemetryRate(0)))
        core.tick(70_000)
        #expect(core.pending == 0)
    }

    /// The uptime is a 32-bit millisecond counter: wrapping keeps the rate.
    @Test func telemetrySurvivesTheClockWrapping() {
        let core = FirmwareCore()
        core.tick(UInt32.max - 450)
        core.tick(549) // one second later, across the wrap
        #expect(frames(in: core.drain()).count == 4) // capped catch-up, not 4 billion
        core.tick(649)
        #expect(frames(in: core.drain()).count == 1)
    }

    /// Nobody drains the queue: responses fill it and the rest are dropped
    /// and counted, never half-queued; telemetry always leaves room for one
    /// largest response; after draining, everything works again.
    @Test func aFullOutputQueueDropsWholeFramesAndCountsThem() throws {
        let core = FirmwareCore()
        let bigPing = wire(.ping(Array(repeating: 0x55, count: 249)), sequence: 1)
        let replySize = FirmwareCore().exchange(bigPing).count // 258: COBS adds one code byte here
        for _ in 0..<10 { core.feed(bigPing) }
        let capacity = Int(RFW_TX_CAPACITY)
        // It queues a reply only while a largest frame (259 bytes) still fits.
        let fitting = (capacity - Int(RFW_MAX_WIRE)) / replySize + 1
        #expect(core.pending == fitting * replySize)
        #expect(Int(core.counters.answered) == fitting)
        #expect(Int(core.counters.responses_dropped) == 10 - fitting)

        core.tick(0)
        core.tick(1_000)
        #expect(core.counters.telemetry_dropped > 0 && core.counters.telemetry_sent == 0)

        // Drained in small pieces (a UART FIFO's worth), every frame is whole.
        let drained = core.drain(chunk: 16)
        #expect(frames(in: drained).count == fitting)
        #expect(core.pending == 0)
        #expect(try answer(core, .ping([1, 2, 3])) == .ok(.pong([1, 2, 3])))
    }

    /// A response with telemetry queued ahead of it still fits.
    @Test func telemetryNeverCrowdsOutAResponse() throws {
        let core = FirmwareCore()
        #expect(try answer(core, .setTelemetryRate(5000)) == .ok(.telemetryRate(5000)))
        core.tick(0)
        for ms in 1...50 { core.tick(UInt32(ms)) }
        let telemetryQueued = core.pending
        #expect(telemetryQueued > Int(RFW_TX_CAPACITY) - 2 * Int(RFW_MAX_WIRE))
        core.feed(wire(.ping(Array(repeating: 0x55, count: 249)), sequence: 9))
        #expect(core.counters.responses_dropped == 0)
        let replies = frames(in: core.drain()).filter { $0.type == 0x85 }
        #expect(replies.count == 1 && replies.first?.sequence == 9)
    }
}
