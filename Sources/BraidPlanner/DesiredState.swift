import BraidConfig

/// Everything Braid wants the kernel to hold for one config: its nft table, its ip rules and
/// routes, and the sysctls it depends on. Built whole on every plan; the kernel side diffs it
/// against what is installed.
public struct DesiredState: Sendable, Equatable {
    /// The complete declarative body of Braid's nft table.
    public var ruleset: NftablesRuleset
    public var policyRules: [PolicyRule]
    public var routes: [Route]
    public var sysctls: [SysctlSetting]
    /// Per-WAN facts the CLI shows (mark, table, share of new connections).
    public var wans: [PlannedWan]
    /// WAN name → why the host cannot use it now (its interface is missing or down, has no IPv4
    /// address, its gateway is off-link, the kernel refused its route or sysctl). Health verdicts
    /// are the daemon's and not listed here.
    public var unusableReasons: [String: String]

    public init(ruleset: NftablesRuleset, policyRules: [PolicyRule], routes: [Route], sysctls: [SysctlSetting], wans: [PlannedWan],
                unusableReasons: [String: String] = [:]) {
        self.ruleset = ruleset
        self.policyRules = policyRules
        self.routes = routes
        self.sysctls = sysctls
        self.wans = wans
        self.unusableReasons = unusableReasons
    }
}

/// One WAN as planned: the kernel resources it was given and its share of new connections.
public struct PlannedWan: Sendable, Equatable {
    public var name: String
    public var interface: String
    public var gateway: IPv4Address
    /// The WAN's number inside Braid's mark bits; it keeps it across config changes.
    public var slot: Int
    public var mark: UInt32
    public var table: UInt32
    public var weight: Int
    /// Numerator of this WAN's share of new connections; the denominator is `splitModulus`.
    public var splitShare: Int
    public var splitModulus: Int
    public var nat: NatMode

    public init(name: String, interface: String, gateway: IPv4Address, slot: Int, mark: UInt32, table: UInt32,
                weight: Int, splitShare: Int, splitModulus: Int, nat: NatMode) {
        self.name = name
        self.interface = interface
        self.gateway = gateway
        self.slot = slot
        self.mark = mark
        self.table = table
        self.weight = weight
        self.splitShare = splitShare
        self.splitModulus = splitModulus
        self.nat = nat
    }
}

/// An `ip rule`. Braid tags its rules with `RoutingLayout.protocolTag`, which is how it finds
/// (and only ever deletes) its own rules.
public struct PolicyRule: Sendable, Hashable, CustomStringConvertible {
    public var priority: UInt32
    public var fwmark: UInt32?
    public var fwmask: UInt32?
    /// Table id, or 254 for main.
    public var table: UInt32
    public var suppressPrefixLength: Int?

    public init(priority: UInt32, fwmark: UInt32? = nil, fwmask: UInt32? = nil, table: UInt32, suppressPrefixLength: Int? = nil) {
        self.priority = priority
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.table = table
        self.suppressPrefixLength = suppressPrefixLength
    }

    /// The selector and action as `ip rule` arguments (without add/del and the protocol tag).
    public var arguments: [String] {
        var arguments = ["priority", "\(priority)"]
        if let fwmark {
            arguments += ["fwmark", fwmask.map { "\(hex(fwmark))/\(hex($0))" } ?? hex(fwmark)]
        }
        arguments += ["lookup", table == RoutingLayout.mainTable ? "main" : "\(table)"]
        if let suppressPrefixLength { arguments += ["suppress_prefixlength", "\(suppressPrefixLength)"] }
        return arguments
    }

    public var description: String { arguments.joined(separator: " ") }
}

/// A route in one of Braid's per-WAN tables.
public struct Route: Sendable, Hashable, CustomStringConvertible {
    public var table: UInt32
    /// Nil means the default route.
    public var destination: IPv4Prefix?
    public var gateway: IPv4Address
    public var device: String

    public init(table: UInt32, destination: IPv4Prefix? = nil, gateway: IPv4Address, device: String) {
        self.table = table
        self.destination = destination
        self.gateway = gateway
        self.device = device
    }

    /// The route as `ip route` arguments (without the verb and the protocol tag).
    public var arguments: [String] {
        [destination?.description ?? "default", "via", "\(gateway)", "dev", device, "table", "\(table)"]
    }

    /// Routes with the same key occupy the same slot: adding one while the other exists fails.
    public var slot: RouteSlot { RouteSlot(table: table, destination: destination) }

    public var description: String { arguments.joined(separator: " ") }
}

/// The (table, destination) pair that identifies where a route lives.
public struct RouteSlot: Sendable, Hashable {
    public var table: UInt32
    public var destination: IPv4Prefix?
}

/// A sysctl Braid needs, by its slash-separated key (`net/ipv4/conf/wan1/rp_filter`), which
/// stays unambiguous for interface names that contain dots.
public struct SysctlSetting: Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var value: String
    /// Why Braid needs it; shown by `braid plan`.
    public var reason: String

    public init(key: String, value: String, reason: String) {
        self.key = key
        self.value = value
        self.reason = reason
    }

    public var description: String { "\(key) = \(value)" }
}

/// A 32-bit value as nft and ip print marks and masks: `0x00ff0000`.
public func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
