import Dispatch
import Foundation
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
