import BraidConfig
import BraidKernel
import Foundation

/// One long-lived TCP connection that sends a request every `interval` and records when each
/// answer came: the longest silence shows an interruption (a takeover), the answers which
/// public address the far end saw all along.
public final class TimedFlow: Sendable {
    public struct Answer: Sendable {
        public var at: ContinuousClock.Instant
        public var text: String
        public var failed: Bool { text.hasPrefix("failed") }
    }

    private let answers = LockedBox<[Answer]>([])
    private let running = LockedBox(true)
    private let finished = DispatchSemaphore(value: 0)
    public let openedAt: ContinuousClock.Instant

    public init(
        from namespace: NetworkNamespace, to address: IPv4Address = Lab.serverAddress, port: UInt16 = Lab.serverPort,
        interval: Double = 0.05, readTimeout: Double = 30
    ) async throws {
        let socket = try await NamespaceThread.run(in: namespace.name) {
            // A read timeout longer than any takeover: TCP retransmits underneath.
            try LabSocket.tcpConnect(to: address, port: port, timeout: readTimeout)
        }
        openedAt = .now
        let answers = self.answers, running = self.running, finished = self.finished
        Thread.detachNewThread {
            while running.value {
                do {
                    try socket.send("who\n")
                    let text = try socket.readLine() ?? "failed: closed"
                    answers.update { $0.append(Answer(at: .now, text: text)) }
                    if text.hasPrefix("failed") { break }
                } catch {
                    answers.update { $0.append(Answer(at: .now, text: "failed: \(error)")) }
                    break
                }
                Thread.sleep(forTimeInterval: interval)
            }
            socket.close()
            finished.signal()
        }
    }

    public var answersSoFar: [Answer] { answers.value }

    /// The first answer's text, waiting up to `timeout`.
    public func firstAnswer(within timeout: Duration = .seconds(3)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let first = answers.value.first { return first.text }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Whether it failed (reset, closed, timed out) at any point.
    public var failed: Bool { answers.value.contains { $0.failed } }

    /// The longest time between two consecutive answers at or after `start` (from `start` to
    /// the first one, and from the last one to now when it is still silent).
    public func longestSilence(since start: ContinuousClock.Instant, until end: ContinuousClock.Instant = .now) -> Duration {
        var previous = start
        var longest = Duration.zero
        for answer in answers.value where answer.at >= start && answer.at <= end {
            longest = max(longest, answer.at - previous)
            previous = answer.at
        }
        return max(longest, end - previous)
    }

    /// The distinct answers (the public addresses the server saw).
    public var distinctAnswers: Set<String> { Set(answers.value.map(\.text)) }

    /// Stops the flow and returns every answer.
    @discardableResult
    public func stop() -> [Answer] {
        running.value = false
        finished.wait()
        return answers.value
    }
}
