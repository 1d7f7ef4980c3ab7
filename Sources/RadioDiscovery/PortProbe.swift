import Dispatch
import Glibc
import RadioIO
import Locking
public import RadioDriver
public import RadioProtocol

/// What asking a port "who are you?" found.
public enum ProbeResult: Sendable, Hashable, CustomStringConvertible {
    /// A radio answered Identify, `elapsed` after the port was opened.
    case radio(Identity, elapsed: Duration)
    /// Nothing was written, for the reason given (another process holds
    /// the port, or this user may not open it).
    case skipped(String)
    /// Nothing at all came back before the deadline.
    case silent(Duration)
    /// Bytes came back, but no Identify reply among them.
    case notARadio(bytes: Int, Duration)
    /// The port could not be opened or failed while in use.
    case failed(String)

    public var identity: Identity? {
        if case .radio(let identity, _) = self { identity } else { nil }
    }

    /// A word for scripts: radio, skipped, silent, not_a_radio, failed.
    public var kind: String {
        switch self {
        case .radio: "radio"
        case .skipped: "skipped"
        case .silent: "silent"
        case .notARadio: "not_a_radio"
        case .failed: "failed"
        }
    }

    public var description: String {
        switch self {
        case .radio(let id, let elapsed):
            "radio: \(id.model), serial \(id.serialNumber), firmware \(id.firmwareVersion), protocol \(id.protocolVersion)"
                + " (answered in \(PortProbe.milliseconds(elapsed)) ms)"
        case .skipped(let why):
            "skipped, nothing written: \(why)"
        case .silent(let timeout):
            "no answer within \(PortProbe.milliseconds(timeout)) ms and nothing received"
                + " (not a radio, powered off, or another baud rate?)"
        case .notARadio(let bytes, let timeout):
            "not a radio: \(bytes) bytes came back within \(PortProbe.milliseconds(timeout)) ms"
                + " but no Identify reply (another protocol, or another baud rate?)"
        case .failed(let why):
            "failed: \(why)"
        }
    }
}

/// Finds out which ports have a radio behind them by asking: open the port
/// exclusively, send one Identify, wait a short deadline for the reply.
///
/// A probe never writes to a port another process holds: it looks for
/// holders first (`PortUsers`, without opening the port, since an open
/// raises DTR and resets many boards), and the open itself takes `flock` and
/// `TIOCEXCL`, which a program that locks its port makes fail. The line
/// settings it changes to talk to the port are put back when it closes.
public enum PortProbe {
    public static let defaultTimeout: Duration = .milliseconds(100)

    /// Probes one port. `holders` are the other processes known to hold it
    /// (looked up when nil).
    public static func probe(path: String, timeout: Duration = defaultTimeout,
                             settings: SerialSettings = SerialSettings(), holders: [PortHolder]? = nil) -> ProbeResult {
        let holders = holders ?? PortUsers.holders(of: path)
        if !holders.isEmpty {
            return .skipped("in use by " + holders.map(\.description).joined(separator: ", "))
        }
        let start = ContinuousClock.now
        let transport: SerialTransport
        do {
            transport = try SerialTransport(path: path, settings: settings, restoringSettings: true)
        } catch {
            switch error {
            case .busy:
                return .skipped("locked by another program (flock or TIOCEXCL)")
            case .permissionDenied:
                return .skipped("permission denied (make install-udev, or join the dialout group)")
            default:
                return .failed(error.description)
            }
        }
        defer { transport.close() }
        var received = 0
        do {
            let identity = try IdentityProbe.identify(transport, timeout: timeout, bytesReceived: &received)
            return .radio(identity, elapsed: ContinuousClock.now - start)
        } catch {
            if case .timeout = error {
                return received == 0 ? .silent(timeout) : .notARadio(bytes: received, timeout)
            }
            return .failed(error.description)
        }
    }

    /// Probes every path at once, each on a thread of its own, so that N
    /// silent ports cost one deadline rather than N. `holders` are the
    /// paths' other users where the caller has them; otherwise they are
    /// looked up in one pass over /proc.
    public static func probe(paths: [String], timeout: Duration = defaultTimeout,
                             settings: SerialSettings = SerialSettings(),
                             holders: [String: [PortHolder]]? = nil) -> [String: ProbeResult] {
        let holders = holders ?? PortUsers.holders(of: paths)
        let results = Locked<[String: ProbeResult]>([:])
        let group = DispatchGroup()
        for path in Set(paths) {
            group.enter()
            let held = holders[path] ?? []
            startThread(name: "radio-probe") {
                let result = probe(path: path, timeout: timeout, settings: settings, holders: held)
                results.withLock { $0[path] = result }
                group.leave()
            }
        }
        group.wait()
        return results.withLock { $0 }
    }

    /// Waits up to `limit` for a device node that udev has announced but
    /// that may not be there yet (its link is made by a rule).
    public static func waitForNode(_ path: String, limit: Duration = .seconds(1)) {
        let end = ContinuousClock.now + limit
        while access(path, F_OK) != 0 && ContinuousClock.now < end {
            usleep(10_000)
        }
    }

    /// The same without holding a thread.
    public static func nodeAppears(_ path: String, limit: Duration = .seconds(1)) async {
        let end = ContinuousClock.now + limit
        while access(path, F_OK) != 0 && ContinuousClock.now < end {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    static func milliseconds(_ d: Duration) -> String {
        let ms = d.inSeconds * 1000
        return ms < 10 ? fixed(ms, 1) : String(Int(ms.rounded()))
    }
}
