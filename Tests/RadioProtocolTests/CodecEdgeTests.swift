import RadioProtocol
import Testing

@Suite("COBS and CRC edge cases")
struct CodecEdgeTests {
    func wire(_ type: UInt8 = 0x05, seq: UInt16 = 1, payload: [UInt8]) -> [UInt8] {
        Frame(type: type, sequence: seq, payload: payload).wireBytes
    }

    @Test func emptyPayloadRoundTrips() {
        let f = Frame(type: 0x04, sequence: 9)
        #expect(decodeAll(f.wireBytes) == [.frame(f)])
        #expect(f.wireBytes.count == Frame.minRawSize + 2)
    }

    @Test func maximumPayloadRoundTrips() {
        let payload = (0..<Frame.maxPayload).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
        let f = Frame(type: 0x05, sequence: 0xBEEF, payload: payload)
        let bytes = f.wireBytes
        #expect(bytes.count <= Frame.maxWireSize)
        #expect(decodeAll(bytes) == [.frame(f)])
    }

    @Test func largestNonZeroFrameUsesTheWholeEncodedBudget() throws {
        // A raw frame with no zero byte at all, CRC included, is COBS's worst
        // case: it must still fit in Frame.maxWireSize.
        let payload = [UInt8](repeating: 0xAA, count: Frame.maxPayload)
        let candidates = (UInt16(0x0101)...UInt16(0xFEFE)).lazy
            .filter { $0 & 0xFF != 0 && $0 >> 8 != 0 }
            .map { Frame(type: 0x05, sequence: $0, payload: payload) }
            .filter { f in
                let crc = CRC16.checksum([f.version, f.type, UInt8(f.sequence & 0xFF), UInt8(f.sequence >> 8)] + f.payload)
                return crc & 0xFF != 0 && crc >> 8 != 0
            }
        let f = try #require(candidates.first)
        #expect(f.wireBytes.count == Frame.maxWireSize)
        #expect(decodeAll(f.wireBytes) == [.frame(f)])
    }

    @Test func allZeroPayloadRoundTrips() {
        let f = Frame(type: 0x05, sequence: 0, payload: [UInt8](repeating: 0, count: Frame.maxPayload))
        let bytes = f.wireBytes
        #expect(bytes.dropLast().allSatisfy { $0 != 0 }, "no zero inside the encoded frame")
        #expect(decodeAll(bytes) == [.frame(f)])
    }

    @Test func frameSplitAtEveryByteBoundaryDecodesOnce() {
        let f = Frame(type: 0x02, sequence: 0x1234, payload: [0x00, 0x7D, 0x00, 0xFF])
        let bytes = f.wireBytes
        for cut in 0...bytes.count {
            var decoder = FrameDecoder()
            var events: [FrameDecoder.Event] = []
            decoder.feed(bytes[..<cut]) { events.append($0) }
            decoder.feed(bytes[cut...]) { events.append($0) }
            #expect(events == [.frame(f)], "split at \(cut)")
        }
    }

    @Test func byteAtATimeDecodes() {
        let frames = (0..<5).map { Frame(type: 0x05, sequence: UInt16($0), payload: [UInt8](repeating: UInt8($0), count: $0 * 3)) }
        var decoder = FrameDecoder()
        var events: [FrameDecoder.Event] = []
        for b in frames.flatMap(\.wireBytes) { decoder.feed([b]) { events.append($0) } }
        #expect(events == frames.map { .frame($0) })
    }

    @Test func twoFramesInOneRead() {
        let a = Frame(type: 0x04, sequence: 1), b = Frame(type: 0x03, sequence: 2, payload: [42, 0])
        #expect(decodeAll(a.wireBytes + b.wireBytes) == [.frame(a), .frame(b)])
    }

    @Test func garbageBeforeAFrameIsReportedThenTheFrameDecodes() {
        let f = Frame(type: 0x04, sequence: 3)
        let events = decodeAll([0x99, 0x41, 0x00] + f.wireBytes)
        #expect(events.count == 2)
        #expect(events.last == .frame(f))
        if case .error = events.first {} else { Issue.record("garbage not reported: \(events)") }
    }

    @Test func corruptFrameFollowedByAGoodOne() {
        let good = Frame(type: 0x02, sequence: 8, payload: [0x7D, 0x00])
        for position in 0..<(good.wireBytes.count - 1) {
            var corrupt = Frame(type: 0x02, sequence: 7, payload: [0x7D, 0x00]).wireBytes
            corrupt[position] ^= 0x5A
            if corrupt[position] == 0 { corrupt[position] = 0x33 }  // keep one run
            let events = decodeAll(corrupt + good.wireBytes)
            #expect(events.last == .frame(good), "corruption at byte \(position)")
            #expect(!events.dropLast().contains { if case .frame = $0 { true } else { false } },
                    "corruption at byte \(position) must not decode as a frame")
        }
    }

    @Test func everySingleBitFlipIsCaught() {
        let f = Frame(type: 0x03, sequence: 0x0102, payload: [0x2A, 0x00])
        let bytes = f.wireBytes
        for i in 0..<(bytes.count - 1) {
            for bit in 0..<8 {
                var c = bytes
                c[i] ^= 1 << bit
                let frames = decodeAll(c).filter { if case .frame = $0 { true } else { false } }
                #expect(frames.isEmpty, "flip byte \(i) bit \(bit) was not detected")
            }
        }
    }

    @Test func unboundedGarbageKeepsMemoryBounded() {
        var decoder = FrameDecoder()
        var errors = 0
        let junk = [UInt8](repeating: 0x55, count: 100_000)
        decoder.feed(junk) { _ in errors += 1 }
        #expect(decoder.bufferedCount <= Frame.maxEncodedSize)
        #expect(errors == 0, "no delimiter yet, so no event")
        let f = Frame(type: 0x04, sequence: 1)
        var events: [FrameDecoder.Event] = []
        decoder.feed([0] + f.wireBytes) { events.append($0) }
        #expect(events == [.error(.oversized), .frame(f)])
        #expect(decoder.counters.oversized == 1)
        #expect(decoder.counters.discardedBytes == 100_000)
    }

    @Test func hexHelpersRoundTrip() {
        #expect(bytes(fromHex: "00 ff 7A") == [0x00, 0xFF, 0x7A])
        #expect(bytes(fromHex: "0") == nil)
        #expect(bytes(fromHex: "zz") == nil)
        #expect(hexString([0x00, 0xAB]) == "00 ab")
    }

    @Test func powerParsesTenths() {
        #expect(Power(dBm: 12.5)?.deciDBm == 125)
        #expect(Power(dBm: -0.5)?.description == "-0.5 dBm")
        #expect(Power(dBm: .nan) == nil)
        #expect(Power(dBm: 1e9) == nil)
    }

    @Test func longIdentityStringsAreCutOnACharacterBoundary() throws {
        let long = String(repeating: "é", count: 40)  // 80 bytes of UTF-8
        let id = Identity(model: long, serialNumber: "S", firmwareVersion: "F", protocolVersion: 1,
                          powerRange: ClosedSpan(Power(deciDBm: 0), Power(deciDBm: 1)), channelRange: ClosedSpan(1, 2))
        let frame = Message.response(.ok(.identity(id))).frame(sequence: 1)
        guard case .response(.ok(.identity(let decoded))) = try Message(frame: frame) else {
            Issue.record("identity did not decode")
            return
        }
        #expect(decoded.model == String(repeating: "é", count: 16))
    }
}
