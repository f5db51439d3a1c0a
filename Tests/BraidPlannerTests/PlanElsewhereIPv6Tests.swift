import BraidConfig
import BraidPlanner
import Testing

/// `braid plan` on another machine (none of the config's interfaces exist there): a WAN with a
/// fixed IPv6 gateway plans as IPv6-capable, as a fixed IPv4 gateway does for IPv4.
@Suite struct PlanElsewhereIPv6Tests {
    @Test func fixedIPv6GatewaysPlanAsUsableWithoutTheHostsFacts() throws {
        let config = try ConfigLoader.parse(DualStackPlanTests.yaml)
        let (facts, missingWans, _) = HostFacts(interfaces: []).fillingInMissingInterfaces(of: config, assumedUp: true)
        #expect(missingWans == ["wan0", "wan1", "wwan0"])
        let state = try GatewayPlanner.plan(config, host: facts)
        // fibre: link-local gateway, masquerade; cable: global gateway, prefix translation.
        #expect(state.ipv6UnusableReasons.isEmpty, "\(state.ipv6UnusableReasons)")
        #expect(try state.wan(named: "fibre").ipv6SplitShare == 2)
        #expect(try state.wan(named: "cable").ipv6SplitShare == 1)
        #expect(state.routes.filter { $0.family == .ipv6 }.map(\.description).sorted() == [
            "default via 2001:db8:2::1 dev wan1 table 201", "default via fe80::1 dev wan0 table 200",
        ])
    }

    @Test func autoIPv6GatewayStillWaitsAndRealHostsAreStillChecked() throws {
        let config = try ConfigLoader.parse(DualStackPlanTests.yaml.replacingOccurrences(of: "ipv6: { gateway: \"fe80::1\" }", with: "ipv6: { gateway: auto }"))
        let facts = HostFacts(interfaces: []).fillingInMissingInterfaces(of: config, assumedUp: true).facts
        let state = try GatewayPlanner.plan(config, host: facts)
        #expect(state.ipv6UnusableReasons["fibre"]?.contains("no IPv6 gateway yet") == true, "\(state.ipv6UnusableReasons)")
        // A real interface without a global address is still refused NAT66.
        let real = try GatewayPlanner.plan(try ConfigLoader.parse(DualStackPlanTests.yaml), host: DualStackPlanTests.host(fibreIPv6: false))
        #expect(real.ipv6UnusableReasons["fibre"]?.contains("no global IPv6 address") == true)
    }
}
