@testable import RadioDriver
import Testing

@Suite("Telnet (RFC 854/2217) codec")
struct TelnetTests {
    func decode(_ input: [UInt8], with telnet: inout Telnet) -> (data: [UInt8], replies: [UInt8]) {
        var bytes = input
        var replies: [UInt8] = []
        let kept = bytes.withUnsafeMutableBytes { telnet.decode($0, count: input.count, replies: &replies) }
        return (Array(bytes[0..<kept]), replies)
    }

    @Test func dataBytes0xFFAreDoubledAndUndoubled() {
        var out: [UInt8] = []
        Telnet.escape([0x01, 0xFF, 0x00, 0xFF, 0xFF], into: &out)
        #expect(out == [0x01, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])
        var telnet = Telnet()
        #expect(decode(out, with: &telnet).data == [0x01, 0xFF, 0x00, 0xFF, 0xFF])
    }

    @Test func commandsSplitAcrossReadsAreStripped() {
        var telnet = Telnet()
        // A subnegotiation reply (SET-BAUDRATE 115200 = 0x0001C200) split
        // over three reads, data around it, an escaped 0xFF inside it.
        let stream: [UInt8] = [0x41, 255, 250, 44, 101, 0x00, 0x01, 0xC2, 0x00, 255, 255, 255, 240, 0x42, 255, 255, 0x43]
        var data: [UInt8] = []
        for piece in [stream[0..<3], stream[3..<10], stream[10...]] {
            data += decode(Array(piece), with: &telnet).data
        }
        #expect(data == [0x41, 0x42, 0xFF, 0x43])
        #expect(telnet.serverSubnegotiations == 1)
    }

    @Test func negotiationIsAnsweredOnceAndUnknownOptionsRefused() {
        var telnet = Telnet()
        // DO ECHO (1): refused; WILL BINARY: already asked for, no answer;
        // DO TERMINAL-TYPE (24) twice: refused once.
        let (data, replies) = decode([255, 253, 1, 255, 251, 0, 255, 253, 24, 255, 253, 24], with: &telnet)
        #expect(data.isEmpty)
        #expect(replies == [255, 252, 1, 255, 252, 24])
    }

    @Test func theHandshakeSetsTheLineAndEscapesTheBaudRate() {
        // 65,535 baud is 0x0000FFFF: both 0xFF bytes must be doubled.
        let hello = Telnet.handshake(baud: 65_535, setControl: false)
        let baud: [UInt8] = [255, 250, 44, 1, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 255, 240]
        #expect(hello.indices.contains { hello[$0...].starts(with: baud) })
        #expect(!hello.indices.contains { hello[$0...].starts(with: [255, 250, 44, 5]) }, "control=off sends no SET-CONTROL")
        #expect(Telnet.handshake(baud: 115_200, setControl: true).indices.contains { i in
            Telnet.handshake(baud: 115_200, setControl: true)[i...].starts(with: [255, 250, 44, 5, 1, 255, 240])
        })
    }
}
