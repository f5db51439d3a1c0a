/// An mwan3 configuration (`/etc/config/mwan3`) as mwan3 itself reads it: every option typed and
/// with mwan3's own default filled in (the defaults of mwan3track and mwan3.sh), before any of it
/// is turned into Braid's terms.
public struct Mwan3Config: Sendable, Equatable {
    public var globals: Mwan3Globals
    public var interfaces: [Mwan3Interface]
    public var members: [Mwan3Member]
    public var policies: [Mwan3Policy]
    public var rules: [Mwan3Rule]

    public init(
        globals: Mwan3Globals = Mwan3Globals(), interfaces: [Mwan3Interface] = [], members: [Mwan3Member] = [],
        policies: [Mwan3Policy] = [], rules: [Mwan3Rule] = []
    ) {
        self.globals = globals
        self.interfaces = interfaces
        self.members = members
        self.policies = policies
        self.rules = rules
    }
}

/// The `config globals` section.
public struct Mwan3Globals: Sendable, Equatable {
    /// The firewall mark bits mwan3 may use (`mmx_mask`, default 0x3F00).
    public var markMask: String = "0x3F00"
    public var line: Int?

    public init(markMask: String = "0x3F00", line: Int? = nil) {
        self.markMask = markMask
        self.line = line
    }
}

/// The IP family of an mwan3 interface or rule.
public enum Mwan3Family: String, Sendable, Equatable {
    case ipv4
    case ipv6
}

/// A `config interface NAME` section: one logical OpenWrt interface mwan3 tracks.
public struct Mwan3Interface: Sendable, Equatable {
    public var name: String
    public var line: Int
    public var enabled: Bool = false
    public var family: Mwan3Family = .ipv4
    /// `initial_state`: whether the interface counts as online before its first probes.
    public var initiallyOnline: Bool = true
    public var trackIPs: [String] = []
    /// `track_method`: ping, arping, httping, nping-tcp, nping-udp, nping-icmp, nping-arp, nslookup.
    public var trackMethod: String = "ping"
    public var httpingTLS: Bool = false
    /// How many of `trackIPs` must answer for a round to pass (`reliability`).
    public var reliability: Int = 1
    /// Probes sent to each target per round (`count`).
    public var count: Int = 1
    /// Seconds to wait for an answer (`timeout`).
    public var timeout: Int = 4
    /// Seconds between rounds (`interval`), and while failing or recovering.
    public var interval: Int = 10
    public var failureInterval: Int?
    public var recoveryInterval: Int?
    /// Failed rounds before the interface is offline (`down`), passed rounds before it is back (`up`).
    public var down: Int = 5
    public var up: Int = 5
    public var checkQuality: Bool = false
    /// `check_quality` limits: milliseconds and percent.
    public var failureLatency: Int = 1000
    public var recoveryLatency: Int = 500
    public var failureLoss: Int = 40
    public var recoveryLoss: Int = 10
    /// `flush_conntrack`: the events on which mwan3 flushes the whole conntrack table
    /// (ifup, ifdown, connected, disconnected; empty = never).
    public var flushConntrack: [String] = []

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

/// A `config member NAME` section: an interface with the metric and weight it has in the policies
/// that use the member.
public struct Mwan3Member: Sendable, Equatable {
    public var name: String
    public var line: Int
    public var interface: String
    /// Lower metrics are used first; members of equal metric share by weight.
    public var metric: Int = 1
    public var weight: Int = 1

    public init(name: String, line: Int, interface: String, metric: Int = 1, weight: Int = 1) {
        self.name = name
        self.line = line
        self.interface = interface
        self.metric = metric
        self.weight = weight
    }
}

/// What a policy does when none of its members is online (`last_resort`).
public enum Mwan3LastResort: String, Sendable, Equatable {
    /// Reject with ICMP unreachable (mwan3's default).
    case unreachable
    /// Drop silently.
    case blackhole
    /// Use the main routing table.
    case `default`
}

/// A `config policy NAME` section.
public struct Mwan3Policy: Sendable, Equatable {
    public var name: String
    public var line: Int
    /// Member names, in file order.
    public var members: [String]
    public var lastResort: Mwan3LastResort = .unreachable

    public init(name: String, line: Int, members: [String], lastResort: Mwan3LastResort = .unreachable) {
        self.name = name
        self.line = line
        self.members = members
        self.lastResort = lastResort
    }
}

/// A `config rule [NAME]` section, in file order (first match wins in mwan3 too).
public struct Mwan3Rule: Sendable, Equatable {
    /// The section as uci names it (`https`, `@rule[3]`).
    public var name: String
    public var line: Int
    public var sourceIP: String?
    public var sourcePort: String?
    public var destinationIP: String?
    public var destinationPort: String?
    /// `proto`: tcp, udp, icmp, all (mwan3's default) or a number.
    public var proto: String = "all"
    /// Nil: both families (mwan3's `any`).
    public var family: Mwan3Family?
    public var ipset: String?
    public var sticky: Bool = false
    /// Seconds a sticky client stays on its interface after its last connection (`timeout`, default 600).
    public var stickyTimeout: Int = 600
    /// A policy name, or `default` (main table), `unreachable`, `blackhole`.
    public var usePolicy: String

    public init(name: String, line: Int, usePolicy: String) {
        self.name = name
        self.line = line
        self.usePolicy = usePolicy
    }
}
