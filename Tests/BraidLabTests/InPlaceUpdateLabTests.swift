import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation
import Testing

extension LabTests.Policy {
    @Test(
        "With 10,000 alternating rules installed, a health change is an in-place update that nft accepts, and packets follow it")
    func healthChangeWithALargePolicyIsInPlace() async throws {
        try await Lab.with(wanCount: 2, name: "inpl") { lab in
            // The lab host is pinned to isp1; 10,000 rules of alternating kinds (none matches it) follow.
            var lines = ["rules:", "  - {name: pinned, source: \(lab.lanHostAddress(0)), use: [isp1]}"]
            for index in 0..<10_000 {
                lines.append(
                    index % 2 == 0
                        ? "  - {name: host-\(index), source: \(IPv4Address(0x0a64_0000 + UInt32(index))), use: [isp1]}"
                        : "  - {name: site-\(index), destination: \(IPv4Address(0xc612_0000 + UInt32(index))), use: [isp2, balance]}"
                )
            }
            let config = try ConfigLoader.parse(lab.configYAML() + lines.joined(separator: "\n") + "\n")
            let kernel = TimedKernel(LinuxKernel(runner: lab.router.runner))
            let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
            var started = ContinuousClock.now
            try applier.apply(config)
            let cold = ContinuousClock.now - started
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp1": 20])

            kernel.reset()
            started = ContinuousClock.now
            let down = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
            let failover = ContinuousClock.now - started
            print("failover apply: \(kernel.summary)")
            let transaction = down.performed.compactMap { step -> NftTransaction? in
                if case .loadRuleset(let transaction, _) = step { transaction } else { nil }
            }
            #expect(
                transaction.count == 1 && !transaction[0].operations.contains(.flushTable),
                "\(transaction.map { $0.declared.prefix(10) })")
            // The pinned rule is passed over (its use chain is empty): the split, now isp2 only.
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp2": 20])

            started = ContinuousClock.now
            try applier.apply(config)
            let recovery = ContinuousClock.now - started
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp1": 20])
            // The state file recorded what the in-place update left: nothing to do, and the table verifies.
            #expect(try applier.apply(config).performed.isEmpty)
            print("10,000 alternating rules: cold apply \(cold), failover apply \(failover), recovery apply \(recovery)")
            // A debug build on a shared machine plans slowly; release figures: policy-scale-benchmark.
            #expect(failover < .seconds(3) && recovery < .seconds(3), "failover \(failover), recovery \(recovery)")
            try applier.down()
        }
    }
}

extension LabTests.Policy {
    /// 10,000 source rules (one map with today's compiler) alternating between a WAN of their own
    /// and `[next, balance]`, then a rule for a destination set of 100,000 prefixes, none of which
    /// matches the lab's traffic.
    static func largePolicy(_ yaml: String, wans: [String]) throws -> Config {
        var config = try ConfigLoader.parse(yaml)
        config.rules = (0..<10_000).map { index in
            let wan = wans[index % wans.count]
            let next = wans[(index + 1) % wans.count]
            return TrafficRuleConfig(
                name: "host-\(index)",
                sources: [IPPrefix(IPv4Prefix(address: IPv4Address(0x0a64_0000 + UInt32(index)), length: 32)!)],
                use: index % 2 == 0 ? [.wan(wan)] : [.wan(next), .balance])
        }
        // /24s a /24 apart from 20.0.0.0 up (adjacent ones would be merged into fewer elements).
        let entries = (0..<UInt32(100_000)).map { IPPrefix(IPv4Prefix(address: IPv4Address(0x1400_0000 + $0 << 9), length: 24)!) }
        config.sets = [AddressSetConfig(name: "big", entries: entries)]
        config.rules.append(TrafficRuleConfig(name: "big", destinationSet: "big", use: [.wan(wans[0])]))
        return config
    }

    @Test(
        "With 10,000 rules and 100,000 set entries installed, weight and health changes are small in-place updates and a flow on every WAN survives 10 of them"
    )
    func flowsSurviveChangesWithALargePolicy() async throws {
        try await Lab.with(wanCount: 3, name: "incr") { lab in
            let names = lab.wans.map(\.name)
            let kernel = TimedKernel(LinuxKernel(runner: lab.router.runner))
            let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
            var started = ContinuousClock.now
            try applier.apply(try Self.largePolicy(lab.configYAML(), wans: names))
            print("large policy: cold apply \(ContinuousClock.now - started)")
            // One long-lived flow on each WAN (the lab host matches no rule: it is balanced).
            var flows: [String: LongLivedFlow] = [:]
            for _ in 0..<90 where flows.count < names.count {
                let candidate = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.02)
                if let first = await candidate.firstAnswer(), let name = lab.wan(forPeer: first)?.name, flows[name] == nil {
                    flows[name] = candidate
                } else {
                    _ = candidate.stop()
                }
            }
            try #require(flows.count == names.count, "no flow on every WAN in 90 tries: \(flows.keys.sorted())")
            // Ten changes: weights and health in turn, each an in-place update of a few objects.
            for change in 0..<10 {
                let weights = [[3, 2, 1], [1, 1, 1], [1, 2, 3], [5, 1, 1], [2, 2, 1]][change / 2]
                let config = try Self.largePolicy(lab.configYAML(weights: weights), wans: names)
                let availability = change % 2 == 1 ? WanAvailability(unavailable: [names[change % names.count]]) : .allAvailable
                kernel.reset()
                started = ContinuousClock.now
                let report = try applier.apply(config, availability: availability)
                let elapsed = ContinuousClock.now - started
                let transactions = report.performed.compactMap { step -> NftTransaction? in
                    if case .loadRuleset(let transaction, _) = step { transaction } else { nil }
                }
                #expect(transactions.count == 1, "change \(change): \(transactions.count) loads")
                let operations = transactions.flatMap(\.operations)
                #expect(
                    !operations.contains(.flushTable) && operations.count <= 16,
                    "change \(change): \(operations.count) operations, \(transactions.map(\.declared))")
                print(
                    "change \(change) (\(change % 2 == 0 ? "weight" : "health")): \(elapsed) [\(report.timings)], "
                        + "\(operations.count) operations, \(transactions.map(\.renderedByteCount)) bytes; kernel: \(kernel.summary)"
                )
            }
            await lab.expectFlowsStayed(flows)
            try applier.down()
        }
    }

    /// An nft listing as object header → its lines, with a set's or map's elements as a set: nft
    /// lists a concatenated map's elements in the order they were added, which an edit changes.
    static func objects(_ listing: String?) -> [String: Set<String>] {
        var objects: [String: Set<String>] = [:]
        var current = ""
        var elements: String?
        for line in (listing ?? "").split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("\t"), !line.hasPrefix("\t\t"), text.hasSuffix("{") {
                current = text
                objects[current] = []
            } else if text.hasPrefix("elements = {") {
                elements = String(text.dropFirst("elements = {".count))
            } else if elements != nil {
                elements! += " " + text
            } else {
                objects[current, default: []].insert(text)
            }
            if let collected = elements, collected.hasSuffix("}") {
                for element in collected.dropLast().split(separator: ",") {
                    objects[current, default: []].insert(element.trimmingCharacters(in: .whitespaces))
                }
                elements = nil
            }
        }
        return objects
    }

    @Test("An element-level update of a real table leaves what a full load of the desired table leaves")
    func elementLevelUpdateReadsBackAsTheDesiredTable() async throws {
        try await Lab.with(wanCount: 1, name: "elem") { lab in
            let kernel = LinuxKernel(runner: lab.router.runner)
            // A large interval set, a large concatenated interval map and a verdict map, as Braid renders them.
            func table(_ edit: (inout [String], inout [(key: String, value: String)]) -> Void) -> NftablesRuleset {
                var set = (0..<1_500).map { "\(20 + $0 / 65_536).\($0 / 256 % 256).\($0 % 256).0/24" }
                var map: [(key: String, value: String)] = (0..<1_200).map {
                    ("0x00000401-0xffffffff . 100.\($0 / 256 % 256).\($0 % 256).0/24", "0x00000400")
                }
                edit(&set, &map)
                return NftablesRuleset(
                    sets: [NftablesSet(name: "big", type: "ipv4_addr", isInterval: true, elements: set)],
                    maps: [
                        NftablesMap(name: "rules", type: "typeof ct mark . ip daddr : ct mark", isInterval: true, elements: map),
                        NftablesMap(
                            name: "verdicts", type: "typeof ip saddr : verdict", isInterval: true,
                            elements: (0..<1_100).map { ("10.\($0 / 256).\($0 % 256).0/24", $0 % 2 == 0 ? "goto a" : "accept") }),
                    ],
                    chains: [
                        NftablesChain(
                            name: "pre", hook: NftablesBaseChain(type: .filter, hook: .prerouting, priority: .mangle),
                            rules: [
                                NftablesRule("ip daddr @big ct mark set ct mark . ip daddr map @rules"),
                                NftablesRule("ip saddr vmap @verdicts"),
                            ]),
                        NftablesChain(name: "a", rules: [NftablesRule("accept")]),
                    ])
            }
            let loaded = table { _, _ in }
            let desired = table { set, map in
                set.remove(at: 3)
                set.append("30.0.0.0/16")
                set.append("20.0.3.0-20.0.3.9")  // a range inside the /24 that went
                map[7].value = "0x00000500"
                map.remove(at: 100)
                map.append(("0x00000000-0x00000400 . 100.0.100.0/24", "0x00000600"))  // the same prefix, other marks
                map.append(("0x00000401-0xffffffff . 100.9.0.0-100.9.0.9", "0x00000700"))
            }
            func load(_ ruleset: NftablesRuleset) throws -> String? {
                try kernel.perform(.deleteTable)
                try kernel.perform(
                    .loadRuleset(transaction: NftTransaction([.addTable] + NftTransaction.declarations(of: ruleset)), undo: nil))
                return try kernel.readTableListing()
            }
            let expected = try #require(try load(desired))
            let original = try #require(try load(loaded))
            let update = try #require(TableUpdate.inPlace(from: loaded.render(), to: desired.render()))
            #expect(update.rewritten == ["set big", "map rules"])
            try kernel.perform(.loadRuleset(transaction: update.transaction, undo: update.undo))
            #expect(Self.objects(try kernel.readTableListing()) == Self.objects(expected))
            try kernel.perform(.restoreRuleset(transaction: update.undo))
            #expect(Self.objects(try kernel.readTableListing()) == Self.objects(original))
            try kernel.perform(.deleteTable)
        }
    }
}

/// Forwards to a kernel and adds up how long each kind of call took, to see where an apply spends its time.
class TimedKernel: KernelPort, @unchecked Sendable {
    let kernel: any KernelPort
    private let lock = NSLock()
    private var totals: [String: Duration] = [:]

    init(_ kernel: any KernelPort) { self.kernel = kernel }

    func reset() { lock.withLock { totals = [:] } }
    var summary: String {
        lock.withLock { totals.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
    }

    private func timed<T>(_ name: String, _ body: () throws(KernelError) -> T) throws(KernelError) -> T {
        let started = ContinuousClock.now
        defer { let elapsed = ContinuousClock.now - started; lock.withLock { totals[name, default: .zero] += elapsed } }
        return try body()
    }

    func readHostFacts() throws(KernelError) -> HostFacts {
        try timed("readHostFacts") { () throws(KernelError) in try kernel.readHostFacts() }
    }
    func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState {
        try timed("readState") { () throws(KernelError) in try kernel.readState(layout: layout) }
    }
    func readRouting() throws(KernelError) -> ObservedKernelState {
        try timed("readRouting") { () throws(KernelError) in try kernel.readRouting() }
    }
    func readForeignRuleset() throws(KernelError) -> ForeignRuleset { try kernel.readForeignRuleset() }
    func readObjectNames() throws(KernelError) -> TableObjectNames {
        try timed("readObjectNames") { () throws(KernelError) in try kernel.readObjectNames() }
    }
    func readSysctls(_ keys: [String]) throws(KernelError) -> [String: String] {
        try timed("readSysctls") { () throws(KernelError) in try kernel.readSysctls(keys) }
    }
    func perform(_ step: KernelStep) throws(KernelError) {
        try timed("perform \(step)") { () throws(KernelError) in try kernel.perform(step) }
    }
    func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        try kernel.countConnections(mark: mark, mask: mask)
    }
    func countConnectionsByMark(mask: UInt32) throws(KernelError) -> [UInt32: Int] {
        try kernel.countConnectionsByMark(mask: mask)
    }
    func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        try kernel.flushConnections(mark: mark, mask: mask)
    }
    func readCounters() throws(KernelError) -> [String: TrafficCounter] { try kernel.readCounters() }
    func readRulesetGeneration() throws(KernelError) -> UInt64 {
        try timed("readRulesetGeneration") { () throws(KernelError) in try kernel.readRulesetGeneration() }
    }
    func readTableListing() throws(KernelError) -> String? {
        try timed("readTableListing") { () throws(KernelError) in try kernel.readTableListing() }
    }
}
