import Foundation
import Synchronization

/// What the running daemon knows about its WANs, served on the status socket and shown by
/// `braid status`.
public struct DaemonStatus: Sendable, Codable, Equatable {
    public var pid: Int32
    public var configPath: String
    public var startedAt: Date
    public var wans: [WanHealthStatus]

    public init(pid: Int32, configPath: String, startedAt: Date, wans: [WanHealthStatus]) {
        self.pid = pid
        self.configPath = configPath
        self.startedAt = startedAt
        self.wans = wans
    }
}

/// One WAN's health as the daemon sees it.
public struct WanHealthStatus: Sendable, Codable, Equatable {
    /// "up", "down" (probes failing), "link-down", or "unusable" (the link is up but the host
    /// cannot route through it: an off-link gateway, a route or sysctl the kernel refused).
    public var state: String
    public var name: String
    public var since: Date
    /// Why it is in this state, as logged.
    public var reason: String
    public var probe: String?
    public var targets: [TargetHealthStatus]
}

/// One probe target's recent record.
public struct TargetHealthStatus: Sendable, Codable, Equatable {
    public var address: String
    /// Round-trip time of the latest answer, in milliseconds.
    public var lastRTTMilliseconds: Double?
    /// Share of the last 20 probes that got no answer, 0...1.
    public var loss: Double
}

/// The daemon's current status, written by the control loop and read by the status socket.
public final class StatusBoard: Sendable {
    private let current: Mutex<DaemonStatus>

    public init(_ initial: DaemonStatus) { current = Mutex(initial) }

    public var snapshot: DaemonStatus { current.withLock { $0 } }

    public func update(_ change: (inout DaemonStatus) -> Void) { current.withLock { change(&$0) } }
}
