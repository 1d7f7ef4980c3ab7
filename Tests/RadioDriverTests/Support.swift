import RadioDriver
import RadioProtocol
import RadioSimulator
import Testing

/// A simulator on a real pty in this process, and a client on its slave
/// through the termios transport, as with hardware.
func withPtyRadio<T>(
    _ configure: (inout SimulatorConfiguration) -> Void = { _ in },
    options: RadioClient.Options = RadioClient.Options(),
    _ body: (PtySimulator, RadioClient) async throws -> T
) async throws -> T {
    var config = SimulatorConfiguration()
    config.telemetryHz = 0
    configure(&config)
    let sim = try PtySimulator(configuration: config)
    defer { sim.stop() }
    let client = try RadioClient(port: sim.slavePath, options: options)
    defer { client.close() }
    return try await body(sim, client)
}

/// Runs `body` and returns the RadioError it throws, or records an issue.
func expectRadioError<T>(_ body: () async throws(RadioError) -> T) async -> RadioError? {
    do {
        let value = try await body()
        Issue.record("expected an error, got \(value)")
        return nil
    } catch {
        return error
    }
}

extension RadioError {
    var isTimeout: Bool { if case .timeout = self { true } else { false } }
    var isDisconnected: Bool { if case .disconnected = self { true } else { false } }
}
