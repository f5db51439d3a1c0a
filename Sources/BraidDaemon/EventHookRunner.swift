import BraidConfig
import CBraidLinux
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How one event hook run ended; the raw value is the `result` label of `braid_hook_runs_total`.
public enum HookRunResult: String, Sendable, CaseIterable {
    /// Exited 0.
    case success
    /// Exited non-zero, was killed by a signal, or could not be started.
    case failure
    /// Still running after `hooks.timeout`: killed.
    case timeout
}

/// Runs the executables in `hooks.directory` on every event: off the control loop, one event at
/// a time per WAN (so a WAN's "down" hook finishes before its "up" hook starts) while different
/// WANs' hooks run side by side, each directory's programs in lexical order of their names. A
/// hook gets the event as JSON on stdin and as `BRAID_*` variables; one that hangs is killed
/// (with its process group) after the timeout. A failing hook is logged with its exit status
/// and what it printed, counted, and never stops the daemon or the hooks after it.
public final class EventHookRunner: Sendable {
    private let settings: @Sendable () -> EventHookConfig
    private let logger: Logger
    private let finished: @Sendable (HookRunResult) -> Void
    /// WAN name ("" for events of no WAN) → its serial queue.
    private let queues = Mutex<[String: DispatchQueue]>([:])
    /// Work queued and not yet done, so tests and shutdown can wait for it.
    private let pending = DispatchGroup()

    /// `settings` is read at each event, so a reload that changes `hooks` takes effect at once.
    public init(
        settings: @escaping @Sendable () -> EventHookConfig, logger: Logger,
        finished: @escaping @Sendable (HookRunResult) -> Void = { _ in }
    ) {
        self.settings = settings
        self.logger = logger
        self.finished = finished
        // A hook that exits without reading its stdin would make the write of the event raise
        // SIGPIPE, which kills the whole daemon by default. Ignored here, the write fails with
        // EPIPE instead; hooks get every signal back at its default (POSIX_SPAWN_SETSIGDEF).
        signal(SIGPIPE, SIG_IGN)
    }

    /// Queues the hooks for `event` and returns at once.
    public func handle(_ event: GatewayEventRecord) {
        let key = event.wan ?? ""
        let queue = queues.withLock { queues in
            if let queue = queues[key] { return queue }
            let queue = DispatchQueue(label: "braid-hooks-\(key)")
            queues[key] = queue
            return queue
        }
        let config = settings()
        pending.enter()
        queue.async { [self] in
            defer { pending.leave() }
            for program in Self.programs(in: config.directory) {
                run(program, event: event, timeout: config.timeout)
            }
            if let script = config.mwan3User, event.kind == .state {
                for action in Mwan3UserHook.actions(from: event.from, to: event.to) {
                    run(script, event: event, timeout: config.timeout, environment: Mwan3UserHook.environment(action: action, event: event))
                }
            }
        }
    }

    /// Waits until every queued hook has finished (or `timeout` passes); true when all did.
    @discardableResult
    public func waitUntilIdle(timeout: Duration = .seconds(60)) -> Bool {
        pending.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) == .success
    }

    /// The executable regular files directly in `directory`, in byte order of their names. Names
    /// starting with a dot, and editor leftovers (`~`, `.dpkg-*`), are not hooks.
    static func programs(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { name in
            !name.hasPrefix(".") && !name.hasSuffix("~") && !name.contains(".dpkg-")
        }
        .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        .map { directory + "/" + $0 }
        .filter { path in
            var info = stat()
            return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
        }
    }

    /// `BRAID_*` variables for `event`, added to the daemon's environment.
    static func environment(for event: GatewayEventRecord) -> [String: String] {
        [
            "BRAID_EVENT": event.kind.rawValue,
            "BRAID_EVENT_ID": "\(event.id)",
            "BRAID_WAN": event.wan ?? "",
            "BRAID_INTERFACE": event.interface ?? "",
            "BRAID_STATE": event.to ?? "",
            "BRAID_PREVIOUS_STATE": event.from ?? "",
            "BRAID_REASON": event.reason,
            "BRAID_GATEWAY": event.gateway ?? "",
            "BRAID_USABLE_WANS": event.usableWans.joined(separator: " "),
        ]
    }

    /// `environment`: the variables to add to the `BRAID_*` ones (mwan3's for its user script).
    private func run(
        _ program: String, event: GatewayEventRecord, timeout: Duration, environment extra: [String: String] = [:]
    ) {
        let name = (program as NSString).lastPathComponent
        let metadata: Logger.Metadata = ["hook": "\(name)", "event": "\(event.kind.rawValue)", "event_id": "\(event.id)"]
        let outcome = HookProcess.run(
            program, input: Array((event.jsonLine + "\n").utf8),
            environment: Self.environment(for: event).merging(extra) { $1 }, timeout: timeout)
        switch outcome.result {
        case .success:
            logger.debug("hook \(name) finished", metadata: metadata)
        case .failure:
            logger.error(
                "hook \(name) failed: \(outcome.status)\(outcome.output.isEmpty ? "" : ": " + outcome.output)",
                metadata: metadata)
        case .timeout:
            logger.error(
                "hook \(name) was killed after \(DurationText.format(timeout))\(outcome.output.isEmpty ? "" : ": " + outcome.output)",
                metadata: metadata)
        }
        finished(outcome.result)
    }
}

/// One hook program run to its end (or its timeout), with a pipe for its stdin and one for its
/// stdout and stderr together.
enum HookProcess {
    struct Outcome {
        var result: HookRunResult
        /// "exit status N", "killed by signal N", or why it could not start.
        var status: String
        /// The last few KB it printed.
        var output: String
    }

    /// What is kept of a hook's output for the log.
    static let outputLimit = 4096

    static func run(_ program: String, input: [UInt8], environment: [String: String], timeout: Duration) -> Outcome {
        var stdinPipe: [Int32] = [0, 0]
        var outputPipe: [Int32] = [0, 0]
        guard braid_pipe_cloexec(&stdinPipe) == 0 else {
            return Outcome(result: .failure, status: "no pipe: \(String(cString: strerror(errno)))", output: "")
        }
        guard braid_pipe_cloexec(&outputPipe) == 0 else {
            close(stdinPipe[0]); close(stdinPipe[1])
            return Outcome(result: .failure, status: "no pipe: \(String(cString: strerror(errno)))", output: "")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a timeout kills what the hook started too.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var variables = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BRAID_") }
        variables.merge(environment) { $1 }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv = [strdup(program)] + [nil]
        defer { for pointer in envp + argv { free(pointer) } }
        var pid: pid_t = 0
        var spawned = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        // ETXTBSY: the file is still open for writing somewhere, as while a package manager or an
        // editor installs the hook, or for the instant another thread's fork holds the descriptor
        // of a script just written. It clears within milliseconds; this is the hook thread, not the
        // control loop, so a short wait is cheap.
        for _ in 0..<20 where spawned == ETXTBSY {
            usleep(25_000)
            spawned = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        }
        close(stdinPipe[0])
        close(outputPipe[1])
        guard spawned == 0 else {
            close(stdinPipe[1]); close(outputPipe[0])
            return Outcome(result: .failure, status: "cannot start: \(String(cString: strerror(spawned)))", output: "")
        }
        // The event is a few hundred bytes, far below a pipe's 64 KiB: this write cannot block.
        _ = fcntl(stdinPipe[1], F_SETFL, O_NONBLOCK)
        _ = input.withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
        close(stdinPipe[1])
        _ = fcntl(outputPipe[0], F_SETFL, O_NONBLOCK)

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func drain() {
            while true {
                let count = buffer.withUnsafeMutableBytes { read(outputPipe[0], $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                output += buffer[..<count]
                if output.count > outputLimit { output.removeFirst(output.count - outputLimit) }
            }
        }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        var timedOut = false
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            if ContinuousClock.now >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            var poller = pollfd(fd: outputPipe[0], events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 10)
            drain()
        }
        drain()
        close(outputPipe[0])
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if timedOut { return Outcome(result: .timeout, status: "killed after the timeout", output: text) }
        if status & 0x7f != 0 { return Outcome(result: .failure, status: "killed by signal \(status & 0x7f)", output: text) }
        let code = (status >> 8) & 0xff
        return Outcome(result: code == 0 ? .success : .failure, status: "exit status \(code)", output: text)
    }
}
