import BraidConfig
import Foundation
import Testing

@testable import BraidPlanner

/// Three WANs, weights 5/3/2, and the head of every policy config below.
let threeWanPolicyYAML = """
    lan:
      interfaces: [lan0]
    wans:
      - {name: isp1, interface: wan0, gateway: 192.0.2.1, weight: 5}
      - {name: isp2, interface: wan1, gateway: 198.51.100.1, weight: 3}
      - {name: isp3, interface: wan2, gateway: 203.0.113.1, weight: 2}

    """

/// A seeded generator, so the randomised tests are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension DesiredState {
    func map(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> NftablesMap {
        try #require(ruleset.maps.first { $0.name == name }, "no map \(name)", sourceLocation: sourceLocation)
    }

    func chain(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> NftablesChain {
        try #require(ruleset.chains.first { $0.name == name }, "no chain \(name)", sourceLocation: sourceLocation)
    }

    /// The `traffic_rules` chain's rule texts, or [] when there is none.
    var trafficRules: [String] { ruleset.chains.first { $0.name == "traffic_rules" }?.rules.map(\.text) ?? [] }

    var policyMapNames: [String] { ruleset.maps.map(\.name).filter { $0.hasPrefix("rules_") } }

    /// What a policy verdict does now, through its `use_N` chain: nil when the chain is empty (the
    /// rule is passed over), `goto choose_X` for a chosen WAN.
    func effectiveVerdict(_ verdict: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        guard verdict.hasPrefix("jump use_") || verdict.hasPrefix("goto use_") else { return verdict }
        let rules = try chain(String(verdict.dropFirst(5)), sourceLocation: sourceLocation).rules.map(\.text)
        if rules.isEmpty { return nil }
        if rules.count == 2, rules[1] == "accept", rules[0].hasPrefix("jump choose_") { return "goto " + rules[0].dropFirst(5) }
        try #require(rules.count == 1, "unexpected body of \(verdict): \(rules)", sourceLocation: sourceLocation)
        return rules[0]
    }

    /// The verdict a rank (a rule's number) dispatches to now: through `rule_verdicts` (or
    /// `rule_verdicts_v6`), its `rule_action_N` chain and its `use_N` chain.
    func rankVerdict(_ rank: String, ipv6: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        let dispatch = try map(ipv6 ? "rule_verdicts_v6" : "rule_verdicts", sourceLocation: sourceLocation)
        let element = try #require(dispatch.elements.first { $0.key == rank }, "no rank \(rank)", sourceLocation: sourceLocation)
        let action = try chain(String(element.value.dropFirst("goto ".count)), sourceLocation: sourceLocation).rules.map(\.text)
        try #require(action.count == 2 && action[0] == "ct mark set 0x00000000", sourceLocation: sourceLocation)
        return try effectiveVerdict(action[1], sourceLocation: sourceLocation)
    }

    /// A rank map's "box : verdict" lines (the rank range left out) with the verdicts resolved
    /// through dispatch, action and `use_N` chains ("pass" when the rule is passed over).
    func verdictLines(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let map = try map(name, sourceLocation: sourceLocation)
        // The rank so far is the key's last field, except in the first lookup (and it is all of `rules_any`).
        let ranked = map.type.hasSuffix(" . ct mark : ct mark")
        return try map.elements.map { element in
            let box = ranked ? element.key.components(separatedBy: " . ").dropLast().joined(separator: " . ") : element.key
            let verdict = try rankVerdict(element.value, ipv6: name.hasSuffix("_v6"), sourceLocation: sourceLocation)
            return "\(box) : \(verdict ?? "pass")"
        }
    }
}

extension NftablesMap {
    /// "key : value" per element, for compact expectations.
    var lines: [String] { elements.map { "\($0.key) : \($0.value)" } }
}

// MARK: - IntervalPartition

/// First-match-wins partitioning of overlapping ranges into the disjoint pieces an nft interval
/// map can hold.
@Suite struct IntervalPartitionTests {
    typealias Piece = (lower: UInt32, upper: UInt32, value: String)

    func pieces(_ partition: IntervalPartition<UInt32, String>, merged: Bool = true) -> [String] {
        (merged ? partition.merged : partition.pieces).map { "\($0.lower)-\($0.upper)=\($0.value)" }
    }

    @Test func laterOverlappingRangeOnlyFillsWhatIsLeft() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(10, 20, "a")
        partition.add(15, 30, "b")
        partition.add(0, 12, "c")
        #expect(pieces(partition) == ["0-9=c", "10-20=a", "21-30=b"])
    }

    @Test func laterBroaderRangeDoesNotOverrideAnEarlierNarrowerOne() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(100, 100, "host")
        partition.add(96, 103, "small")
        partition.add(0, 1000, "broad")
        #expect(pieces(partition) == ["0-95=broad", "96-99=small", "100-100=host", "101-103=small", "104-1000=broad"])
    }

    @Test func earlierBroaderRangeHidesALaterNarrowerOne() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(0, 1000, "broad")
        partition.add(100, 100, "host")
        #expect(pieces(partition) == ["0-1000=broad"])
    }

    @Test func fullRangeIsOnePieceAndFillsAroundEarlierPieces() {
        var whole = IntervalPartition<UInt32, String>()
        whole.add(0, UInt32.max, "all")
        whole.add(5, 10, "late")
        #expect(pieces(whole) == ["0-\(UInt32.max)=all"])

        var holes = IntervalPartition<UInt32, String>()
        holes.add(0, 0, "first")
        holes.add(UInt32.max, UInt32.max, "last")
        holes.add(7, 9, "middle")
        holes.add(0, UInt32.max, "all")
        #expect(
            pieces(holes) == [
                "0-0=first", "1-6=all", "7-9=middle", "10-\(UInt32.max - 1)=all", "\(UInt32.max)-\(UInt32.max)=last",
            ])
    }

    @Test func rangesTouchingTheTopOfTheSpaceDoNotWrap() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(UInt32.max - 1, UInt32.max, "top")
        partition.add(UInt32.max - 3, UInt32.max, "below")
        #expect(pieces(partition) == ["\(UInt32.max - 3)-\(UInt32.max - 2)=below", "\(UInt32.max - 1)-\(UInt32.max)=top"])
    }

    @Test func adjacentPiecesWithEqualValuesAreMerged() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(0, 9, "a")
        partition.add(20, 29, "a")
        partition.add(10, 19, "a")
        partition.add(30, 39, "b")
        partition.add(41, 50, "b")
        #expect(pieces(partition, merged: false) == ["0-9=a", "10-19=a", "20-29=a", "30-39=b", "41-50=b"])
        // 30-39 and 41-50 are not adjacent (40 is a hole), so they stay apart.
        #expect(pieces(partition) == ["0-29=a", "30-39=b", "41-50=b"])
    }

    @Test func adjacentPiecesWithDifferentValuesAreNotMerged() {
        var partition = IntervalPartition<UInt32, String>()
        partition.add(0, 9, "a")
        partition.add(10, 19, "b")
        #expect(pieces(partition) == ["0-9=a", "10-19=b"])
    }

    /// Against a brute-force first match over a small space, many random rule lists.
    @Test func matchesBruteForceFirstMatch() {
        var random = SplitMix64(seed: 4)
        for _ in 0..<300 {
            var partition = IntervalPartition<UInt32, Int>()
            var ranges: [(UInt32, UInt32)] = []
            for value in 0..<Int.random(in: 1...12, using: &random) {
                let lower = UInt32.random(in: 0...63, using: &random)
                let upper = UInt32.random(in: lower...min(lower + 40, 63), using: &random)
                ranges.append((lower, upper))
                partition.add(lower, upper, value % 4)
            }
            let merged = partition.merged
            for point in UInt32(0)...63 {
                let expected = ranges.firstIndex { ($0.0...$0.1).contains(point) }.map { $0 % 4 }
                let actual = merged.first { ($0.lower...$0.upper).contains(point) }?.value
                #expect(actual == expected, "point \(point) in \(ranges)")
            }
            // Disjoint, sorted, and no two touching neighbours share a value.
            for (left, right) in zip(merged, merged.dropFirst()) {
                #expect(left.upper < right.lower)
                #expect(!(left.upper + 1 == right.lower && left.value == right.value))
            }
        }
    }
}

// MARK: - PolicyCompiler

/// How rules become `traffic_rules`: one rank map per shape of rule (sources, destinations,
/// ports, several criteria…), first match resolved per map, and passed-over rules left out.
@Suite struct PolicyCompilerTests {
    @Test func noRulesMeansNoPolicyChainAndNoJump() throws {
        let state = try plan(threeWanPolicyYAML)
        #expect(state.trafficRules.isEmpty)
        #expect(!state.ruleset.chains.contains { $0.name == "traffic_rules" })
        #expect(try !state.chain("prerouting").rules.contains { $0.text.contains("traffic_rules") })
        #expect(try !state.chain("output").rules.contains { $0.text.contains("traffic_rules") })
    }

    @Test func sourceRulesShareOneMap() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                rules:
                  - {name: a, source: 10.0.0.50, use: [isp1]}
                  - {name: b, source: [10.0.1.0/24, 10.0.2.0/24], use: [isp2]}
                  - {name: c, source: 10.0.0.0/24, use: [isp3]}
                """)
        #expect(
            state.trafficRules == [
                "ct mark set 0x00000007", "ct mark set ip saddr map @rules_src", "ct mark vmap @rule_verdicts",
                "ct mark set 0x00000000",
            ])
        #expect(state.policyMapNames == ["rules_src"])
        let map = try state.map("rules_src")
        // The first lookup meets "no match" (0x7: three bits hold every rank), so it needs no rank in its key.
        #expect(map.type == "typeof ip saddr : ct mark" && map.isInterval)
        #expect(map.comment == "rules \"a\" … \"c\" (3)")
        #expect(
            try state.verdictLines("rules_src") == [
                "10.0.0.0-10.0.0.49 : goto choose_isp3",
                "10.0.0.50 : goto choose_isp1",
                "10.0.0.51-10.0.0.255 : goto choose_isp3",
                "10.0.1.0-10.0.2.255 : goto choose_isp2",
            ])
        #expect(try state.map("rule_verdicts").type == "typeof ct mark : verdict")
    }

    @Test func rulesOfAlternatingKindsShareTheirShapesMaps() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                rules:
                  - {name: s1, source: 10.0.0.50, use: [isp1]}
                  - {name: s2, source: 10.0.0.51, use: [isp2]}
                  - {name: d1, destination: 192.0.2.0/24, use: [isp3]}
                  - {name: p1, protocol: tcp, destination_port: [80, 443], use: [isp2]}
                  - {name: p2, protocol: udp, destination_port: 27015-27030, use: [isp1]}
                  - {name: s3, source: 10.0.0.52, use: [isp3]}
                """)
        #expect(
            state.trafficRules == [
                "ct mark set 0x00000007",
                "ct mark set meta l4proto . th dport map @rules_port",
                "ct mark set ip daddr . ct mark map @rules_dst",
                "ct mark set ip saddr . ct mark map @rules_src",
                "ct mark vmap @rule_verdicts",
                "ct mark set 0x00000000",
            ])
        #expect(try state.map("rules_src").type == "typeof ip saddr . ct mark : ct mark")
        #expect(
            try state.verdictLines("rules_src") == [
                "10.0.0.50 : goto choose_isp1", "10.0.0.51 : goto choose_isp2", "10.0.0.52 : goto choose_isp3",
            ])
        #expect(try state.verdictLines("rules_dst") == ["192.0.2.0/24 : goto choose_isp3"])
        let ports = try state.map("rules_port")
        #expect(ports.type == "typeof meta l4proto . th dport : ct mark" && ports.isInterval)
        #expect(
            try state.verdictLines("rules_port") == [
                "tcp . 80 : goto choose_isp2", "tcp . 443 : goto choose_isp2", "udp . 27015-27030 : goto choose_isp1",
            ])
        #expect(try state.map("rules_src").comment == "rules \"s1\" … \"s3\" (3)")
    }

    @Test func portRulesResolveOverlapsPerProtocol() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                rules:
                  - {name: narrow, protocol: tcp, destination_port: 8080, use: [isp1]}
                  - {name: wide, protocol: tcp, destination_port: 8000-8999, use: [isp2]}
                  - {name: same-on-udp, protocol: udp, destination_port: 8000-8999, use: [isp3]}
                  - {name: touching, protocol: tcp, destination_port: 9000-9100, use: [isp2]}
                """)
        // Touching pieces of different rules stay apart: their ranks differ.
        #expect(
            try state.verdictLines("rules_port") == [
                "tcp . 8000-8079 : goto choose_isp2",
                "tcp . 8080 : goto choose_isp1",
                "tcp . 8081-8999 : goto choose_isp2",
                "tcp . 9000-9100 : goto choose_isp2",
                "udp . 8000-8999 : goto choose_isp3",
            ])
    }

    @Test func multiCriteriaRulesAreMapsOfTheirShape() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                sets:
                  cdn: [198.51.100.0/24]
                rules:
                  - {name: s1, source: 10.0.0.50, use: [isp1]}
                  - {name: web-from-office, source: [10.0.1.0/24, 10.0.2.0/25], protocol: tcp, destination_port: [80, 443, 8000-8080], use: [isp2]}
                  - {name: s2, source: 10.0.0.51, use: [isp2]}
                  - {name: cdn, destination_set: cdn, use: [isp3]}
                  - {name: icmp, protocol: icmp, use: [isp1]}
                  - {name: tcp-only, protocol: tcp, use: [isp2]}
                  - {name: office-to-dc, source: 10.0.1.0/24, destination: 172.16.0.0/12, use: [main]}
                  - {name: everything, use: [isp3]}
                """)
        #expect(
            state.trafficRules == [
                "ct mark set 0x0000000f",
                "ct mark set ip saddr . meta l4proto . th dport map @rules_src_port",
                "ct mark set ct mark map @rules_any",
                "ct mark set meta l4proto . ct mark map @rules_proto",
                "ct mark set ip saddr . ct mark map @rules_src",
                "ct mark set ip saddr . ip daddr . ct mark map @rules_src_dst",
                "ct mark > 0x00000004 ip daddr @dst_cdn ct mark set 0x00000004",
                "ct mark vmap @rule_verdicts",
                "ct mark set 0x00000000",
            ])
        // The product of the sources (10.0.1.0/24 and 10.0.2.0/25 touch: one range) and 3 port ranges.
        #expect(
            try state.verdictLines("rules_src_port") == [
                "10.0.1.0-10.0.2.127 . tcp . 80 : goto choose_isp2", "10.0.1.0-10.0.2.127 . tcp . 443 : goto choose_isp2",
                "10.0.1.0-10.0.2.127 . tcp . 8000-8080 : goto choose_isp2",
            ])
        #expect(try state.verdictLines("rules_proto") == ["icmp : goto choose_isp1", "tcp : goto choose_isp2"])
        #expect(try state.verdictLines("rules_src_dst") == ["10.0.1.0/24 . 172.16.0.0/12 : goto choose_main"])
        #expect(try state.verdictLines("rules_any") == ["0x00000009-0x0000000f : goto choose_isp3"])
        // A set rule is its own pipeline rule, named in its comment.
        #expect(try state.chain("traffic_rules").rules[6].comment == "rule \"cdn\"")
        // One action chain per distinct verdict, each cleaning the scratch ct mark first.
        #expect(
            try ["rule_action_1", "rule_action_2", "rule_action_3", "rule_action_4"].map { try state.chain($0).rules.map(\.text) }
                == [
                    ["ct mark set 0x00000000", "jump use_1"], ["ct mark set 0x00000000", "jump use_2"],
                    ["ct mark set 0x00000000", "jump use_3"], ["ct mark set 0x00000000", "goto choose_main"],
                ])
        #expect(try state.map("rule_verdicts").lines.count == 8)
        #expect(
            try ["use_1", "use_2", "use_3"].map { try state.chain($0).rules.map(\.text) }
                == [["jump choose_isp1", "accept"], ["jump choose_isp2", "accept"], ["jump choose_isp3", "accept"]])
    }

    @Test func ruleWhoseWansAreAllUnusableIsPassedOverAndTheNextRuleTakesItsKeys() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: pinned, source: 10.0.0.5, use: [isp1]}
                  - {name: lan, source: 10.0.0.0/24, use: [isp2]}
                """
        let allUp = try plan(yaml)
        #expect(
            try allUp.verdictLines("rules_src") == [
                "10.0.0.0-10.0.0.4 : goto choose_isp2", "10.0.0.5 : goto choose_isp1", "10.0.0.6-10.0.0.255 : goto choose_isp2",
            ])
        #expect(try allUp.chain("use_1").comment?.hasPrefix("use: [isp1]") == true)
        let isp1Down = try plan(yaml, availability: WanAvailability(unavailable: ["isp1"]))
        // The passed-over rule's elements leave the map; the rule it shadowed takes its keys.
        #expect(try isp1Down.verdictLines("rules_src") == ["10.0.0.0/24 : goto choose_isp2"])
        #expect(try isp1Down.chain("use_1").rules.isEmpty)
        // The same with the link down instead of the health check.
        let isp1LinkDown = try plan(yaml, linksDown: ["wan0"])
        #expect(try isp1LinkDown.verdictLines("rules_src") == isp1Down.verdictLines("rules_src"))
        // Every rule unusable: the maps stay declared, empty; every connection goes to the split.
        let bothDown = try plan(yaml, availability: WanAvailability(unavailable: ["isp1", "isp2"]))
        #expect(bothDown.trafficRules == allUp.trafficRules)
        #expect(try bothDown.map("rules_src").elements.isEmpty)
        #expect(try bothDown.chain("use_1").rules.isEmpty && bothDown.chain("use_2").rules.isEmpty)
    }

    @Test func passedOverMultiCriteriaRuleLeavesItsLayerAndTheRestStays() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: s1, source: 10.0.0.50, use: [isp1]}
                  - {name: web, source: 10.0.0.0/24, protocol: tcp, destination_port: 443, use: [isp3]}
                  - {name: s2, source: 10.0.0.51, use: [isp2]}
                """
        let state = try plan(yaml, availability: WanAvailability(unavailable: ["isp3"]))
        #expect(try state.map("rules_src_port").elements.isEmpty)
        #expect(try state.chain("use_2").rules.isEmpty)
        #expect(try state.verdictLines("rules_src") == ["10.0.0.50 : goto choose_isp1", "10.0.0.51 : goto choose_isp2"])
        #expect(try plan(yaml).map("rules_src") == state.map("rules_src"))
        #expect(try plan(yaml).verdictLines("rules_src_port") == ["10.0.0.0/24 . tcp . 443 : goto choose_isp3"])
        #expect(try plan(yaml).chain("use_2").rules.map(\.text) == ["jump choose_isp3", "accept"])
    }

    @Test func fallbackWithinUseFollowsAvailability() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: r, destination: 192.0.2.0/24, use: [isp1, isp2, isp3]}
                """
        #expect(try plan(yaml).verdictLines("rules_dst") == ["192.0.2.0/24 : goto choose_isp1"])
        #expect(
            try plan(yaml, availability: WanAvailability(unavailable: ["isp1"])).verdictLines("rules_dst") == [
                "192.0.2.0/24 : goto choose_isp2"
            ])
        #expect(
            try plan(yaml, availability: WanAvailability(unavailable: ["isp1", "isp2"])).verdictLines("rules_dst") == [
                "192.0.2.0/24 : goto choose_isp3"
            ])
        // Only the use_N chain changed.
        #expect(
            try plan(yaml, availability: WanAvailability(unavailable: ["isp1"])).map("rules_dst") == plan(yaml).map("rules_dst"))
    }

    @Test func balanceMainAndDropBecomeReturnGotoChooseMainAndDrop() throws {
        let yaml =
            threeWanPolicyYAML + """
                rules:
                  - {name: b, source: 10.0.0.1, use: [balance]}
                  - {name: m, source: 10.0.0.2, use: [main]}
                  - {name: d, source: 10.0.0.3, use: [drop]}
                  - {name: fb, source: 10.0.0.4, use: [isp1, balance]}
                  - {name: fm, source: 10.0.0.5, use: [isp1, main]}
                  - {name: fd, source: 10.0.0.6, use: [isp1, drop]}
                """
        #expect(
            try plan(yaml).verdictLines("rules_src") == [
                "10.0.0.1 : return", "10.0.0.2 : goto choose_main", "10.0.0.3 : drop",
                "10.0.0.4 : goto choose_isp1", "10.0.0.5 : goto choose_isp1", "10.0.0.6 : goto choose_isp1",
            ])
        // Lists that end in balance, main or drop never pass over: entered by goto, so `return` reaches the split.
        #expect(
            try plan(yaml).chain("rule_action_4").rules.map(\.text) == ["ct mark set 0x00000000", "goto use_1"])
        let isp1Down = try plan(yaml, availability: WanAvailability(unavailable: ["isp1"]))
        #expect(
            try isp1Down.verdictLines("rules_src") == [
                "10.0.0.1 : return", "10.0.0.2 : goto choose_main", "10.0.0.3 : drop",
                "10.0.0.4 : return", "10.0.0.5 : goto choose_main", "10.0.0.6 : drop",
            ])
        #expect(try isp1Down.map("rules_src") == plan(yaml).map("rules_src"))
    }

    @Test func policyChainIsJumpedFromPreroutingForTheLanAndFromOutputForTheWans() throws {
        let state = try plan(threeWanPolicyYAML + "rules:\n  - {name: r, destination: 192.0.2.0/24, use: [isp1]}\n")
        let prerouting = try state.chain("prerouting").rules.map(\.text)
        let jump = try #require(prerouting.firstIndex(of: "iifname { \"lan0\" } jump traffic_rules"))
        // After the router/broadcast and non-WAN-destination exceptions and before the split,
        // which a chosen mark skips.
        #expect(prerouting[jump - 2].contains("fib daddr type { local, broadcast, multicast } return"))
        #expect(prerouting[jump - 1] == "iifname { \"lan0\" } fib daddr oifname != { \"wan0\", \"wan1\", \"wan2\" } return")
        #expect(prerouting[jump + 1] == "meta mark & 0xff000000 != 0 return")
        #expect(prerouting[jump + 2].contains("vmap @new_connection_split"))
        let output = try state.chain("output").rules.map(\.text)
        let outputJump = try #require(output.firstIndex(of: "oifname { \"wan0\", \"wan1\", \"wan2\" } jump traffic_rules"))
        #expect(output[outputJump + 1] == "meta mark & 0xff000000 != 0 return")
        #expect(output[outputJump + 2].contains("vmap @router_connection_split"))
    }

    @Test func mainMarkIsTheWholeMaskAndHasItsOwnIpRuleBeforeTheFallback() throws {
        let state = try plan(threeWanPolicyYAML + "rules:\n  - {name: r, destination: 172.16.0.0/12, use: [main]}\n")
        let rules = state.policyRules
        #expect(rules.map(\.priority) == Array(10000...10005))
        #expect(rules[4] == PolicyRule(priority: 10004, fwmark: 0xff00_0000, fwmask: 0xff00_0000, table: 254))
        #expect(rules[5].fwmark == nil && rules[5].table == 200)
        #expect(
            try state.chain("choose_main").rules.map(\.text) == [
                "meta mark set meta mark & 0x00ffffff | 0xff000000", "ct mark set ct mark & 0x00ffffff | 0xff000000",
            ])
        #expect(try state.map("wan_by_ct_mark").lines.last == "0xff000000 : goto restore_main")
        // The WAN marks never reach the all-ones value.
        #expect(!state.wans.contains { $0.mark == 0xff00_0000 })
    }

    @Test func mainMarkFollowsACustomMask() throws {
        let state = try plan(threeWanPolicyYAML + "kernel: {mark_mask: 0x0000f000, first_rule_priority: 500}\n")
        #expect(
            state.policyRules.first { $0.table == 254 && $0.fwmark != nil }
                == PolicyRule(priority: 504, fwmark: 0xf000, fwmask: 0xf000, table: 254))
    }

    @Test func destinationSetsAreMergedIntoDisjointRangesAndLookedUpByTheirRule() throws {
        let yaml =
            threeWanPolicyYAML + """
                sets:
                  cdn: [10.0.0.128/25, 192.0.2.7, 10.0.0.0/25, 10.0.0.5, 192.0.2.0/24, 10.0.1.0/25, 203.0.113.1, 203.0.113.3]
                  empty: []
                  all: [0.0.0.0/0, 10.0.0.0/8]
                rules:
                  - {name: cdn, destination_set: cdn, use: [isp2]}
                  - {name: nothing, destination_set: empty, use: [isp1]}
                  - {name: rest, destination_set: all, protocol: tcp, use: [isp3]}
                """
        let state = try plan(yaml)
        #expect(state.ruleset.sets.map(\.name) == ["dst_cdn", "dst_empty", "dst_all"])
        let cdn = try #require(state.ruleset.sets.first)
        #expect(cdn.type == "ipv4_addr" && cdn.isInterval)
        #expect(cdn.elements == ["10.0.0.0-10.0.1.127", "192.0.2.0/24", "203.0.113.1", "203.0.113.3"])
        #expect(state.ruleset.sets[1].elements.isEmpty)
        #expect(state.ruleset.sets[2].elements == ["0.0.0.0/0"])
        // One pipeline rule per set rule: "worse than R, and in the set: R". An empty set matches nothing.
        #expect(
            state.trafficRules == [
                "ct mark set 0x00000007",
                "ct mark > 0x00000001 ip daddr @dst_cdn ct mark set 0x00000001",
                "ct mark > 0x00000003 ip daddr @dst_all meta l4proto tcp ct mark set 0x00000003",
                "ct mark vmap @rule_verdicts", "ct mark set 0x00000000",
            ])
        // A set rule whose WANs are all down leaves the chain; the set stays.
        let isp2Down = try plan(yaml, availability: WanAvailability(unavailable: ["isp2"]))
        #expect(!isp2Down.trafficRules.contains { $0.contains("@dst_cdn") })
        #expect(isp2Down.ruleset.sets == state.ruleset.sets)
    }

    @Test func rangeTextPrefersPrefixes() {
        #expect(PolicyCompiler.rangeText(0x0a00_0000, 0x0a00_00ff) == "10.0.0.0/24")
        #expect(PolicyCompiler.rangeText(0x0a00_0001, 0x0a00_0001) == "10.0.0.1")
        #expect(PolicyCompiler.rangeText(0x0a00_0001, 0x0a00_0002) == "10.0.0.1-10.0.0.2")
        // Power-of-two size but not aligned: a range, not a prefix.
        #expect(PolicyCompiler.rangeText(0x0a00_0080, 0x0a00_017f) == "10.0.0.128-10.0.1.127")
        #expect(PolicyCompiler.rangeText(0, UInt32.max) == "0.0.0.0/0")
    }
}

// MARK: - Sticky

/// `sticky: source`: 1024 buckets handed to WANs by weighted rendezvous hashing.
@Suite struct StickyAssignmentTests {
    static let threeWans: [(wanIndex: Int, weight: Int, name: String)] = [(0, 5, "isp1"), (1, 3, "isp2"), (2, 2, "isp3")]

    func counts(_ buckets: [Int]) -> [Int: Int] {
        buckets.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    @Test func bucketsSpreadRoughlyByWeight() {
        let buckets = StickyAssignment.assign(Self.threeWans)
        #expect(buckets.count == StickyAssignment.bucketCount)
        let perWan = counts(buckets)
        for (index, share) in [(0, 0.5), (1, 0.3), (2, 0.2)] {
            // Four binomial standard deviations: the assignment is fixed, so this either always
            // holds or never does.
            let expected = 1024 * share, tolerance = 4 * (1024 * share * (1 - share)).squareRoot()
            #expect(abs(Double(perWan[index, default: 0]) - expected) <= tolerance, "\(perWan)")
        }
        let even = counts(StickyAssignment.assign([(0, 1, "a"), (1, 1, "b")]))
        #expect(abs(even[0, default: 0] - 512) <= 64, "\(even)")
    }

    @Test func removingAWanMovesExactlyItsBucketsAndAddingItBackRestoresThem() {
        let before = StickyAssignment.assign(Self.threeWans)
        let without = StickyAssignment.assign(Self.threeWans.filter { $0.name != "isp2" })
        for bucket in before.indices {
            if before[bucket] == 1 {
                #expect(without[bucket] != 1)
            } else {
                #expect(without[bucket] == before[bucket], "bucket \(bucket) moved from \(before[bucket]) to \(without[bucket])")
            }
        }
        // isp2's buckets are shared by the other two, still roughly 5:2.
        let moved = before.indices.filter { before[$0] == 1 }.map { without[$0] }
        #expect(Set(moved) == [0, 2])
        #expect(StickyAssignment.assign(Self.threeWans) == before)
    }

    @Test func bucketsFollowTheWanNameNotItsPosition() {
        // Renumbering (a WAN inserted before) keeps every client's WAN by name.
        let before = StickyAssignment.assign(Self.threeWans).map { Self.threeWans[$0].name }
        let shifted: [(wanIndex: Int, weight: Int, name: String)] =
            [(wanIndex: 0, weight: 1, name: "new")]
            + Self.threeWans.map { (wanIndex: $0.wanIndex + 1, weight: $0.weight, name: $0.name) }
        let after = StickyAssignment.assign(shifted)
        for bucket in before.indices where after[bucket] != 0 {
            #expect(shifted[after[bucket]].name == before[bucket])
        }
    }

    @Test func weightZeroCandidatesGetNoBuckets() {
        let buckets = StickyAssignment.assign([(0, 0, "standby"), (1, 1, "isp1")])
        #expect(Set(buckets) == [1])
    }

    /// The kernel's `jhash ip saddr mod 1024 seed 0x0b4a1d5e` for these addresses, read from a
    /// real nft rule (`meta mark set jhash …`) and from an independent port of `jhash()`.
    @Test(arguments: [
        ("10.0.0.1", 490), ("10.0.0.50", 348), ("10.77.0.100", 905), ("192.168.1.2", 269), ("172.16.5.9", 315),
        ("0.0.0.0", 857), ("255.255.255.255", 44),
    ])
    func bucketMatchesTheKernelsJhash(_ text: String, _ expected: Int) throws {
        let address = try #require(IPv4Address(text))
        #expect(StickyAssignment.bucket(for: address) == expected)
        #expect(StickyAssignment.bucket(for: address) == StickyAssignment.bucket(for: address))
    }

    @Test func bucketsOfManyAddressesStayInRangeAndSpread() {
        var seen = Set<Int>()
        for value in UInt32(0x0a00_0000)..<0x0a00_1000 {
            let bucket = StickyAssignment.bucket(for: IPv4Address(value))
            #expect((0..<StickyAssignment.bucketCount).contains(bucket))
            seen.insert(bucket)
        }
        // 4096 addresses over 1024 buckets leave about 1024 / e^4 ≈ 19 empty.
        #expect(seen.count > 950)
    }

    @Test func stickyMapCoversEveryBucketOnceAndReplacesTheRandomSplitForTheLan() throws {
        let state = try plan("sticky: source\n" + threeWanPolicyYAML)
        let map = try state.map("sticky_split")
        #expect(map.type == "typeof numgen random mod 1024 : verdict" && map.isInterval)
        let ranges = try stickyRanges(map)
        #expect(ranges.first?.lower == 0 && ranges.last?.upper == 1023)
        for (left, right) in zip(ranges, ranges.dropFirst()) {
            #expect(left.upper + 1 == right.lower)
            #expect(left.wan != right.wan, "neighbouring ranges of one WAN should be merged")
        }
        let prerouting = try state.chain("prerouting").rules.map(\.text)
        #expect(prerouting.last == "iifname { \"lan0\" } jhash ip saddr mod 1024 seed 0x0b4a1d5e vmap @sticky_split")
        #expect(!prerouting.contains { $0.contains("@new_connection_split") })
        // The router's own connections are not sticky.
        #expect(try state.chain("output").rules.contains { $0.text.contains("@router_connection_split") })
    }

    @Test func stickyMapDropsAnUnusableWansBucketsOnly() throws {
        let allUp = try bucketWans(try plan("sticky: source\n" + threeWanPolicyYAML))
        let isp2Down = try bucketWans(
            try plan("sticky: source\n" + threeWanPolicyYAML, availability: WanAvailability(unavailable: ["isp2"])))
        for bucket in 0..<1024 {
            if allUp[bucket] == "isp2" { #expect(isp2Down[bucket] != "isp2") } else { #expect(isp2Down[bucket] == allUp[bucket]) }
        }
    }
}

/// The ranges of a `sticky_split` map: "lo-hi : goto choose_wan" or "n : goto choose_wan".
func stickyRanges(_ map: NftablesMap) throws -> [(lower: Int, upper: Int, wan: String)] {
    try map.elements.map { element in
        let bounds = element.key.split(separator: "-").compactMap { Int($0) }
        let wan = try #require(element.value.split(separator: "_", maxSplits: 1).last.map(String.init))
        return (bounds[0], bounds.last!, wan)
    }
}

/// The WAN name of each of the 1024 buckets in a plan's `sticky_split`.
func bucketWans(_ state: DesiredState) throws -> [String] {
    var result = Array(repeating: "", count: 1024)
    for range in try stickyRanges(try state.map("sticky_split")) {
        for bucket in range.lower...range.upper { result[bucket] = range.wan }
    }
    return result
}

// MARK: - FlowExplainer

/// `braid explain`: the same decisions as the compiled ruleset, in words.
@Suite struct FlowExplainerTests {
    static let yaml =
        threeWanPolicyYAML + """
            sets:
              cdn: [198.51.100.0/24]
            rules:
              - {name: gaming-pc, source: 10.0.0.50, use: [isp1, isp2]}
              - {name: strict, source: 10.0.0.60, use: [isp3, drop]}
              - {name: office, destination: 172.16.0.0/12, use: [main]}
              - {name: dns, protocol: udp, destination_port: 53, use: [isp2]}
              - {name: cdn, destination_set: cdn, use: [isp3]}
              - {name: lan-default, source: 10.0.0.0/24, use: [isp1]}
            port_forwards:
              - {name: web, wans: [isp2], port: 8080, to: [10.0.0.2:80, 10.0.0.3:80@3]}
            """

    func explain(
        _ from: String, _ to: String, _ transport: TransportProtocol? = nil, _ port: UInt16? = nil,
        yaml: String = Self.yaml, unavailable: Set<String> = []
    ) throws -> FlowExplanation {
        let config = try ConfigLoader.parse(yaml)
        let flow = Flow(
            source: try #require(IPv4Address(from)), destination: try #require(IPv4Address(to)), transport: transport,
            destinationPort: port)
        return FlowExplainer.explain(
            flow, config: config, host: .having(interfacesOf: config), availability: WanAvailability(unavailable: unavailable))
    }

    @Test func lanSubnetsAndTheRouterItselfTakeNoWan() throws {
        let config = try ConfigLoader.parse(
            Self.yaml.replacingOccurrences(of: "interfaces: [lan0]", with: "interfaces: [lan0, guest0]"))
        var host = HostFacts.having(interfacesOf: config)
        host.interfaces["lan0"] = InterfaceFacts(
            name: "lan0", addresses: [InterfaceAddress(address: try #require(IPv4Address("10.0.0.1")), prefixLength: 24)])
        host.interfaces["guest0"] = InterfaceFacts(
            name: "guest0", addresses: [InterfaceAddress(address: try #require(IPv4Address("10.1.0.1")), prefixLength: 24)])
        func explain(_ to: String) throws -> FlowExplanation {
            // 10.0.0.60 is "strict" (isp3, else drop): no rule may touch its LAN traffic.
            FlowExplainer.explain(
                Flow(source: try #require(IPv4Address("10.0.0.60")), destination: try #require(IPv4Address(to))),
                config: config, host: host)
        }
        #expect(try explain("10.1.0.7").outcome == "no WAN: main routes it to guest0")
        #expect(try explain("10.0.0.1").outcome == "no WAN: addressed to the router itself")
        #expect(try explain("9.9.9.9").outcome == "leaves by isp3 (rule 2 \"strict\")")
    }

    @Test func firstMatchingRuleDecides() throws {
        // 10.0.0.50 also matches lan-default and (with udp 53) dns, but gaming-pc comes first.
        let result = try explain("10.0.0.50", "9.9.9.9", .udp, 53)
        #expect(result.outcome == "leaves by isp1 (rule 1 \"gaming-pc\")")
        #expect(result.wans == ["isp1"])
        #expect(result.steps == ["every WAN is usable", "rule 1 \"gaming-pc\": matches; isp1 is its first usable choice"])
    }

    @Test func fallsBackToTheSecondWanWhenTheFirstIsUnavailable() throws {
        let result = try explain("10.0.0.50", "9.9.9.9", unavailable: ["isp1"])
        #expect(result.outcome == "leaves by isp2 (rule 1 \"gaming-pc\")")
        #expect(
            result.steps == [
                "not usable now: isp1", "rule 1 \"gaming-pc\": matches, but isp1 is not usable",
                "rule 1 \"gaming-pc\": matches; isp2 is its first usable choice",
            ])
    }

    @Test func fallsThroughToTheNextRuleWhenNoWanOfTheRuleIsUsable() throws {
        let result = try explain("10.0.0.50", "198.51.100.7", unavailable: ["isp1", "isp2"])
        #expect(result.steps.contains("rule 1 \"gaming-pc\": none of its WANs is usable; trying the next rule"))
        #expect(result.outcome == "leaves by isp3 (rule 5 \"cdn\")")
    }

    @Test func dropWhenTheRulesWansAreUnusable() throws {
        #expect(try explain("10.0.0.60", "9.9.9.9").outcome == "leaves by isp3 (rule 2 \"strict\")")
        let result = try explain("10.0.0.60", "9.9.9.9", unavailable: ["isp3"])
        #expect(result.outcome == "dropped (rule 2 \"strict\")")
        #expect(result.wans.isEmpty)
    }

    @Test func mainLeavesTheChoiceToTheMainTable() throws {
        let result = try explain("10.0.0.70", "172.20.1.1", .tcp, 22)
        #expect(result.outcome == "no WAN mark: the main routing table decides (rule 3 \"office\")")
        #expect(result.wans.isEmpty)
    }

    @Test func nonMatchesAreExplained() throws {
        let result = try explain("10.0.1.9", "8.8.8.8", .tcp, 53)
        #expect(result.steps.contains("rule 1 \"gaming-pc\": no match (source 10.0.1.9 is not in 10.0.0.50/32)"))
        #expect(result.steps.contains("rule 3 \"office\": no match (destination 8.8.8.8 is not in 172.16.0.0/12)"))
        #expect(result.steps.contains("rule 4 \"dns\": no match (protocol is tcp, not udp)"))
        #expect(result.steps.contains("rule 5 \"cdn\": no match (destination 8.8.8.8 is not in set cdn)"))
        #expect(result.steps.contains("no rule decided"))
        #expect(result.outcome == "balanced: isp1 50%, isp2 30%, isp3 20% (no rule)")
        #expect(result.wans == ["isp1", "isp2", "isp3"])
    }

    @Test func balancedShareLeavesOutUnusableWans() throws {
        let result = try explain("10.0.1.9", "8.8.8.8", unavailable: ["isp1"])
        #expect(result.outcome == "balanced: isp2 60%, isp3 40% (no rule)")
    }

    @Test func portForwardOnAWanAddress() throws {
        // HostFacts.having gives isp2's interface 198.51.100.2.
        let result = try explain("203.0.113.99", "198.51.100.2", .tcp, 8080)
        #expect(
            result.outcome
                == "forwarded to 10.0.0.2:80, 10.0.0.3:80@3 (port forward \"web\"); replies leave by the WAN it arrived on")
        #expect(result.wans.isEmpty)
        // Another WAN's address, another port, or UDP: not forwarded.
        #expect(try !explain("203.0.113.99", "192.0.2.2", .tcp, 8080).outcome.hasPrefix("forwarded"))
        #expect(try !explain("203.0.113.99", "198.51.100.2", .tcp, 8081).outcome.hasPrefix("forwarded"))
        #expect(try !explain("203.0.113.99", "198.51.100.2", .udp, 8080).outcome.hasPrefix("forwarded"))
    }

    @Test func stickyOutcomeIsTheWanOfTheClientsBucketInThePlannedMap() throws {
        let yaml =
            "sticky: source\n" + threeWanPolicyYAML
            + "rules:\n  - {name: dns, protocol: udp, destination_port: 53, use: [isp2, balance]}\n"
        for unavailable in [Set<String>(), ["isp1"]] {
            let config = try ConfigLoader.parse(yaml)
            let host = HostFacts.having(interfacesOf: config)
            let availability = WanAvailability(unavailable: unavailable)
            let buckets = try bucketWans(try GatewayPlanner.plan(config, host: host, availability: availability))
            for value in UInt32(0x0a00_0000)..<0x0a00_0100 {
                let source = IPv4Address(value)
                let bucket = StickyAssignment.bucket(for: source)
                let explained = FlowExplainer.explain(
                    Flow(source: source, destination: IPv4Address(0x0808_0808), transport: .tcp, destinationPort: 443),
                    config: config, host: host, availability: availability)
                #expect(explained.wans == [buckets[bucket]], "\(source) → bucket \(bucket)")
                #expect(explained.outcome == "leaves by \(buckets[bucket]) (sticky, no rule)")
                #expect(
                    explained.steps.last
                        == "sticky: source \(source) hashes to bucket \(bucket) of 1024, which belongs to \(buckets[bucket])")
            }
            // A rule's `balance` lands on the sticky split too.
            let dns = FlowExplainer.explain(
                Flow(
                    source: IPv4Address(0x0a00_0001), destination: IPv4Address(0x0808_0808), transport: .udp, destinationPort: 53),
                config: config, host: host, availability: WanAvailability(unavailable: unavailable.union(["isp2"])))
            #expect(dns.outcome.hasSuffix("(sticky, rule 1 \"dns\")"), "\(dns.outcome)")
        }
    }

    /// Random rule lists of the kinds that compile to maps: the explainer's answer equals a walk
    /// of the compiled `traffic_rules` maps, for random flows and random WAN availability.
    @Test func explainerAgreesWithTheCompiledMaps() throws {
        var random = SplitMix64(seed: 2024)
        let targets: [[RuleTarget]] = [
            [.wan("isp1")], [.wan("isp2")], [.wan("isp1"), .wan("isp2")], [.wan("isp3"), .balance],
            [.main], [.drop], [.wan("isp1"), .drop], [.balance], [.wan("isp2"), .main],
        ]
        let base = try ConfigLoader.parse(threeWanPolicyYAML)
        for round in 0..<150 {
            var config = base
            config.rules = (0..<Int.random(in: 1...8, using: &random)).map { index in
                func prefixes() -> [IPPrefix] {
                    (0..<Int.random(in: 1...2, using: &random)).map { _ in
                        let length = Int.random(in: 26...32, using: &random)
                        let value = (0x0a00_0000 | UInt32.random(in: 0...255, using: &random)) & IPv4Prefix.mask(length)
                        return IPPrefix(IPv4Prefix(address: IPv4Address(value), length: length)!)
                    }
                }
                let use = targets[Int.random(in: 0..<targets.count, using: &random)]
                switch Int.random(in: 0...2, using: &random) {
                case 0: return TrafficRuleConfig(name: "r\(index)", sources: prefixes(), use: use)
                case 1: return TrafficRuleConfig(name: "r\(index)", destinations: prefixes(), use: use)
                default:
                    let first = UInt16.random(in: 1...40, using: &random)
                    return TrafficRuleConfig(
                        name: "r\(index)", transport: Bool.random(using: &random) ? .tcp : .udp,
                        destinationPorts: [PortRange(first, UInt16.random(in: first...min(first + 10, 40), using: &random))],
                        use: use)
                }
            }
            let unavailable = Set(["isp1", "isp2", "isp3"].filter { _ in Int.random(in: 0..<3, using: &random) == 0 })
            let host = HostFacts.having(interfacesOf: config)
            let state = try GatewayPlanner.plan(config, host: host, availability: WanAvailability(unavailable: unavailable))
            for _ in 0..<40 {
                let flow = Flow(
                    source: IPv4Address(0x0a00_0000 | UInt32.random(in: 0...255, using: &random)),
                    destination: IPv4Address(0x0a00_0000 | UInt32.random(in: 0...255, using: &random)),
                    transport: Bool.random(using: &random) ? .tcp : .udp,
                    destinationPort: UInt16.random(in: 1...40, using: &random))
                let explained = FlowExplainer.explain(
                    flow, config: config, host: host, availability: WanAvailability(unavailable: unavailable))
                let verdict = try RankPipelineWalker(state).verdict(flow)
                let context =
                    "round \(round), \(flow), unavailable \(unavailable.sorted()): maps say \(verdict), explain says \(explained.outcome)\n\(config.rules)"
                switch verdict {
                case "return": #expect(explained.outcome.hasPrefix("balanced"), "\(context)")
                case "goto choose_main": #expect(explained.outcome.hasPrefix("no WAN mark"), "\(context)")
                case "drop": #expect(explained.outcome.hasPrefix("dropped"), "\(context)")
                default:
                    #expect(verdict == "goto choose_\(explained.wans.first ?? "?")" && explained.wans.count == 1, "\(context)")
                }
            }
        }
    }
}

// MARK: - Port forwards

/// DNAT rules for port forwards: which addresses they match, and the weighted backend map.
@Suite struct PortForwardPlannerTests {
    func forward(_ targets: [String], ports: PortRange = PortRange(8080, 8080)) throws -> PortForwardConfig {
        PortForwardConfig(
            name: "web", transport: .tcp, ports: ports, targets: try targets.map { try #require(ForwardTarget.parse($0)) })
    }

    @Test func singleTargetIsAPlainDnat() throws {
        #expect(PortForwardPlanner.destination(try forward(["10.0.0.2:80"])) == "10.0.0.2:80")
        #expect(PortForwardPlanner.destination(try forward(["10.0.0.2"], ports: PortRange(27015, 27030))) == "10.0.0.2")
    }

    @Test func weightedTargetsBecomeANumgenMap() throws {
        #expect(
            PortForwardPlanner.destination(try forward(["10.0.0.2:80", "10.0.0.3:80@3"]))
                == "numgen random mod 4 map { 0 : 10.0.0.2 . 80, 1-3 : 10.0.0.3 . 80 }")
        // Weights are reduced by their greatest common divisor.
        #expect(
            PortForwardPlanner.destination(try forward(["10.0.0.2:80@2", "10.0.0.3:8080@4", "10.0.0.4:80@2"]))
                == "numgen random mod 4 map { 0 : 10.0.0.2 . 80, 1-2 : 10.0.0.3 . 8080, 3 : 10.0.0.4 . 80 }")
        // Without ports, the arriving port is kept: addresses only.
        #expect(
            PortForwardPlanner.destination(try forward(["10.0.0.2", "10.0.0.3"], ports: PortRange(5000, 5100)))
                == "numgen random mod 2 map { 0 : 10.0.0.2, 1 : 10.0.0.3 }")
    }

    @Test func hairpinForwardMatchesTheWanAddressesFromEverywhereAndTheRouter() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                port_forwards:
                  - {name: web, wans: [isp1, isp3], port: 8080, to: [10.0.0.2:80, 10.0.0.3:80@3]}
                """)
        let rule =
            "ip daddr { 192.0.2.2, 203.0.113.2 } meta l4proto tcp th dport 8080 dnat ip to numgen random mod 4 map { 0 : 10.0.0.2 . 80, 1-3 : 10.0.0.3 . 80 }"
        #expect(try state.chain("dstnat").rules.map(\.text) == [rule])
        #expect(try state.chain("dstnat").hook?.declaration == "type nat hook prerouting priority dstnat; policy accept;")
        #expect(try state.chain("output_dstnat").rules.map(\.text) == [rule])
        #expect(try state.chain("output_dstnat").hook?.declaration == "type nat hook output priority -100; policy accept;")
        #expect(
            try state.chain("postrouting_nat").rules.first?.text
                == "iifname { \"lan0\" } oifname { \"lan0\" } ct status dnat masquerade")
    }

    @Test func forwardWithoutHairpinMatchesOnlyArrivalsOnItsWans() throws {
        let state = try plan(
            threeWanPolicyYAML + """
                port_forwards:
                  - {name: game, wans: [isp2], protocol: udp, port: 27015-27030, to: 10.0.0.3, hairpin: false}
                """)
        #expect(
            try state.chain("dstnat").rules.map(\.text) == [
                "iifname { \"wan1\" } ip daddr 198.51.100.2 meta l4proto udp th dport 27015-27030 dnat ip to 10.0.0.3"
            ])
        #expect(!state.ruleset.chains.contains { $0.name == "output_dstnat" })
        #expect(try !state.chain("postrouting_nat").rules.contains { $0.text.contains("ct status dnat") })
    }

    @Test func forwardOnAWanWithoutAnAddressIsLeftOut() throws {
        let config = try ConfigLoader.parse(
            threeWanPolicyYAML + "port_forwards:\n  - {name: web, wans: [isp1], port: 80, to: 10.0.0.2}\n")
        var host = HostFacts.having(interfacesOf: config)
        host.interfaces["wan0"]?.addresses = []
        let state = try GatewayPlanner.plan(config, host: host)
        #expect(!state.ruleset.chains.contains { $0.name == "dstnat" })
    }

    @Test func noForwardsMeansNoNatChainsAndNoHairpinRule() throws {
        let state = try plan(threeWanPolicyYAML)
        #expect(!state.ruleset.chains.contains { $0.name == "dstnat" || $0.name == "output_dstnat" })
        #expect(try state.chain("postrouting_nat").rules.allSatisfy { $0.text.hasPrefix("meta nfproto ipv4 oifname") })
    }
}

/// Explainer bugs found in review and fixed.
@Suite struct FlowExplainerRegressionTests {
    /// A forward with `hairpin: false` only DNATs connections arriving on its WANs
    /// (`iifname { WAN } …` in `dstnat`), but FlowExplainer ignores `hairpin` and says a LAN client
    /// using the public address is forwarded; in the kernel it reaches the router itself.
    @Test func lanClientIsNotForwardedByANonHairpinForward() throws {
        let config = try ConfigLoader.parse(
            threeWanPolicyYAML + """
                port_forwards:
                  - {name: game, wans: [isp1], protocol: udp, port: 27015, to: 10.0.0.12, hairpin: false}
                """)
        var host = HostFacts.having(interfacesOf: config)
        host.interfaces["lan0"]?.addresses = [InterfaceAddress(address: IPv4Address(0x0a00_0001), prefixLength: 24)]
        let fromLan = FlowExplainer.explain(
            Flow(
                source: IPv4Address(0x0a00_0005), destination: IPv4Address(0xc000_0202), transport: .udp, destinationPort: 27015),
            config: config, host: host)
        #expect(!fromLan.outcome.hasPrefix("forwarded"), "\(fromLan.outcome)")
        // From the internet it is forwarded, as it should be.
        let fromInternet = FlowExplainer.explain(
            Flow(
                source: IPv4Address(0x0808_0808), destination: IPv4Address(0xc000_0202), transport: .udp, destinationPort: 27015),
            config: config, host: host)
        #expect(fromInternet.outcome.hasPrefix("forwarded to 10.0.0.12"))
    }
}
