import BraidConfig
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply
@testable import BraidKernel

/// Element-level updates: a large set or map whose elements changed loses and gains only those
/// elements, in the same transaction as the rest of the in-place update, and the undo is the
/// exact inverse.
@Suite struct ElementUpdateTests {
    static func lines(_ elements: [String]) -> [Substring] { elements.map { "\t\t\t" + $0 } }

    @Test func aSetLosesAndGainsOnlyItsChangedElements() throws {
        // Eight to a line, as `render()` writes sets; prefixes, ranges and single addresses.
        let before: [Substring] = ["\t\t\t10.0.0.0/24, 10.0.2.0-10.0.2.50, 10.0.3.7", "\t\t\t192.0.2.0/25"]
        let after: [Substring] = ["\t\t\t10.0.0.0/24, 10.0.2.0-10.0.2.60, 10.0.3.7, 192.0.2.0/25, 198.51.100.0/24"]
        let diff = try #require(ElementDiff(kind: "set", from: before, to: after))
        #expect(diff.removed == ["10.0.2.0-10.0.2.50"])
        #expect(diff.added == ["10.0.2.0-10.0.2.60", "198.51.100.0/24"])
        #expect(diff.size == 5)
    }

    @Test func aMapKeyWhoseValueChangedIsDeletedAndAddedBack() throws {
        let before = Self.lines([
            "0x00000401-0xffffffff . 10.0.0.0/24 : 0x00000400", "0x00000000-0x00000400 . 10.0.1.0-10.0.1.9 : 0x00000500",
            "10.1.0.0/16 : goto choose_isp1", "fd00:1::/64 : jump use_2",
        ])
        let after = Self.lines([
            "0x00000401-0xffffffff . 10.0.0.0/24 : 0x00000600", "0x00000000-0x00000400 . 10.0.1.0-10.0.1.9 : 0x00000500",
            "fd00:1::/64 : jump use_2", "10.2.0.0/16 : accept",
        ])
        let diff = try #require(ElementDiff(kind: "map", from: before, to: after))
        #expect(diff.removed == ["0x00000401-0xffffffff . 10.0.0.0/24", "10.1.0.0/16"])
        #expect(diff.added == ["0x00000401-0xffffffff . 10.0.0.0/24 : 0x00000600", "10.2.0.0/16 : accept"])
    }

    @Test func emptyAndNonEmptyTurnIntoEachOther() throws {
        let some = Self.lines(["1 : \"wan_isp1\"", "2 : \"wan_isp2\""])
        #expect(
            ElementDiff(kind: "map", from: [], to: some)
                == ElementDiff(removed: [], added: ["1 : \"wan_isp1\"", "2 : \"wan_isp2\""], size: 2))
        #expect(ElementDiff(kind: "map", from: some, to: []) == ElementDiff(removed: ["1", "2"], added: [], size: 2))
        #expect(ElementDiff(kind: "set", from: [], to: []) == ElementDiff())
    }

    @Test func twiceTheSameKeyOrALineWithoutAValueIsNotBraidsRendering() {
        #expect(ElementDiff(kind: "map", from: Self.lines(["1 : accept", "1 : drop"]), to: []) == nil)
        #expect(ElementDiff(kind: "map", from: Self.lines(["1 accept"]), to: []) == nil)
        #expect(ElementDiff(kind: "set", from: Self.lines(["10.0.0.1, 10.0.0.1"]), to: []) == nil)
    }

    /// A table with a set and a concatenated interval map of `size` elements each (big enough to
    /// be edited element by element), a small split map, and the chains that name them.
    static func table(
        size: Int,
        edit: (inout [String], inout [(key: String, value: String)], inout [(key: String, value: String)]) -> Void = { _, _, _ in
        }
    ) -> NftablesRuleset {
        var set = (0..<size).map { "\(20 + $0 / 65_536).\($0 / 256 % 256).\($0 % 256).0/24" }
        var map: [(key: String, value: String)] = (0..<size).map {
            (key: "0x00000401-0xffffffff . \(100 + $0 / 65_536).\($0 / 256 % 256).\($0 % 256).0/24", value: "0x00000400")
        }
        var split: [(key: String, value: String)] = [("0-6", "goto wan_isp1"), ("7-9", "goto wan_isp2")]
        edit(&set, &map, &split)
        return NftablesRuleset(
            sets: [NftablesSet(name: "big", type: "ipv4_addr", isInterval: true, elements: set)],
            maps: [
                NftablesMap(name: "rules", type: "typeof ct mark . ip daddr : ct mark", isInterval: true, elements: map),
                NftablesMap(name: "split", type: "typeof numgen random mod 10 : verdict", isInterval: true, elements: split),
            ],
            chains: [
                NftablesChain(
                    name: "pre", hook: NftablesBaseChain(type: .filter, hook: .prerouting, priority: .mangle),
                    rules: [
                        NftablesRule("ip daddr @big ct mark set ct mark . ip daddr map @rules"),
                        NftablesRule("numgen random mod 10 vmap @split"),
                    ]),
                NftablesChain(name: "wan_isp1", rules: [NftablesRule("meta mark set 0x100")]),
                NftablesChain(name: "wan_isp2", rules: [NftablesRule("meta mark set 0x200")]),
            ])
    }

    @Test func aLargeSetAndMapAreEditedInOneTransactionWhoseUndoIsItsInverse() throws {
        let size = TableUpdate.elementUpdateMinimum + 200
        let loaded = Self.table(size: size)
        let desired = Self.table(size: size) { set, map, _ in
            set.remove(at: 17)
            set.append("30.0.0.0/16")
            map[5].value = "0x00000600"
            map.remove(at: 900)
            map.append((key: "0x00000000-0x00000400 . 99.0.0.0-99.0.0.9", value: "0x00000500"))
        }
        let update = try #require(TableUpdate.inPlace(from: loaded.render(), to: desired.render()))
        #expect(update.rewritten == ["set big", "map rules"])
        let mapKey5 = loaded.maps[0].elements[5].key
        #expect(
            update.transaction.operations == [
                .deleteSetElements(set: "big", [loaded.sets[0].elements[17]]),
                .deleteMapElements(map: "rules", keys: [mapKey5, loaded.maps[0].elements[900].key]),
                .addSet(NftablesSet(name: "big", type: "ipv4_addr", isInterval: true, elements: ["30.0.0.0/16"])),
                .addMap(
                    NftablesMap(
                        name: "rules", type: "typeof ct mark . ip daddr : ct mark", isInterval: true,
                        elements: [
                            (mapKey5, "0x00000600"), ("0x00000000-0x00000400 . 99.0.0.0-99.0.0.9", "0x00000500"),
                        ])),
            ])
        // The undo deletes what was added and adds back what was deleted.
        #expect(
            update.undo.operations == [
                .deleteSetElements(set: "big", ["30.0.0.0/16"]),
                .deleteMapElements(map: "rules", keys: [mapKey5, "0x00000000-0x00000400 . 99.0.0.0-99.0.0.9"]),
                .addSet(NftablesSet(name: "big", type: "ipv4_addr", isInterval: true, elements: [loaded.sets[0].elements[17]])),
                .addMap(
                    NftablesMap(
                        name: "rules", type: "typeof ct mark . ip daddr : ct mark", isInterval: true,
                        elements: [(mapKey5, "0x00000400"), (loaded.maps[0].elements[900].key, "0x00000400")])),
            ])
        #expect(
            NftTransactionRenderer.render(update.transaction).hasPrefix(
                "delete element inet braid big { \(loaded.sets[0].elements[17]) }\n"
                    + "delete element inet braid rules { \(mapKey5), \(loaded.maps[0].elements[900].key) }\ntable inet braid {"))

        // The fake applies both as the kernel would: the same elements, whatever their order.
        try Self.expectUpdateAndUndo(update, from: loaded, to: desired)
    }

    /// Loads `loaded` into a fake kernel, applies `update` (it must give `desired`), then its undo
    /// (it must give `loaded` back).
    static func expectUpdateAndUndo(_ update: TableUpdate, from loaded: NftablesRuleset, to desired: NftablesRuleset) throws {
        let kernel = FakeKernel(interfaces: [])
        try kernel.perform(
            .loadRuleset(transaction: NftTransaction([.addTable] + NftTransaction.declarations(of: loaded)), undo: nil))
        try kernel.perform(.loadRuleset(transaction: update.transaction, undo: update.undo))
        #expect(try Self.sameContent(kernel.snapshot.table, desired))
        try kernel.perform(.restoreRuleset(transaction: update.undo))
        #expect(try Self.sameContent(kernel.snapshot.table, loaded))
    }

    @Test func aLargeSetThatLosesMoreThanAFewElementsIsRefilled() throws {
        let size = TableUpdate.elementUpdateMinimum + 200
        let loaded = Self.table(size: size)
        func update(losing count: Int) throws -> TableUpdate {
            let desired = Self.table(size: size) { set, _, _ in set.removeSubrange(100..<(100 + count)) }
            return try #require(TableUpdate.inPlace(from: loaded.render(), to: desired.render()))
        }
        let few = try update(losing: TableUpdate.elementDeleteMaximum)
        #expect(
            few.transaction.operations == [
                .deleteSetElements(set: "big", Array(loaded.sets[0].elements[100..<(100 + TableUpdate.elementDeleteMaximum)]))
            ])
        let many = try update(losing: TableUpdate.elementDeleteMaximum + 1)
        #expect(many.transaction.operations.first == .flushSet("big"))
        #expect(!many.transaction.operations.contains { if case .deleteSetElements = $0 { true } else { false } })
        // Its undo only adds the lost elements back.
        if case .addSet(let set)? = many.undo.operations.last, many.undo.operations.count == 1 {
            #expect(set.elements == Array(loaded.sets[0].elements[100...(100 + TableUpdate.elementDeleteMaximum)]))
        } else {
            Issue.record("\(many.undo.operations.map { "\($0)".prefix(60) })")
        }
    }

    @Test func aMapOfConcatenatedRangesThatLosesManyIsReplacedNeverFlushed() throws {
        let size = TableUpdate.elementUpdateMinimum + 200
        let loaded = Self.table(size: size)
        let desired = Self.table(size: size) { _, map, _ in map.removeSubrange(0..<500) }
        let update = try #require(TableUpdate.inPlace(from: loaded.render(), to: desired.render()))
        // The chain whose rule names it goes first and comes back; the map is declared anew.
        #expect(Array(update.transaction.operations.prefix(2)) == [.flushChain("pre"), .deleteMap("rules")])
        #expect(!update.transaction.operations.contains(.flushMap("rules")))
        let declared = update.transaction.operations.compactMap { operation -> NftablesMap? in
            if case .addMap(let map) = operation { map } else { nil }
        }
        #expect(declared.map(\.name) == ["rules"] && declared[0].elements.count == size - 500)
        try Self.expectUpdateAndUndo(update, from: loaded, to: desired)
    }

    @Test func aSmallMapIsRefilledAndOneThatOnlyGainsIsAddedTo() throws {
        let size = 10
        let loaded = Self.table(size: size)
        let weights = Self.table(size: size) { _, _, split in split = [("0-4", "goto wan_isp1"), ("5-9", "goto wan_isp2")] }
        let refill = try #require(TableUpdate.inPlace(from: loaded.render(), to: weights.render()))
        #expect(refill.transaction.operations.first == .flushMap("split"))
        #expect(!refill.transaction.operations.contains { if case .deleteMapElements = $0 { true } else { false } })

        let grown = Self.table(size: size) { set, _, _ in set.append("30.0.0.0/16") }
        let add = try #require(TableUpdate.inPlace(from: loaded.render(), to: grown.render()))
        #expect(
            add.transaction.operations == [
                .addSet(NftablesSet(name: "big", type: "ipv4_addr", isInterval: true, elements: ["30.0.0.0/16"]))
            ])
        // Its undo only loses elements: a refill, which costs nft no listing of the interval sets.
        #expect(
            add.undo.operations == [.flushSet("big")]
                + NftTransaction.declarations(of: loaded).filter {
                    if case .addSet = $0 { true } else { false }
                })
    }

    @Test func aDeleteOfAnElementTheKernelLacksFailsTheWholeTransaction() throws {
        let kernel = FakeKernel(interfaces: [])
        let loaded = Self.table(size: 3)
        try kernel.perform(
            .loadRuleset(transaction: NftTransaction([.addTable] + NftTransaction.declarations(of: loaded)), undo: nil))
        let before = kernel.snapshot.table
        #expect(throws: KernelError.self) {
            try kernel.perform(
                .loadRuleset(
                    transaction: NftTransaction([.flushMap("split"), .deleteSetElements(set: "big", ["1.2.3.4"])]), undo: nil))
        }
        #expect(kernel.snapshot.table == before)
    }

    /// The same objects with the same elements, in any order (the kernel keeps no order of elements).
    static func sameContent(_ text: String?, _ expected: NftablesRuleset) throws -> Bool {
        var actual = try #require(text.flatMap { NftablesRuleset(parsing: $0) })
        var wanted = expected
        for index in actual.sets.indices { actual.sets[index].elements.sort() }
        for index in wanted.sets.indices { wanted.sets[index].elements.sort() }
        for index in actual.maps.indices { actual.maps[index].elements.sort { $0.key < $1.key } }
        for index in wanted.maps.indices { wanted.maps[index].elements.sort { $0.key < $1.key } }
        // A replaced map or set is listed after the others, as the kernel lists it.
        actual.maps.sort { $0.name < $1.name }
        wanted.maps.sort { $0.name < $1.name }
        actual.sets.sort { $0.name < $1.name }
        wanted.sets.sort { $0.name < $1.name }
        return actual == wanted
    }
}

/// A weight change, a health change and a set edit with a large policy installed (10,000 source
/// rules and a destination set of 100,000 prefixes) through the applier on the fake kernel: each
/// transaction names only what changed.
@Suite struct LargePolicyUpdateTests {
    static let setSize = 100_000

    /// 10,000 source rules alternating between a rule that falls through when isp1 is down and
    /// one that prefers isp2, then a rule for a 100,000-prefix destination set.
    static func config(weights: (Int, Int) = (70, 30), set: [IPPrefix]? = nil) throws -> Config {
        var config = try ConfigLoader.parse(
            GatewayApplierTests.yaml.replacingOccurrences(of: "weight: 70", with: "weight: \(weights.0)")
                .replacingOccurrences(of: "weight: 30", with: "weight: \(weights.1)"))
        config.rules = (0..<10_000).map { index in
            TrafficRuleConfig(
                name: "host-\(index)",
                sources: [IPPrefix(IPv4Prefix(address: IPv4Address(0x0a64_0000 + UInt32(index)), length: 32)!)],
                use: index % 2 == 0 ? [.wan("isp1")] : [.wan("isp2"), .balance])
        }
        config.sets = [AddressSetConfig(name: "big", entries: set ?? bigSet())]
        config.rules.append(TrafficRuleConfig(name: "big", destinationSet: "big", use: [.wan("isp2")]))
        return config
    }

    /// 100,000 /24s from 20.0.0.0 up, each a /24 apart from the next (adjacent ones would be merged).
    static func bigSet() -> [IPPrefix] {
        (0..<UInt32(setSize)).map { IPPrefix(IPv4Prefix(address: IPv4Address(0x1400_0000 + $0 << 9), length: 24)!) }
    }

    static func operations(_ report: GatewayApplier.Report) -> [NftOperation] {
        report.performed.flatMap { step -> [NftOperation] in
            if case .loadRuleset(let transaction, _) = step { transaction.operations } else { [] }
        }
    }

    /// The objects an operation names, as "kind name".
    static func names(_ operations: [NftOperation]) -> Set<String> {
        Set(
            operations.compactMap { operation -> String? in
                switch operation {
                case .flushChain(let name), .deleteChain(let name): "chain \(name)"
                case .flushMap(let name), .deleteMap(let name), .deleteMapElements(let name, _): "map \(name)"
                case .flushSet(let name), .deleteSet(let name), .deleteSetElements(let name, _): "set \(name)"
                case .addChain(let chain): "chain \(chain.name)"
                case .addMap(let map): "map \(map.name)"
                case .addSet(let set): "set \(set.name)"
                case .addCounter(let counter): "counter \(counter.name)"
                default: "other \(operation)".prefix(60).description
                }
            })
    }

    @Test func weightAndHealthChangesAndASetEditNameOnlyWhatChanged() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config()
        try applier.apply(config)
        let full = try #require(kernel.snapshot.table)
        let installed = try #require(NftablesRuleset(parsing: full))
        // The split maps, and the base chains whose rules name the split's modulus.
        let split = Set(
            installed.maps.map(\.name).filter { $0.contains("split") }.map { "map \($0)" }
                + installed.chains.filter { $0.hook != nil && $0.rules.contains { $0.text.contains("numgen") } }.map {
                    "chain \($0.name)"
                })

        let weight = Self.operations(try applier.apply(try Self.config(weights: (50, 50))))
        #expect(!Self.names(weight).isEmpty && Self.names(weight).isSubset(of: split), "\(Self.names(weight))")
        // Each rewritten object is one flush and one declaration.
        #expect(weight.count == 2 * Self.names(weight).count, "\(weight.count) operations")
        let health = Self.operations(
            try applier.apply(try Self.config(weights: (50, 50)), availability: WanAvailability(unavailable: ["isp1"])))
        let healthNames = Self.names(health)
        // The 5,000 rules that use only isp1 are passed over: their group's lookup leaves
        // traffic_rules, and no rank map changes.
        #expect(
            healthNames.allSatisfy { split.contains($0) || $0.hasPrefix("chain use_") || $0 == "chain traffic_rules" },
            "\(healthNames.sorted())")
        #expect(healthNames.contains("chain traffic_rules"))
        #expect(health.count == 2 * healthNames.count && health.count <= 14, "\(health.count) operations")
        #expect(!health.contains { if case .flushTable = $0 { true } else { false } })

        var set = Self.bigSet()
        let dropped = set.remove(at: 4_321)
        let added = IPPrefix(IPv4Prefix(address: IPv4Address(0x0900_0000), length: 16)!)
        set.append(added)
        let edit = Self.operations(
            try applier.apply(try Self.config(weights: (50, 50), set: set), availability: WanAvailability(unavailable: ["isp1"])))
        let setName = Self.setName(full)
        #expect(edit.count == 2, "\(Self.names(edit))")
        #expect(edit.first == .deleteSetElements(set: setName, ["\(dropped)"]))
        if case .addSet(let declared)? = edit.last {
            #expect(declared.name == setName && declared.elements == ["\(added)"])
        } else {
            Issue.record("\(Self.names(edit))")
        }
        let afterText = try #require(kernel.snapshot.table)
        let after = try #require(NftablesRuleset(parsing: afterText))
        #expect(after.sets.first { $0.elements.count == Self.setSize }?.elements.contains("\(added)") == true)
        // And back to the start: nothing but the changed pieces again, and then nothing at all.
        try applier.apply(config)
        #expect(try ElementUpdateTests.sameContent(kernel.snapshot.table, installed))
        #expect(try applier.apply(config).performed.isEmpty)
    }

    /// The name the planner gives the 100,000-prefix set.
    static func setName(_ table: String) -> String {
        NftablesRuleset(parsing: table)?.sets.first { $0.elements.count == setSize }?.name ?? "?"
    }
}
