import BraidDaemon
import BraidKernel
import Foundation
import Synchronization

/// The live numbers a scrape or the dashboard reads from the kernel: Braid's per-WAN nft
/// counters and the conntrack table counted by mark, both in one go.
public struct KernelSample: Sendable {
    public var counters: [String: TrafficCounter]
    /// Masked mark → conntrack entries (one netlink dump for all WANs).
    public var connectionsByMark: [UInt32: Int]
    /// Why a read failed, for the log and the `braid_scrape_errors` line; nil when all worked.
    public var error: String?
    public var takenAt: ContinuousClock.Instant

    public init(
        counters: [String: TrafficCounter], connectionsByMark: [UInt32: Int], error: String? = nil,
        takenAt: ContinuousClock.Instant = .now
    ) {
        self.counters = counters
        self.connectionsByMark = connectionsByMark
        self.error = error
        self.takenAt = takenAt
    }
}

/// Takes `KernelSample`s on a thread of its own, never on the control loop nor on the HTTP
/// server's event loops, and shares one recent sample among callers (several open dashboards
/// cost one conntrack dump per second, not one each).
public final class KernelSampler: Sendable {
    let kernel: any KernelPort
    private let latest = Mutex<KernelSample?>(nil)

    public init(kernel: any KernelPort) { self.kernel = kernel }

    /// A sample no older than `maxAge`.
    public func sample(mask: UInt32, maxAge: Duration = .zero) async -> KernelSample {
        if let cached = latest.withLock({ $0 }), ContinuousClock.now - cached.takenAt <= maxAge, maxAge > .zero { return cached }
        let kernel = self.kernel
        let fresh = await withCheckedContinuation { (continuation: CheckedContinuation<KernelSample, Never>) in
            let thread = Thread {
                var errors: [String] = []
                var counters: [String: TrafficCounter] = [:]
                var connections: [UInt32: Int] = [:]
                do { counters = try kernel.readCounters() } catch { errors.append("\(error)") }
                do { connections = try kernel.countConnectionsByMark(mask: mask) } catch { errors.append("\(error)") }
                continuation.resume(
                    returning: KernelSample(
                        counters: counters, connectionsByMark: connections,
                        error: errors.isEmpty ? nil : errors.joined(separator: "; ")))
            }
            thread.name = "braid-kernel-sample"
            thread.start()
        }
        latest.withLock { $0 = fresh }
        return fresh
    }
}
