#if canImport(Glibc)
import Glibc
#endif
import Locking
import Synchronization

/// Runs tasks on the client's reader thread, for callers that opt in with
/// `RadioClient.onReaderThread(_:)`.
///
/// A one-in-flight caller (a benchmark, a tight lab script) otherwise pays
/// two thread wake-ups per round trip: the reader wakes on the reply, then
/// wakes a pool thread to resume the caller. Resumed here, the caller runs
/// on the thread that just read its reply, as soon as that thread has
/// finished dispatching: one wake-up, as in a blocking read.
final class ReaderExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var stopped = false
    }
    private let state = Locked(State())
    /// Jobs queued, readable without the lock: the reader looks at it on
    /// every turn, and it is almost always 0 or 1.
    private let queued = Atomic<Int>(0)
    /// The reader thread's id, set when it starts; 0 until then.
    private let reader = Atomic<UInt>(0)
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    /// Called once, on the reader thread, before it reads.
    func attach() { reader.store(UInt(pthread_self()), ordering: .releasing) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let accepted = state.withLock { s -> Bool in
            if s.stopped { return false }
            s.jobs.append(job)
            queued.add(1, ordering: .releasing)
            return true
        }
        guard accepted else {
            // The reader has stopped: nothing would ever run the job here.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        // From the reader itself (a resumed continuation) no wake-up is
        // needed: it runs the queue before it waits again.
        if !isCurrentThread { wake() }
    }

    /// True on the reader thread.
    var isCurrentThread: Bool { reader.load(ordering: .acquiring) == UInt(pthread_self()) }

    var hasWork: Bool { queued.load(ordering: .acquiring) > 0 }

    /// Runs what is queued now. Reader thread only.
    func runPending() {
        while queued.load(ordering: .acquiring) > 0 {
            // One at a time, so the queue's storage is never copied.
            let job = state.withLock { s -> UnownedJob? in
                guard !s.jobs.isEmpty else { return nil }
                queued.subtract(1, ordering: .releasing)
                return s.jobs.removeFirst()
            }
            guard let job else { return }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// The reader is exiting: hand queued and future jobs to the global pool.
    func stop() {
        let left = state.withLock { s -> [UnownedJob] in
            s.stopped = true
            queued.store(0, ordering: .releasing)
            defer { s.jobs.removeAll() }
            return s.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
