import BraidConfig
@testable import BraidPlanner
import Testing

/// `NftablesRuleset.rendering`: the objects it builds are what parsing its text gives, and a memo
/// hit is exactly a fresh rendering.
@Suite struct RulesetRenderingTests {
    @Test(arguments: GoldenScenario.all)
    func objectsAreWhatParsingTheTextGives(_ scenario: GoldenScenario) throws {
        let ruleset = try plan(scenario.yaml, linksDown: scenario.linksDown, lanAddresses: true).ruleset
        let rendering = ruleset.rendering()
        #expect(RenderedTable(parsing: rendering.source) == rendering.table)
        #expect(rendering.table.render() == rendering.source)
    }

    /// A ruleset with every kind of object: counters, a dynamic set, an empty set, maps, chains
    /// with hooks and rule comments, and multi-line comments.
    static let policyYAML = """
        lan:
          interfaces: [lan0]
        wans:
          - {name: fiber, interface: wan0, gateway: 192.0.2.1, weight: 3}
          - {name: cable, interface: wan1, gateway: 198.51.100.1, weight: 1}
        policies:
          web: [{wan: fiber}, {wan: cable}]
        sets:
          blocked: [203.0.113.0/24, 198.18.0.0/15]
        rules:
          - {name: kids, source: 10.0.0.128/25, use: [cable, drop]}
          - {name: site, destination: 192.0.2.128/25, use: [fiber]}
          - {name: sticky-web, protocol: tcp, destination_port: 443, policy: web, sticky: 10m}
          - {name: blocked, destination_set: blocked, use: [drop]}
        """

    @Test func memoHitsEqualFreshRenderingsAcrossWeightAndHealthChanges() throws {
        let memo = RenderedObjectMemo()
        let reweighted = Self.policyYAML.replacingOccurrences(of: "weight: 3", with: "weight: 5")
        let states = [
            try plan(Self.policyYAML), try plan(reweighted), try plan(reweighted, availability: WanAvailability(unavailable: ["fiber"])),
            try plan(Self.policyYAML), try plan(Self.policyYAML),
        ]
        var previous: RulesetRendering?
        for state in states {
            let remembered = state.ruleset.rendering(memo: memo)
            let fresh = state.ruleset.rendering()
            #expect(remembered.source == fresh.source)
            #expect(remembered.table == fresh.table)
            #expect(RenderedTable(parsing: remembered.source) == remembered.table)
            if let previous, previous.source != remembered.source {
                // Something changed, but not everything: the rest came from the memo.
                #expect(zip(previous.table.objects, remembered.table.objects).contains { $0 == $1 })
            }
            previous = remembered
        }
        #expect(states[0].ruleset.render() != states[1].ruleset.render(), "the weight change changed nothing")
    }

    @Test func aTableWithoutCountersOpensWithItsFirstSetAndNoBlankLine() {
        let ruleset = NftablesRuleset(
            sets: [
                NftablesSet(name: "empty", type: "ipv4_addr", isInterval: true, elements: [], comment: "one\n\ntwo"),
                NftablesSet(name: "full", type: "ipv4_addr", isInterval: false, elements: (1...9).map { "10.0.0.\($0)" }),
            ],
            maps: [NftablesMap(name: "m", type: "type mark : verdict", elements: [("1", "accept"), ("2", "drop")])],
            chains: [NftablesChain(name: "c", rules: [NftablesRule("accept", comment: "why\nand why")])])
        let rendering = ruleset.rendering(memo: RenderedObjectMemo())
        #expect(rendering.source.hasPrefix("table inet braid {\n\t# one\n\t# \n\t# two\n\tset empty {\n"))
        #expect(rendering.source.contains("\t\t\t10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8,\n\t\t\t10.0.0.9\n"))
        #expect(RenderedTable(parsing: rendering.source) == rendering.table)
        #expect(rendering.table.objects.map(\.content.count) == [0, 2, 2, 3])
    }
}

/// `PolicyCompileMemo`: its key holds everything the compiler reads, and a hit is returned only
/// for an equal key.
@Suite struct PolicyCompileMemoTests {
    /// What the key leaves out (weights, NAT, health settings) must not change what the compiler
    /// makes: else a hit would hand back a stale compilation.
    @Test func whatTheKeyLeavesOutDoesNotChangeTheCompilation() throws {
        let yaml = RulesetRenderingTests.policyYAML
        let config = try ConfigLoader.parse(yaml)
        let other = try ConfigLoader.parse(
            yaml.replacingOccurrences(of: "weight: 3", with: "weight: 7, nat: none")
                .replacingOccurrences(of: "weight: 1}", with: "weight: 2, health: {targets: [192.0.2.53]}}"))
        #expect(config.wans != other.wans)
        for unavailable in [[], ["fiber"], ["cable"], ["fiber", "cable"]] as [Set<String>] {
            let availability = WanAvailability(unavailable: unavailable)
            let wans = try GatewayPlanner.plan(config, host: .having(interfacesOf: config), availability: availability).wans
            let otherWans = try GatewayPlanner.plan(other, host: .having(interfacesOf: other), availability: availability).wans
            let usable = Set(config.wans.map(\.name)).subtracting(unavailable)
            #expect(PolicyCompileMemo.Key(config, wans: wans, usable: usable, usableIPv6: nil)
                == PolicyCompileMemo.Key(other, wans: otherWans, usable: usable, usableIPv6: nil))
            let one = try PolicyCompiler.compile(config, wans: wans, usable: usable)
            let two = try PolicyCompiler.compile(other, wans: otherWans, usable: usable)
            #expect(one.maps == two.maps && one.chains == two.chains && one.rules == two.rules && one.sets == two.sets)
        }
    }

    @Test func anEqualKeyHitsAndAnyOtherCompiles() throws {
        let config = try ConfigLoader.parse(RulesetRenderingTests.policyYAML)
        let wans = try GatewayPlanner.plan(config, host: .having(interfacesOf: config)).wans
        let memo = PolicyCompileMemo()
        var compiled: [Set<String>] = []
        func output(_ usable: Set<String>, rules config: Config = config) throws -> PolicyCompiler.Output {
            try memo.output(for: .init(config, wans: wans, usable: usable, usableIPv6: nil)) { () throws(PlanError) in
                compiled.append(usable)
                return try PolicyCompiler.compile(config, wans: wans, usable: usable)
            }
        }
        let all: Set<String> = ["fiber", "cable"]
        let allUp = try output(all)
        let fiberDown = try output(["cable"])
        #expect(try output(all).maps == allUp.maps)
        #expect(try output(["cable"]).maps == fiberDown.maps)
        #expect(allUp.maps != fiberDown.maps)
        #expect(compiled == [all, ["cable"]])
        // Two kept: a third key pushes out the oldest compilation.
        _ = try output(["fiber"])
        _ = try output(all)
        #expect(compiled == [all, ["cable"], ["fiber"], all])
        let edited = try ConfigLoader.parse(RulesetRenderingTests.policyYAML.replacingOccurrences(of: "10.0.0.128/25", with: "10.0.0.0/25"))
        _ = try output(all, rules: edited)
        #expect(compiled.count == 5, "another rule list is another key")
    }
}
