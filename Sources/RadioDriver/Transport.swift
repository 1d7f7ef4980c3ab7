public import Dispatch

/// A byte pipe to a radio. One type per port scheme (`PortSchemes` opens it).
///
/// `send` may be called from many tasks at once, and each call's bytes must
/// reach the wire unbroken. Reading is split in two so that whoever holds
/// the client's decoder (the reader thread, or a caller finishing its own
/// round trip inline) consumes bytes in order: `waitForInput` only waits,
/// `read` only takes what is there.
public protocol RadioTransport: Sendable {
    /// Writes all of `bytes`, or throws; waits no later than `deadline`,
    /// which is evaluated only if the port does not take them at once.
    func send(_ bytes: UnsafeRawBufferPointer, deadline: @autoclosure () -> ContinuousClock.Instant) throws(RadioError)
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
    /// The tty the port is on, where it is one: the path opened, or the
    /// pty behind a simulator. nil for network and in-memory ports.
    var device: String? { get }
    /// True when `send` returns with the reply already readable (the
    /// in-memory transport), so the caller can finish the round trip itself
    /// without waking the reader thread.
    var answersInline: Bool { get }
    /// True when the transport reopens its port after losing it (see
    /// `ReconnectingTransport`): a `.disconnected` from `read` then fails the
    /// calls in flight but does not end the client.
    var reconnects: Bool { get }

    /// The radio a reopened port must be: once set, a transport that reopens
    /// its port uses it only if the radio there answers Identify with this
    /// serial number. nil: not known yet, or the transport does not reopen.
    var expectedSerialNumber: String? { get }
    /// Sets `expectedSerialNumber` (the client does, after the first Identify).
    func expectSerialNumber(_ serial: String?)
    /// Why the port is away while it is (the last failed reopen, or the
    /// loss); nil while it is up, or for transports that do not reopen.
    var awayReason: RadioError? { get }
    /// True while a reopening transport has no port.
    var isAway: Bool { get }
}

extension RadioTransport {
    public var device: String? { nil }
    public var answersInline: Bool { false }
    public var reconnects: Bool { false }
    public var expectedSerialNumber: String? { nil }
    public func expectSerialNumber(_ serial: String?) {}
    public var awayReason: RadioError? { nil }
    public var isAway: Bool { false }

    /// `send` for bytes in an array.
    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RadioError) {
        try withBytes(bytes) { (b) throws(RadioError) in try send(b, deadline: deadline) }
    }
}

/// `Array.withUnsafeBytes` for a body that throws `RadioError` (the
/// standard one rethrows untyped).
func withBytes(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(RadioError) -> Void) throws(RadioError) {
    let result = bytes.withUnsafeBytes { b in Result { () throws(RadioError) in try body(b) } }
    try result.get()
}

/// A dispatch time `d` from now (negative durations: now).
public func dispatchTime(after d: Duration) -> DispatchTime {
    .now() + .nanoseconds(Int(max(d, .zero).inNanoseconds))
}
