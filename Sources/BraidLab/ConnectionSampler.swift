import BraidConfig
import Foundation

/// Opens a new connection every `interval` from one namespace, each on its own thread, and records
/// when it started and what it got. Used to see the moment traffic stops going to a dead WAN:
/// connections sent there time out, the others answer.
public final class ConnectionSampler: Sendable {
    public struct Sample: Sendable {
        public var startedAt: ContinuousClock.Instant
        public var finishedAt: ContinuousClock.Instant
        public var answer: String
        public var failed: Bool { answer.hasPrefix("failed") }
        /// A connection whose first SYN was lost (sent to a dead WAN) is answered, if at all, only
        /// after the one-second SYN retransmission, on whatever WAN its new conntrack entry gets.
        public var neededRetransmission: Bool { failed || finishedAt - startedAt > .milliseconds(500) }
    }

    private let samples = LockedBox<[Sample]>([])
    private let running = LockedBox(true)
    private let task: Task<Void, Never>

    /// `ipv6`: sample IPv6 connections to this address instead of IPv4 ones to the lab server.
    public init(
        from namespace: NetworkNamespace, interval: Duration = .milliseconds(20), timeout: Double = 1.5,
        ipv6: IPv6Address? = nil
    ) {
        let samples = self.samples, running = self.running
        task = Task.detached {
            await withTaskGroup(of: Void.self) { group in
                while running.value {
                    let startedAt = ContinuousClock.now
                    group.addTask {
                        let answers =
                            if let ipv6 {
                                try? await LabTraffic.newIPv6Connections(from: namespace, count: 1, to: ipv6, timeout: timeout)
                            } else {
                                try? await LabTraffic.newConnections(from: namespace, count: 1, timeout: timeout)
                            }
                        let answer = answers?.first ?? "failed: lab"
                        samples.update {
                            $0.append(Sample(startedAt: startedAt, finishedAt: ContinuousClock.now, answer: answer))
                        }
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        }
    }

    /// Stops sending and waits for every connection in flight; returns all samples by start time.
    public func stop() async -> [Sample] {
        running.value = false
        await task.value
        return samples.value.sorted { $0.startedAt < $1.startedAt }
    }
}
