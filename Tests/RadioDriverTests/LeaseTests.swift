import Foundation
import Synchronization
import RadioIO
import RadioDriver
import RadioProtocol
import RadioSimTransport
import RadioSimulator
import Testing
@testable import RadioDaemon

/// The lease book alone (PROTOCOL.md §11.1): what each request, close and
/// expiry answers and tells, with time passed in.
@Suite("Lease book")
struct LeaseBookTests {
    let t0 = ContinuousClock.now

    func book() -> LeaseBook {
        var b = LeaseBook()
        var next: UInt64 = 0x1000
        b.makeToken = {
            next += 1
            return next
        }
        return b
    }

    func lock(_ seconds: UInt32 = 60, holder: String = "alice@pc:1", keep: Bool = false, wait: Bool = false) -> DaemonRequest {
        .lock(LockRequest(seconds: seconds, holder: holder, reason: "test", keep: keep, wait: wait))
    }

    func answers(_ effects: [LeaseBook.Effect]) -> [(Int, UInt16, Response)] {
        effects.compactMap { if case .answer(let c, let s, let r) = $0 { (c, s, r) } else { nil } }
    }

    func broadcasts(_ effects: [LeaseBook.Effect]) -> [LeaseEvent] {
        effects.compactMap { if case .notice(nil, _, let n) = $0 { n.event } else { nil } }
    }

    @Test func aGrantedLeaseRefusesOthersChangesAndTellsThemWho() {
        var b = book()
        let granted = b.handle(lock(), from: 1, sequence: 10, peer: "p1", now: t0)
        #expect(answers(granted).map(\.2) == [.ok(.daemon(.locked(token: 0x1001, leftSeconds: 60, renewed: false)))])
        #expect(broadcasts(granted) == [.taken])
        #expect(b.mayChange(1) && !b.mayChange(2))
        let refused = b.handle(lock(holder: "bob@pc:2"), from: 2, sequence: 11, peer: "p2", now: t0 + .seconds(5))
        guard case .notice(2, 11, let n)? = refused.first else {
            Issue.record("no refusal notice first: \(refused)")
            return
        }
        #expect(n.event == .refused && n.holder == "alice@pc:1" && n.heldSeconds == 5 && n.leftSeconds == 55)
        #expect(answers(refused).map(\.2) == [.failure(.lock, .busy)])
    }

    @Test func theHolderRenewsFromNowAndBecomesOwner() {
        var b = book()
        _ = b.handle(lock(10), from: 1, sequence: 1, peer: "p1", now: t0)
        let renewed = b.handle(lock(100, keep: true), from: 1, sequence: 2, peer: "p1", now: t0 + .seconds(8))
        #expect(answers(renewed).map(\.2) == [.ok(.daemon(.locked(token: 0x1001, leftSeconds: 100, renewed: true)))])
        #expect(broadcasts(renewed).isEmpty, "a renewal tells nobody")
        #expect(b.expire(now: t0 + .seconds(20)).isEmpty, "the first 10 s no longer count")
        #expect(b.info(for: 1, now: t0 + .seconds(20))?.leftSeconds == 88)
        #expect(broadcasts(b.expire(now: t0 + .seconds(108))) == [.expired])
        #expect(b.lease == nil)
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        var b = book()
        _ = b.handle(lock(), from: 1, sequence: 1, peer: "p1", now: t0)
        #expect(b.handle(lock(wait: true), from: 2, sequence: 5, peer: "p2", now: t0).isEmpty)
        #expect(b.handle(lock(wait: true), from: 3, sequence: 7, peer: "p3", now: t0).isEmpty)
        #expect(b.info(for: 1, now: t0)?.waiting == 2)
        let released = b.handle(.unlock(token: 0, force: false), from: 1, sequence: 2, peer: "p1", now: t0)
        #expect(broadcasts(released) == [.released, .taken])
        #expect(answers(released).map { $0.0 } == [2, 1], "the waiter's Lock is answered, then the Unlock")
        #expect(b.mayChange(2) && !b.mayChange(3))
        let gone = b.closed(2, now: t0)
        #expect(broadcasts(gone) == [.holderGone, .taken])
        #expect(answers(gone).map { "\($0.0)/\($0.1)" } == ["3/7"])
        #expect(b.mayChange(3))
    }

    @Test func aSecondWaitingLockTakesTheFirstsPlace() {
        var b = book()
        _ = b.handle(lock(), from: 1, sequence: 1, peer: "p1", now: t0)
        _ = b.handle(lock(wait: true), from: 2, sequence: 5, peer: "p2", now: t0)
        let again = b.handle(lock(wait: true), from: 2, sequence: 6, peer: "p2", now: t0)
        #expect(answers(again).map(\.1) == [5] && answers(again).map(\.2) == [.failure(.lock, .busy)])
        #expect(b.waiters.map(\.sequence) == [6])
        let withdrawn = b.handle(.unlock(token: 0, force: false), from: 2, sequence: 7, peer: "p2", now: t0)
        #expect(answers(withdrawn).map(\.2) == [.failure(.lock, .busy), .ok(.daemon(.unlocked(released: true)))])
        #expect(b.waiters.isEmpty && !b.mayChange(2))
    }

    @Test func aKeptLeaseOutlivesItsConnectionAndPassesByToken() {
        var b = book()
        _ = b.handle(lock(keep: true), from: 1, sequence: 1, peer: "p1", now: t0)
        #expect(b.closed(1, now: t0).isEmpty, "kept")
        #expect(!b.mayChange(1) && b.lease != nil)
        #expect(answers(b.handle(.claim(token: 0x9999), from: 4, sequence: 1, peer: "p4", now: t0)).map(\.2)
                == [.failure(.claim, .notHeld)])
        #expect(answers(b.handle(.claim(token: 0x1001), from: 4, sequence: 2, peer: "p4", now: t0)).map(\.2)
                == [.ok(.daemon(.claimed(leftSeconds: 60)))])
        #expect(b.mayChange(4))
        #expect(b.closed(4, now: t0).isEmpty, "a claimer leaving ends nothing")
        let byToken = b.handle(.unlock(token: 0x1001, force: false), from: 5, sequence: 1, peer: "p5", now: t0)
        #expect(broadcasts(byToken) == [.released])
    }

    @Test func withoutKeepTheOwnersCloseEndsItAndForceRevokes() {
        var b = book()
        _ = b.handle(lock(), from: 1, sequence: 1, peer: "p1", now: t0)
        #expect(broadcasts(b.closed(1, now: t0)) == [.holderGone])
        _ = b.handle(lock(), from: 2, sequence: 1, peer: "p2", now: t0)
        // Not the holder, no token: nothing of its own to give back.
        #expect(answers(b.handle(.unlock(token: 0, force: false), from: 3, sequence: 1, peer: "p3", now: t0)).map(\.2)
                == [.ok(.daemon(.unlocked(released: false)))])
        #expect(answers(b.handle(.unlock(token: 0x5555, force: false), from: 3, sequence: 2, peer: "p3", now: t0)).map(\.2)
                == [.failure(.unlock, .notHeld)])
        let forced = b.handle(.unlock(token: 0, force: true), from: 3, sequence: 3, peer: "127.0.0.1:9", now: t0)
        guard case .notice(nil, 0, let n)? = forced.first else {
            Issue.record("no revocation notice: \(forced)")
            return
        }
        #expect(n.event == .revoked && n.reason == "revoked by 127.0.0.1:9")
        #expect(b.lease == nil)
    }

    @Test func durationsOutsideOneSecondToSevenDaysAreOutOfRange() {
        var b = book()
        for seconds: UInt32 in [0, LockRequest.maxSeconds + 1] {
            #expect(answers(b.handle(lock(seconds), from: 1, sequence: 1, peer: "p", now: t0)).map(\.2)
                    == [.failure(.lock, .outOfRange)])
        }
        #expect(b.lease == nil)
    }
}

/// A daemon in this process over a simulated radio, and clients over TCP:
/// the lease as the clients see it.
@Suite("Leases and status through the daemon")
struct DaemonLeaseTests {
    final class Served {
        let radio = LoopTransport(configuration: SimulatorConfiguration())
        let daemon: RadioDaemon
        let serving: Thread
        var url: String { daemon.urls[0] }

        init() throws {
            var options = RadioDaemon.Options()
            options.frameTimeout = .seconds(3600)
            options.version = "radio-cli test"
            daemon = try RadioDaemon(transport: radio, listen: [.tcp(HostAndPort(host: "127.0.0.1", port: 0))], options: options)
            let daemon = self.daemon
            serving = Thread { _ = daemon.run() }
            serving.start()
        }

        func client() throws -> RadioClient {
            // Generous: what is under test is who gets what, not speed.
            try RadioClient(port: url, options: .init(timeout: .seconds(20), retries: 0))
        }

        deinit {
            daemon.stop()
            while !serving.isFinished { usleep(1000) }
            radio.close()
        }
    }

    func lock(_ client: RadioClient, _ holder: String, seconds: UInt32 = 600, keep: Bool = false,
              wait: Bool = false) async throws -> UInt64 {
        let reply = try await client.daemon(.lock(LockRequest(seconds: seconds, holder: holder, reason: "test of \(holder)",
                                                              keep: keep, wait: wait)))
        guard case .locked(let token, _, _) = reply else { throw CancellationError() }
        return token
    }

    func lease(_ client: RadioClient) async throws -> LeaseInfo? {
        guard case .lease(let info) = try await client.daemon(.lease) else { throw CancellationError() }
        return info
    }

    /// Polls until `condition`, for up to 20 s (a loaded sanitized run is slow).
    func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let end = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < end {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("never: \(what)")
    }

    @Test func twoClientsFightOverSetPowerAndTheOneWithoutTheLeaseIsToldWhoHasIt() async throws {
        let served = try Served()
        let alice = try served.client(), bob = try served.client()
        defer { alice.close(); bob.close() }
        _ = try await lock(alice, "alice@bench:100")
        for i in 0..<5 {
            #expect(try await alice.setPower(Power(deciDBm: Int16(100 + i))) == Power(deciDBm: Int16(100 + i)))
            do {
                _ = try await bob.setPower(Power(deciDBm: -50))
                Issue.record("bob changed the power under alice's lease")
            } catch {
                guard case .leased(.setPower, let n) = error else {
                    Issue.record("expected a lease refusal, got \(error)")
                    continue
                }
                #expect(n.holder == "alice@bench:100" && n.reason == "test of alice@bench:100")
                #expect(error.description.contains("locked by alice@bench:100"), "\(error)")
            }
        }
        // Reads stay open to all, and what bob reads is alice's setting.
        #expect(try await bob.state().power == Power(deciDBm: 104))
        #expect(try await bob.identify().serialNumber == SimulatorConfiguration().serialNumber)
        #expect(bob.statistics.retries == 0, "a refusal is not retried")
        let counters = served.daemon.statistics
        #expect(counters.leaseRefusals == 5 && counters.leasesGranted == 1)
        let info = try await lease(bob)
        #expect(info?.holder == "alice@bench:100" && info?.yours == false)
        #expect(try await lease(alice)?.yours == true)
    }

    @Test func aLeaseExpiresOnItsOwnAndARenewalPushesTheEndBack() async throws {
        let served = try Served()
        let alice = try served.client(), bob = try served.client()
        defer { alice.close(); bob.close() }
        let token = try await lock(alice, "alice@bench:1", seconds: 30)
        // Renewed to 600 s from now: the end moves past the first 30 s.
        let renewed = try await alice.daemon(.lock(LockRequest(seconds: 600, holder: "alice@bench:1")))
        #expect(renewed == .locked(token: token, leftSeconds: 600, renewed: true))
        let seen = try await lease(bob)
        #expect(seen?.holder == "alice@bench:1" && (seen?.leftSeconds ?? 0) > 30, "\(String(describing: seen))")
        // A short one runs out by itself, and everyone is told.
        _ = try await alice.daemon(.lock(LockRequest(seconds: 1, holder: "alice@bench:1")))
        try await eventually("the 1 s lease expired") { try await lease(bob) == nil }
        #expect(alice.lastLeaseNotice?.event == .expired)
        #expect(try await bob.setPower(Power(deciDBm: 10)) == Power(deciDBm: 10))
    }

    @Test func theHoldersConnectionClosingEndsTheLeaseUnlessKept() async throws {
        let served = try Served()
        let bob = try served.client()
        defer { bob.close() }
        let alice = try served.client()
        _ = try await lock(alice, "alice@bench:2")
        alice.close()
        try await eventually("the lease ended with alice's connection") { try await lease(bob) == nil }
        #expect(bob.lastLeaseNotice?.event == .holderGone)

        let carol = try served.client()
        let token = try await lock(carol, "carol@bench:3", keep: true)
        carol.close()
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await lease(bob)?.keep == true, "kept after its connection closed")
        await #expect(throws: RadioError.self) { _ = try await bob.setChannel(5) }
        // Whoever has the token may use it, and give it back.
        let dave = try served.client()
        defer { dave.close() }
        let claimed = try await dave.daemon(.claim(token: token))
        guard case .claimed(let left) = claimed, (500...600).contains(left) else {
            Issue.record("claim: \(claimed)")
            return
        }
        #expect(try await dave.setChannel(7) == 7)
        #expect(try await dave.daemon(.unlock(token: 0, force: false)) == .unlocked(released: true))
        #expect(try await bob.setChannel(8) == 8)
    }

    @Test func waitingLocksAreGrantedInTheOrderTheyCame() async throws {
        let served = try Served()
        let holder = try served.client()
        let waiters = try (0..<3).map { _ in try served.client() }
        defer { holder.close(); for w in waiters { w.close() } }
        _ = try await lock(holder, "first@bench:1")
        let order = OrderLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, w) in waiters.enumerated() {
                // One at a time into the queue, so that arrival order is known.
                group.addTask {
                    _ = try await lock(w, "waiter\(i)@bench:1", wait: true)
                    order.append(i)
                    try await Task.sleep(for: .milliseconds(50))
                    _ = try await w.daemon(.unlock(token: 0, force: false))
                }
                try await eventually("waiter \(i) queued") { try await lease(holder)?.waiting == UInt16(i + 1) }
            }
            _ = try await holder.daemon(.unlock(token: 0, force: false))
            try await group.waitForAll()
        }
        #expect(order.all == [0, 1, 2])
        #expect(try await lease(holder) == nil)
    }

    @Test func statusReportsTheClientsTheirLoadAndTheLease() async throws {
        let served = try Served()
        let workers = try (0..<3).map { _ in try served.client() }
        let asker = try served.client()
        defer { for w in workers { w.close() }; asker.close() }
        for (i, w) in workers.enumerated() {
            for n in 0..<(5 * (i + 1)) { _ = try await w.setChannel(UInt16(1 + n)) }
        }
        _ = try await lock(workers[2], "w2@bench:9")
        let document = try await fetchStatus(asker)
        #expect(document.version == "radio-cli test")
        #expect(document.radio?.serial_number == SimulatorConfiguration().serialNumber)
        #expect(document.link.up)
        #expect(document.clients_connected == 4)
        let byRequests = document.clients.map(\.requests).sorted()
        #expect(byRequests == [0, 5, 10, 15], "\(document.clients)")
        #expect(document.clients.allSatisfy { $0.in_flight == 0 && $0.queued == 0 })
        #expect(document.clients.filter(\.holds_lease).map(\.requests) == [15])
        #expect(document.lease?.holder == "w2@bench:9" && (500...600).contains(document.lease?.left_s ?? 0))
        #expect(document.counters["requests"] == 30 && document.counters["responses"] == 30)
        #expect(document.counters["leases_granted"] == 1)
        #expect(document.listening == [served.url])
        // Past the end is out of range; a page is never over 245 bytes.
        do {
            _ = try await asker.daemon(.status(offset: 1_000_000))
            Issue.record("an offset past the end was answered")
        } catch {
            #expect(error == .device(.status, .outOfRange))
        }
    }

    /// The pages, as `radio-cli status` reads them.
    func fetchStatus(_ client: RadioClient) async throws -> DaemonStatus {
        var bytes: [UInt8] = []
        var total = 1
        while bytes.count < total {
            guard case .status(let t, let page) = try await client.daemon(.status(offset: UInt32(bytes.count))) else {
                throw CancellationError()
            }
            #expect(page.count <= DaemonReply.maxStatusBytes)
            total = Int(t)
            bytes += page
        }
        return try DaemonStatus(bytes: bytes)
    }

    /// A client that predates leases: raw bytes in, frames out. It gets the
    /// notice (an unsolicited type it would ignore) and then a plain busy
    /// with its own sequence number.
    @Test func aClientThatKnowsNoLeasesGetsAPlainBusy() async throws {
        let served = try Served()
        let holder = try served.client()
        defer { holder.close() }
        _ = try await lock(holder, "alice@bench:5")
        let url = served.url
        let port = try #require(url.split(separator: ":").last.flatMap { UInt16($0) })
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian,
                                  sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Message.request(.setPower(Power(deciDBm: 7))).frame(sequence: 0x4242).wireBytes
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while frames.count < 2 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            decoder.feed(buffer[..<n]) { if case .frame(let f) = $0, !FrameType.isTelemetry(f.type) || f.type == FrameType.lease { frames.append(f) } }
        }
        #expect(frames.map(\.type) == [FrameType.lease, Command.setPower.rawValue | FrameType.responseFlag])
        #expect(frames.map(\.sequence) == [0x4242, 0x4242])
        #expect(frames.last?.payload == [Status.busy.rawValue])
    }

    /// Link and Lease frames are the daemon's own: a radio sending them
    /// (a broken or hostile one) is not believed, and they reach no host.
    @Test func noticesFromTheRadioAreDropped() async throws {
        let pty = try PseudoTerminal.open()
        defer { try? pty.master.close(); try? pty.slave.close() }
        var options = RadioDaemon.Options()
        options.frameTimeout = .seconds(3600)
        let transport = try PortSchemes.standard.open("serial://\(pty.slavePath)?reconnect=off")
        let daemon = try RadioDaemon(transport: transport, listen: [.tcp(HostAndPort(host: "127.0.0.1", port: 0))], options: options)
        let serving = Thread { _ = daemon.run() }
        serving.start()
        defer {
            daemon.stop()
            while !serving.isFinished { usleep(1000) }
            transport.close()
        }
        let client = try RadioClient(port: daemon.urls[0], options: .init(timeout: .seconds(20), retries: 0))
        defer { client.close() }
        let spoofed = Message.link(LinkNotice(isUp: false, reason: "spoofed")).frame(sequence: 0).wireBytes
            + Message.lease(LeaseNotice(event: .taken, holder: "mallory@x:1")).frame(sequence: 0).wireBytes
            + Message.telemetry(TelemetrySample(sequence: 1, uptimeMillis: 5, measurements: Measurements(
                rssiDeciDBm: 0, snrDeciDB: 0, temperatureDeciC: 0, supplyMillivolts: 0, forwardDeciDBm: 0,
                reflectedDeciDBm: 0))).frame(sequence: 1).wireBytes
        // Only once the client is registered, so a forwarded notice would reach it.
        let end = ContinuousClock.now + .seconds(20)
        while served(daemon) == 0 && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        _ = spoofed.withUnsafeBytes { write(pty.master.rawValue, $0.baseAddress, $0.count) }
        while daemon.statistics.telemetryFrames < 1 && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(daemon.statistics.ignoredFrames == 2 && daemon.statistics.telemetryFrames == 1)
        #expect(client.disconnection == nil && client.lastLeaseNotice == nil, "a spoofed notice reached the client")
        #expect(client.statistics.telemetryFrames == 1)
    }

    func served(_ daemon: RadioDaemon) -> Int { daemon.clientCount }

    @Test func aRadioAnswersTheDaemonsRequestsUnknownCommand() async throws {
        let radio = RadioClient(transport: LoopTransport(configuration: SimulatorConfiguration()))
        defer { radio.close() }
        do {
            _ = try await radio.daemon(.lease)
            Issue.record("a radio answered Lease")
        } catch {
            #expect(error == .device(.lease, .unknownCommand))
        }
    }
}

final class OrderLog: Sendable {
    private let values = Mutex<[Int]>([])
    func append(_ v: Int) { values.withLock { $0.append(v) } }
    var all: [Int] { values.withLock { $0 } }
}
