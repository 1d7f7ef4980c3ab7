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

    var hasWork: Bool { state.withLock { !$0.jobs.isEmpty } }

    /// Runs what is queued now. Reader thread only.
    func runPending() {
        while true {
            let batch = state.withLock { s -> [UnownedJob] in
                defer { s.jobs.removeAll(keepingCapacity: true) }
                return s.jobs
            }
            if batch.isEmpty { return }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }

    /// The reader is exiting: hand queued and future jobs to the global pool.
    func stop() {
        let left = state.withLock { s -> [UnownedJob] in
            s.stopped = true
            defer { s.jobs.removeAll() }
            return s.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
