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
    /// WANs whose gateway is `auto` and not learned yet (no DHCP lease, no route, no hook report):
    /// they are in `unusableReasons` too, and their state is `no_gateway`.
    public var wansWithoutGateway: Set<String>
    /// WAN name → why the host cannot carry IPv6 through it now (no IPv6 address, off-link IPv6
    /// gateway), for WANs with an `ipv6:` section whose IPv4 may still work.
    public var ipv6UnusableReasons: [String: String]
    /// What works but deserves the operator's attention (a policy that costs many lookups per new
    /// connection, naming the rules responsible); `braid plan` and `braid apply` print them.
    public var warnings: [String]

    public init(
        ruleset: NftablesRuleset, policyRules: [PolicyRule], routes: [Route], sysctls: [SysctlSetting], wans: [PlannedWan],
        unusableReasons: [String: String] = [:], wansWithoutGateway: Set<String> = [],
        ipv6UnusableReasons: [String: String] = [:], warnings: [String] = []
    ) {
        self.warnings = warnings
        self.ruleset = ruleset
        self.policyRules = policyRules
        self.routes = routes
        self.sysctls = sysctls
        self.wans = wans
        self.unusableReasons = unusableReasons
        self.wansWithoutGateway = wansWithoutGateway
        self.ipv6UnusableReasons = ipv6UnusableReasons
    }
}

/// One WAN as planned: the kernel resources it was given and its share of new connections.
public struct PlannedWan: Sendable, Equatable {
    public var name: String
    public var interface: String
    /// The IPv4 next hop as resolved at planning time, and where it came from; nil while an
    /// `auto` gateway is not learned yet.
    public var gateway: ResolvedGateway?
    /// The WAN's number inside Braid's mark bits; it keeps it across config changes.
    public var slot: Int
    public var mark: UInt32
    public var table: UInt32
    public var weight: Int
    /// Numerator of this WAN's share of new connections; the denominator is `splitModulus`.
    public var splitShare: Int
    public var splitModulus: Int
    public var nat: NatMode
    /// Numerator of its share of new IPv6 connections (denominator `ipv6SplitModulus`); nil for
    /// a WAN that takes no IPv6.
    public var ipv6SplitShare: Int?
    public var ipv6SplitModulus: Int = 0

    public init(
        name: String, interface: String, gateway: ResolvedGateway?, slot: Int, mark: UInt32, table: UInt32,
        weight: Int, splitShare: Int, splitModulus: Int, nat: NatMode
    ) {
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
/// (and only ever deletes) its own rules. The kernel keeps a rule list per family: an IPv4 and an
/// IPv6 rule with the same priority are two rules.
public struct PolicyRule: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    public var priority: UInt32
    public var fwmark: UInt32?
    public var fwmask: UInt32?
    /// Table id, or 254 for main.
    public var table: UInt32
    public var suppressPrefixLength: Int?

    public init(
        family: AddressFamily = .ipv4, priority: UInt32, fwmark: UInt32? = nil, fwmask: UInt32? = nil, table: UInt32,
        suppressPrefixLength: Int? = nil
    ) {
        self.family = family
        self.priority = priority
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.table = table
        self.suppressPrefixLength = suppressPrefixLength
    }

    /// The whole `ip` argv for `verb` (`add`, `del`), without the protocol tag.
    public func command(_ verb: String) -> [String] {
        ["ip", family.ipOption, "rule", verb] + arguments
    }

    /// The selector and action as `ip rule` arguments (without the family, add/del and the protocol tag).
    public var arguments: [String] {
        var arguments = ["priority", "\(priority)"]
        if let fwmark {
            arguments += ["fwmark", fwmask.map { "\(hex(fwmark))/\(hex($0))" } ?? hex(fwmark)]
        }
        arguments += ["lookup", table == RoutingLayout.mainTable ? "main" : "\(table)"]
        if let suppressPrefixLength { arguments += ["suppress_prefixlength", "\(suppressPrefixLength)"] }
        return arguments
    }

    /// As `ip rule` prints it; IPv4 rules read as they always have, IPv6 ones carry `-6`.
    public var description: String { (family == .ipv4 ? arguments : [family.ipOption] + arguments).joined(separator: " ") }
}

/// A route in one of Braid's per-WAN tables: through a next hop (`default via 192.0.2.1 dev wan0`),
/// or, on a point-to-point link that has none, a device route (`default dev ppp0`). The family is
/// stored, because a device route has no gateway to take it from; the destination and the gateway,
/// when present, are of that family.
public struct Route: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    public var table: UInt32
    /// Nil means the family's default route (`0.0.0.0/0` or `::/0`).
    public var destination: IPPrefix?
    /// The next hop; nil for a device route (point-to-point link, `gateway: none`).
    public var gateway: IPAddress?
    public var device: String

    /// A route through `gateway`; the family is the gateway's.
    public init(table: UInt32, destination: IPPrefix? = nil, gateway: IPAddress, device: String) {
        self.init(family: gateway.family, table: table, destination: destination, gateway: Optional(gateway), device: device)
    }

    /// A route of `family` through `gateway`, or a device route when `gateway` is nil.
    public init(family: AddressFamily, table: UInt32, destination: IPPrefix? = nil, gateway: IPAddress?, device: String) {
        precondition(
            destination == nil || destination?.family == family, "a route's destination is not of the route's family")
        precondition(gateway == nil || gateway?.family == family, "a route's gateway is not of the route's family")
        self.family = family
        self.table = table
        self.destination = destination
        self.gateway = gateway
        self.device = device
    }

    public init(table: UInt32, destination: IPv4Prefix? = nil, gateway: IPv4Address, device: String) {
        self.init(table: table, destination: destination.map(IPPrefix.init), gateway: .v4(gateway), device: device)
    }

    /// The whole `ip` argv for `verb` (`add`, `del`, `replace`), without the protocol tag.
    public func command(_ verb: String) -> [String] {
        ["ip", family.ipOption, "route", verb] + arguments
    }

    /// The route as `ip route` arguments (without the family, the verb and the protocol tag).
    public var arguments: [String] {
        [destination?.description ?? "default"] + (gateway.map { ["via", "\($0)"] } ?? [])
            + ["dev", device, "table", "\(table)"]
    }

    /// Routes with the same key are the same route to the kernel: adding one while the other exists
    /// fails. (Not a WAN's slot: that is its number, see `WanSlotAssignment`.)
    public var key: RouteKey { RouteKey(family: family, table: table, destination: destination) }

    public var description: String { arguments.joined(separator: " ") }
}

/// The (family, table, destination) triple that identifies where a route lives. The family is
/// part of it because "default" in a table is one route per family: an IPv4 and an IPv6 default
/// route side by side are not duplicates.
public struct RouteKey: Sendable, Hashable {
    public var family: AddressFamily
    public var table: UInt32
    public var destination: IPPrefix?
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
