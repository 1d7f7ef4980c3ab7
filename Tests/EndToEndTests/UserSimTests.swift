import Foundation
import Testing

/// The default port, `user-sim`: a `radio-sim --user` that the first
/// command starts and later ones reuse. Each test has a runtime directory
/// of its own (`XDG_RUNTIME_DIR`), so it neither meets nor stops the
/// tester's own simulator.
@Suite("user-sim: this user's simulator, kept between commands")
struct UserSimTests {
    /// A runtime directory, and the environment that points radio-cli and
    /// radio-sim at it with no port given.
    final class Runtime {
        let directory: String
        var environment: [String: String] { ["XDG_RUNTIME_DIR": directory, "RADIO_PORT": ""] }
        var files: String { directory + "/radio" }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("radio-xdg-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }

        var recordedPID: Int32? {
            (try? String(contentsOfFile: files + "/sim.pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        /// A simulator a failed test left behind is stopped here.
        deinit {
            if let pid = recordedPID { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func settingsStickBetweenCommandsUntilTheSimulatorIsStopped() async throws {
        let runtime = try Runtime()
        let set = try await run("radio-cli", ["set-power", "20.5"], environment: runtime.environment)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stderr.contains("started this user's simulator") && set.stderr.contains(runtime.files + "/sim"),
                "said once, on stderr, which simulator is in use: \(set.stderr)")
        let pid = try #require(runtime.recordedPID)

        let state = try await run("radio-cli", ["get-state", "--json"], environment: runtime.environment)
        #expect(state.status == 0, "\(state.stderr)")
        #expect(state.stderr.isEmpty, "only the command that starts it says so: \(state.stderr)")
        let json = try DaemonTests.json(state.stdout)
        #expect(json["power_dbm"] as? Double == 20.5, "\(state.stdout)")
        #expect(runtime.recordedPID == pid, "the same simulator")

        let stop = try await run("radio-sim", ["--stop"], environment: runtime.environment)
        #expect(stop.status == 0 && stop.stdout.contains("stopped this user's simulator (pid \(pid))"), "\(stop)")
        #expect(!FileManager.default.fileExists(atPath: runtime.files + "/sim"), "the link goes with it")
        #expect(kill(pid, 0) != 0 || isZombie(pid), "pid \(pid) ended")
        let again = try await run("radio-sim", ["--stop"], environment: runtime.environment)
        #expect(again.status == 0 && again.stdout.contains("no simulator"), "\(again)")

        // The next command starts a fresh one, at power-on settings.
        let fresh = try await run("radio-cli", ["get-state", "--json"], environment: runtime.environment)
        #expect(fresh.status == 0 && fresh.stderr.contains("started this user's simulator"), "\(fresh.stderr)")
        #expect(try DaemonTests.json(fresh.stdout)["power_dbm"] as? Double == -10, "\(fresh.stdout)")
        #expect(try await run("radio-sim", ["--stop"], environment: runtime.environment).status == 0)
    }

    @Test func commandsStartedTogetherStartOneSimulator() async throws {
        let runtime = try Runtime()
        let environment = runtime.environment
        let results = try await withThrowingTaskGroup(of: Finished.self) { group in
            for channel in 11...14 {
                group.addTask { try await run("radio-cli", ["set-channel", "\(channel)"], environment: environment) }
            }
            return try await group.reduce(into: [Finished]()) { $0.append($1) }
        }
        let starts = results.filter { $0.stderr.contains("started this user's simulator") }
        #expect(starts.count == 1, "\(results.map(\.stderr))")
        // The others found it running; one that met another on the port at
        // that moment says busy (75), as a second opener of a tty does.
        #expect(results.allSatisfy { $0.status == 0 || ($0.status == 75 && $0.stderr.contains("port busy")) },
                "\(results.map { "\($0.status) \($0.stderr)" })")
        #expect(results.contains { $0.status == 0 })
        #expect(try await run("radio-sim", ["--stop"], environment: runtime.environment).status == 0)
    }

    /// --idle-exit: it stops once nobody has used it for that long, but not
    /// while a process holds its port open without sending a byte. (A run
    /// so loaded that the test opens the port only after the limit passed
    /// tries again with a longer one.)
    @Test func itStopsWhenUnusedButNotWhileItsPortIsHeld() async throws {
        for limit in [1.0, 3.0, 9.0] {
            let runtime = try Runtime()
            let sim = try LineProcess("radio-sim", ["--user", "--idle-exit", "\(limit)"], environment: runtime.environment)
            try await sim.waitUntil("the pty's path") { !sim.lines.isEmpty }
            let link = runtime.files + "/sim"
            let held = open(link, O_RDWR | O_NOCTTY)
            if held < 0 {
                let (_, stderr) = try await sim.waitForExit()
                #expect(stderr.contains("unused for"), "it went for no other reason: \(stderr)")
                continue
            }
            // Twice the idle limit with the port held, and it is still there.
            // (A loaded run can open the port just as the first check finds
            // it unused: then it tries again with a longer limit; a simulator
            // that ignores a held port stops at every limit.)
            try await Task.sleep(for: .seconds(2 * limit))
            guard sim.process.isRunning else {
                close(held)
                _ = try await sim.waitForExit()
                continue
            }
            close(held)
            let (status, stderr) = try await sim.waitForExit()
            #expect(status == 0, "\(stderr)")
            #expect(stderr.contains("unused for \(limit) s: stopping"), "\(stderr)")
            #expect(!FileManager.default.fileExists(atPath: link) && !FileManager.default.fileExists(atPath: runtime.files + "/sim.pid"))
            return
        }
        Issue.record("at every idle limit the simulator stopped, or the test could not open its port in time")
    }

    @Test func aSecondUserSimulatorSaysWhichOneRuns() async throws {
        let runtime = try Runtime()
        let sim = try LineProcess("radio-sim", ["--user"], environment: runtime.environment)
        try await sim.waitUntil("the pty's path") { !sim.lines.isEmpty }
        let second = try await run("radio-sim", ["--user"], environment: runtime.environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout == sim.lines[0] + "\n", "the same pty: \(second.stdout)")
        #expect(second.stderr.contains("already runs (pid \(sim.process.processIdentifier))"), "\(second.stderr)")
        let (status, _) = try await sim.interrupt(SIGTERM)
        #expect(status == 0)
    }

    @Test(arguments: [
        (["--stop", "--seed", "3"], "--stop takes no other option, got --seed"),
        (["--idle-exit", "5"], "--idle-exit goes with --user"),
        (["--user", "--idle-exit", "-1"], "--idle-exit must be a number of seconds"),
        (["--user", "--link", "/tmp/x"], "--user makes its own link"),
    ])
    func badUserOptionsAreUsageErrors(_ arguments: [String], _ text: String) async throws {
        let runtime = try Runtime()
        let result = try await run("radio-sim", arguments, environment: runtime.environment)
        #expect(result.status == 64, "\(result)")
        #expect(result.stderr.contains(text), "\(result.stderr)")
    }

    /// A runtime directory others may write (a /tmp fallback someone
    /// prepared) is refused, not used.
    @Test func aDirectoryOthersMayWriteIsRefused() async throws {
        let runtime = try Runtime()
        try FileManager.default.createDirectory(atPath: runtime.files, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        chmod(runtime.files, 0o777)
        let sim = try await run("radio-sim", ["--user"], environment: runtime.environment)
        #expect(sim.status == 73 && sim.stderr.contains("may be written by others"), "\(sim)")
        let cli = try await run("radio-cli", ["get-state"], environment: runtime.environment)
        #expect(cli.status == 64 && cli.stderr.contains("may be written by others"), "\(cli)")
        #expect(cli.stderr.split(separator: "\n").count == 1, "one line: \(cli.stderr)")
    }
}

/// True when `pid` has ended but not been waited for (its parent, radio-cli,
/// exited; a container's init may be slow to reap it).
func isZombie(_ pid: Int32) -> Bool {
    ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "").contains(") Z ")
}
