/// A byte pipe to a radio. One type per port scheme; `PortAddress` picks it.
///
/// `send` may be called from many tasks at once, and each call's bytes must
/// reach the wire unbroken. Reading is split in two so that whoever holds
/// the client's decoder (the reader thread, or a caller finishing its own
/// round trip inline) consumes bytes in order: `waitForInput` only waits,
/// `read` only takes what is there.
public protocol RadioTransport: Sendable {
    /// Writes all of `bytes`, or throws; waits no later than `deadline`.
    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError)
    /// Returns when input may be available, after `timeout`, or on
    /// `interrupt()`, whichever is first. Consumes nothing.
    func waitForInput(timeout: Duration) throws(RadioError)
    /// Copies what is available into `buffer` without waiting; 0 when
    /// nothing is. Throws `.disconnected` once the port is gone.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RadioError) -> Int
    /// Wakes a `waitForInput` that is waiting.
    func interrupt()
    /// Releases the port. Called once, after the reader has stopped.
    func close()
    /// What to call the port in messages: a path or URL.
    var name: String { get }
    /// True when `send` returns with the reply already readable (the
    /// in-memory transport), so the caller can finish the round trip itself
    /// without waking the reader thread.
    var answersInline: Bool { get }
    /// True when the transport reopens its port after losing it (see
    /// `ReconnectingTransport`): a `.disconnected` from `read` then fails the
    /// calls in flight but does not end the client.
    var reconnects: Bool { get }
}

extension RadioTransport {
    public var answersInline: Bool { false }
    public var reconnects: Bool { false }
}
