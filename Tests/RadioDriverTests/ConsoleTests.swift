import RadioIO
import Testing

/// The small replacements for Foundation that radio-cli uses instead of it.
@Suite("RadioIO: fixed(), alignment, threads")
struct ConsoleTests {
    @Test(arguments: [
        (12.345, 1, "12.3"), (0.0, 1, "0.0"), (7.0, 0, "7"), (2.5, 0, "3"), (-2.5, 0, "-3"),
        (-3.14159, 2, "-3.14"), (1234567.891, 3, "1234567.891"), (0.005, 2, "0.01"), (99.96, 1, "100.0"),
        (Double.nan, 1, "nan"), (Double.infinity, 1, "inf"), (-Double.infinity, 1, "-inf"),
    ])
    func fixedRoundsHalvesAwayFromZero(_ value: Double, _ digits: Int, _ text: String) {
        #expect(fixed(value, digits) == text)
    }

    @Test func alignmentPadsAndNeverCuts() {
        #expect(leftAligned("ab", 4) == "ab  ")
        #expect(rightAligned("ab", 4) == "  ab")
        #expect(rightAligned("abcdef", 4) == "abcdef")
    }

    @Test func aStartedThreadRunsItsBodyOnce() async {
        let done = AsyncStream<Int>.makeStream()
        startThread(name: "a-name-longer-than-fifteen-bytes") { done.continuation.yield(42); done.continuation.finish() }
        var got: [Int] = []
        for await v in done.stream { got.append(v) }
        #expect(got == [42])
    }
}
