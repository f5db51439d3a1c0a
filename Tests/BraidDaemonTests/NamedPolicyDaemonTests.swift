import BraidConfig
import BraidKernelFake
import Foundation
import Testing

@testable import BraidDaemon

/// Named policies in the control loop (fake kernel, manual clock): probes move a policy to its
/// next tier and back, and a member's flush_on_down decides for its WAN.
@Suite struct NamedPolicyDaemonTests {
    static func yaml(flush: String = "") -> String {
        DaemonHarness.yaml(wans: 3, wanKeys: ["health": DaemonHarness.health], top: ["flush_on_down: true"]) + """

            policies:
              tiered:
                members: [{ wan: isp1\(flush) }, { wan: isp2, tier: 2 }, { wan: isp3, tier: 3 }]
                last_resort: drop
            default_policy: tiered
            """
    }

    /// The WANs the policy's split names in the kernel's table now.
    static func policySplit(_ daemon: DaemonHarness, _ policy: String) -> [String] {
        guard let table = daemon.kernel.snapshot.table, let start = table.range(of: "map policy_\(policy)_split {") else {
            return []
        }
        let body = table[start.upperBound...].prefix { $0 != "}" }
        return body.split(separator: "\n").compactMap { line in
            line.range(of: "goto choose_").map { String(line[$0.upperBound...].prefix { $0 != "," && $0 != " " }) }
        }
    }

    static func policyChain(_ daemon: DaemonHarness, _ policy: String) -> String {
        guard let table = daemon.kernel.snapshot.table, let start = table.range(of: "chain policy_\(policy) {") else { return "" }
        return String(table[start.upperBound...].prefix { $0 != "}" })
    }

    @Test func probesMoveAPolicyThroughItsTiersInOrderAndBack() throws {
        let daemon = try DaemonHarness(Self.yaml())
        try daemon.start()
        #expect(Self.policySplit(daemon, "tiered") == ["isp1"])
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(Self.policySplit(daemon, "tiered") == ["isp2"])
        daemon.rounds("isp2", passing: false, count: 3)
        #expect(Self.policySplit(daemon, "tiered") == ["isp3"])
        daemon.rounds("isp3", passing: false, count: 3)
        #expect(Self.policySplit(daemon, "tiered").isEmpty)
        #expect(Self.policyChain(daemon, "tiered").contains("\t\tdrop\n"), "last resort: drop")
        daemon.rounds("isp1", passing: true, count: 2)
        #expect(Self.policySplit(daemon, "tiered") == ["isp1"], "tier 1 takes it back")
    }

    @Test(arguments: [true, false])
    func aMembersFlushOnDownDecidesForItsWan(flush: Bool) throws {
        let daemon = try DaemonHarness(Self.yaml(flush: ", flush_on_down: \(flush)"))
        try daemon.start()
        let mask = daemon.controller.config.kernel.markMask
        let mark1 = try #require(daemon.mark("isp1")) & mask
        let mark2 = try #require(daemon.mark("isp2")) & mask
        daemon.kernel.update { $0.connectionsByMark = [mark1: 5, mark2: 7] }
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(daemon.kernel.flushedMarks == (flush ? [mark1] : []))
        // isp2 has no member setting: the top-level flush_on_down (true) holds.
        daemon.rounds("isp2", passing: false, count: 3)
        #expect(daemon.kernel.flushedMarks == (flush ? [mark1, mark2] : [mark2]))
    }
}
