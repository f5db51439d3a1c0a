import BraidConfig
import BraidPlanner
import Testing

/// WANs the host cannot route through (missing interface, off-link gateway) are planned without
/// their route and sysctl and out of the split, with the reason; the other WANs are unaffected.
@Suite struct HostProblemTests {
    static let yaml = """
        lan: { interfaces: [lan0] }
        wans:
          - { name: isp1, interface: wan1, gateway: 192.168.1.1 }
          - { name: isp2, interface: wan2, gateway: 192.168.2.1 }
        """

    static func plan(
        wan1: [InterfaceAddress]?, missingInterfacesAreDown: Bool = true,
        availability: WanAvailability = .allAvailable
    ) throws -> DesiredState {
        let config = try ConfigLoader.parse(yaml)
        var host = HostFacts.having(interfacesOf: config)
        host.interfaces["wan1"] = wan1.map { InterfaceFacts(name: "wan1", addresses: $0) }
        return try GatewayPlanner.plan(
            config, host: host, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown)
    }

    @Test func aGatewayOutsideEveryPrefixOfItsInterfaceMakesTheWanUnusable() throws {
        let state = try Self.plan(wan1: [InterfaceAddress(address: IPv4Address("10.9.0.2")!, prefixLength: 24)])
        #expect(state.unusableReasons == ["isp1": "gateway 192.168.1.1 is not on-link on wan1 (its addresses: 10.9.0.2/24)"])
        #expect(state.routes.map(\.device) == ["wan2"])
        #expect(try state.wan(named: "isp1").splitShare == 0)
        #expect(try state.wan(named: "isp2").splitShare == state.wans[0].splitModulus)
        // Its sysctl still exists and is still set: the interface is there.
        #expect(state.sysctls.contains { $0.key == "net/ipv4/conf/wan1/rp_filter" })
    }

    @Test(
        "On-link: in any of the interface's subnets, or the peer of a point-to-point address",
        arguments: [
            [
                InterfaceAddress(address: IPv4Address("10.9.0.2")!, prefixLength: 24),
                InterfaceAddress(address: IPv4Address("192.168.1.200")!, prefixLength: 24),
            ],
            [InterfaceAddress(address: IPv4Address("192.168.0.7")!, prefixLength: 22)],
            [InterfaceAddress(address: IPv4Address("203.0.113.5")!, prefixLength: 32, peer: IPv4Address("192.168.1.1")!)],
        ])
    func gatewayOnLink(addresses: [InterfaceAddress]) throws {
        let state = try Self.plan(wan1: addresses)
        #expect(state.unusableReasons.isEmpty)
        #expect(state.routes.map(\.device) == ["wan1", "wan2"])
    }

    @Test func aMissingInterfaceGetsNoSysctlAndNoRoute() throws {
        let state = try Self.plan(wan1: nil)
        #expect(state.unusableReasons == ["isp1": "interface wan1 does not exist"])
        #expect(state.sysctls.map(\.key) == ["net/ipv4/ip_forward", "net/ipv4/conf/wan2/rp_filter"])
        #expect(state.routes.map(\.device) == ["wan2"])
    }

    @Test func anIsolatedWanGetsNoSysctlNoRouteNoShareAndKeepsItsReason() throws {
        let state = try Self.plan(
            wan1: [InterfaceAddress(address: IPv4Address("192.168.1.2")!, prefixLength: 24)],
            availability: WanAvailability(isolated: ["isp1": "the kernel refused its route"]))
        #expect(state.unusableReasons == ["isp1": "the kernel refused its route"])
        #expect(state.sysctls.map(\.key) == ["net/ipv4/ip_forward", "net/ipv4/conf/wan2/rp_filter"])
        #expect(state.routes.map(\.device) == ["wan2"])
        #expect(try state.wan(named: "isp1").splitShare == 0)
    }

    @Test func healthVerdictsAreNotHostProblems() throws {
        let state = try Self.plan(
            wan1: [InterfaceAddress(address: IPv4Address("192.168.1.2")!, prefixLength: 24)],
            availability: WanAvailability(unavailable: ["isp1"]))
        #expect(state.unusableReasons.isEmpty)
        #expect(state.routes.map(\.device) == ["wan1", "wan2"])
    }
}
