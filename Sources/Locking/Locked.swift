#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// State behind a pthread mutex.
///
/// The standard library's `Synchronization.Mutex` would do, but on Linux its
/// futex lock is invisible to ThreadSanitizer, which then reports every
/// access under it as a race; TSan does intercept pthread mutexes, so the
/// race checks in `make tsan` stay meaningful.
///
/// `@unchecked Sendable` is sound because `state` is internal to this module
/// and reached only inside `withLock`, which holds `mutex` for the whole access; `mutex` is
/// allocated once, never moved, and destroyed only in `deinit`, when no
/// other reference (and so no other thread) can reach it.
public final class Locked<State>: @unchecked Sendable {
    @usableFromInline var state: State
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
