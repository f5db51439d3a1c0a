import Foundation
import Synchronization

/// One thread that entered a network namespace once and runs every job given to it there, in
/// order, for as long as its owner keeps it.
///
/// `NamespaceThread.runBlocking` starts a thread and enters the namespace for each call: about
/// 0.2 ms, paid by each of the dozen netlink requests of an apply against a router that lives in a
/// namespace (the benchmarks' lab), which a router in its own namespace never pays. A benchmark
/// that measures an apply in milliseconds keeps one of these instead. The thread ends when the
/// last reference to the worker goes (and keeps the namespace alive until then).
final class NamespaceWorker: Sendable {
    private let queue: JobQueue

    init(namespace: String) {
        let queue = JobQueue()
        self.queue = queue
        let thread = Thread {
            let entered = Result { () throws(KernelError) in try NamespaceThread.enter(namespace) }
            while let job = queue.next() { job(entered) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit { queue.close() }

    /// Runs `body` on the worker's thread inside the namespace, blocking the caller until it returns.
    func run<Value: Sendable>(_ body: @escaping @Sendable () -> Value) throws(KernelError) -> Value {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Value, KernelError>?>(nil)
        queue.add { entered in
            outcome.withLock { $0 = entered.map { body() } }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0 }!.get()
    }

    /// The jobs waiting for the thread; `next()` blocks until one comes or the queue is closed.
    private final class JobQueue: Sendable {
        typealias Job = @Sendable (Result<Void, KernelError>) -> Void
        private let state = Mutex<(jobs: [Job], closed: Bool)>(([], false))
        private let available = DispatchSemaphore(value: 0)

        func add(_ job: @escaping Job) {
            state.withLock { $0.jobs.append(job) }
            available.signal()
        }

        func close() {
            state.withLock { $0.closed = true }
            available.signal()
        }

        func next() -> Job? {
            while true {
                available.wait()
                let job: Job?? = state.withLock { state in
                    if !state.jobs.isEmpty { return .some(state.jobs.removeFirst()) }
                    return state.closed ? .some(nil) : nil
                }
                if let job { return job }
            }
        }
    }
}
