import Foundation
import RadioDiscovery
import RadioDriver
import RadioSimulator
import Testing

/// Who holds a port, found without opening it, and the probe in-process.
@Suite("Port users and probes")
struct PortUsersTests {
    @Test("links are followed as /dev/serial/by-id's relative ones are, without realpath")
    func followsLinks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("links-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/serial/by-id", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // by-id/cable -> ../../radio/R1 -> /dev/pts/7 (the last need not exist).
        try FileManager.default.createDirectory(atPath: dir + "/radio", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/radio/R1", withDestinationPath: "/dev/pts/7")
        try FileManager.default.createSymbolicLink(atPath: dir + "/serial/by-id/cable", withDestinationPath: "../../radio/R1")
        #expect(PortUsers.resolved(dir + "/serial/by-id/cable") == "/dev/pts/7")
        #expect(PortUsers.resolved(dir + "/radio") == dir + "/radio", "not a link: itself")
        #expect(PortUsers.resolved("/nonexistent/x") == "/nonexistent/x")
        // A loop ends rather than spinning.
        try FileManager.default.createSymbolicLink(atPath: dir + "/loop", withDestinationPath: "loop")
        #expect(PortUsers.resolved(dir + "/loop") == dir + "/loop")
    }

    @Test("a process with the tty open is a holder; the process serving a pty's master is not")
    func findsHolders() throws {
        let sim = try quietSimulator()
        defer { sim.stop() }
        // This process serves the pty (it holds the master): not a holder.
        #expect(PortUsers.holders(of: sim.slavePath).isEmpty)

        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sleep")
        holder.arguments = ["30"]
        // Opened close-on-exec (FileHandle(forUpdatingAtPath:) is not), so
        // that no other test's child (a QEMU) inherits it and shows up as
        // a holder too; the child's stdin is a dup, without the flag.
        let fd = open(sim.slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(fd >= 0)
        holder.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try holder.run()
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        let found = PortUsers.holders(of: [sim.slavePath, "/dev/null-not-there"])
        #expect(found[sim.slavePath] == [PortHolder(pid: holder.processIdentifier, command: "sleep", how: "open")])
        #expect(found["/dev/null-not-there"] == [])

        // The probe leaves it alone.
        let result = PortProbe.probe(path: sim.slavePath)
        #expect(result == .skipped("in use by pid \(holder.processIdentifier) (sleep)"))
    }

    @Test("the probe identifies an in-process simulator and leaves its port free for the next user")
    func probesSimulator() async throws {
        var config = SimulatorConfiguration()
        config.telemetryHz = 50
        config.serialNumber = "PROBE-IN"
        let sim = try PtySimulator(configuration: config)
        defer { sim.stop() }
        let result = PortProbe.probe(path: sim.slavePath, timeout: .seconds(2))
        #expect(result.identity?.serialNumber == "PROBE-IN")
        #expect(result.kind == "radio")
        // Closed again, lock and TIOCEXCL released: a client opens it. A
        // reconnecting client of another test in this process may be trying
        // its old /dev/pts path, which this simulator's pty may now have
        // (numbers are reused), and holds the lock for its identity check:
        // a moment, so a busy port is tried again for up to 2 s. A lock the
        // probe left behind would stay, and fail this.
        let client = try await Self.openRetryingBusy(sim.slavePath, for: .seconds(2))
        defer { client.close() }
        #expect(try await client.identify().serialNumber == "PROBE-IN")
    }

    static func openRetryingBusy(_ path: String, for limit: Duration) async throws -> RadioClient {
        let until = ContinuousClock.now + limit
        while true {
            let error: RadioError
            switch tryOpen(path) {
            case .success(let client): return client
            case .failure(let e): error = e
            }
            guard case .busy = error, ContinuousClock.now < until else { throw error }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func tryOpen(_ path: String) -> Result<RadioClient, RadioError> {
        do throws(RadioError) {
            return .success(try RadioClient(port: path))
        } catch {
            return .failure(error)
        }
    }
}
