import Dispatch
import FoundationEssentials
import Glibc
import RadioIO
import Locking

/// The one signal helper: catches `signals` from the moment it is made (so
/// none arriving while a command starts meets the default action), calls
/// `handler` for each on a dispatch queue, and lets a task `wait()` for the
/// first. `cancel()` restores nothing: the command is ending.
final class SignalCatcher: Sendable {
    private struct State {
        var fired: Int32?
        var waiter: CheckedContinuation<Int32, Never>?
    }
    /// The dispatch sources, kept alive until cancelled.
    private struct Sources: @unchecked Sendable {
        // Sendable: libdispatch objects are safe to use from any thread
        // (dispatch_source_cancel and the handler setters are documented so),
        // and this array is written once in init and only read afterwards.
        let all: [any DispatchSourceSignal]
    }
    private let state = Locked(State())
    private let sources: Sources

    init(_ signals: [Int32] = [SIGINT, SIGTERM], handler: (@Sendable (Int32) -> Void)? = nil) {
        let state = self.state
        sources = Sources(all: signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                handler?(sig)
                let waiter = state.withLock { s -> CheckedContinuation<Int32, Never>? in
                    if s.fired == nil { s.fired = sig }
                    defer { s.waiter = nil }
                    return s.waiter
                }
                waiter?.resume(returning: sig)
            }
            source.resume()
            return source
        })
    }

    /// The first signal caught so far, if any.
    var fired: Int32? { state.withLock { $0.fired } }

    /// The first signal, if one comes within `limit` (or came already).
    func fired(within limit: Duration) async -> Int32? {
        let end = ContinuousClock.now + limit
        while ContinuousClock.now < end {
            if let sig = fired { return sig }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return fired
    }

    /// The first signal caught (at once if one already was).
    @discardableResult
    func wait() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let fired = state.withLock { s -> Int32? in
                if s.fired == nil { s.waiter = c }
                return s.fired
            }
            if let fired { c.resume(returning: fired) }
        }
    }

    func cancel() {
        for s in sources.all { s.cancel() }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM during a measurement: the run stops early,
/// the report says so and gives what was measured, and the exit status is
/// 128 + the signal (130 for Ctrl-C), as a shell reports a process it
/// interrupted.
final class Interruption: Sendable {
    private let caught = Locked<Int32?>(nil)
    private let catcher: SignalCatcher

    init() {
        let caught = self.caught
        catcher = SignalCatcher([SIGINT, SIGTERM]) { sig in caught.withLock { if $0 == nil { $0 = sig } } }
    }

    /// The signal that stopped the run, if one did.
    var signal: Int32? { caught.withLock { $0 } }
    /// For the run's `stop` callback.
    var check: @Sendable () -> Bool { { [caught] in caught.withLock { $0 != nil } } }

    func cancel() { catcher.cancel() }

    static func name(_ sig: Int32) -> String { sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal \(sig)" }

    static func failure(_ sig: Int32) -> Failure { Failure("interrupted by \(name(sig))", status: 128 + sig) }
}
