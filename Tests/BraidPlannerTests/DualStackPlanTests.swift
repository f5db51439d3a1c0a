import BraidConfig
import BraidPlanner
import Testing

/// A dual-stack gateway: two WANs that take IPv6 (one masquerading via a link-local gateway, one
/// translating the LAN prefix) and one IPv4-only WAN.
@Suite struct DualStackPlanTests {
    static let yaml = """
        lan:
          interfaces: [lan0]
        wans:
          - name: fibre
            interface: wan0
            gateway: 192.0.2.1
            weight: 2
            ipv6: { gateway: "fe80::1" }
            health: { targets: [198.51.100.53, "2001:db8:ffff::53"] }
          - name: cable
            interface: wan1
            gateway: 198.51.100.1
            ipv6:
              gateway: "2001:db8:2::1"
              nat: { from: "fd00:1::/64", to: "2001:db8:2:100::/64" }
          - name: lte
            interface: wwan0
            gateway: 100.64.0.1
        sets:
          video: [203.0.113.0/24, "2001:db8:aa::/48"]
        rules:
          - { name: v6-client, source: "fd00:1::50", use: [cable] }
          - { name: video, destination_set: video, use: [fibre, balance] }
          - { name: games, protocol: udp, destination_port: 27015, use: [lte, balance] }
        port_forwards:
          - { name: web, port: 8080, to: ["[fd00:1::2]:80", "10.0.0.2:80"] }
        """

    static func host(fibreIPv6: Bool = true) -> HostFacts {
        HostFacts(interfaces: [
            InterfaceFacts(
                name: "lan0", addresses: [InterfaceAddress(address: IPv4Address("10.0.0.1")!, prefixLength: 24)],
                ipv6Addresses: [
                    IPv6InterfaceAddress(address: IPv6Address("fd00:1::1")!, prefixLength: 64),
                    IPv6InterfaceAddress(address: IPv6Address("fe80::a")!, prefixLength: 64),
                ]),
            InterfaceFacts(
                name: "wan0", addresses: [InterfaceAddress(address: IPv4Address("192.0.2.2")!, prefixLength: 24)],
                ipv6Addresses: [IPv6InterfaceAddress(address: IPv6Address("fe80::2")!, prefixLength: 64)]
                    + (fibreIPv6 ? [IPv6InterfaceAddress(address: IPv6Address("2001:db8:1::2")!, prefixLength: 64)] : [])),
            InterfaceFacts(
                name: "wan1", addresses: [InterfaceAddress(address: IPv4Address("198.51.100.2")!, prefixLength: 24)],
                ipv6Addresses: [IPv6InterfaceAddress(address: IPv6Address("2001:db8:2::2")!, prefixLength: 64)]),
            InterfaceFacts(
                name: "wwan0", addresses: [InterfaceAddress(address: IPv4Address("100.64.0.2")!, prefixLength: 24)]),
        ])
    }

    func plan(
        availability: WanAvailability = .allAvailable, host: HostFacts = Self.host(), sticky: Bool = false
    ) throws -> DesiredState {
        try GatewayPlanner.plan(
            try ConfigLoader.parse((sticky ? "sticky: source\n" : "") + Self.yaml), host: host, availability: availability)
    }

    @Test func planMatchesGoldenFile() throws {
        try GoldenFile.check(PlanPrinter.render(try plan()), against: "dual_stack.golden")
    }

    @Test func ipv6IsSplitOverTheWansThatTakeIt() throws {
        let state = try plan()
        let map = try #require(state.ruleset.maps.first { $0.name == "new_connection_split_v6" })
        #expect(Set(map.elements.map(\.value)) == ["goto choose_fibre", "goto choose_cable"])
        #expect(try state.wan(named: "lte").ipv6SplitShare == nil)
        #expect(try state.wan(named: "fibre").ipv6SplitShare == 2)
        #expect(try state.wan(named: "cable").ipv6SplitShare == 1)
        let sticky = try #require(try plan(sticky: true).ruleset.maps.first { $0.name == "sticky_split_v6" })
        #expect(!sticky.elements.contains { $0.value == "goto choose_lte" })
    }

    @Test func ipv6RulesAndRoutesMirrorIPv4AtTheSamePriorities() throws {
        let state = try plan()
        let v4 = state.policyRules.filter { $0.family == .ipv4 }
        let v6 = state.policyRules.filter { $0.family == .ipv6 }
        // Every IPv4 rule but the IPv4-only WAN's fwmark rule has an IPv6 twin.
        let lte = try state.wan(named: "lte")
        #expect(v6.map(\.priority) == v4.filter { $0.fwmark != lte.mark }.map(\.priority))
        #expect(v6.first?.suppressPrefixLength == 0)
        let v6Routes = state.routes.filter { $0.family == .ipv6 }
        #expect(v6Routes.map(\.description).sorted() == [
            "default via 2001:db8:2::1 dev wan1 table 201", "default via fe80::1 dev wan0 table 200",
        ])
        #expect(state.sysctls.contains { $0.key == "net/ipv6/conf/all/forwarding" && $0.value == "1" })
    }

    @Test func deadIPv6TakesOnlyIPv6OutOfTheSplit() throws {
        let state = try plan(availability: WanAvailability(unavailable: [], ipv6Unavailable: ["fibre"]))
        #expect(try state.wan(named: "fibre").splitShare > 0)
        #expect(try state.wan(named: "fibre").ipv6SplitShare == 0)
        let map = try #require(state.ruleset.maps.first { $0.name == "new_connection_split_v6" })
        #expect(map.elements.map(\.value) == ["goto choose_cable"])
        // The `use_N` chains of IPv6 rules follow IPv6 availability: `[fibre, balance]` balances IPv6.
        let chains = state.ruleset.chains.filter { $0.comment?.contains("for IPv6") ?? false || $0.name.hasPrefix("use_") }
        let v6Video = try #require(chains.first { $0.comment?.contains("[fibre, balance] for IPv6") ?? false })
        #expect(v6Video.rules.map(\.text) == ["return"])
        let v4Video = try #require(chains.first { $0.comment?.hasPrefix("use: [fibre, balance]") ?? false && !($0.comment?.contains("IPv6") ?? true) })
        #expect(v4Video.rules.map(\.text) == ["goto choose_fibre"])
    }

    @Test func wanWithoutAGlobalIPv6AddressCannotMasqueradeIPv6() throws {
        let state = try plan(host: Self.host(fibreIPv6: false))
        #expect(state.ipv6UnusableReasons["fibre"]?.contains("no global IPv6 address") == true)
        #expect(state.unusableReasons["fibre"] == nil)
        #expect(try state.wan(named: "fibre").ipv6SplitShare == 0)
    }

    @Test func prefixTranslationKeepsTheHostPartAndMasqueradesTheRest() throws {
        let nat = try #require(try plan().ruleset.chains.first { $0.name == "postrouting_nat" })
        let texts = nat.rules.map(\.text)
        let translate = try #require(texts.firstIndex(of: "oifname \"wan1\" ip6 saddr fd00:1::/64 snat ip6 prefix to 2001:db8:2:100::/64"))
        let masquerade = try #require(texts.firstIndex(of: "meta nfproto ipv6 oifname \"wan1\" masquerade"))
        #expect(translate < masquerade)
        #expect(texts.contains("meta nfproto ipv6 oifname \"wan0\" masquerade"))
        #expect(!texts.contains { $0.contains("ipv6 oifname \"wwan0\"") })
    }

    @Test func forwardsAreDividedByFamily() throws {
        let dstnat = try #require(try plan().ruleset.chains.first { $0.name == "dstnat" })
        let texts = dstnat.rules.map(\.text)
        #expect(texts.contains("ip daddr { 192.0.2.2, 198.51.100.2, 100.64.0.2 } meta l4proto tcp th dport 8080 dnat ip to 10.0.0.2:80"))
        #expect(texts.contains("ip6 daddr { 2001:db8:1::2, 2001:db8:2::2 } meta l4proto tcp th dport 8080 dnat ip6 to [fd00:1::2]:80"))
    }

    @Test func prefixTranslationOfANonLanPrefixIsRefused() throws {
        let yaml = Self.yaml.replacingOccurrences(of: "from: \"fd00:1::/64\"", with: "from: \"fd00:9::/64\"")
        #expect {
            try GatewayPlanner.plan(try ConfigLoader.parse(yaml), host: Self.host())
        } throws: { error in
            "\(error)".contains("wans[1].ipv6.nat.from") && "\(error)".contains("is not a LAN prefix")
        }
    }

    @Test func explainFollowsTheFamilyOfTheFlow() throws {
        let config = try ConfigLoader.parse("sticky: source\n" + Self.yaml)
        let ruled = FlowExplainer.explain(
            Flow(source: IPAddress("fd00:1::50")!, destination: IPAddress("2001:db8:ffff::10")!), config: config,
            host: Self.host())
        #expect(ruled.wans == ["cable"])
        let sticky = FlowExplainer.explain(
            Flow(source: IPAddress("fd00:1::77")!, destination: IPAddress("2001:db8:ffff::10")!), config: config,
            host: Self.host())
        #expect(sticky.steps.contains { $0.contains("'s /64 hashes to bucket") })
        // Another address of the same /64 lands on the same WAN.
        let rotated = FlowExplainer.explain(
            Flow(source: IPAddress("fd00:1::1234:5678")!, destination: IPAddress("2001:db8:ffff::10")!), config: config,
            host: Self.host())
        #expect(rotated.wans == sticky.wans)
        #expect(!sticky.wans.contains("lte"))
    }
}
