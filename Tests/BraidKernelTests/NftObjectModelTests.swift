import BraidPlanner
import Testing

@testable import BraidKernel

/// The fake kernel's nft object model: it applies a transaction whole or not at all, and refuses
/// what the kernel refuses, so that a transaction the fake accepts does not fail on a real kernel
/// for a dangling reference.
@Suite struct NftObjectModelTests {
    /// A small table in Braid's shape: a base chain that dispatches through a verdict map to
    /// per-WAN chains, and a counter map.
    static let ruleset = NftablesRuleset(
        counters: [NftablesCounter(name: "rx_isp1")],
        sets: [NftablesSet(name: "dst_cdn", type: "ipv4_addr", isInterval: true, elements: ["198.51.100.0/24"])],
        maps: [
            NftablesMap(name: "wan_by_ct_mark", type: "type mark : verdict", elements: [("0x00010000", "goto restore_isp1")]),
            NftablesMap(name: "rx_counters", type: "type ifname : counter", elements: [("\"wan1\"", "\"rx_isp1\"")]),
        ],
        chains: [
            NftablesChain(
                name: "prerouting", hook: NftablesBaseChain(type: .filter, hook: .prerouting, priority: .mangle),
                rules: [
                    NftablesRule("counter name iifname map @rx_counters"),
                    NftablesRule("ip daddr @dst_cdn jump use_1"),
                    NftablesRule("ct mark and 0x00ff0000 vmap @wan_by_ct_mark"),
                ]),
            NftablesChain(name: "use_1", rules: [NftablesRule("goto restore_isp1")]),
            NftablesChain(name: "restore_isp1", rules: [NftablesRule("meta mark set ct mark")]),
        ])

    static func loaded() throws -> NftObjectModel {
        var model = NftObjectModel()
        try model.apply(NftTransaction([.addTable] + NftTransaction.declarations(of: ruleset)))
        return model
    }

    /// Applies `operations` and expects a refusal that mentions `reason`, with the model untouched.
    static func expectRefusal(
        _ operations: [NftOperation], on model: NftObjectModel, mentioning reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var changed = model
        do {
            try changed.apply(NftTransaction(operations))
            Issue.record("accepted \(operations)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(reason), "\(error)", sourceLocation: sourceLocation)
        }
        #expect(changed == model, "a refused transaction changed the model", sourceLocation: sourceLocation)
    }

    @Test func aLoadedTableRendersAsThePlannerWroteIt() throws {
        #expect(try Self.loaded().render() == Self.ruleset.render())
    }

    @Test func aFullLoadRendersAsTheTextBraidPlanPrints() {
        let transaction = NftTransaction(
            [.addTable, .flushTable, .deleteMap("old")] + NftTransaction.declarations(of: Self.ruleset))
        #expect(
            NftTransactionRenderer.render(transaction)
                == "add table inet braid\nflush table inet braid\ndelete map inet braid old\n" + Self.ruleset.render())
        #expect(NftTransactionRenderer.render(.deletingTable()) == "add table inet braid\ndelete table inet braid\n")
    }

    @Test func aDanglingGotoIsRefused() throws {
        let model = try Self.loaded()
        Self.expectRefusal(
            [.addRule(chain: "use_1", NftablesRule("goto restore_isp9"))], on: model, mentioning: "chain restore_isp9")
        Self.expectRefusal(
            [.addChain(NftablesChain(name: "use_2", rules: [NftablesRule("ip saddr 10.0.0.1 jump nowhere")]))],
            on: model, mentioning: "chain nowhere")
        // A verdict map's element is a goto too.
        Self.expectRefusal(
            [.addMapElements(map: "wan_by_ct_mark", [NftMapElement(key: "0x00020000", value: "goto restore_isp2")])],
            on: model, mentioning: "chain restore_isp2")
    }

    @Test func aGotoReachesIntoItsOwnBlockButNotALaterOne() throws {
        let model = try Self.loaded()
        let caller = NftablesChain(name: "use_2", rules: [NftablesRule("goto restore_isp2")])
        let target = NftablesChain(name: "restore_isp2", rules: [NftablesRule("meta mark set ct mark")])
        var inOneBlock = model
        try inOneBlock.apply(NftTransaction([.addChain(caller), .addChain(target)]))
        #expect(inOneBlock.table?.chains.suffix(2).map(\.name) == ["use_2", "restore_isp2"])
        // A command between them closes the first block: nft resolves its goto before the target exists.
        Self.expectRefusal(
            [.addChain(caller), .flushChain("use_1"), .addChain(target)], on: model, mentioning: "chain restore_isp2")
        Self.expectRefusal(
            [
                .addChain(NftablesChain(name: "use_2", rules: [])), .addRule(chain: "use_2", NftablesRule("goto restore_isp2")),
                .addChain(target),
            ], on: model, mentioning: "chain restore_isp2")
    }

    @Test func anUndefinedMapOrSetIsRefused() throws {
        let model = try Self.loaded()
        Self.expectRefusal(
            [.addRule(chain: "prerouting", NftablesRule("meta mark vmap @wan_by_nothing"))], on: model,
            mentioning: "@wan_by_nothing")
        Self.expectRefusal(
            [.addRule(chain: "prerouting", NftablesRule("ip daddr @dst_missing accept"))], on: model, mentioning: "@dst_missing")
        // `vmap` needs a verdict map, not a counter map.
        Self.expectRefusal(
            [.addRule(chain: "prerouting", NftablesRule("iifname vmap @rx_counters"))], on: model, mentioning: "not a verdict map"
        )
        // A counter map names counters that exist.
        Self.expectRefusal(
            [.addMapElements(map: "rx_counters", [NftMapElement(key: "\"wan2\"", value: "\"rx_isp2\"")])],
            on: model, mentioning: "counter rx_isp2")
        // A name inside quotes is no reference.
        var quoted = model
        try quoted.apply(NftTransaction([.addRule(chain: "use_1", NftablesRule("meta mark set 1 comment \"goto nowhere @x\""))]))
    }

    @Test func aDeleteOfAMissingObjectIsRefused() throws {
        let model = try Self.loaded()
        Self.expectRefusal([.deleteChain("nope")], on: model, mentioning: "chain nope")
        Self.expectRefusal([.deleteMap("nope")], on: model, mentioning: "map nope")
        Self.expectRefusal([.deleteSet("wan_by_ct_mark")], on: model, mentioning: "set wan_by_ct_mark")
        Self.expectRefusal([.deleteCounter("rx_isp2")], on: model, mentioning: "counter rx_isp2")
        Self.expectRefusal([.flushChain("nope")], on: model, mentioning: "chain nope")
        Self.expectRefusal([.addRule(chain: "nope", NftablesRule("accept"))], on: model, mentioning: "chain nope")
        Self.expectRefusal([.deleteMap("dst_cdn"), .deleteMap("dst_cdn")], on: model, mentioning: "map dst_cdn")
        Self.expectRefusal([.deleteTable], on: NftObjectModel(), mentioning: "table inet braid")
        Self.expectRefusal([.flushTable], on: NftObjectModel(), mentioning: "table inet braid")
    }

    @Test func aDeleteOfAnObjectInUseIsRefused() throws {
        let model = try Self.loaded()
        Self.expectRefusal([.deleteMap("wan_by_ct_mark")], on: model, mentioning: "used by chain prerouting")
        Self.expectRefusal([.deleteSet("dst_cdn")], on: model, mentioning: "used by chain prerouting")
        Self.expectRefusal([.deleteCounter("rx_isp1")], on: model, mentioning: "used by map rx_counters")
        Self.expectRefusal([.deleteChain("use_1")], on: model, mentioning: "its own 1 rules")
        Self.expectRefusal([.flushChain("use_1"), .deleteChain("use_1")], on: model, mentioning: "used by chain prerouting")
        Self.expectRefusal([.flushTable, .deleteChain("restore_isp1")], on: model, mentioning: "used by map wan_by_ct_mark")
        Self.expectRefusal(
            [
                .addChain(
                    NftablesChain(
                        name: "use_1", hook: NftablesBaseChain(type: .filter, hook: .input, priority: .filter), rules: []))
            ],
            on: model, mentioning: "declared differently")
        Self.expectRefusal(
            [.addMapElements(map: "wan_by_ct_mark", [NftMapElement(key: "0x00010000", value: "drop")])],
            on: model, mentioning: "already maps 0x00010000")
    }

    @Test func aFailedTransactionLeavesTheModelUnchanged() throws {
        let model = try Self.loaded()
        // Everything but the last operation would succeed on its own.
        Self.expectRefusal(
            [
                .flushTable, .deleteMap("wan_by_ct_mark"), .deleteMap("rx_counters"), .deleteSet("dst_cdn"),
                .deleteChain("prerouting"), .deleteChain("use_1"), .deleteChain("restore_isp1"),
                .addChain(NftablesChain(name: "prerouting", rules: [NftablesRule("goto gone")])),
            ],
            on: model, mentioning: "chain gone")
        Self.expectRefusal(
            [.deleteTable, .addTable, .addRule(chain: "prerouting", NftablesRule("accept"))], on: model,
            mentioning: "chain prerouting")
    }

    @Test func aFlushAndReplaceInOneTransactionIsAccepted() throws {
        var model = try Self.loaded()
        // The full reload's shape: objects in use go after what uses them, and come back.
        var replaced = Self.ruleset
        replaced.chains[1].rules = [NftablesRule("drop")]
        try model.apply(
            NftTransaction(
                [
                    .addTable, .flushTable, .deleteMap("wan_by_ct_mark"), .deleteMap("rx_counters"),
                    .deleteSet("dst_cdn"), .deleteChain("prerouting"), .deleteChain("use_1"),
                    .deleteChain("restore_isp1"),
                ] + NftTransaction.declarations(of: replaced)))
        #expect(model.render() == replaced.render())
        // A map whose declaration changes is deleted once nothing names it, and declared anew.
        try model.apply(
            NftTransaction([
                .flushChain("prerouting"), .deleteMap("wan_by_ct_mark"),
                .addMap(NftablesMap(name: "wan_by_ct_mark", type: "typeof ct mark : verdict", elements: [])),
                .addRule(chain: "prerouting", NftablesRule("ct mark vmap @wan_by_ct_mark")),
            ]))
        #expect(model.table?.maps.last?.type == "typeof ct mark : verdict")
        try model.apply(.deletingTable())
        #expect(model.table == nil)
    }
}
