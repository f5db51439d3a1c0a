import BraidConfig
import BraidKernel
import Foundation

/// Traffic the lab sends through Braid, from any namespace, and what the far side saw.
public enum LabTraffic {
    /// The answers to `count` new TCP connections, one request each: the address the server saw,
    /// or "failed: …" for a connection that did not get an answer.
    public static func newConnections(
        from namespace: NetworkNamespace, count: Int, to address: IPv4Address = Lab.serverAddress,
        port: UInt16 = Lab.serverPort, timeout: Double = 2, source: IPv4Address? = nil
    ) async throws -> [String] {
        try await NamespaceThread.run(in: namespace.name) {
            (0..<count).map { _ in
                do {
                    let socket = try LabSocket.tcpConnect(to: address, port: port, timeout: timeout, source: source)
                    defer { socket.close() }
                    try socket.send("who\n")
                    return try socket.readLine() ?? "failed: closed"
                } catch {
                    return "failed: \(error)"
                }
            }
        }
    }

    /// One UDP request and its answer.
    public static func udpRequest(
        from namespace: NetworkNamespace, to address: IPv4Address = Lab.serverAddress,
        port: UInt16 = Lab.serverPort
    ) async throws -> String {
        try await NamespaceThread.run(in: namespace.name) {
            let socket = try LabSocket.udp()
            defer { socket.close() }
            try socket.sendDatagram("who\n", to: address, port: port)
            return try socket.receiveDatagram().0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// Counts answers by value.
    public static func tally(_ answers: [String]) -> [String: Int] {
        answers.reduce(into: [:]) { $0[$1.hasPrefix("failed") ? "failed" : $1, default: 0] += 1 }
    }
}

/// One TCP connection that keeps sending requests until stopped, recording every answer: a
/// stand-in for a video call or an SSH session that must survive re-applies and failovers.
public final class LongLivedFlow: Sendable {
    private let answers = LockedBox<[String]>([])
    private let running = LockedBox(true)
    private let finished = DispatchSemaphore(value: 0)

    /// Opens the connection from `namespace` and starts sending one request every `interval` seconds.
    public init(
        from namespace: NetworkNamespace, to address: IPv4Address = Lab.serverAddress,
        port: UInt16 = Lab.serverPort, interval: Double = 0.02
    ) async throws {
        let socket = try await NamespaceThread.run(in: namespace.name) {
            try LabSocket.tcpConnect(to: address, port: port)
        }
        let answers = self.answers, running = self.running, finished = self.finished
        Thread.detachNewThread {
            while running.value {
                do {
                    try socket.send("who\n")
                    let answer = try socket.readLine() ?? "failed: closed"
                    answers.update { $0.append(answer) }
                    if answer.hasPrefix("failed") { break }
                } catch {
                    answers.update { $0.append("failed: \(error)") }
                    break
                }
                Thread.sleep(forTimeInterval: interval)
            }
            socket.close()
            finished.signal()
        }
    }

    /// The answers so far.
    public var answersSoFar: [String] { answers.value }

    /// The first answer, waiting up to `timeout` for it: a loaded machine can take longer than any
    /// fixed sleep to carry the first round trip. Nil if none arrived in time.
    public func firstAnswer(within timeout: Duration = .seconds(3)) async -> String? {
        await waitForAnswers(1, within: timeout).first
    }

    /// The answers so far once there are at least `count` of them (or a failure ended the flow), or
    /// whatever arrived when `timeout` ran out.
    @discardableResult
    public func waitForAnswers(_ count: Int, within timeout: Duration = .seconds(5)) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let soFar = answers.value
            if soFar.count >= count || soFar.last?.hasPrefix("failed") == true { return soFar }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return answers.value
    }

    /// Stops the flow and returns every answer it received, in order.
    public func stop() -> [String] {
        running.value = false
        finished.wait()
        return answers.value
    }
}
