public import RadioProtocol

/// What the daemon tells an observer (metrics): who the radio is, each
/// answer from it with how long it took, telemetry, and the link.
public enum RadioDaemonEvent: Sendable {
    /// The radio answered the daemon's Identify at start.
    case identified(Identity)
    /// A response from the radio to a request in flight (a client's, or the
    /// daemon's own GetState), `roundTrip` after the request was written.
    case response(Frame, command: UInt8, roundTrip: Duration)
    /// An unsolicited frame, as fanned out to every client.
    case telemetry(Frame)
    case linkLost
    case linkBack
}

/// Told of `RadioDaemonEvent`s on the daemon's radio thread (`identified`
/// on the thread that creates the daemon). An observer must return at once:
/// it runs between the radio's bytes and the clients waiting for them.
public protocol RadioDaemonObserver: Sendable {
    func daemonEvent(_ event: RadioDaemonEvent)
}
