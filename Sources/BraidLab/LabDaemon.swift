import BraidKernel
import Foundation

/// `braid run` on a lab router, as a child process: its log is collected line by line with the
/// time each line arrived, and it can be signalled (SIGHUP, SIGTERM, SIGKILL) like a real daemon.
public final class LabDaemon: @unchecked Sendable {
    public struct LogLine: Sendable {
        public var arrivedAt: ContinuousClock.Instant
        public var text: String
    }

    private let child: ChildProcess
    private let lines = LockedBox<[LogLine]>([])

    /// Starts `binary run -c configPath` in the lab router's namespace.
    public convenience init(lab: Lab, binary: String, configPath: String, extraArguments: [String] = []) throws {
        try self.init(
            namespace: lab.router, stateDirectory: lab.stateDirectory, binary: binary, configPath: configPath,
            extraArguments: extraArguments)
        lab.register(self)
    }

    /// Starts `binary run -c configPath --state-dir stateDirectory` in `namespace` (one router of
    /// a lab with several); the caller kills it at teardown.
    public init(
        namespace: NetworkNamespace, stateDirectory: String, binary: String, configPath: String, extraArguments: [String] = []
    ) throws {
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        child = try ChildProcess(
            executable: ip,
            arguments: [
                "ip", "netns", "exec", namespace.name, binary, "run", "-c", configPath,
                "--state-dir", stateDirectory,
            ] + extraArguments, mergeError: true)
        let lines = self.lines
        child.forEachOutputLine { text in lines.update { $0.append(LogLine(arrivedAt: ContinuousClock.now, text: text)) } }
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }
    public var log: [LogLine] { lines.value }
    public var logText: String { log.map(\.text).joined(separator: "\n") }

    /// Waits until a log line containing `text` appears after the first `skipping` lines; returns it.
    @discardableResult
    public func waitForLog(_ text: String, after skipping: Int = 0, timeout: Duration = .seconds(10)) async throws -> LogLine {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = log.dropFirst(skipping).first(where: { $0.text.contains(text) }) { return line }
            if !isRunning, log.dropFirst(skipping).first(where: { $0.text.contains(text) }) == nil {
                try await Task.sleep(for: .milliseconds(50))
                throw LabError("braid run exited (status \(child.wait())) before logging \"\(text)\":\n\(logText)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw LabError("braid run did not log \"\(text)\" within \(timeout):\n\(logText)")
    }

    public func signal(_ number: Int32) { child.signal(number) }

    /// Sends SIGTERM and waits for the exit; SIGKILL after `grace`.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) async -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if isRunning { signal(SIGKILL) }
        return child.wait()
    }

    /// Kills at once, as a crash or `kill -9` would, and reaps the process.
    public func kill9() {
        signal(SIGKILL)
        child.wait()
    }
}
