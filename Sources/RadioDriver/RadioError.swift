public import RadioProtocol
public import SystemPackage

/// Every way a driver call can fail. Each case's description is one line
/// that names the problem and, where there is one, the fix.
public enum RadioError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No answer before the deadline.
    case timeout(Command, Duration)
    /// Bytes came back but none formed a valid frame: usually a wrong baud
    /// rate, or a device that is not this radio.
    case noValidResponse(Command, discardedBytes: Int)
    /// The radio answered with an error status.
    case device(Command, Status)
    /// A sharing daemon refused the command: another holds its write lease
    /// (docs/PROTOCOL.md §11.1). The notice names the holder.
    case leased(Command, LeaseNotice)
    /// The radio's answer passed its CRC but did not parse.
    case malformedResponse(Command)
    /// The port would not take bytes before the deadline (flow control held off).
    case writeTimeout(String)
    /// A network or Unix-socket port did not accept the connection in time
    /// (a stopped daemon, a full listen backlog, a host that drops packets).
    case connectTimeout(String)
    /// The port went away (adapter unplugged, simulator gone, server closed).
    case disconnected(String)
    /// Another process holds the port.
    case busy(String)
    /// This client has every sequence number in use or reserved (65,534
    /// calls in flight or just given up on): try again shortly.
    case overloaded(String)
    case permissionDenied(String)
    case notFound(String)
    /// The path exists but is not a terminal.
    case notATerminal(String)
    /// The port string did not parse, or named an unknown scheme or option.
    case invalidPort(String)
    /// A file the port string depends on (the lab file that names radios)
    /// is missing or does not parse.
    case configuration(String)
    /// The tty driver refused the baud rate.
    case unsupportedBaudRate(Int, String)
    /// An unexpected system error.
    case system(String, Errno)
    /// A request the protocol cannot carry (a ping payload over 249 bytes).
    case invalidRequest(String)
    /// The radio's Identify says it cannot be driven: another protocol
    /// version, or a range whose lower end is above its upper.
    case incompatibleRadio(String)
    /// The client was closed.
    case closed
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .timeout(let c, let d):
            "timeout: no reply to \(c) within \(format(d))"
        case .noValidResponse(let c, let n):
            "no valid reply to \(c): \(n) bytes received did not decode (wrong baud rate, or not a radio on this port?)"
        case .device(let c, let s):
            "radio rejected \(c): \(s)"
        case .leased(let c, let n):
            "radio busy: \(c) refused, the radio is locked by \(n.holder.isEmpty ? "another client" : n.holder)"
                + (n.leftSeconds > 0 ? " for \(formatSeconds(n.leftSeconds)) more" : "")
                + (n.reason.isEmpty ? "" : " (\(n.reason))")
                + "; reads still work, 'radio-cli lock --wait' queues for it"
        case .malformedResponse(let c):
            "radio sent a malformed reply to \(c)"
        case .writeTimeout(let p):
            "timeout writing to \(p): the line is not draining (RTS/CTS held off?)"
        case .connectTimeout(let p):
            "timeout: \(p) did not accept the connection in time (is the server stopped or overloaded?)"
        case .disconnected(let why):
            "disconnected: \(why)"
        case .busy(let p):
            "port busy: \(p) is held by another process (close it, or share the radio through a daemon)"
        case .overloaded(let p):
            "too many requests in flight on \(p): every sequence number is in use or reserved; try again shortly"
        case .permissionDenied(let p) where p.hasPrefix("unix://"):
            "permission denied: \(p) (a daemon's socket admits its owner and group only: join that group, or ask for a socket in a directory your group can reach)"
        case .permissionDenied(let p):
            "permission denied: \(p) (install the udev rule with 'make install-udev', or add yourself to the 'dialout' group and log in again)"
        case .notFound(let p):
            "no such port: \(p)"
        case .notATerminal(let p):
            "not a serial port: \(p) is not a tty"
        case .invalidPort(let why):
            "invalid port: \(why)"
        case .configuration(let why):
            "configuration: \(why)"
        case .unsupportedBaudRate(let b, let p):
            "baud rate \(b) not supported by \(p)"
        case .system(let what, let e):
            "\(what): \(e.description)"
        case .invalidRequest(let why):
            "invalid request: \(why)"
        case .incompatibleRadio(let why):
            "incompatible radio: \(why)"
        case .closed:
            "the radio connection is closed"
        case .cancelled:
            "cancelled"
        }
    }
}

func format(_ d: Duration) -> String {
    let ms = d.inSeconds * 1000
    if ms >= 1000 { return "\(ms / 1000) s".replacingZeroFraction() }
    return "\(Int(ms.rounded())) ms"
}

extension String {
    fileprivate func replacingZeroFraction() -> String {
        hasSuffix(".0 s") ? String(dropLast(4)) + " s" : self
    }
}

/// "45 s", "9 min 5 s", "2 h 3 min": a lease's time, for people.
public func formatSeconds(_ s: UInt32) -> String {
    if s < 60 { return "\(s) s" }
    if s < 3600 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
    let minutes = (s % 3600) / 60
    return minutes == 0 ? "\(s / 3600) h" : "\(s / 3600) h \(minutes) min"
}
