import BraidConfig
import Foundation
import Testing

@testable import BraidPlanner

/// The rank pipeline: rules of any mix cost one lookup per shape (and layer), and the compiled
/// maps give the same first match as the config's rules read in order.
@Suite struct RankPipelineTests {
    /// The policy objects of a plan (traffic_rules, rank and dispatch maps, action and use chains)
    /// as nft text, for golden files.
    static func policyText(_ state: DesiredState) -> String {
        let maps = state.ruleset.maps.filter { $0.name.hasPrefix("rules_") || $0.name.hasPrefix("rule_verdicts") }
        let chains = state.ruleset.chains.filter {
            $0.name == "traffic_rules" || $0.name.hasPrefix("rule_action_") || $0.name.hasPrefix("use_")
        }
        return NftablesRuleset(counters: [], sets: [], maps: maps, chains: chains).render()
    }

    static let alternatingYAML =
        threeWanPolicyYAML + """
            rules:
              - {name: s1, source: 10.0.0.50, use: [isp1]}
              - {name: d1, destination: 192.0.2.0/24, use: [isp2]}
              - {name: s2, source: 10.0.0.0/24, use: [isp3]}
              - {name: d2, destination: 192.0.2.128/25, use: [isp1]}
              - {name: p1, protocol: tcp, destination_port: [80, 443], use: [balance]}
              - {name: s3, source: 10.0.1.0/24, use: [main]}
            """

    @Test func alternatingRulesCostOneLookupPerShape() throws {
        let state = try plan(Self.alternatingYAML)
        #expect(
            state.trafficRules == [
                "ct mark set 0x00000007",
                "ct mark set ip saddr map @rules_src",
                "ct mark set meta l4proto . th dport . ct mark map @rules_port",
                "ct mark set ip daddr . ct mark map @rules_dst",
                "ct mark vmap @rule_verdicts",
                "ct mark set 0x00000000",
            ])
        // First match is resolved per dimension: s2's /24 keeps s1's host out of it. The biggest
        // map goes first and needs no rank (the register is at "no match", 0x7 for six rules).
        #expect(
            try state.map("rules_src").lines == [
                "10.0.0.0-10.0.0.49 : 0x00000003", "10.0.0.50 : 0x00000001", "10.0.0.51-10.0.0.255 : 0x00000003",
                "10.0.1.0/24 : 0x00000006",
            ])
        // d2 lies inside d1: shadowed, it has no element.
        #expect(try state.map("rules_dst").lines == ["192.0.2.0/24 . 0x00000003-0x00000007 : 0x00000002"])
        try GoldenFile.check(Self.policyText(state), against: "rank_pipeline_alternating.golden")
        // 10,000 alternating rules would still be three lookups; the walker checks the first match.
        let walker = try RankPipelineWalker(state)
        let flow = Flow(
            source: IPv4Address("10.0.0.50")!, destination: IPv4Address("192.0.2.200")!, transport: .tcp, destinationPort: 80)
        #expect(try walker.verdict(flow) == "goto choose_isp1")
        let other = Flow(source: IPv4Address("10.0.0.7")!, destination: IPv4Address("192.0.2.200")!)
        #expect(try walker.verdict(other) == "goto choose_isp2")
    }

    @Test func overlappingMultiCriteriaRulesGoIntoTwoLayers() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                rules:
                  - {name: office-web, source: 10.0.1.0/24, protocol: tcp, destination_port: [80, 443], use: [isp1]}
                  - {name: lab-web, source: 10.0.2.0/24, protocol: tcp, destination_port: 443, use: [isp2]}
                  - {name: all-web, source: 10.0.0.0/16, protocol: tcp, destination_port: 1-1024, use: [isp3]}
                  - {name: office-to-dc, source: 10.0.1.0/24, destination: 172.16.0.0/12, use: [main]}
                """)
        #expect(
            state.trafficRules == [
                "ct mark set 0x00000007",
                "ct mark set ip saddr . meta l4proto . th dport map @rules_src_port",
                "ct mark set ip saddr . meta l4proto . th dport . ct mark map @rules_src_port_2",
                "ct mark set ip saddr . ip daddr . ct mark map @rules_src_dst",
                "ct mark vmap @rule_verdicts",
                "ct mark set 0x00000000",
            ])
        #expect(
            try state.map("rules_src_port").lines == [
                "10.0.1.0/24 . tcp . 80 : 0x00000001", "10.0.1.0/24 . tcp . 443 : 0x00000001",
                "10.0.2.0/24 . tcp . 443 : 0x00000002",
            ])
        #expect(try state.map("rules_src_port_2").lines == ["10.0.0.0/16 . tcp . 1-1024 . 0x00000004-0x00000007 : 0x00000003"])
        #expect(
            try state.map("rules_src_port_2").comment == "rule \"all-web\"; layer 2: each overlaps a rule of the layer before")
        try GoldenFile.check(Self.policyText(state), against: "rank_pipeline_layers.golden")
        let walker = try RankPipelineWalker(state)
        // Two rules of different shapes match; the earlier one wins whatever the lookup order.
        let toDC = Flow(
            source: IPv4Address("10.0.1.9")!, destination: IPv4Address("172.16.0.1")!, transport: .tcp, destinationPort: 443)
        #expect(try walker.verdict(toDC) == "goto choose_isp1")
        let ssh = Flow(
            source: IPv4Address("10.0.1.9")!, destination: IPv4Address("172.16.0.1")!, transport: .tcp, destinationPort: 22)
        #expect(try walker.verdict(ssh) == "goto choose_isp3")
        let udp = Flow(
            source: IPv4Address("10.0.1.9")!, destination: IPv4Address("172.16.0.1")!, transport: .udp, destinationPort: 22)
        #expect(try walker.verdict(udp) == "goto choose_main")
    }

    @Test func setRulesAreOneRuleEachAndPortRulesAreInBothFamilies() throws {
        let state = try GatewayPlanner.plan(
            try ConfigLoader.parse(DualStackPlanTests.yaml), host: DualStackPlanTests.host())
        #expect(state.ruleset.sets.map(\.name) == ["dst_video", "dst6_video"])
        #expect(state.trafficRules.contains("ct mark > 0x00000002 ip daddr @dst_video ct mark set 0x00000002"))
        #expect(state.trafficRules.contains("ct mark > 0x00000002 ip6 daddr @dst6_video ct mark set 0x00000002"))
        #expect(try state.map("rules_src_v6").lines == ["fd00:1::50 . 0x00000002-0x00000007 : 0x00000001"])
        // A rule without addresses is in both pipelines, under its one rank.
        #expect(try state.map("rules_port").lines == ["udp . 27015 : 0x00000003"])
        #expect(try state.map("rules_port_v6").lines == ["udp . 27015 : 0x00000003"])
        #expect(state.trafficRules.contains("meta nfproto ipv6 ct mark set meta l4proto . th dport map @rules_port_v6"))
        #expect(state.trafficRules.contains("meta nfproto ipv6 ct mark vmap @rule_verdicts_v6"))
        try GoldenFile.check(Self.policyText(state), against: "rank_pipeline_dual_stack.golden")
    }

    @Test func icmpRulesAreTheProtocolDimension() throws {
        let yaml = DualStackPlanTests.yaml.replacingOccurrences(
            of: "  - { name: v6-client", with: "  - { name: ping, protocol: icmp, use: [cable] }\n  - { name: v6-client")
        let state = try GatewayPlanner.plan(try ConfigLoader.parse(yaml), host: DualStackPlanTests.host())
        #expect(try state.map("rules_proto").lines == ["icmp : 0x00000001"])
        #expect(try state.map("rules_proto_v6").lines == ["ipv6-icmp : 0x00000001"])
    }

    /// A rule whose WANs are all down leaves only its own elements (and those it shadowed change);
    /// no map is declared or removed, and rules that balance or drop never change.
    @Test func fallThroughRuleWithItsWanDownLeavesOnlyItsElements() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: pinned, source: 10.0.0.5, use: [isp1]}
                  - {name: lan, source: 10.0.0.0/24, use: [isp2]}
                  - {name: web, source: 10.0.0.0/24, protocol: tcp, destination_port: 443, use: [isp1, drop]}
                  - {name: dc, destination: 172.16.0.0/12, use: [isp1]}
                """
        let allUp = try plan(yaml)
        let isp1Down = try plan(yaml, availability: WanAvailability(unavailable: ["isp1"]))
        try GoldenFile.check(Self.policyText(isp1Down), against: "rank_pipeline_fall_through_isp1_down.golden")
        #expect(
            try allUp.map("rules_src").lines == [
                "10.0.0.0-10.0.0.4 : 0x00000002", "10.0.0.5 : 0x00000001", "10.0.0.6-10.0.0.255 : 0x00000002",
            ])
        #expect(try isp1Down.map("rules_src").lines == ["10.0.0.0/24 : 0x00000002"])
        #expect(try isp1Down.map("rules_dst").lines.isEmpty)
        // `[isp1, drop]` never falls through: its elements stay, only its use_N chain changes.
        #expect(try isp1Down.map("rules_src_port") == allUp.map("rules_src_port"))
        // Declarations (names, types) and the dispatch map do not depend on health.
        #expect(isp1Down.ruleset.maps.map(\.name) == allUp.ruleset.maps.map(\.name))
        #expect(isp1Down.ruleset.maps.map(\.type) == allUp.ruleset.maps.map(\.type))
        #expect(try isp1Down.map("rule_verdicts") == allUp.map("rule_verdicts"))
        #expect(isp1Down.trafficRules == allUp.trafficRules)
        let walker = try RankPipelineWalker(isp1Down)
        #expect(
            try walker.verdict(Flow(source: IPv4Address("10.0.0.5")!, destination: IPv4Address("8.8.8.8")!)) == "goto choose_isp2"
        )
        #expect(try walker.verdict(Flow(source: IPv4Address("10.9.0.5")!, destination: IPv4Address("172.16.0.1")!)) == "return")
        #expect(
            try walker.verdict(
                Flow(
                    source: IPv4Address("10.0.0.5")!, destination: IPv4Address("8.8.8.8")!, transport: .tcp, destinationPort: 443)
            )
                == "goto choose_isp2")
    }

    /// Grouped by pass-over group, a health change leaves every map as it is: the lookups of
    /// the group whose WANs are down leave `traffic_rules`, and the rules they shadowed win again.
    @Test func groupedPolicyPassesOverByLeavingLookupsOut() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: pinned, source: 10.0.0.5, use: [isp1]}
                  - {name: lan, source: 10.0.0.0/24, use: [isp2]}
                  - {name: web, source: 10.0.0.0/24, protocol: tcp, destination_port: 443, use: [isp1, drop]}
                  - {name: dc, destination: 172.16.0.0/12, use: [isp1]}
                  - {name: both, destination: 172.16.0.0/16, use: [isp2, isp1]}
                """
        let (allUp, isp1Down, bothDown) = try PolicyCompiler.$grouping.withValue(.always) {
            (
                try plan(yaml), try plan(yaml, availability: WanAvailability(unavailable: ["isp1"])),
                try plan(yaml, availability: WanAvailability(unavailable: ["isp1", "isp2"]))
            )
        }
        try GoldenFile.check(Self.policyText(isp1Down), against: "rank_pipeline_grouped_isp1_down.golden")
        // Groups: {isp1} (pinned, dc), {isp2} (lan), never ([isp1, drop]), {isp1, isp2} (both).
        #expect(allUp.policyMapNames == ["rules_dst_g1", "rules_src_g1", "rules_src_g2", "rules_src_port_g3", "rules_dst_g4"])
        func policyMaps(_ state: DesiredState) -> [NftablesMap] { state.ruleset.maps.filter { $0.name.hasPrefix("rule") } }
        #expect(policyMaps(isp1Down) == policyMaps(allUp))
        #expect(policyMaps(bothDown) == policyMaps(allUp))
        // Each group resolves first match among its own rules; the lookups compose by lowest rank.
        #expect(try allUp.map("rules_src_g1").lines == ["10.0.0.5 . 0x00000002-0x00000007 : 0x00000001"])
        #expect(try allUp.map("rules_src_g2").lines == ["10.0.0.0/24 . 0x00000003-0x00000007 : 0x00000002"])
        #expect(!isp1Down.trafficRules.contains { $0.contains("_g1") })
        #expect(isp1Down.trafficRules.filter { !$0.contains("_g1") } == allUp.trafficRules.filter { !$0.contains("_g1") })
        #expect(!bothDown.trafficRules.contains { $0.contains("_g1") || $0.contains("_g2") || $0.contains("_g4") })
        #expect(bothDown.trafficRules.contains { $0.contains("@rules_src_port_g3") })
        let host = Flow(source: IPv4Address("10.0.0.5")!, destination: IPv4Address("8.8.8.8")!)
        let dc = Flow(source: IPv4Address("10.9.0.5")!, destination: IPv4Address("172.16.0.1")!)
        let web = Flow(
            source: IPv4Address("10.0.0.5")!, destination: IPv4Address("8.8.8.8")!, transport: .tcp, destinationPort: 443)
        #expect(try RankPipelineWalker(allUp).verdict(host) == "goto choose_isp1")
        #expect(try RankPipelineWalker(isp1Down).verdict(host) == "goto choose_isp2")
        #expect(try RankPipelineWalker(isp1Down).verdict(dc) == "goto choose_isp2")
        #expect(try RankPipelineWalker(bothDown).verdict(dc) == "return")
        #expect(try RankPipelineWalker(bothDown).verdict(web) == "drop")
        #expect(try RankPipelineWalker(isp1Down).verdict(web) == "goto choose_isp2")
    }

    /// A large policy is grouped on its own; one whose groups would cost more lookups than the
    /// warning bound is not, and passes over by leaving elements out.
    @Test func largePoliciesAreGroupedWhileTheLookupsStayFew() throws {
        func rules(_ count: Int, lists: [String]) -> String {
            "rules:\n"
                + (0..<count).map { index in
                    let address = IPv4Address(0x0a64_0000 + UInt32(index))
                    return "  - {name: r\(index), source: \(address), use: \(lists[index % lists.count])}"
                }.joined(separator: "\n") + "\n"
        }
        let grouped = try plan(threeWanPolicyYAML + rules(1_200, lists: ["[isp1]", "[isp2]", "[isp3, balance]"]))
        #expect(grouped.policyMapNames == ["rules_src_g1", "rules_src_g2", "rules_src_g3"])
        let small = try plan(threeWanPolicyYAML + rules(30, lists: ["[isp1]", "[isp2]", "[isp3, balance]"]))
        #expect(small.policyMapNames == ["rules_src"])
        // Eight groups (every non-empty set of the three WANs, and "never") of two shapes: 16
        // lookups grouped, more than the 8 a grouped pipeline may cost; ungrouped it is 2.
        let lists = ["[isp1]", "[isp2]", "[isp3]", "[isp1, isp2]", "[isp2, isp3]", "[isp1, isp3]", "[isp1, isp2, isp3]",
            "[balance]", "[isp1, drop]"]
        let mixed =
            "rules:\n"
            + (0..<1_800).map { index in
                let address = IPv4Address(0x0a64_0000 + UInt32(index))
                let criterion = index % 2 == 0 ? "source" : "destination"
                return "  - {name: r\(index), \(criterion): \(address), use: \(lists[index % lists.count])}"
            }.joined(separator: "\n") + "\n"
        let many = try plan(threeWanPolicyYAML + mixed)
        #expect(Set(many.policyMapNames) == ["rules_src", "rules_dst"])
        let manyDown = try plan(threeWanPolicyYAML + mixed, availability: WanAvailability(unavailable: ["isp1"]))
        // The 100 source rules that use only isp1 leave their map.
        #expect(try many.map("rules_src").elements.count == 900)
        #expect(try manyDown.map("rules_src").elements.count == 800)
    }

    @Test func ruleThatMatchesEverythingIsOneElementOfItsOwnMap() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: s1, source: 10.0.0.5, use: [isp1]}
                  - {name: rest, use: [isp3]}
                  - {name: never, use: [isp2]}
                """
        let state = try plan(yaml)
        #expect(try state.map("rules_any").type == "typeof ct mark : ct mark")
        #expect(try state.map("rules_any").lines == ["0x00000003-0x00000007 : 0x00000002"])
        let isp3Down = try plan(yaml, availability: WanAvailability(unavailable: ["isp3"]))
        #expect(try isp3Down.map("rules_any").lines == ["0x00000004-0x00000007 : 0x00000003"])
    }

    @Test func manyOverlappingLayersWarnThenRefuseNamingTheRules() throws {
        func rules(_ count: Int) -> String {
            "rules:\n"
                + (1...count).map {
                    "  - {name: r\($0), source: 10.0.0.0/\(32 - $0 % 8), protocol: tcp, destination_port: \($0), use: [isp1]}\n"
                }
                .joined()
                + (1...count).map {
                    "  - {name: wide\($0), source: 10.0.0.0/8, protocol: tcp, destination_port: 1-65535, use: [isp2]}\n"
                }
                .joined()
        }
        let fine = try plan(threeWanPolicyYAML + rules(3))
        #expect(fine.warnings.isEmpty)
        let warned = try plan(threeWanPolicyYAML + rules(12))
        #expect(warned.trafficRules.count == 3 + 13)
        let warning = try #require(warned.warnings.first)
        #expect(warning.hasPrefix("rules: the policy needs 13 lookups per new connection (more than 8)"), "\(warning)")
        #expect(warning.contains("\"wide2\" overlaps \"wide1\""), "\(warning)")
        #expect(throws: PlanError.self) { try plan(threeWanPolicyYAML + rules(40)) }
        do {
            _ = try plan(threeWanPolicyYAML + rules(40))
        } catch let error as PlanError {
            #expect(error.problems.first?.path == "rules")
            #expect(error.description.contains("41 lookups per new connection, more than the 32"), "\(error)")
        }
    }

    /// Random policies of every kind and both families, random WAN health and many flows: the
    /// compiled maps (walked as nft would) and `braid explain` (the config's rules in order) agree.
    @Test(arguments: [PolicyCompiler.Grouping.never, .always])
    func compiledMapsAgreeWithFirstMatchOverRandomPolicies(grouping: PolicyCompiler.Grouping) throws {
        try PolicyCompiler.$grouping.withValue(grouping) { try checkRandomPolicies() }
    }

    func checkRandomPolicies() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["BRAID_RANK_SEED"] ?? "") ?? 20_261_202
        var random = SplitMix64(seed: seed)
        var base = try ConfigLoader.parse(DualStackPlanTests.yaml)
        base.portForwards = []
        let host = DualStackPlanTests.host()
        let lists: [[RuleTarget]] = [
            [.wan("fibre")], [.wan("cable")], [.wan("lte")], [.wan("fibre"), .wan("cable")], [.wan("lte"), .balance],
            [.main], [.drop], [.balance], [.wan("cable"), .drop],
        ]
        func v4(_ base: UInt32, _ lengths: ClosedRange<Int>) -> IPPrefix {
            let length = Int.random(in: lengths, using: &random)
            let value = (base | UInt32.random(in: 0...255, using: &random)) & IPv4Prefix.mask(length)
            return IPPrefix(IPv4Prefix(address: IPv4Address(value), length: length)!)
        }
        func v6(_ base: String, _ lengths: ClosedRange<Int>) -> IPPrefix {
            let length = Int.random(in: lengths, using: &random)
            let address = IPv6Address(base + String(UInt8.random(in: 0...255, using: &random), radix: 16))!
            return IPPrefix(address: .v6(address.masked(toLength: length)), length: length)!
        }
        var checked = 0
        for round in 0..<160 {
            var config = base
            config.sets = [
                AddressSetConfig(
                    name: "a", entries: (0..<3).map { _ in v4(0xac10_0000, 26...32) } + [v6("2001:db8:aa::", 122...128)]),
                AddressSetConfig(name: "b", entries: (0..<2).map { _ in v4(0xac10_0000, 24...30) }),
            ]
            config.rules = (0..<Int.random(in: 1...10, using: &random)).map { index in
                var rule = TrafficRuleConfig(name: "r\(index)", use: lists[Int.random(in: 0..<lists.count, using: &random)])
                switch Int.random(in: 0...5, using: &random) {
                case 0: rule.sources = [v4(0x0a01_0000, 25...32)]
                case 1: rule.sources = [v6("fd00:2::", 124...128)]
                case 2: rule.sources = [v4(0x0a01_0000, 24...32), v6("fd00:2::", 122...128)]
                default: break
                }
                switch Int.random(in: 0...5, using: &random) {
                case 0: rule.destinations = [v4(0xac10_0000, 25...32)]
                case 1: rule.destinations = [v6("2001:db8:aa::", 124...128), v4(0xac10_0000, 24...32)]
                case 2: rule.destinationSet = Bool.random(using: &random) ? "a" : "b"
                default: break
                }
                switch Int.random(in: 0...5, using: &random) {
                case 0: rule.transport = .icmp
                case 1, 2:
                    rule.transport = Bool.random(using: &random) ? .tcp : .udp
                    rule.destinationPorts = (0..<Int.random(in: 0...2, using: &random)).map { _ in
                        let first = UInt16.random(in: 1...30, using: &random)
                        return PortRange(first, UInt16.random(in: first...min(first + 8, 40), using: &random))
                    }
                default: break
                }
                return rule
            }
            let unavailable = Set(["fibre", "cable", "lte"].filter { _ in Int.random(in: 0..<3, using: &random) == 0 })
            let availability = WanAvailability(unavailable: unavailable)
            let state = try GatewayPlanner.plan(config, host: host, availability: availability)
            let walker = try RankPipelineWalker(state)
            for _ in 0..<40 {
                let transport = [TransportProtocol.tcp, .udp, .icmp][Int.random(in: 0...2, using: &random)]
                let port = transport == .icmp ? nil : UInt16.random(in: 1...40, using: &random)
                let flow: Flow
                if Bool.random(using: &random) {
                    flow = Flow(
                        source: IPv4Address(0x0a01_0000 | UInt32.random(in: 0...255, using: &random)),
                        destination: IPv4Address(0xac10_0000 | UInt32.random(in: 0...255, using: &random)),
                        transport: transport, destinationPort: port)
                } else {
                    flow = Flow(
                        source: .v6(IPv6Address("fd00:2::" + String(UInt8.random(in: 0...255, using: &random), radix: 16))!),
                        destination: .v6(
                            IPv6Address("2001:db8:aa::" + String(UInt8.random(in: 0...255, using: &random), radix: 16))!),
                        transport: transport, destinationPort: port)
                }
                let explained = FlowExplainer.explain(flow, config: config, host: host, availability: availability)
                let verdict = try walker.verdict(flow)
                let context =
                    "seed \(seed) (BRAID_RANK_SEED), round \(round), \(flow), unavailable \(unavailable.sorted()): maps say \(verdict), explain says \(explained.outcome)\n\(config.rules)"
                switch verdict {
                case "return": #expect(explained.outcome.hasPrefix("balanced"), "\(context)")
                case "goto choose_main": #expect(explained.outcome.hasPrefix("no WAN mark"), "\(context)")
                case "drop": #expect(explained.outcome.hasPrefix("dropped"), "\(context)")
                default:
                    #expect(
                        verdict == "goto choose_\(explained.wans.first ?? "?")" && explained.outcome.hasPrefix("leaves by"),
                        "\(context)")
                }
                checked += 1
            }
        }
        #expect(checked == 6400)
    }
}
