/// The validated contents of a Braid configuration file: the LAN, the WANs, and how Braid
/// lays out its marks and routing tables. Every value here has passed `ConfigLoader`'s checks,
/// so the planner can render it without re-validating.
public struct Config: Sendable, Equatable {
    public var lan: LanConfig
    public var wans: [WanConfig]
    public var kernel: KernelLayoutConfig
    /// When a WAN goes down, delete the conntrack entries that carry its mark (and only those), so
    /// its clients reconnect through a healthy WAN at once instead of waiting for their timeouts.
    public var flushOnDown: Bool
    public var sticky: StickyMode
    public var sets: [AddressSetConfig]
    /// Tried in order; the first match wins; traffic no rule matches is balanced.
    public var rules: [TrafficRuleConfig]
    public var portForwards: [PortForwardConfig]
    /// How long a WAN that keeps going down and coming back is held out of service.
    public var flapDamping: FlapDampingConfig
    /// The HTTP API of `braid run` (metrics, status, events, dashboard, drain).
    public var api: ApiConfig = ApiConfig()
    /// Event hooks: programs run on every state change.
    public var hooks: EventHookConfig = EventHookConfig()
    /// Named policies (`policies`), in the order written; rules pick one with `policy: NAME`.
    public var policies: [NamedPolicyConfig] = []
    /// The policy for new connections no rule decides; nil balances them over every WAN (`balance`).
    public var defaultPolicy: String?
    /// An active/backup pair with another Braid gateway (`ha:`); nil for a single gateway.
    public var ha: HAConfig?

    public init(
        lan: LanConfig, wans: [WanConfig], kernel: KernelLayoutConfig = KernelLayoutConfig(), flushOnDown: Bool = true,
        sticky: StickyMode = .none, sets: [AddressSetConfig] = [], rules: [TrafficRuleConfig] = [],
        portForwards: [PortForwardConfig] = [], flapDamping: FlapDampingConfig = FlapDampingConfig()
    ) {
        self.lan = lan
        self.wans = wans
        self.kernel = kernel
        self.flushOnDown = flushOnDown
        self.sticky = sticky
        self.sets = sets
        self.rules = rules
        self.portForwards = portForwards
        self.flapDamping = flapDamping
    }
}

/// The interfaces where client traffic enters the gateway.
public struct LanConfig: Sendable, Equatable {
    public var interfaces: [String]

    public init(interfaces: [String]) { self.interfaces = interfaces }
}

/// One uplink: the interface it leaves by, its next hop, its share of new connections, and its NAT.
public struct WanConfig: Sendable, Equatable {
    public var name: String
    public var interface: String
    /// The IPv4 next hop: fixed, learned at run time (`auto`, the default), or none on a
    /// point-to-point link. The planner resolves it with `GatewayResolution`.
    public var gateway: GatewaySetting<IPv4Address>
    /// Relative share of new connections; 0 means "only when no weighted WAN is available".
    public var weight: Int
    public var nat: NatMode
    /// Only the lowest tier with a usable WAN carries balanced traffic; higher tiers are backups.
    public var tier: Int
    /// Probes that decide whether the WAN is usable; nil means "usable while its link is up".
    public var health: HealthCheckConfig?
    /// Nil: the WAN takes no IPv6 (see `WanIPv6Config`).
    public var ipv6: WanIPv6Config?

    public init(
        name: String, interface: String, gateway: GatewaySetting<IPv4Address> = .auto, weight: Int = 1,
        nat: NatMode = .masquerade, tier: Int = 1, health: HealthCheckConfig? = nil, ipv6: WanIPv6Config? = nil
    ) {
        self.name = name
        self.interface = interface
        self.gateway = gateway
        self.weight = weight
        self.nat = nat
        self.tier = tier
        self.health = health
        self.ipv6 = ipv6
    }

    /// A WAN with a fixed IPv4 gateway.
    public init(
        name: String, interface: String, gateway: IPv4Address, weight: Int = 1, nat: NatMode = .masquerade,
        tier: Int = 1, health: HealthCheckConfig? = nil, ipv6: WanIPv6Config? = nil
    ) {
        self.init(
            name: name, interface: interface, gateway: .fixed(gateway), weight: weight, nat: nat, tier: tier, health: health,
            ipv6: ipv6)
    }
}

/// How connections leaving by a WAN get their source address.
public enum NatMode: Sendable, Equatable, CustomStringConvertible {
    /// Rewrite to the WAN interface's current address (dynamic ISP addresses).
    case masquerade
    /// Leave the source alone (routed public LAN, or NAT done upstream).
    case none
    /// Rewrite to this fixed address.
    case snat(IPv4Address)

    public var description: String {
        switch self {
        case .masquerade: "masquerade"
        case .none: "none"
        case .snat(let address): "snat to \(address)"
        }
    }
}

/// Where Braid puts its state in the shared kernel namespaces (fwmark bits, routing table ids,
/// ip rule priorities), so that it can coexist with other software that uses the same resources.
public struct KernelLayoutConfig: Sendable, Equatable {
    /// The fwmark bits Braid owns; WAN marks are small integers shifted into this mask.
    public var markMask: UInt32
    /// Routing table id of WAN slot 1; the WAN in slot s uses `firstTable + s - 1`.
    public var firstTable: UInt32
    /// Priority of Braid's first ip rule; Braid uses `firstRulePriority ... lastRulePriority`.
    public var firstRulePriority: UInt32

    /// The top byte, bits 24-31: the only byte no tool with fixed marks touches. Bits 16-23 are
    /// Tailscale's (0x40000, 0x80000 under 0xff0000), bits 8-15 kube-proxy's (0x4000, 0x8000),
    /// mwan3's (0x3f00) and Cilium's (0x0f00), and the low bytes hold wg-quick's 0xca6c, Docker's
    /// 0xd0c4e3 and the small values people and QoS scripts set by hand. Only tools that claim
    /// half the word reach the top byte: Calico's `iptablesMarkMask` (0xffff0000) and Cilium's
    /// proxy identity marks. docs/design.md has the table. Earlier releases used 0x00ff0000; `apply`
    /// refuses to renumber the marks of open connections (`MarkRenumbering`).
    public static let defaultMarkMask: UInt32 = 0xff00_0000
    /// 200 is above the ids distributions hand out in rt_tables examples (1-100) and far below
    /// the reserved 253-255.
    public static let defaultFirstTable: UInt32 = 200
    /// Below main (32766) so Braid's rules are consulted first, and well above 0 (local)
    /// so rules other tools add at low priorities still win.
    public static let defaultFirstRulePriority: UInt32 = 10000

    public init(
        markMask: UInt32 = Self.defaultMarkMask,
        firstTable: UInt32 = Self.defaultFirstTable,
        firstRulePriority: UInt32 = Self.defaultFirstRulePriority
    ) {
        self.markMask = markMask
        self.firstTable = firstTable
        self.firstRulePriority = firstRulePriority
    }

    /// The last table Braid uses when WAN numbers go up to `highestSlot`.
    public func lastTable(highestSlot: Int) -> UInt64 { UInt64(firstTable) + UInt64(highestSlot) - 1 }

    /// Whether tables `firstTable ... lastTable` avoid the reserved 253-255 and fit in 32 bits.
    public func tablesFit(highestSlot: Int) -> Bool {
        let last = lastTable(highestSlot: highestSlot)
        return !(UInt64(253)...255).overlaps(UInt64(firstTable)...last) && last <= UInt64(UInt32.max)
    }

    /// Braid's last ip rule priority when WAN numbers go up to `highestSlot`: the suppress rule,
    /// one rule per WAN, the main-mark rule, the fallback.
    public func lastRulePriority(highestSlot: Int) -> UInt64 { UInt64(firstRulePriority) + UInt64(highestSlot) + 2 }

    /// Whether Braid's rules stay below main's (32766), so they are consulted first.
    public func rulePrioritiesFit(highestSlot: Int) -> Bool { lastRulePriority(highestSlot: highestSlot) < 32766 }

    /// The shift that moves a WAN number into the mask's lowest bit.
    public var markShift: UInt32 { UInt32(markMask.trailingZeroBitCount) }

    /// How many WAN numbers fit in the mask's contiguous run of bits: every value but 0 (no WAN
    /// chosen yet) and all-ones (reserved for rules that send traffic to the main table).
    public var markCapacity: Int {
        let bits = (markMask >> markShift).trailingZeroBitCount == 0 ? (~(markMask >> markShift)).trailingZeroBitCount : 0
        return bits >= 31 ? Int(Int32.max) : (1 << bits) - 2
    }

    /// The mark of connections a rule sends to the main routing table (`use: [main]`).
    public var mainMark: UInt32 { markMask }
}
