import BraidApply
import BraidConfig
import BraidDaemon
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

/// The control loop follows learned gateways: a WAN with `gateway: auto` waits (`no_gateway`)
/// until a default route or a client-hook report names its router, its table route follows a
/// change at the next route event, and only its own connections are deleted when it changes.
@Suite struct LearnedGatewayTests {
    static let yaml = """
        lan:
          interfaces: [lan0]
        wans:
          - { name: cable, interface: wan1, gateway: auto }
          - { name: fibre, interface: wan2, gateway: 192.168.2.1 }
          - { name: dsl, interface: ppp0, gateway: none }
        """

    static func kernel(cableRoutes: [KernelDefaultRoute] = []) -> FakeKernel {
        var cable = DaemonHarness.wanInterface(1)
        cable.defaultRoutes = cableRoutes
        return FakeKernel(interfaces: [InterfaceFacts(name: "lan0"), cable, DaemonHarness.wanInterface(2)])
    }

    static func dhcpRoute(_ gateway: String) -> KernelDefaultRoute {
        KernelDefaultRoute(family: .ipv4, gateway: IPAddress(gateway), routeProtocol: "dhcp", metric: 1002)
    }

    func cableRoute(_ harness: DaemonHarness) -> String? {
        harness.kernel.snapshot.routes.first { $0.device == "wan1" }?.description
    }

    @Test func startsWithNoGatewayAndAMissingInterfaceThenFollowsTheRoute() throws {
        let harness = try DaemonHarness(Self.yaml, kernel: Self.kernel())
        try harness.start()
        #expect(harness.state("cable") == .noGateway)
        #expect(harness.state("dsl") == .noLink, "ppp0 does not exist yet: no_link, not a refusal to start")
        #expect(harness.status("dsl")?.reason == "interface ppp0 does not exist")
        #expect(harness.state("fibre") == .up)
        #expect(cableRoute(harness) == nil)
        #expect(harness.split["cable"] == nil)

        // dhcpcd binds: its `default via … proto dhcp` route appears in main.
        harness.kernel.setDefaultRoutes([Self.dhcpRoute("192.168.1.1")], on: "wan1")
        harness.send(.routingChanged)
        #expect(harness.state("cable") == .up, "\(harness.log.text)")
        #expect(cableRoute(harness) == "default via 192.168.1.1 dev wan1 table 200")
        #expect(harness.split["cable"] != nil)
    }

    @Test func probesWhileWaitingForAGatewayDoNotTakeTheWanDown() throws {
        let yaml = Self.yaml.replacingOccurrences(
            of: "gateway: auto }", with: "gateway: auto, health: \(DaemonHarness.health) }")
        let harness = try DaemonHarness(yaml, kernel: Self.kernel())
        try harness.start()
        harness.rounds("cable", passing: false, count: 5)
        #expect(harness.state("cable") == .noGateway)
        harness.kernel.setDefaultRoutes([Self.dhcpRoute("192.168.1.1")], on: "wan1")
        harness.send(.routingChanged)
        #expect(harness.state("cable")?.carriesTraffic == true, "\(harness.log.text)")
        #expect(harness.split["cable"] != nil)
    }

    @Test func aGatewayChangeReplacesTheRouteAndFlushesOnlyThatWan() throws {
        let harness = try DaemonHarness(Self.yaml, kernel: Self.kernel(cableRoutes: [Self.dhcpRoute("192.168.1.1")]))
        try harness.start()
        let cableMark = try #require(harness.mark("cable"))
        let fibreMark = try #require(harness.mark("fibre"))
        harness.kernel.update { $0.connectionsByMark = [cableMark: 5, fibreMark: 7] }

        harness.kernel.setDefaultRoutes([Self.dhcpRoute("192.168.1.254")], on: "wan1")
        harness.send(.routingChanged)
        #expect(cableRoute(harness) == "default via 192.168.1.254 dev wan1 table 200")
        #expect(harness.kernel.snapshot.connectionsByMark == [fibreMark: 7], "\(harness.log.text)")
        #expect(harness.kernel.flushedMarks == [cableMark])

        // An unrelated route event changes nothing and flushes nothing more.
        harness.send(.routingChanged)
        #expect(harness.kernel.flushedMarks == [cableMark])
    }

    @Test func statusAndEventsNameTheLearnedGatewayNotTheSetting() throws {
        let harness = try DaemonHarness(
            Self.yaml, kernel: Self.kernel(cableRoutes: [Self.dhcpRoute("192.168.1.1")]), withHub: true)
        try harness.start()
        #expect(harness.status("cable")?.gateway == "192.168.1.1")
        #expect(harness.status("fibre")?.gateway == "192.168.2.1")
        #expect(harness.status("dsl")?.gateway == "none", "gateway: none is a device route")
        harness.kernel.setDefaultRoutes([Self.dhcpRoute("192.168.1.254")], on: "wan1")
        harness.send(.routingChanged)
        #expect(harness.status("cable")?.gateway == "192.168.1.254")
        let events = try #require(harness.hub).events.recent
        let change = try #require(events.last { $0.kind == .gateway && $0.wan == "cable" }, "\(events)")
        #expect(change.from == "192.168.1.1" && change.to == "192.168.1.254" && change.gateway == "192.168.1.254")
        #expect(!events.contains { $0.gateway == "auto" }, "\(events)")
    }

    @Test func aHookReportIsFollowedWhenTheKernelHasNoRoute() throws {
        let harness = try DaemonHarness(Self.yaml, kernel: Self.kernel())
        try harness.start()
        #expect(harness.state("cable") == .noGateway)
        let recorded = ClientLeaseReportStore(stateDirectory: harness.stateDirectory)
        try recorded.save(
            ClientLeaseReport(
                interface: "wan1", client: .dhclient, reason: "BOUND", isBound: true, address: IPAddress("192.168.1.2"),
                router: IPAddress("192.168.1.1"), reportedAt: 1))
        harness.send(.leaseReported)
        #expect(cableRoute(harness) == "default via 192.168.1.1 dev wan1 table 200")
        #expect(harness.state("cable") == .up)

        // The lease expires: the WAN waits again, its route goes.
        try recorded.save(
            ClientLeaseReport(
                interface: "wan1", client: .dhclient, reason: "EXPIRE", isBound: false, address: nil, router: nil, reportedAt: 2))
        harness.send(.leaseReported)
        #expect(cableRoute(harness) == nil)
        #expect(harness.state("cable") == .noGateway)
    }

    @Test func aPointToPointLinkThatAppearsGetsADeviceRoute() throws {
        let harness = try DaemonHarness(Self.yaml, kernel: Self.kernel())
        try harness.start()
        harness.kernel.setInterface(
            InterfaceFacts(
                name: "ppp0",
                addresses: [
                    InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 32, peer: IPv4Address("100.64.0.1"))
                ],
                index: 40, isPointToPoint: true))
        harness.send(.linkChanged)
        #expect(harness.state("dsl") == .up, "\(harness.log.text)")
        #expect(harness.kernel.snapshot.routes.contains { $0.description == "default dev ppp0 table 202" })

        // The link drops (pppd ip-down, interface deleted) and comes back with a new index.
        harness.kernel.removeInterface(named: "ppp0")
        harness.send(.linkChanged)
        #expect(harness.state("dsl") == .noLink)
        harness.kernel.setInterface(
            InterfaceFacts(
                name: "ppp0",
                addresses: [
                    InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 32, peer: IPv4Address("100.64.0.1"))
                ],
                index: 41, isPointToPoint: true))
        harness.send(.linkChanged)
        #expect(harness.state("dsl") == .up)
        #expect(harness.kernel.snapshot.routes.contains { $0.description == "default dev ppp0 table 202" })
    }

    @Test func anAddressChangeFlushesOnlyThatWan() throws {
        let harness = try DaemonHarness(Self.yaml, kernel: Self.kernel(cableRoutes: [Self.dhcpRoute("192.168.1.1")]))
        try harness.start()
        let cableMark = try #require(harness.mark("cable"))
        let fibreMark = try #require(harness.mark("fibre"))
        harness.kernel.update { $0.connectionsByMark = [cableMark: 5, fibreMark: 7] }
        var cable = DaemonHarness.wanInterface(1)
        cable.addresses = [InterfaceAddress(address: IPv4Address("192.168.1.77")!, prefixLength: 24)]
        cable.defaultRoutes = [Self.dhcpRoute("192.168.1.1")]
        harness.kernel.setInterface(cable)
        harness.send(.linkChanged)
        #expect(harness.kernel.snapshot.connectionsByMark == [fibreMark: 7], "\(harness.log.text)")
    }
}
