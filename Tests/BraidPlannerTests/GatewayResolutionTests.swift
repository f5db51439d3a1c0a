import BraidConfig
import BraidPlanner
import Testing

/// Resolving a WAN's gateway: fixed and `none` come from the config; `auto` prefers a bound
/// client-hook report, then a kernel default route on the interface, then a point-to-point peer.
@Suite struct GatewayResolutionTests {
    let wan1 = InterfaceFacts(name: "wan1", addresses: [InterfaceAddress(address: IPv4Address("192.0.2.2")!, prefixLength: 24)])

    func report(
        router: String?, address: String? = "192.0.2.2", bound: Bool = true, reason: String = "BOUND"
    )
        -> ClientLeaseReport
    {
        ClientLeaseReport(
            interface: "wan1", client: .dhclient, reason: reason, isBound: bound, address: address.flatMap { IPAddress($0) },
            router: router.flatMap { IPAddress($0) }, reportedAt: 100)
    }

    func resolve(
        _ setting: GatewaySetting<IPv4Address>, _ facts: InterfaceFacts?, report: ClientLeaseReport? = nil
    )
        -> GatewayResolution.Outcome
    {
        GatewayResolution.resolve(setting, interfaceName: "wan1", interface: facts, report: report)
    }

    @Test func fixedAndNoneComeFromTheConfig() {
        #expect(
            resolve(.fixed(IPv4Address("192.0.2.1")!), nil).gateway
                == ResolvedGateway(nextHop: IPAddress("192.0.2.1"), source: .config))
        #expect(resolve(.pointToPoint, wan1).gateway == ResolvedGateway(nextHop: nil, source: .configPointToPoint))
    }

    @Test func autoWithNothingLearnedWaits() {
        guard case .noGateway(let reason) = resolve(.auto, wan1) else {
            Issue.record("a gateway was invented")
            return
        }
        #expect(reason.contains("wan1"))
        guard case .noGateway = resolve(.auto, nil) else {
            Issue.record("a missing interface got a gateway")
            return
        }
    }

    @Test func autoTakesTheMainTableRouteThenTheLowestMetric() {
        var facts = wan1
        facts.defaultRoutes = [
            KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.9"), table: 300, metric: 0),
            KernelDefaultRoute(family: .ipv6, gateway: IPAddress("fe80::1"), routeProtocol: "ra"),
            KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.8"), routeProtocol: "dhcp", metric: 1010),
            KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.1"), routeProtocol: "dhcp", metric: 1003),
        ]
        let gateway = resolve(.auto, facts).gateway
        #expect(gateway?.nextHop == IPAddress("192.0.2.1"))
        #expect(gateway?.source.description == "kernel route (table main, proto dhcp, metric 1003)")
        let ipv6 = GatewayResolution.resolve(
            GatewaySetting<IPv6Address>.auto, interfaceName: "wan1", interface: facts, report: nil)
        #expect(ipv6.gateway?.nextHop == IPAddress("fe80::1"))
    }

    @Test func aBoundHookReportWinsOverAStaleKernelRoute() {
        // A renewal brought a new router; dhclient-script left the old route.
        var facts = wan1
        facts.defaultRoutes = [KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.1"))]
        let gateway = resolve(.auto, facts, report: report(router: "192.0.2.254", reason: "RENEW")).gateway
        #expect(
            gateway == ResolvedGateway(nextHop: IPAddress("192.0.2.254"), source: .clientHook(client: .dhclient, reason: "RENEW"))
        )
    }

    @Test func anUnboundOrForeignReportIsIgnored() {
        var facts = wan1
        facts.defaultRoutes = [KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.1"))]
        #expect(
            resolve(.auto, facts, report: report(router: "192.0.2.254", bound: false)).gateway?.nextHop == IPAddress("192.0.2.1"))
        // The lease's address is no longer on the interface: the report is from an older lease.
        #expect(
            resolve(.auto, facts, report: report(router: "192.0.2.254", address: "192.0.2.77")).gateway?.nextHop
                == IPAddress("192.0.2.1"))
        #expect(resolve(.auto, facts, report: report(router: nil)).gateway?.nextHop == IPAddress("192.0.2.1"))
    }

    @Test func aPointToPointInterfaceUsesItsPeerOrADeviceRoute() {
        let peer = InterfaceFacts(
            name: "wan1",
            addresses: [InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 32, peer: IPv4Address("100.64.0.1"))],
            isPointToPoint: true)
        #expect(resolve(.auto, peer).gateway == ResolvedGateway(nextHop: IPAddress("100.64.0.1"), source: .peerAddress))
        let bare = InterfaceFacts(
            name: "wan1", addresses: [InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 32)],
            isPointToPoint: true)
        #expect(resolve(.auto, bare).gateway == ResolvedGateway(nextHop: nil, source: .pointToPointLink))
    }

    @Test func theLeaseReasonsOfEachClientRead() {
        #expect(ClientLeaseReport.isBound(reason: "BOUND", client: .dhclient) == true)
        #expect(ClientLeaseReport.isBound(reason: "EXPIRE", client: .dhclient) == false)
        #expect(ClientLeaseReport.isBound(reason: "PREINIT", client: .dhclient) == nil)
        #expect(ClientLeaseReport.isBound(reason: "RENEW", client: .dhcpcd) == true)
        #expect(ClientLeaseReport.isBound(reason: "ip-down", client: .pppd) == false)
    }
}
