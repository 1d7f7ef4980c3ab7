import Foundation
import RadioSimulator
import Testing

/// The directory holding the built radio-cli and radio-sim: the same one
/// as this test binary.
let productsDirectory: URL = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On some layouts the test binary sits inside a .xctest folder.
    if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
    return dir
}()

struct Finished {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The environment programs run with: the tester's, but with `sim` (a fresh
/// simulator inside each process) as the default port, not this user's
/// persistent simulator, which tests of their own start in a directory of
/// their own (`UserSimTests`).
let testEnvironment: [String: String] = {
    var env = ProcessInfo.processInfo.environment
    env["RADIO_PORT"] = "sim"
    return env
}()

/// Runs a built product to completion with a hang guard, capturing output.
func run(_ product: String, _ arguments: [String], environment: [String: String] = [:],
         limit: Duration = .seconds(30), input: String? = nil) async throws -> Finished {
    try await runProgram(productsDirectory.appendingPathComponent(product).path, arguments, environment: environment,
                         limit: limit, input: input)
}

/// Runs any program to completion with a hang guard, capturing output.
/// It waits without holding a thread: Swift Testing runs tests on the
/// cooperative pool (two threads here), and a test blocked in a wait would
/// starve every other test's tasks for as long as its program runs.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                limit: Duration = .seconds(30), input: String? = nil) async throws -> Finished {
    let product = (path as NSString).lastPathComponent
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radio-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var env = testEnvironment
    env.merge(environment) { _, new in new }
    process.environment = env
    if let input {
        // From a file: its end is the end of input, as a pipe's close would be.
        let inputFile = dir.appendingPathComponent("in")
        try Data(input.utf8).write(to: inputFile)
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    let exited = AsyncStream<Void>.makeStream()
    process.terminationHandler = { _ in exited.continuation.finish() }
    try process.run()
    let hung = Task {
        try await Task.sleep(for: limit)
        if process.isRunning { process.terminate() }
        // Foundation has been seen to miss a child's exit under a loaded
        // sanitized run; the test goes on (and records the hang) regardless.
        try? await Task.sleep(for: .seconds(5))
        exited.continuation.finish()
        return true
    }
    for await _ in exited.stream {}
    hung.cancel()
    if (try? await hung.value) == true {
        Issue.record("\(product) \(arguments.joined(separator: " ")) hung for \(limit)")
    }
    process.waitUntilExit()
    return Finished(status: process.terminationStatus,
                    stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                    stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

/// A radio-sim process, with the pty path it printed first.
final class SimProcess {
    let process = Process()
    let path: String
    private let stdout = Pipe()

    init(_ arguments: [String] = ["--telemetry-hz", "0"]) throws {
        process.executableURL = productsDirectory.appendingPathComponent("radio-sim")
        process.arguments = arguments
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        try process.run()
        guard let first = firstLine(stdout) else {
            process.terminate()
            throw SimError.noPath
        }
        path = first
    }

    enum SimError: Error { case noPath }

    /// Sends a signal and waits for the exit status.
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A tty whose far end answers every write with bytes that are not frames:
/// what a radio at the wrong baud rate, or some other device, looks like.
final class GarbageTTY: Sendable {
    let pty: PseudoTerminal
    var path: String { pty.slavePath }
    private let done = DispatchSemaphore(value: 0)

    init() throws {
        let pty = try PseudoTerminal.open()
        self.pty = pty
        let master = pty.master.rawValue, done = self.done
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 512)
            // Delimiters included, so the junk forms runs that fail to decode.
            let junk: [UInt8] = [0x7E, 0x13, 0x00, 0xC3, 0x5A, 0x99, 0x00, 0x41, 0x42, 0x43, 0x00]
            while done.wait(timeout: .now() + .milliseconds(5)) == .timedOut {
                let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if n > 0 { _ = junk.withUnsafeBytes { write(master, $0.baseAddress, $0.count) } }
            }
            // The thread closes the pty itself, when it is done with it: closed
            // from stop() while this thread was still (slowly, under a
            // sanitizer) in its loop, the descriptor numbers could be handed
            // to another test's pipe, which this loop would then read from.
            try? pty.master.close()
            try? pty.slave.close()
            done.signal()
        }
    }

    func stop() {
        done.signal()
        _ = done.wait(timeout: .now() + .seconds(30))
    }
}

/// A built product whose stdout and stderr lines are collected as they
/// come, each by a thread of its own (no cooperative thread waits on a pipe).
final class LineProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are set up in init and then only
    // read; the lines live in `Lines`, under its lock.
    let process = Process()
    private let out = Pipe(), err = Pipe()
    private let output = Lines()
    private let done = DispatchSemaphore(value: 0)

    /// The lines collected so far. The reader threads hold this, not the
    /// LineProcess: so a test that ends early (a thrown error) releases the
    /// LineProcess, whose deinit stops the process.
    private final class Lines: @unchecked Sendable {
        // @unchecked: both arrays are only touched under `lock`.
        let lock = NSLock()
        var collected: [String] = []
        var collectedErrors: [String] = []

        func append(_ line: String, isError: Bool) {
            lock.withLock { isError ? collectedErrors.append(line) : collected.append(line) }
        }
    }

    init(_ product: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = productsDirectory.appendingPathComponent(product)
        process.arguments = arguments
        process.environment = testEnvironment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        for (handle, isError) in [(out.fileHandleForReading, false), (err.fileHandleForReading, true)] {
            Thread.detachNewThread { [output, done] in
                var pending = Data()
                while true {
                    // read(2) with EINTR retried: FileHandle.availableData
                    // reports an interrupted read as end of file, which
                    // under a loaded sanitized run silently ended the
                    // collection of a process's output.
                    guard let chunk = readChunk(handle.fileDescriptor) else { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                        pending.removeSubrange(pending.startIndex...newline)
                        output.append(line, isError: isError)
                    }
                }
                if !pending.isEmpty {
                    output.append(String(decoding: pending, as: UTF8.self), isError: isError)
                }
                done.signal()
            }
        }
    }

    var lines: [String] { output.lock.withLock { output.collected } }
    var errorLines: [String] { output.lock.withLock { output.collectedErrors } }

    /// Polls `condition` every 20 ms for up to 30 s.
    func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline, process.isRunning else {
                Issue.record("gave up waiting for \(what); output so far: \(lines.suffix(5)) \(errorLines.suffix(5))")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits (up to 30 s) for the process to end by itself, then returns its
    /// exit status and stderr.
    func waitForExit() async throws -> (Int32, String) {
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            Issue.record("\(process.executableURL?.lastPathComponent ?? "process") did not exit")
            process.terminate()
        }
        process.waitUntilExit()
        for _ in 0..<2 { _ = done.wait(timeout: .now() + .seconds(5)) }
        return (process.terminationStatus, errorLines.joined(separator: "\n"))
    }

    /// Sends `signal` (SIGINT by default), then returns the exit status and
    /// stderr once it has exited.
    func interrupt(_ signal: Int32 = SIGINT) async throws -> (Int32, String) {
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        for _ in 0..<2 { _ = done.wait(timeout: .now() + .seconds(5)) }
        return (process.terminationStatus, errorLines.joined(separator: "\n"))
    }

    deinit {
        // SIGTERM, then SIGKILL: a process left running (a daemon that
        // reopens its port by path) could take a later test's pty.
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}

/// One read of up to 64 KiB from `fd`, EINTR retried; nil at end of file or on error.
func readChunk(_ fd: Int32) -> Data? {
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 { return Data(buffer[0..<n]) }
        if n < 0 && errno == EINTR { continue }
        return nil
    }
}

/// The first line a started process writes to `pipe` (20 s at most); nil
/// if it ends or says nothing first.
func firstLine(_ pipe: Pipe) -> String? {
    var line = Data()
    let deadline = ContinuousClock.now + .seconds(20)
    while !line.contains(UInt8(ascii: "\n")) && ContinuousClock.now < deadline {
        guard let chunk = readChunk(pipe.fileHandleForReading.fileDescriptor) else { break }
        line.append(chunk)
    }
    return String(data: line, encoding: .utf8)?.split(separator: "\n").first.map(String.init)
}
