import BraidConfig
import BraidPlanner
import Testing

/// The planner routes a WAN through its resolved gateway: a learned one, a device route for
/// `gateway: none`, and no route (and no share) while an `auto` gateway is not learned yet.
@Suite struct LearnedGatewayPlanTests {
    static let yaml = """
        lan: { interfaces: [lan0] }
        wans:
          - { name: cable, interface: wan0, gateway: auto }
          - { name: dsl, interface: ppp0, gateway: none }
          - { name: fibre, interface: wan2, gateway: 203.0.113.1 }
        """

    func host(cableRoute: Bool) -> HostFacts {
        HostFacts(interfaces: [
            InterfaceFacts(name: "lan0"),
            InterfaceFacts(
                name: "wan0", addresses: [InterfaceAddress(address: IPv4Address("192.0.2.2")!, prefixLength: 24)],
                defaultRoutes: cableRoute
                    ? [KernelDefaultRoute(family: .ipv4, gateway: IPAddress("192.0.2.1"), routeProtocol: "dhcp", metric: 1002)]
                    : []),
            InterfaceFacts(
                name: "ppp0",
                addresses: [
                    InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 32, peer: IPv4Address("100.64.0.1"))
                ],
                isPointToPoint: true),
            InterfaceFacts(name: "wan2", addresses: [InterfaceAddress(address: IPv4Address("203.0.113.2")!, prefixLength: 24)]),
        ])
    }

    @Test func learnedAndPointToPointGatewaysAreRouted() throws {
        let config = try ConfigLoader.parse(Self.yaml)
        let state = try GatewayPlanner.plan(config, host: host(cableRoute: true))
        #expect(
            state.routes.map(\.description) == [
                "default via 192.0.2.1 dev wan0 table 200", "default dev ppp0 table 201",
                "default via 203.0.113.1 dev wan2 table 202",
            ])
        #expect(state.unusableReasons.isEmpty)
        #expect(state.wansWithoutGateway.isEmpty)
        #expect(try state.wan(named: "cable").gateway?.source.description == "kernel route (table main, proto dhcp, metric 1002)")
        #expect(PlanPrinter.render(state).contains("# cable: interface wan0, gateway 192.0.2.1 (learned from kernel route"))
        #expect(PlanPrinter.render(state).contains("# dsl: interface ppp0, gateway none (device route"))
    }

    @Test func anUnlearnedGatewayLeavesTheWanOutOfTheSplit() throws {
        let config = try ConfigLoader.parse(Self.yaml)
        let state = try GatewayPlanner.plan(config, host: host(cableRoute: false))
        #expect(state.wansWithoutGateway == ["cable"])
        #expect(state.unusableReasons["cable"]?.hasPrefix("no gateway yet") == true)
        #expect(!state.routes.contains { $0.device == "wan0" })
        #expect(try state.wan(named: "cable").splitShare == 0)
        #expect(try state.wan(named: "dsl").splitShare > 0)
    }

    @Test func aHookReportIsUsedWhenTheKernelShowsNoRoute() throws {
        let config = try ConfigLoader.parse(Self.yaml)
        var facts = host(cableRoute: false)
        facts.leaseReports = [
            ClientLeaseReport(
                interface: "wan0", client: .dhclient, reason: "BOUND", isBound: true, address: IPAddress("192.0.2.2"),
                router: IPAddress("192.0.2.1"), reportedAt: 1)
        ]
        let state = try GatewayPlanner.plan(config, host: facts)
        #expect(state.routes.first?.description == "default via 192.0.2.1 dev wan0 table 200")
        #expect(try state.wan(named: "cable").gateway?.source == .clientHook(client: .dhclient, reason: "BOUND"))
    }
}
