import BraidConfig
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply
@testable import BraidKernel

/// Named policies against the fake kernel: a failover rewrites only the policies' chains and
/// split maps in place, never a rule map, and never the sticky sets the packet path fills.
@Suite struct NamedPolicyApplyTests {
    static func config(rules: Int) throws -> Config {
        var lines = [
            "policies:",
            "  balanced: { members: [{ wan: isp1, weight: 3 }, { wan: isp2, weight: 2 }] }",
            "  isp1_first: { members: [{ wan: isp1 }, { wan: isp2, tier: 2 }], last_resort: drop }",
            "default_policy: balanced",
            "rules:",
            "  - { name: https, protocol: tcp, destination_port: 443, policy: balanced, sticky: 10m }",
        ]
        for index in 0..<rules {
            let address = IPv4Address(0x0a64_0000 + UInt32(index))
            lines.append("  - { name: host-\(index), source: \(address), policy: \(index % 2 == 0 ? "isp1_first" : "balanced") }")
        }
        return try ConfigLoader.parse(GatewayApplierTests.yaml + "\n" + lines.joined(separator: "\n") + "\n")
    }

    @Test func aFailoverRewritesOnlyPolicyChainsAndSplits() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try Self.config(rules: 2_000)
        try applier.apply(config)
        let full = try #require(kernel.snapshot.table)
        #expect(full.contains("flags dynamic,timeout"))

        let down = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
        let transaction = try #require(TableUpdateTests.loadedTransaction(down))
        #expect(
            !transaction.contains("flush table") && !transaction.contains("delete set") && !transaction.contains("delete map"))
        #expect(!transaction.contains("map rules_") && !transaction.contains("10.100."))
        #expect(!transaction.contains("set sticky_"), "the sticky sets keep what the packet path put in them")
        // isp1_first's chain stays (`mod 1` either way); its split now names isp2.
        #expect(transaction.contains("flush map inet braid policy_isp1_first_split"))
        #expect(transaction.contains("flush chain inet braid policy_balanced"))
        #expect(transaction.contains("flush map inet braid policy_balanced_split"))
        #expect(transaction.contains("flush chain inet braid sticky_balanced_600"))
        #expect(transaction.utf8.count < 3_000, "\(transaction.utf8.count) bytes")
        #expect(TableUpdateTests.same(kernel.snapshot.table, down.desired.ruleset.render()))

        try applier.apply(config)
        #expect(TableUpdateTests.same(kernel.snapshot.table, full))
        #expect(try applier.apply(config).performed.isEmpty)
    }

    @Test func dynamicSetsReadBack() throws {
        let desired = try GatewayApplierTests.makeApplier(GatewayApplierTests.makeKernel()).plan(try Self.config(rules: 2))
        let text = desired.ruleset.render()
        let read = try #require(NftablesRuleset(parsing: text))
        #expect(read.render() == text)
        #expect(read.sets.first { $0.name == "sticky_balanced_600_isp1" }?.timeoutSeconds == 600)
    }
}
