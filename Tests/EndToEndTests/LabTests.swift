import Foundation
import Testing

/// The lab layer from the command line: leases (lock, unlock, who), a
/// daemon's status, names from a lab file, and places.
@Suite("radio-cli lock, who, status, places")
struct LabTests {
    /// A daemon on loopback in front of an in-process simulator.
    func daemon() async throws -> (LineProcess, String) {
        let serve = try LineProcess("radio-cli", ["serve", "--port", "sim", "--listen", "127.0.0.1:0"])
        try await serve.waitUntil("listening") { !serve.listening.isEmpty }
        return (serve, serve.listening[0])
    }

    /// A lab file in a directory of its own; its environment for radio-cli.
    func labFile(_ text: String) throws -> [String: String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radio-lab-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("lab.yaml")
        try Data(text.utf8).write(to: file)
        return ["RADIO_LAB": file.path]
    }

    @Test func aLockedRadioRefusesOthersByNameAndACommandRunsUnderTheLease() async throws {
        let (serve, url) = try await daemon()
        defer { _ = serve }
        // Under the lease the command's own radio-cli calls pass (RADIO_LEASE);
        // meanwhile another client is refused, with the holder's name.
        let script = """
            "$RADIO_CLI" set-power 12 && RADIO_LEASE= "$RADIO_CLI" set-power 5 --port "$OTHER" 2>"$DIR/other.err"; \
            echo "other=$?"; exit 3
            """
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radio-lock-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cli = productsDirectory.appendingPathComponent("radio-cli").path
        let locked = try await run("radio-cli", ["lock", "--port", url, "--for", "30s", "--reason", "BER sweep", "--",
                                                 "sh", "-c", script],
                                   environment: ["RADIO_CLI": cli, "OTHER": url, "DIR": dir.path, "RADIO_LEASE": ""])
        #expect(locked.status == 3, "the command's exit status: \(locked.stderr)")
        #expect(locked.stdout.contains("locked \(url) for 30 s as "), "\(locked.stdout)")
        #expect(locked.stdout.contains("power set to 12.0 dBm"), "\(locked.stdout)")
        #expect(locked.stdout.contains("other=75"), "\(locked.stdout)")
        let other = (try? String(contentsOf: dir.appendingPathComponent("other.err"), encoding: .utf8)) ?? ""
        #expect(other.contains("radio busy: SetPower refused, the radio is locked by ") && other.contains("(BER sweep)"), "\(other)")
        // Given back when the command ended: free for the next.
        let who = try await run("radio-cli", ["who", "--port", url, "--json"])
        #expect(who.stdout == "{\"lease\":null,\"port\":\"\(url)\"}\n", "\(who.stdout)")
        #expect(try await run("radio-cli", ["set-power", "7", "--port", url]).status == 0)
    }

    @Test func aKeptLeaseIsShownByWhoAndGivenBackByToken() async throws {
        let (serve, url) = try await daemon()
        defer { _ = serve }
        let locked = try await run("radio-cli", ["lock", "--port", url, "--keep", "--for", "10m", "--reason", "overnight", "--json"],
                                   environment: ["RADIO_LEASE": ""])
        #expect(locked.status == 0, "\(locked.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(locked.stdout.utf8)) as? [String: Any] ?? [:]
        let token = try #require(object["token"] as? String)
        JSONSchema.check("lock --json", locked.stdout)
        JSONSchema.check("who --json", try await run("radio-cli", ["who", "--port", url, "--json"]).stdout)
        #expect(object["event"] as? String == "locked" && object["left_s"] as? Int == 600 && object["keep"] as? Bool == true)
        let who = try await run("radio-cli", ["who", "--port", url])
        #expect(who.stdout.contains("locked by ") && who.stdout.contains("kept after its connection closes")
                && who.stdout.contains("reason: overnight"), "\(who.stdout)")
        // The lock process is gone, the lease is not: others are refused...
        let refused = try await run("radio-cli", ["set-channel", "9", "--port", url])
        #expect(refused.status == 75 && refused.stderr.contains("(overnight)"), "\(refused.stderr)")
        // ...and RADIO_LEASE lets a later command use it.
        let mine = try await run("radio-cli", ["set-channel", "9", "--port", url], environment: ["RADIO_LEASE": token])
        #expect(mine.status == 0, "\(mine.stderr)")
        let notMine = try await run("radio-cli", ["unlock", "--port", url], environment: ["RADIO_LEASE": ""])
        #expect(notMine.status == 75 && notMine.stderr.contains("not by this client"), "\(notMine.stderr)")
        let bad = try await run("radio-cli", ["unlock", "--port", url, "--token", "0123456789abcdef"])
        #expect(bad.status == 65 && bad.stderr.contains("is not the lease"), "\(bad.stderr)")
        let back = try await run("radio-cli", ["unlock", "--port", url, "--token", token])
        #expect(back.status == 0 && back.stdout == "unlocked \(url)\n", "\(back.stdout + back.stderr)")
        let nothing = try await run("radio-cli", ["unlock", "--port", url, "--json"])
        #expect(nothing.stdout == "{\"port\":\"\(url)\",\"released\":false}\n", "\(nothing.stdout)")
        JSONSchema.check("unlock --json", nothing.stdout)
    }

    @Test func aHolderKilledWithoutKeepLosesTheLease() async throws {
        let (serve, url) = try await daemon()
        defer { _ = serve }
        let holder = try LineProcess("radio-cli", ["lock", "--port", url, "--for", "10m"], environment: ["RADIO_LEASE": ""])
        try await holder.waitUntil("the lease") { holder.lines.contains { $0.hasPrefix("locked ") } }
        #expect(try await run("radio-cli", ["set-power", "3", "--port", url]).status == 75)
        kill(holder.process.processIdentifier, SIGKILL)
        let end = ContinuousClock.now + .seconds(20)
        var free = false
        while !free && ContinuousClock.now < end {
            free = try await run("radio-cli", ["who", "--port", url]).stdout.contains("not locked")
            if !free { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(free, "the lease ended with its holder's connection")
        #expect(serve.errorLines.contains { $0.contains("ended: its holder's connection closed") }, "\(serve.errorLines)")
    }

    @Test func statusShowsTheDaemonAndLeasesNeedADaemon() async throws {
        let (serve, url) = try await daemon()
        defer { _ = serve }
        _ = try await run("radio-cli", ["set-channel", "4", "--port", url])
        let status = try await run("radio-cli", ["status", "--port", url, "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any] ?? [:]
        JSONSchema.check("status --json", status.stdout)
        #expect(object["port"] as? String == url)
        #expect((object["radio"] as? [String: Any])?["serial_number"] as? String == "SIM-0001")
        #expect((object["counters"] as? [String: Any])?["requests"] as? Int ?? 0 >= 1)
        #expect((object["version"] as? String)?.hasPrefix("radio-cli ") == true)
        let text = try await run("radio-cli", ["status", "--port", url])
        #expect(text.stdout.contains("link:    up") && text.stdout.contains("clients: 1 connected"), "\(text.stdout)")
        // A radio is not a daemon: one line, exit 64.
        for command in ["lock", "who", "status"] {
            let direct = try await run("radio-cli", [command, "--port", "sim"])
            #expect(direct.status == 64 && direct.stderr.contains("is a radio, not a sharing daemon"), "\(command): \(direct.stderr)")
        }
    }

    /// Three places on loopback: two daemons, and one whose host accepts
    /// connections but never answers (a listener nobody serves). `places`
    /// asks all at once and lists the third as down within its timeout.
    @Test func placesAsksEveryDaemonAtOnceAndMarksTheSilentOneDown() async throws {
        let (a, urlA) = try await daemon()
        let (b, urlB) = try await daemon()
        defer { _ = (a, b) }
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0,
                                  sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) } }
        listen(silent, 8)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) } }
        let silentURL = "tcp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        _ = try await run("radio-cli", ["lock", "--port", urlB, "--keep", "--reason", "soak"], environment: ["RADIO_LEASE": ""])
        let env = try labFile("""
            # three benches
            places:
              bench-1: \(urlA)
              bench-2:
                port: \(urlB)
                description: soak rig
              bench-3: \(silentURL)
            """)
        let started = ContinuousClock.now
        let places = try await run("radio-cli", ["places", "--json", "--timeout", "1"], environment: env)
        let took = ContinuousClock.now - started
        #expect(places.status == 0, "\(places.stderr)")
        JSONSchema.check("places --json", places.stdout)
        let rows = places.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.map { $0["name"] as? String } == ["bench-1", "bench-2", "bench-3"], "\(places.stdout)")
        #expect(rows.map { $0["state"] as? String } == ["up", "up", "down"], "\(places.stdout)")
        #expect((rows[1]["lease"] as? [String: Any])?["reason"] as? String == "soak", "\(places.stdout)")
        #expect(rows[1]["description"] as? String == "soak rig")
        #expect((rows[2]["error"] as? String)?.contains("timeout") == true, "\(places.stdout)")
        // Asked at once: not one timeout after another. (A hang guard, not
        // a speed test: 1 s timeouts, 15 s allowed.)
        #expect(took < .seconds(15), "places took \(took)")
        // Names work as ports, from the environment too.
        let byName = try await run("radio-cli", ["get-state", "--port", "bench-1", "--json"], environment: env)
        #expect(byName.status == 0 && byName.stdout.contains("\"port\":\"bench-1\""), "\(byName.stdout + byName.stderr)")
        var named = env
        named["RADIO_PORT"] = "bench-2"
        let who = try await run("radio-cli", ["who"], environment: named)
        #expect(who.stdout.hasPrefix("\(urlB): locked by "), "\(who.stdout)")
        let unknown = try await run("radio-cli", ["get-state", "--port", "bench-9"], environment: env)
        #expect(unknown.status == 69 && unknown.stderr.contains("places: bench-1, bench-2, bench-3"), "\(unknown.stderr)")
    }

    @Test(arguments: [
        (["lock", "--reason", "a\nb"], "no control characters"),
        (["lock", "--for", "8d"], "--for is at most 7d"),
        (["lock", "--for", "soon"], "--for takes a duration"),
        (["lock", "--wait-limit", "5"], "--wait-limit goes with --wait"),
        (["lock", "--keep", "--", "true"], "give one or the other"),
        (["unlock", "--token", "xyz"], "--token takes the 16 hex digits"),
    ])
    func badLockOptionsAreUsageErrors(_ arguments: [String], _ expected: String) async throws {
        let result = try await run("radio-cli", arguments + ["--port", "tcp://127.0.0.1:9"])
        #expect(result.status == 64 && result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test(arguments: [
        ("places:\n  bench-1: tcp://h:1\n  bench-1: tcp://h:2\n", ":3: place 'bench-1' is named twice"),
        ("places:\n  bench-1:\n    prot: tcp://h:1\n", ":3: place 'bench-1': unknown key 'prot'"),
        ("benches:\n  a: tcp://h:1\n", ":1: unknown key 'benches'"),
        ("places:\n  a: [1, 2\n", "not valid YAML"),
        ("places:\n  a: foo://x\n", "unknown scheme 'foo://'"),
        ("places:\n  bad/name: tcp://h:1\n", "is not a place name"),
    ])
    func aBrokenLabFileIsOneLineAndExit78(_ text: String, _ expected: String) async throws {
        let env = try labFile(text)
        let result = try await run("radio-cli", ["places"], environment: env)
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("radio-cli: configuration: lab file ") && result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}
