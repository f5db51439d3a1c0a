import BraidHA
import Foundation
import Synchronization

/// What the running daemon knows about its WANs, served on the status socket and shown by
/// `braid status`.
public struct DaemonStatus: Sendable, Codable, Equatable {
    public var pid: Int32
    public var configPath: String
    public var startedAt: Date
    public var wans: [WanHealthStatus]
    /// The HA pair's state, with `ha:` in the config.
    public var ha: HAStatus?

    public init(pid: Int32, configPath: String, startedAt: Date, wans: [WanHealthStatus]) {
        self.pid = pid
        self.configPath = configPath
        self.startedAt = startedAt
        self.wans = wans
    }
}

/// A WAN's state as `braid status` shows it; the raw value is the word in the status JSON.
/// When several apply, the first in this order wins: no link, no address, no gateway, unusable, drained,
/// down, held, probing, up.
public enum WanState: String, Sendable, Codable, CaseIterable {
    /// Carrying traffic: its link is up and, with `health`, its probes pass.
    case up
    /// Carrying traffic while its probes have given no verdict yet: just after the daemon
    /// started, or a reload changed its `health`, and no round has passed since.
    case probing
    /// Its probes failed (`down_after` rounds in a row, or the loss rule).
    case down
    /// Its interface is down or does not exist: the link check wins over the probes.
    case noLink = "no_link"
    /// Its link is up but its interface has no IPv4 address (DHCP has no lease yet, or lost it).
    case noAddress = "no_address"
    /// Its link is up and it has an address, but its `gateway: auto` is not learned yet: no
    /// default route on the interface, no lease reported by a client hook (DHCP not bound yet).
    case noGateway = "no_gateway"
    /// Its link is up but the host cannot route through it: an off-link gateway, a route or
    /// sysctl the kernel refused (`reason` says which).
    case unusable
    /// Its link and probes are fine, but flap damping keeps it out until its hold ends.
    case held
    /// The operator drained it (`braid drain`): no new connections, its open ones stay.
    case drained

    /// New connections may leave through it.
    public var carriesTraffic: Bool { self == .up || self == .probing }
}

/// One WAN's health as the daemon sees it.
public struct WanHealthStatus: Sendable, Codable, Equatable {
    public var state: WanState
    public var name: String
    public var since: Date
    /// Why it is in this state, as logged.
    public var reason: String
    public var probe: String?
    public var targets: [TargetHealthStatus]
    /// The state of its IPv6 when IPv6 is judged by its own targets (nil: IPv6 shares `state`).
    public var ipv6State: WanState?
    public var ipv6Reason: String?
    /// Its IPv4 next hop as the last apply resolved it (for `gateway: auto`, the learned one;
    /// "none" for a device route); nil while none is known.
    public var gateway: String?

    public init(
        state: WanState, name: String, since: Date, reason: String, probe: String?, targets: [TargetHealthStatus],
        ipv6State: WanState? = nil, ipv6Reason: String? = nil, gateway: String? = nil
    ) {
        self.state = state
        self.name = name
        self.since = since
        self.reason = reason
        self.probe = probe
        self.targets = targets
        self.ipv6State = ipv6State
        self.ipv6Reason = ipv6Reason
        self.gateway = gateway
    }
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
