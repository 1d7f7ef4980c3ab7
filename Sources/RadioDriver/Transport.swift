/// A byte pipe to a radio. One type per port scheme; `PortAddress` picks it.
///
/// `receive` is called by one reader thread only; `send` may be called from
/// many tasks at once, and each call's bytes must reach the wire unbroken.
public protocol RadioTransport: Sendable {
    /// Writes all of `bytes`, or throws; waits no later than `deadline`.
    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError)
    /// Reads what is available into `buffer`, waiting up to `timeout`.
    /// Returns 0 on timeout or `interrupt()`; throws `.disconnected` at EOF.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(RadioError) -> Int
    /// Wakes a `receive` that is waiting.
    func interrupt()
    /// Releases the port. Called once, after the reader has stopped.
    func close()
    /// What to call the port in messages: a path or URL.
    var name: String { get }
}
