import BraidConfig
import BraidPlanner
import Testing

/// Named policies: each compiles to its own chain and split map, tiers fail over inside a
/// policy, `last_resort` decides when no member is usable, sticky rules remember clients in
/// dynamic sets, and `default_policy` takes the traffic no rule decides.
@Suite struct NamedPolicyPlanTests {
    static let yaml = """
        lan:
          interfaces: [lan0]
        wans:
          - { name: isp1, interface: wan0, gateway: 192.0.2.1 }
          - { name: isp2, interface: wan1, gateway: 198.51.100.1 }
          - { name: lte, interface: wwan0, gateway: 100.64.0.1 }
        policies:
          balanced:
            members: [{ wan: isp1, weight: 3 }, { wan: isp2, weight: 2 }]
          isp1_then_isp2:
            members: [{ wan: isp1 }, { wan: isp2, tier: 2 }, { wan: lte, tier: 3 }]
            last_resort: unreachable
          lte_only:
            members: [{ wan: lte }]
            last_resort: drop
        default_policy: balanced
        rules:
          - { name: https, protocol: tcp, destination_port: 443, policy: balanced, sticky: 10m }
          - { name: office, source: 10.0.0.0/24, policy: isp1_then_isp2 }
          - { name: cameras, source: 10.0.9.0/24, policy: lte_only }
        """

    static func chain(_ state: DesiredState, _ name: String) throws -> NftablesChain {
        try #require(state.ruleset.chains.first { $0.name == name }, "no chain \(name)")
    }

    static func map(_ state: DesiredState, _ name: String) throws -> NftablesMap {
        try #require(state.ruleset.maps.first { $0.name == name }, "no map \(name)")
    }

    @Test func allUsableIsPinnedInAGoldenFile() throws {
        try GoldenFile.check(PlanPrinter.render(try plan(Self.yaml)), against: "named_policies.golden")
    }

    @Test func isp1DownIsPinnedInAGoldenFile() throws {
        try GoldenFile.check(
            PlanPrinter.render(try plan(Self.yaml, availability: WanAvailability(unavailable: ["isp1"]))),
            against: "named_policies_isp1_down.golden")
    }

    @Test func eachPolicySplitsByItsOwnWeights() throws {
        let state = try plan(Self.yaml)
        #expect(try Self.chain(state, "policy_balanced").rules.map(\.text) == ["numgen random mod 5 vmap @policy_balanced_split"])
        #expect(
            try Self.map(state, "policy_balanced_split").elements.map { "\($0.key) \($0.value)" } == [
                "0-2 goto choose_isp1", "3-4 goto choose_isp2",
            ])
        // Only tier 1 carries traffic while it has a usable member.
        #expect(try Self.map(state, "policy_isp1_then_isp2_split").elements.map(\.value) == ["goto choose_isp1"])
    }

    @Test func aTieredPolicyFailsOverInTierOrder() throws {
        let isp1Down = try plan(Self.yaml, availability: WanAvailability(unavailable: ["isp1"]))
        #expect(try Self.map(isp1Down, "policy_isp1_then_isp2_split").elements.map(\.value) == ["goto choose_isp2"])
        // A link that is down counts as unusable, as probes do.
        let bothDown = try plan(Self.yaml, linksDown: ["wan0", "wan1"])
        #expect(try Self.map(bothDown, "policy_isp1_then_isp2_split").elements.map(\.value) == ["goto choose_lte"])
        // The balanced policy keeps its remaining member alone.
        #expect(try Self.map(isp1Down, "policy_balanced_split").elements.map(\.value) == ["goto choose_isp2"])
    }

    @Test func lastResortDecidesWhenNoMemberIsUsable() throws {
        let all = WanAvailability(unavailable: ["isp1", "isp2", "lte"])
        let state = try plan(Self.yaml, availability: all)
        #expect(try Self.chain(state, "policy_isp1_then_isp2").rules.map(\.text) == ["reject with icmpx type no-route"])
        #expect(try Self.chain(state, "policy_lte_only").rules.map(\.text) == ["drop"])
        #expect(try Self.chain(state, "policy_balanced").rules.map(\.text) == ["goto choose_main"])
        #expect(try Self.map(state, "policy_balanced_split").elements.isEmpty)
    }

    @Test func aDrainedWanLeavesEveryPolicy() throws {
        // The daemon plans a drained WAN as unavailable (DrainedWans): it leaves each policy's split.
        let state = try plan(Self.yaml, availability: WanAvailability(unavailable: ["isp2"]))
        #expect(try Self.map(state, "policy_balanced_split").elements.map(\.value) == ["goto choose_isp1"])
    }

    @Test func rulesGoStraightToTheirPolicyAndUnmatchedTrafficToTheDefault() throws {
        let state = try plan(Self.yaml)
        // A matched rule's action chain (cleaning the scratch ct mark first) goes straight to its policy.
        let verdicts = state.ruleset.chains.filter { $0.name.hasPrefix("rule_action_") }.flatMap { $0.rules.map(\.text) }
        #expect(verdicts.contains("goto sticky_balanced_600"))
        #expect(verdicts.contains("goto policy_isp1_then_isp2"))
        #expect(verdicts.contains("goto policy_lte_only"))
        let prerouting = try Self.chain(state, "prerouting").rules.map(\.text)
        #expect(prerouting.last == "iifname { \"lan0\" } goto policy_balanced")
        #expect(!prerouting.contains { $0.contains("new_connection_split") })
    }

    @Test func withoutADefaultPolicyUnmatchedTrafficUsesTheGlobalSplit() throws {
        let state = try plan(Self.yaml.replacingOccurrences(of: "default_policy: balanced\n", with: ""))
        let prerouting = try Self.chain(state, "prerouting").rules.map(\.text)
        #expect(prerouting.last?.contains("vmap @new_connection_split") == true)
    }

    @Test func stickyRemembersClientsPerMemberAndOnlyTheTierInUseKeepsThem() throws {
        let state = try plan(Self.yaml)
        let sets = state.ruleset.sets.filter { $0.name.hasPrefix("sticky_") }
        #expect(sets.map(\.name) == ["sticky_balanced_600_isp1", "sticky_balanced_600_isp2"])
        #expect(sets.allSatisfy { $0.timeoutSeconds == 600 && $0.elements.isEmpty })
        let sticky = try Self.chain(state, "sticky_balanced_600").rules.map(\.text)
        #expect(
            sticky.first == "ip saddr @sticky_balanced_600_isp1 update @sticky_balanced_600_isp1 { ip saddr } goto choose_isp1")
        #expect(sticky.contains("jump policy_balanced"))
        #expect(sticky.contains("meta mark & 0xff000000 == 0x02000000 update @sticky_balanced_600_isp2 { ip saddr }"))
        let isp1Down = try Self.chain(
            try plan(Self.yaml, availability: WanAvailability(unavailable: ["isp1"])), "sticky_balanced_600"
        ).rules.map(\.text)
        #expect(!isp1Down.contains { $0.hasPrefix("ip saddr @sticky_balanced_600_isp1") })
    }

    @Test func aHealthChangeTouchesNoRuleMap() throws {
        let before = try plan(Self.yaml).ruleset
        let after = try plan(Self.yaml, availability: WanAvailability(unavailable: ["isp1"])).ruleset
        let changedMaps = after.maps.filter { map in before.maps.first { $0.name == map.name } != map }.map(\.name)
        #expect(changedMaps.allSatisfy { $0.hasSuffix("_split") }, "\(changedMaps)")
        #expect(Set(before.maps.map(\.name)) == Set(after.maps.map(\.name)))
        #expect(before.sets == after.sets)
        let changedChains = after.chains.filter { chain in before.chains.first { $0.name == chain.name } != chain }.map(\.name)
        #expect(
            changedChains.allSatisfy { $0.hasPrefix("policy_") || $0.hasPrefix("sticky_") || $0 == "output" },
            "\(changedChains)")
    }

    @Test func aDualStackPolicyHasAnIPv6ChainOverItsIPv6Members() throws {
        let yaml = Self.yaml.replacingOccurrences(
            of: "{ name: isp1, interface: wan0, gateway: 192.0.2.1 }",
            with: "{ name: isp1, interface: wan0, gateway: 192.0.2.1, ipv6: { gateway: \"fe80::1\" } }")
        let config = try ConfigLoader.parse(yaml)
        var host = HostFacts.having(interfacesOf: config)
        host.interfaces["wan0"]?.ipv6Addresses = [
            IPv6InterfaceAddress(address: IPv6Address("2001:db8:1::2")!, prefixLength: 64)
        ]
        let state = try GatewayPlanner.plan(config, host: host)
        #expect(try Self.map(state, "policy_balanced_v6_split").elements.map(\.value) == ["goto choose_isp1"])
        let sticky = try Self.chain(state, "sticky_balanced_600_v6").rules.map(\.text)
        #expect(
            sticky.first
                == "ip6 saddr & ffff:ffff:ffff:ffff:: @sticky_balanced_600_isp1_v6 update @sticky_balanced_600_isp1_v6 { ip6 saddr & ffff:ffff:ffff:ffff:: } goto choose_isp1"
        )
        // lte takes no IPv6: its policy falls to its last resort for IPv6.
        #expect(try Self.chain(state, "policy_lte_only_v6").rules.map(\.text) == ["drop"])
    }

    @Test func explainNamesThePolicyTheTierAndTheMembersStates() throws {
        let config = try ConfigLoader.parse(Self.yaml)
        let host = HostFacts.having(interfacesOf: config)
        let office = FlowExplainer.explain(
            Flow(
                source: IPv4Address("10.0.0.7")!, destination: IPv4Address("203.0.113.9")!, transport: .udp, destinationPort: 53),
            config: config, host: host, availability: WanAvailability(unavailable: ["isp1"]))
        #expect(
            office.steps.contains(
                "policy isp1_then_isp2 members: isp1 tier 1 weight 1: not usable; isp2 tier 2 weight 1: usable; lte tier 3 weight 1: usable"
            ))
        #expect(office.outcome.hasPrefix("policy isp1_then_isp2, tier 2: isp2 100%"))
        #expect(office.wans == ["isp2"])
        let web = FlowExplainer.explain(
            Flow(
                source: IPv4Address("10.0.5.7")!, destination: IPv4Address("203.0.113.9")!, transport: .tcp, destinationPort: 443),
            config: config, host: host)
        #expect(web.outcome.hasPrefix("policy balanced, tier 1: isp1 60%, isp2 40%"))
        #expect(web.steps.contains { $0.hasPrefix("sticky 600s:") })
        let other = FlowExplainer.explain(
            Flow(
                source: IPv4Address("10.0.5.7")!, destination: IPv4Address("203.0.113.9")!, transport: .tcp, destinationPort: 22),
            config: config, host: host)
        #expect(other.steps.contains("default_policy is balanced"))
        let balanceRule = try ConfigLoader.parse(
            Self.yaml + "\n  - { name: rest, protocol: udp, destination_port: 53, use: [lte, balance] }\n")
        let dns = FlowExplainer.explain(
            Flow(
                source: IPv4Address("10.0.5.7")!, destination: IPv4Address("203.0.113.9")!, transport: .udp, destinationPort: 53),
            config: balanceRule, host: host, availability: WanAvailability(unavailable: ["lte"]))
        #expect(dns.outcome.hasPrefix("policy balanced, tier 1"), "balance means the default policy: \(dns.outcome)")
        let cameras = FlowExplainer.explain(
            Flow(source: IPv4Address("10.0.9.7")!, destination: IPv4Address("203.0.113.9")!),
            config: config, host: host, availability: WanAvailability(unavailable: ["lte"]))
        #expect(cameras.outcome.hasPrefix("dropped (policy lte_only last resort"))
    }
}
