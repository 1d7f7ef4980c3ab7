import Foundation
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing

/// The real ser2net (Debian's `ser2net`), started on loopback in front of a
/// simulator's pty, with a raw TCP accepter and an RFC 2217 one.
final class Ser2Net {
    let tcpPort: UInt16
    let rfc2217Port: UInt16
    let config: URL
    private(set) var process: Process?

    init(device: String) throws {
        tcpPort = try Self.freePort()
        rfc2217Port = try Self.freePort()
        config = FileManager.default.temporaryDirectory.appendingPathComponent("ser2net-\(UUID().uuidString).yaml")
        // chardelay off: the default holds each read back by a few
        // character times (about 3 ms per exchange here; see the README).
        let yaml = """
            connection: &raw
              accepter: tcp,127.0.0.1,\(tcpPort)
              connector: serialdev,\(device),115200n81,local
              options:
                chardelay: false
            connection: &rfc2217
              accepter: telnet(rfc2217),tcp,127.0.0.1,\(rfc2217Port)
              connector: serialdev,\(device),115200n81,local
              options:
                chardelay: false

            """
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        try start()
    }

    static var installed: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ser2net") }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ser2net")
        p.arguments = ["-n", "-c", config.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Ready when both ports listen. (Not by connecting: ser2net would
        // open the device for that connection, and the test's own client
        // could then find it busy while ser2net lets go of it.)
        let deadline = ContinuousClock.now + .seconds(10)
        for port in [tcpPort, rfc2217Port] {
            while !Self.listening(port) {
                guard ContinuousClock.now < deadline, p.isRunning else { throw Ser2NetError.notListening }
                usleep(20_000)
            }
        }
    }

    /// SIGKILL: no goodbye to its clients, as when the host or ser2net dies.
    func kill() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: config)
    }

    enum Ser2NetError: Error { case notListening, noPort }

    static func freePort() throws -> UInt16 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) == 0 && getsockname(s, $0, &length) == 0 }
        }
        guard bound else { throw Ser2NetError.noPort }
        return UInt16(bigEndian: address.sin_port)
    }

    /// True when /proc/net/tcp shows 127.0.0.1:port in LISTEN state.
    static func listening(_ port: UInt16) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return false }
        let local = String(format: "0100007F:%04X", port)
        return table.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1] == local && fields[3] == "0A"
        }
    }
}

@Suite("Through ser2net (RFC 2217 and raw TCP)", .serialized, .enabled(if: Ser2Net.installed, "needs ser2net: make deps installs it"))
struct Ser2NetTests {
    @Test("every command, with 0xFF bytes both ways, through rfc2217:// and tcp://")
    func everyCommandThroughBoth() async throws {
        for rfc2217 in [true, false] {
            // A radio and a server each: ser2net gives a device to one
            // connection at a time.
            let sim = try quietSimulator()
            defer { sim.stop() }
            let server = try Ser2Net(device: sim.slavePath)
            let port = rfc2217 ? "rfc2217://127.0.0.1:\(server.rfc2217Port)?baud=115200" : "tcp://127.0.0.1:\(server.tcpPort)"
            let client = try RadioClient(port: port, options: .init(timeout: .seconds(3)))
            defer { client.close() }
            let id = try await client.identify()
            #expect(id.serialNumber == SimulatorConfiguration().serialNumber, "\(port)")
            // -0.1 dBm is 0xFFFF on the wire; channel 255 is 0xFF.
            #expect(try await client.setPower(Power(deciDBm: -1)) == Power(deciDBm: -1), "\(port)")
            #expect(try await client.setChannel(255) == 255, "\(port)")
            let state = try await client.state()
            #expect(state.power == Power(deciDBm: -1) && state.channel == 255, "\(port)")
            // The largest ping, mostly 0xFF, and every byte value.
            let payloads: [[UInt8]] = [[UInt8](repeating: 0xFF, count: Request.maxPingBytes),
                                       (0..<Request.maxPingBytes).map { UInt8(truncatingIfNeeded: 255 - $0) }]
            for payload in payloads {
                guard case .pong(let echo) = try await client.send(.ping(payload)) else {
                    Issue.record("no pong through \(port)")
                    continue
                }
                #expect(echo == payload, "\(port)")
            }
            #expect(client.statistics.crcErrors == 0 && client.statistics.discardedBytes == 0, "\(port)")
            #expect(sim.snapshot.channel == 255)
        }
    }

    @Test("ser2net killed mid-call: the call fails with disconnected; restarted: the client reconnects")
    func serverKilledAndRestarted() async throws {
        for rfc2217 in [false, true] {
            let sim = try quietSimulator()
            defer { sim.stop() }
            let server = try Ser2Net(device: sim.slavePath)
            let port = rfc2217 ? "rfc2217://127.0.0.1:\(server.rfc2217Port)" : "tcp://127.0.0.1:\(server.tcpPort)"
            let client = try RadioClient(port: port, options: .init(timeout: .seconds(10), retries: 0))
            defer { client.close() }
            #expect(try await client.setChannel(7) == 7)

            sim.freeze()  // the next call is certainly in flight when ser2net dies
            let inFlight = Task { () -> (Result<RadioState, RadioError>, ContinuousClock.Instant) in
                do throws(RadioError) { return (.success(try await client.state()), .now) } catch { return (.failure(error), .now) }
            }
            try await Task.sleep(for: .milliseconds(200))
            let killed = ContinuousClock.now
            server.kill()
            let (outcome, ended) = await inFlight.value
            guard case .failure(let error) = outcome else {
                Issue.record("a call in flight when ser2net died succeeded through \(port)")
                continue
            }
            #expect(error.isDisconnected, "\(port): \(error)")
            #expect(ended - killed < .seconds(3), "\(port): failed \(ended - killed) after the kill, not at once")
            sim.thaw()

            try server.start()
            var state: RadioState?
            let deadline = ContinuousClock.now + .seconds(10)
            while state == nil && ContinuousClock.now < deadline {
                state = try? await client.state()
                if state == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(state?.channel == 7, "\(port): no successful call within 10 s of ser2net's restart")
            #expect(client.statistics.disconnections == 1, "\(port)")
        }
    }
}
