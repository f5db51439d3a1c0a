import BraidConfig

/// Where a WAN's next hop came from, shown by `braid plan` and `explain`.
public enum GatewaySource: Sendable, Hashable, CustomStringConvertible {
    /// A fixed address in the config.
    case config
    /// `gateway: none` in the config: a device route, no next hop.
    case configPointToPoint
    /// A default route someone else (the DHCP client, pppd, RA) put on the interface.
    case kernelRoute(KernelDefaultRoute)
    /// The last lease a DHCP/PPP client hook reported (`ClientLeaseReport`).
    case clientHook(client: ClientLeaseReport.Client, reason: String)
    /// The peer address of the interface's point-to-point address (`ip addr add A peer B/32`).
    case peerAddress
    /// The interface is point-to-point (`POINTOPOINT`) with no peer address: a device route.
    case pointToPointLink

    public var description: String {
        switch self {
        case .config: "config"
        case .configPointToPoint: "config (gateway: none, point-to-point)"
        case .kernelRoute(let route):
            "kernel route (table \(route.table == RoutingLayout.mainTable ? "main" : "\(route.table)"), proto \(route.routeProtocol), metric \(route.metric))"
        case .clientHook(let client, let reason): "\(client.rawValue) hook (\(reason))"
        case .peerAddress: "peer address"
        case .pointToPointLink: "point-to-point link"
        }
    }
}

/// A WAN's next hop of one family, resolved: the address its table's default route goes via, or
/// none (a device route, `default dev ppp0`), and where that came from.
public struct ResolvedGateway: Sendable, Hashable, CustomStringConvertible {
    /// Nil for a device route.
    public var nextHop: IPAddress?
    public var source: GatewaySource

    public init(nextHop: IPAddress?, source: GatewaySource) {
        self.nextHop = nextHop
        self.source = source
    }

    /// `192.0.2.1 (kernel route (table main, proto dhcp, metric 1003))`, `none (config …)`.
    public var description: String { "\(nextHop.map { "\($0)" } ?? "none (device route)") from \(source)" }
}

/// Turns a WAN's `GatewaySetting` of one family, the host's facts about its interface and the last
/// client-hook report into the next hop its route uses. Pure and family-neutral: IPv4 calls it
/// for `gateway`, IPv6 for `ipv6.gateway` (RA-learned routes are `proto ra` default routes in main).
public enum GatewayResolution {
    /// The outcome for one WAN and family.
    public enum Outcome: Sendable, Hashable {
        case resolved(ResolvedGateway)
        /// `auto` found nothing yet (DHCP not bound, no RA): the WAN waits, in state `no_gateway`.
        /// The text says what was looked for, for status and the log.
        case noGateway(String)

        public var gateway: ResolvedGateway? {
            if case .resolved(let gateway) = self { gateway } else { nil }
        }
    }

    /// Resolves `setting` for the interface named `interfaceName`, whose facts are `interface` (nil
    /// when it does not exist). `report` is the last client-hook report for that interface (any
    /// family; one of another family is ignored).
    ///
    /// For `auto`, in this order:
    /// 1. a bound hook report with a router of this family whose address (if it gave one) is still on
    ///    the interface: the client's latest word wins, because the kernel's route can be stale (a
    ///    renewal with a new router leaves the old route) or missing (EEXIST on a second WAN);
    /// 2. a default route of this family on the interface, in any table but Braid's (main first, then
    ///    the lowest metric, then the lowest table id), with a gateway or as a device route;
    /// 3. the interface's point-to-point peer address, then a point-to-point link as a device route.
    public static func resolve<Address: GatewayAddress>(
        _ setting: GatewaySetting<Address>, interfaceName: String, interface: InterfaceFacts?, report: ClientLeaseReport?
    ) -> Outcome {
        let family = Address.family
        switch setting {
        case .fixed(let address): return .resolved(ResolvedGateway(nextHop: address.ipAddress, source: .config))
        case .pointToPoint: return .resolved(ResolvedGateway(nextHop: nil, source: .configPointToPoint))
        case .auto: break
        }
        guard let interface else { return .noGateway("\(interfaceName) does not exist") }
        if let report, report.family == family, report.interface == interfaceName, report.isBound,
            let router = report.router, router.family == family,
            report.address.map({ interfaceHolds($0, interface) }) ?? true
        {
            return .resolved(ResolvedGateway(nextHop: router, source: .clientHook(client: report.client, reason: report.reason)))
        }
        let routes = interface.defaultRoutes.filter { $0.family == family }.sorted {
            ($0.table == RoutingLayout.mainTable ? 0 : 1, $0.metric, $0.table)
                < ($1.table == RoutingLayout.mainTable ? 0 : 1, $1.metric, $1.table)
        }
        if let route = routes.first {
            return .resolved(ResolvedGateway(nextHop: route.gateway, source: .kernelRoute(route)))
        }
        if let peer = interface.peerAddresses(family).first {
            return .resolved(ResolvedGateway(nextHop: peer, source: .peerAddress))
        }
        if interface.isPointToPoint, interface.hasAddress(family) {
            return .resolved(ResolvedGateway(nextHop: nil, source: .pointToPointLink))
        }
        return .noGateway(
            "no \(family) default route on \(interfaceName) and no lease reported by a DHCP client hook (`braid hooks install`)")
    }

    private static func interfaceHolds(_ address: IPAddress, _ interface: InterfaceFacts) -> Bool {
        switch address {
        case .v4(let v4): interface.addresses.contains { $0.address == v4 }
        case .v6(let v6): interface.ipv6Addresses.contains { $0.address == v6 }
        }
    }
}
