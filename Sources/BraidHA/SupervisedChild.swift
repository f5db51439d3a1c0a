import BraidKernel
import Foundation
import Logging
import Synchronization

/// A long-running program Braid starts and keeps running (keepalived, conntrackd): its output goes
/// to Braid's log line by line; when it exits, it is started again after a pause that doubles up
/// to `maximumBackoff` while it keeps dying young; `stop` ends it (SIGTERM, then SIGKILL).
final class SupervisedChild: Sendable {
    let name: String
    private let executable: String
    private let arguments: [String]
    private let logger: Logger
    /// Run before every (re)start: clearing a stale lock or pid file the last run left behind.
    private let prepare: @Sendable () -> Void
    /// Run when the program exits on its own (not at `stop`), before it is started again.
    private let onExit: @Sendable () -> Void
    private let current = Mutex<ChildProcess?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let restartCount = Atomic<Int>(0)
    /// Set by the watcher thread, the only one that reaps the child (two threads in waitpid on one
    /// pid would race for its status).
    private let alive = Atomic<Bool>(false)

    static let initialBackoff = Duration.milliseconds(200)
    static let maximumBackoff = Duration.seconds(5)

    init(
        name: String, executable: String, arguments: [String], logger: Logger, prepare: @escaping @Sendable () -> Void = {},
        onExit: @escaping @Sendable () -> Void = {}
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logger = logger
        self.prepare = prepare
        self.onExit = onExit
    }

    var isRunning: Bool { alive.load(ordering: .relaxed) }
    var restarts: Int { restartCount.load(ordering: .relaxed) }
    var pid: Int32? { current.withLock { $0?.pid } }

    /// Starts the program and its watcher; throws when it cannot be started at all.
    func start() throws(HAError) {
        try spawn()
        Thread.detachNewThread { [self] in watch() }
    }

    private func spawn() throws(HAError) {
        prepare()
        do {
            let child = try ChildProcess(executable: executable, arguments: [executable] + arguments, mergeError: true)
            current.withLock { $0 = child }
            alive.store(true, ordering: .relaxed)
            let logger = self.logger, name = self.name
            child.forEachOutputLine { text in if !text.isEmpty { logger.debug("\(name): \(text)") } }
        } catch {
            throw .program("cannot start \(executable): \(error) (install it: scripts/install-dependencies)")
        }
    }

    private func watch() {
        var backoff = Self.initialBackoff
        while !stopping.load(ordering: .relaxed) {
            guard let child = current.withLock({ $0 }) else { return }
            let startedAt = ContinuousClock.now
            let status = child.wait()
            alive.store(false, ordering: .relaxed)
            if stopping.load(ordering: .relaxed) { return }
            if ContinuousClock.now - startedAt > .seconds(30) { backoff = Self.initialBackoff }
            logger.error("\(name) exited (status \(status)); starting it again in \(backoff)")
            onExit()
            Thread.sleep(forTimeInterval: Double(backoff.components.seconds) + Double(backoff.components.attoseconds) / 1e18)
            if stopping.load(ordering: .relaxed) { return }
            restartCount.add(1, ordering: .relaxed)
            do { try spawn() } catch {
                logger.error("\(error)")
                current.withLock { $0 = nil }
                Thread.sleep(forTimeInterval: 1)
                do { try spawn() } catch { return }
            }
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; waits for it.
    func stop(grace: Duration = .seconds(3)) {
        stopping.store(true, ordering: .relaxed)
        guard let child = current.withLock({ $0 }), isRunning else { return }
        kill(child.pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning { kill(child.pid, SIGKILL) }
        while isRunning { Thread.sleep(forTimeInterval: 0.01) }
    }
}
