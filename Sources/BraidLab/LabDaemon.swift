import BraidKernel
import Foundation

/// `braid run` on a lab router, as a child process: its log is collected line by line with the
/// time each line arrived, and it can be signalled (SIGHUP, SIGTERM, SIGKILL) like a real daemon.
public final class LabDaemon: @unchecked Sendable {
    public struct LogLine: Sendable {
        public var arrivedAt: ContinuousClock.Instant
        public var text: String
    }

    private let process = Process()
    private let lines = LockedBox<[LogLine]>([])

    /// Starts `binary run -c configPath` in the lab router's namespace.
    public init(lab: Lab, binary: String, configPath: String, extraArguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") { process.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        process.arguments = ["netns", "exec", lab.router.name, binary, "run", "-c", configPath, "--state-dir", lab.stateDirectory] + extraArguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let lines = self.lines
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let text = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    lines.update { $0.append(LogLine(arrivedAt: ContinuousClock.now, text: text)) }
                }
            }
        }
        lab.register(self)
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: [LogLine] { lines.value }
    public var logText: String { log.map(\.text).joined(separator: "\n") }

    /// Waits until a log line containing `text` appears after the first `skipping` lines; returns it.
    @discardableResult
    public func waitForLog(_ text: String, after skipping: Int = 0, timeout: Duration = .seconds(10)) async throws -> LogLine {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = log.dropFirst(skipping).first(where: { $0.text.contains(text) }) { return line }
            if !isRunning, log.dropFirst(skipping).first(where: { $0.text.contains(text) }) == nil {
                throw LabError("braid run exited (status \(process.terminationStatus)) before logging \"\(text)\":\n\(logText)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw LabError("braid run did not log \"\(text)\" within \(timeout):\n\(logText)")
    }

    public func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Sends SIGTERM and waits for the exit; SIGKILL after `grace`.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) async -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning {
            signal(SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Kills at once, as a crash or `kill -9` would, and reaps the process.
    public func kill9() {
        signal(SIGKILL)
        process.waitUntilExit()
    }
}
