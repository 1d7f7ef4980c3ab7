#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// State behind a pthread mutex, with the standard library `Mutex`'s shape:
/// the state goes in as a `sending` value and is reached only through
/// `withLock`, whose body gets it `inout sending` and whose result leaves
/// `sending`. So no reference into the state can escape the lock, whatever
/// the state's type, and the region checker proves each use.
///
/// `Synchronization.Mutex` itself would do, but on Linux its futex lock is
/// invisible to ThreadSanitizer, which then reports every access under it as
/// a race; TSan does intercept pthread mutexes, so `make tsan` stays
/// meaningful.
///
/// The mutex and the state live in allocations that never move, and the
/// state is reached through a pointer, so a lock costs no dynamic
/// exclusivity check (as a class's stored `var` would).
///
/// `@unchecked Sendable` is sound because the state is reached only inside
/// `withLock`, which holds the mutex for the whole access; the state came
/// in `sending` (no other region holds it) and values leave `sending` (none
/// stays tied to it); the storage is made in `init` and destroyed only in
/// `deinit`, when no other reference, and so no other thread, can reach it.
public final class Locked<State>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let state: UnsafeMutablePointer<State>

    public init(_ initial: sending State) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with exclusive access to the state.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout sending State) throws(E) -> sending R) throws(E) -> sending R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state.pointee)
    }
}
