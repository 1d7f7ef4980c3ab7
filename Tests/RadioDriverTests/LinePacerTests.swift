@testable import RadioSimulator
import Testing

@Suite("Serial line emulation")
struct LinePacerTests {
    let t0 = ContinuousClock.now

    @Test func bytesArriveAfterTheirLineTime() {
        var pacer = LinePacer(baud: 10_000, now: t0)  // 1 ms per byte
        pacer.received([1, 2, 3, 4, 5], now: t0)
        let early = pacer.arrived(by: t0 + .microseconds(4_999))
        let onTime = pacer.arrived(by: t0 + .milliseconds(5))
        #expect(early.isEmpty)
        #expect(onTime == [[1, 2, 3, 4, 5]])
    }

    @Test func aBurstQueuesBehindTheOneBefore() {
        var pacer = LinePacer(baud: 10_000, now: t0)
        let first = pacer.transmit([1, 2], now: t0)
        let second = pacer.transmit([3, 4, 5], now: t0 + .milliseconds(1))  // line busy until 2 ms
        #expect(first && second)
        #expect(pacer.nextEvent == t0 + .milliseconds(2))
        var out: [UInt8] = []
        pacer.sent(by: t0 + .milliseconds(4), into: &out)
        #expect(out == [1, 2], "the second burst ends at 5 ms, not 4")
        pacer.sent(by: t0 + .milliseconds(5), into: &out)
        #expect(out == [1, 2, 3, 4, 5])
        #expect(pacer.nextEvent == nil)
    }

    @Test func receiveAndTransmitAreIndependent() {
        var pacer = LinePacer(baud: 10_000, now: t0)
        pacer.received([1, 1, 1], now: t0)
        let accepted = pacer.transmit([2], now: t0)
        #expect(accepted)
        var out: [UInt8] = []
        pacer.sent(by: t0 + .milliseconds(1), into: &out)
        #expect(out == [2], "full duplex: sending does not wait for receiving")
    }

    @Test func aTransmitQueueOverASecondDropsNewOutput() {
        var pacer = LinePacer(baud: 1_000, now: t0)  // 10 ms per byte
        let big = pacer.transmit([UInt8](repeating: 0, count: 150), now: t0)  // 1.5 s of line time
        let more = pacer.transmit([1], now: t0)
        #expect(big && !more)
    }
}
