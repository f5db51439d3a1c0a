import BraidConfig

/// What the planner needs to know about the host: which interfaces exist, whether they are up,
/// and their addresses. Read by the kernel port; built by hand in tests.
public struct HostFacts: Sendable, Equatable {
    public var interfaces: [String: InterfaceFacts]
    /// What DHCP/PPP client hooks last reported, one per interface and family. Not read from the
    /// kernel: the apply engine adds them from the state directory (`ClientLeaseReportStore`).
    public var leaseReports: [ClientLeaseReport]

    public init(interfaces: [InterfaceFacts], leaseReports: [ClientLeaseReport] = []) {
        self.interfaces = Dictionary(interfaces.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.leaseReports = leaseReports
    }

    /// The last report for `interface` and `family`, the newest if several.
    public func leaseReport(interface: String, family: AddressFamily) -> ClientLeaseReport? {
        leaseReports.filter { $0.interface == interface && $0.family == family }.max { $0.reportedAt < $1.reportedAt }
    }

    /// These facts with every interface `config` names but this host lacks filled in, and the
    /// names filled in. `assumedUp` (planning or explaining a config for another machine): a
    /// missing WAN interface is up with its gateway's address standing in for its own, a LAN one
    /// up; otherwise (showing this host's status) both are down.
    public func fillingInMissingInterfaces(
        of config: Config, assumedUp: Bool
    ) -> (facts: HostFacts, missingWans: [String], missingLans: [String]) {
        var filled = self
        var missingWans: [String] = []
        var missingLans: [String] = []
        for name in config.lan.interfaces where filled.interfaces[name] == nil {
            filled.interfaces[name] = InterfaceFacts(name: name, isUp: assumedUp)
            missingLans.append(name)
        }
        for wan in config.wans where filled.interfaces[wan.interface] == nil {
            // Only a fixed gateway can stand in for an address; an `auto` or `none` WAN planned for
            // another machine shows as waiting for its address.
            // The same for a fixed IPv6 gateway, so its IPv6 plans as usable too (a link-local one
            // is not a public address: port forwards get none from it).
            var standIn =
                assumedUp
                ? InterfaceFacts(
                    name: wan.interface,
                    addresses: wan.gateway.fixedAddress.map { [InterfaceAddress(address: $0, prefixLength: 32)] } ?? [],
                    ipv6Addresses: wan.ipv6?.gateway.fixedAddress.map {
                        [IPv6InterfaceAddress(address: $0, prefixLength: $0.isLinkLocal ? 64 : 128)]
                    } ?? [])
                : InterfaceFacts(name: wan.interface, isUp: false)
            standIn.isStandIn = assumedUp
            filled.interfaces[wan.interface] = standIn
            missingWans.append(wan.interface)
        }
        return (filled, missingWans, missingLans)
    }
}

/// One network interface as the kernel reports it.
public struct InterfaceFacts: Sendable, Equatable {
    public var name: String
    public var isUp: Bool
    /// The IPv4 addresses: the ones the planner uses (NAT source, on-link gateway, LAN subnets).
    public var addresses: [InterfaceAddress]
    /// The IPv6 addresses, link-local ones included.
    public var ipv6Addresses: [IPv6InterfaceAddress]
    /// The kernel's interface index. Informational only: a modem that re-enumerates or a PPP link
    /// that redials comes back under a new index, so nothing in Braid keys on it (everything keys
    /// on `name`); it is here so status and tests can show that the interface was re-created.
    public var index: Int?
    /// The link is point-to-point (`POINTOPOINT` flag: PPP, raw-IP LTE, WireGuard, or an address
    /// with a peer): its far end needs no ARP, and a device route (`default dev ppp0`) works.
    public var isPointToPoint: Bool
    /// Default routes of both families that other software (a DHCP client, pppd, the kernel's RA
    /// handling, an admin) put on this interface, in any table but Braid's own. What
    /// `GatewayResolution` learns an `auto` gateway from.
    public var defaultRoutes: [KernelDefaultRoute]
    /// Made up by `fillingInMissingInterfaces` for a plan meant for another machine: its addresses
    /// are stand-ins, so a check that needs a real one (a global IPv6 address for NAT66) is skipped.
    public var isStandIn = false

    public init(
        name: String, isUp: Bool = true, addresses: [InterfaceAddress] = [], ipv6Addresses: [IPv6InterfaceAddress] = [],
        index: Int? = nil, isPointToPoint: Bool = false, defaultRoutes: [KernelDefaultRoute] = []
    ) {
        self.name = name
        self.isUp = isUp
        self.addresses = addresses
        self.ipv6Addresses = ipv6Addresses
        self.index = index
        self.isPointToPoint = isPointToPoint
        self.defaultRoutes = defaultRoutes
    }

    /// Whether the kernel accepts `gateway` as a next hop on this interface: an address of the
    /// gateway's family makes it on-link.
    public func hasOnLink(_ gateway: IPAddress) -> Bool {
        switch gateway {
        case .v4(let gateway): addresses.contains { $0.hasOnLink(gateway) }
        case .v6(let gateway): ipv6Addresses.contains { $0.hasOnLink(gateway) }
        }
    }

    /// The far ends of this interface's point-to-point addresses of `family` (`ip addr add LOCAL
    /// peer PEER/32`, what pppd configures: IFA_ADDRESS differs from IFA_LOCAL), in address order.
    public func peerAddresses(_ family: AddressFamily) -> [IPAddress] {
        switch family {
        case .ipv4: addresses.compactMap { $0.peer.map(IPAddress.v4) }
        case .ipv6: ipv6Addresses.compactMap { $0.peer.map(IPAddress.v6) }
        }
    }

    /// Whether the interface has an address of `family` (for IPv6, one that is not link-local:
    /// every IPv6 interface has a link-local one).
    public func hasAddress(_ family: AddressFamily) -> Bool {
        switch family {
        case .ipv4: !addresses.isEmpty
        case .ipv6: ipv6Addresses.contains { $0.address.masked(toLength: 10) != IPv6Address(high: 0xfe80 << 48, low: 0) }
        }
    }
}

/// A default route someone other than Braid installed on an interface, as `ip -j route show table
/// all default` lists it. Both families: an IPv4 DHCP client's `default via 192.0.2.1 proto dhcp
/// metric 1003`, pppd's `default dev ppp0`, the kernel's `default via fe80::1 proto ra` in main.
public struct KernelDefaultRoute: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    /// The next hop; nil for a device route (point-to-point link).
    public var gateway: IPAddress?
    /// The routing table id (254 is main).
    public var table: UInt32
    /// Who installed it, as iproute2 names protocols: `dhcp`, `ra`, `boot` (the default of `ip
    /// route add`, and what dhclient-script uses), `static`, `kernel`, or a number.
    public var routeProtocol: String
    /// Lower wins in the kernel; 0 when the route has none.
    public var metric: Int

    public init(family: AddressFamily, gateway: IPAddress?, table: UInt32 = 254, routeProtocol: String = "boot", metric: Int = 0)
    {
        precondition(gateway == nil || gateway?.family == family, "a default route's gateway is not of its family")
        self.family = family
        self.gateway = gateway
        self.table = table
        self.routeProtocol = routeProtocol
        self.metric = metric
    }

    public var description: String {
        (gateway.map { "default via \($0)" } ?? "default") + " table \(table) proto \(routeProtocol) metric \(metric)"
    }
}
