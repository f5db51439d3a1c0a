import BraidConfig
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply
@testable import BraidKernel

/// In-place table updates: a change of WAN health or weight rewrites only the split and the
/// `use_N` chains, whatever the size of the policy; anything structural is a full reload.
@Suite struct TableUpdateTests {
    /// `count` rules alternating source and destination pins. Both kinds end their lists with
    /// `balance`, so a health change never passes one over: only a rule whose WANs-only list is
    /// exhausted changes rank-map elements (see `aPassedOverRuleChangesOnlyItsOwnElements`).
    static func alternatingPolicy(count: Int) -> String {
        var lines = ["rules:"]
        for index in 0..<count {
            let address = IPv4Address(0x0a64_0000 + UInt32(index))
            let destination = IPv4Address(0xc612_0000 + UInt32(index))
            lines.append(
                index % 2 == 0
                    ? "  - {name: host-\(index), source: \(address), use: [isp1, balance]}"
                    : "  - {name: site-\(index), destination: \(destination), use: [isp2, balance]}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func config(rules: Int, weights: (Int, Int) = (70, 30), extra: String = "") throws -> Config {
        let yaml = GatewayApplierTests.yaml
            .replacingOccurrences(of: "weight: 70", with: "weight: \(weights.0)")
            .replacingOccurrences(of: "weight: 30", with: "weight: \(weights.1)")
        return try ConfigLoader.parse(yaml + "\n" + alternatingPolicy(count: rules) + extra)
    }

    /// The nft text of the report's load, as `LinuxKernel` would write it.
    static func loadedTransaction(_ report: GatewayApplier.Report) -> String? {
        for step in report.performed {
            if case .loadRuleset(let transaction, _) = step { return NftTransactionRenderer.render(transaction) }
        }
        return nil
    }

    /// Equal tables; on a difference, the first differing line is recorded instead of two whole tables.
    static func same(_ actual: String?, _ expected: String?, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard actual != expected else { return true }
        let left = (actual ?? "<none>").split(separator: "\n", omittingEmptySubsequences: false)
        let right = (expected ?? "<none>").split(separator: "\n", omittingEmptySubsequences: false)
        let index = (0..<min(left.count, right.count)).first { left[$0] != right[$0] } ?? min(left.count, right.count)
        Issue.record(
            "tables differ at line \(index + 1): \(index < left.count ? left[index] : "<end>") ≠ \(index < right.count ? right[index] : "<end>")",
            sourceLocation: sourceLocation)
        return false
    }

    @Test func renderingReadsBackObjectByObject() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let desired = try GatewayApplierTests.makeApplier(kernel).plan(
            try Self.config(
                rules: 20,
                extra: """
                    sets:
                      cdn: [198.51.100.0/24, 203.0.113.0/24]
                    sticky: source
                    """))
        let text = desired.ruleset.render()
        let table = try #require(RenderedTable(parsing: text))
        #expect(table.render() == text)
        #expect(
            table.objects.map(\.name) == desired.ruleset.counters.map(\.name) + desired.ruleset.sets.map(\.name)
                + desired.ruleset.maps.map(\.name) + desired.ruleset.chains.map(\.name))
        #expect(RenderedTable(parsing: "table inet braid {\n\tchain x {\n") == nil)
    }

    @Test func aHealthChangeWithALargePolicyRewritesOnlyTheSplitAndTheUseChains() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 2_000)
        try applier.apply(config)
        let full = try #require(kernel.snapshot.table)

        let down = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
        let transaction = try #require(Self.loadedTransaction(down))
        #expect(down.performed.filter { if case .loadRuleset = $0 { true } else { false } }.count == 1)
        #expect(!transaction.contains("flush table"))
        #expect(!transaction.contains("10.100.") && !transaction.contains("198.18.") && !transaction.contains("map rules_"))
        #expect(transaction.utf8.count < 3_000, "\(transaction.utf8.count) bytes for \(full.utf8.count) of table")
        #expect(transaction.contains("flush chain inet braid use_1"))
        // The split is refilled in place: its declaration does not name the modulus.
        #expect(transaction.contains("flush map inet braid new_connection_split") && !transaction.contains("delete "))
        // The fake applied it as nft would: the table is now exactly the plan.
        #expect(Self.same(kernel.snapshot.table, down.desired.ruleset.render()))

        let up = try applier.apply(config)
        let back = try #require(Self.loadedTransaction(up))
        #expect(!back.contains("flush table") && !back.contains("10.100."))
        #expect(Self.same(kernel.snapshot.table, full))
        // Nothing left to do: the state file records what was loaded.
        #expect(try applier.apply(config).performed.isEmpty)
    }

    /// 2,000 rules are a grouped policy (`PreparedPolicy`): the pinned rule has a map of its own,
    /// and passing it over only leaves that map's lookup out of `traffic_rules`.
    @Test func aPassedOverRuleLeavesTrafficRulesAndNoMapChanges() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 2_000, extra: "  - {name: pinned, source: 10.99.0.1, use: [isp1]}\n")
        try applier.apply(config)
        let down = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
        let transaction = try #require(Self.loadedTransaction(down))
        #expect(!transaction.contains("flush table") && !transaction.contains("flush map inet braid rules_"))
        // The passed-over rule's lookup leaves traffic_rules, which names the other group's maps
        // again; no rule map is flushed, edited or deleted.
        let edits = transaction.split(separator: "\n").filter { $0.contains("rules_") }
        #expect(!edits.isEmpty && edits.allSatisfy { $0.hasPrefix("\t\tct mark set ") && $0.contains(" map @rules_") }, "\(edits)")
        #expect(!edits.contains { $0.contains("@rules_src_g2") }, "\(edits)")
        #expect(try #require(down.desired.ruleset.maps.first { $0.name == "rules_src_g2" }).elements.count == 1)
        #expect(transaction.utf8.count < 4_000, "\(transaction.utf8.count) bytes")
        #expect(Self.same(kernel.snapshot.table, down.desired.ruleset.render()))
    }

    @Test func aWeightChangeRewritesOnlyTheSplit() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        try applier.apply(try Self.config(rules: 2_000))
        let report = try applier.apply(try Self.config(rules: 2_000, weights: (50, 50)))
        let transaction = try #require(Self.loadedTransaction(report))
        #expect(!transaction.contains("flush table") && !transaction.contains("10.100.") && !transaction.contains("use_"))
        #expect(transaction.utf8.count < 3_000)
        #expect(transaction.contains("numgen random mod 2 vmap") && !transaction.contains("delete "))
        #expect(Self.same(kernel.snapshot.table, report.desired.ruleset.render()))
    }

    @Test func aHealthChangeWithStickyClientsRefillsTheBucketMap() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 100, extra: "sticky: source\n")
        try applier.apply(config)
        let report = try applier.apply(config, availability: WanAvailability(unavailable: ["isp2"]))
        let transaction = try #require(Self.loadedTransaction(report))
        #expect(transaction.contains("flush map inet braid sticky_split") && !transaction.contains("delete "))
        #expect(!transaction.contains("flush table") && !transaction.contains("10.100."))
        #expect(Self.same(kernel.snapshot.table, report.desired.ruleset.render()))
    }

    @Test func theUndoOfAnInPlaceUpdatePutsTheTableBack() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 200)
        try applier.apply(config)
        let before = kernel.snapshot
        let loaded = try #require(before.table)
        let desired = try applier.plan(config, availability: WanAvailability(unavailable: ["isp2"]))
        let update = try #require(TableUpdate.inPlace(from: loaded, to: desired.ruleset.render()))
        try kernel.perform(.loadRuleset(transaction: update.transaction, undo: update.undo))
        #expect(Self.same(kernel.snapshot.table, desired.ruleset.render()))
        try kernel.perform(KernelStep.loadRuleset(transaction: update.transaction, undo: update.undo).inverse)
        #expect(Self.same(kernel.snapshot.table, before.table) && kernel.snapshot.counters == before.counters)

        // And through apply: a step after the load fails, the load is undone.
        kernel.failSteps { if case .setSysctl = $0 { true } else { false } }
        kernel.update { $0.sysctls["net/ipv4/ip_forward"] = "0" }
        #expect(throws: ApplyError.self) { try applier.apply(config, availability: WanAvailability(unavailable: ["isp2"])) }
        #expect(Self.same(kernel.snapshot.table, loaded))
    }

    @Test(arguments: ["wan", "rule kind"])
    func aStructuralChangeIsAFullReload(change: String) throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        try applier.apply(try Self.config(rules: 50))
        let changed =
            change == "wan"
            ? try ConfigLoader.parse(
                GatewayApplierTests.yaml + "\n  - {name: isp3, interface: wan3, gateway: 192.168.3.1}\n"
                    + Self.alternatingPolicy(count: 50))
            : try Self.config(rules: 50, extra: "  - {name: web, protocol: tcp, destination_port: 443, use: [isp2]}\n")
        let report = try applier.apply(changed)
        let transaction = try #require(Self.loadedTransaction(report))
        #expect(transaction.contains("flush table inet braid"))
        #expect(Self.same(kernel.snapshot.table, report.desired.ruleset.render()))
    }

    @Test func aTableChangedBehindBraidsBackIsReloadedInFull() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 50)
        try applier.apply(config)
        // Someone changes an element: the chains (and so the fingerprint) look the same.
        kernel.commitForeignTransaction { table in
            table = table?.replacingOccurrences(of: "0x00000001 : goto rule_action_1", with: "0x00000001 : drop")
        }
        let report = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
        let transaction = try #require(Self.loadedTransaction(report))
        #expect(transaction.contains("flush table inet braid"))
        #expect(Self.same(kernel.snapshot.table, report.desired.ruleset.render()))
    }

    @Test func aMapWhoseDeclarationChangedIsReplacedAfterTheChainsThatNameIt() throws {
        func table(_ type: String, _ rule: String) -> String {
            NftablesRuleset(
                maps: [NftablesMap(name: "m", type: type, elements: [("1", "accept")])],
                chains: [
                    NftablesChain(name: "a", rules: [NftablesRule(rule)]),
                    NftablesChain(name: "b", rules: [NftablesRule("accept")]),
                ]
            ).render()
        }
        let before = table("type mark : verdict", "meta mark vmap @m")
        let after = table("typeof ct mark : verdict", "ct mark vmap @m")
        let update = try #require(TableUpdate.inPlace(from: before, to: after))
        #expect(
            NftTransactionRenderer.render(update.transaction).hasPrefix(
                "flush chain inet braid a\ndelete map inet braid m\ntable inet braid {"))
        #expect(update.rewritten == ["map m", "chain a"])
        let kernel = FakeKernel(interfaces: [])
        let declarations = NftTransaction.declarations(of: try #require(NftablesRuleset(parsing: before)))
        try kernel.perform(.loadRuleset(transaction: NftTransaction([.addTable] + declarations), undo: nil))
        try kernel.perform(.loadRuleset(transaction: update.transaction, undo: update.undo))
        #expect(Self.same(kernel.snapshot.table, after))
        try kernel.perform(.restoreRuleset(transaction: update.undo))
        #expect(Self.same(kernel.snapshot.table, before))
        // Deleting a map a remaining rule still names is refused, as the kernel would.
        #expect(throws: KernelError.self) {
            try kernel.perform(.loadRuleset(transaction: NftTransaction([.deleteMap("m")]), undo: nil))
        }
    }

    @Test func nothingDifferentIsNoUpdate() throws {
        let text = NftablesRuleset(chains: [NftablesChain(name: "a", rules: [NftablesRule("accept")])]).render()
        #expect(TableUpdate.inPlace(from: text, to: text) == nil)
        // A chain's hook cannot change in place.
        let hooked = NftablesRuleset(chains: [
            NftablesChain(
                name: "a", hook: NftablesBaseChain(type: .filter, hook: .input, priority: .number(0)),
                rules: [NftablesRule("accept")])
        ]).render()
        #expect(TableUpdate.inPlace(from: text, to: hooked) == nil)
    }

    /// Not a benchmark: prints how long planning and diffing take for 10,000 alternating rules
    /// (debug build), and checks the result stays small.
    @Test func tenThousandAlternatingRulesPlanAndDiff() throws {
        let config = try Self.config(rules: 10_000)
        let host = try GatewayApplierTests.makeKernel().readHostFacts()
        let clock = ContinuousClock()
        var loaded = ""
        let first = clock.measure { loaded = (try? GatewayPlanner.plan(config, host: host))?.ruleset.render() ?? "" }
        var desired = ""
        let replan = clock.measure {
            desired =
                (try? GatewayPlanner.plan(config, host: host, availability: WanAvailability(unavailable: ["isp1"])))?.ruleset
                .render() ?? ""
        }
        var update: TableUpdate?
        let diff = clock.measure { update = TableUpdate.inPlace(from: loaded, to: desired) }
        let transaction = NftTransactionRenderer.render(try #require(update).transaction)
        print(
            "10,000 alternating rules: plan+render \(first), re-plan+render \(replan), diff \(diff); table \(loaded.utf8.count) bytes, update \(transaction.utf8.count) bytes"
        )
        #expect(transaction.utf8.count < 3_000)
    }
}
