import BraidKernel
import Synchronization
import Testing

/// Answers `nft` and `iptables-legacy-save` with canned output and records what was asked.
final class CannedCommandRunner: CommandRunner {
    let answers: [String: String]
    private let calls = Mutex<[[String]]>([])

    init(_ answers: [String: String]) { self.answers = answers }

    var asked: [[String]] { calls.withLock { $0 } }

    func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
        calls.withLock { $0.append(arguments) }
        guard let answer = answers[arguments.joined(separator: " ")] else {
            return CommandResult(status: 1, standardOutput: "", standardError: "Error: No such file or directory")
        }
        return CommandResult(status: 0, standardOutput: answer, standardError: "")
    }
}

@Suite struct ForeignRulesetReadTests {
    @Test("LinuxKernel lists each other ip/inet table, never Braid's (its sets can be huge) nor other families")
    func readsOtherTablesOnly() throws {
        let runner = CannedCommandRunner([
            "nft -j list tables":
                #"{"nftables": [{"metainfo": {"json_schema_version": 1}}, {"table": {"family": "inet", "name": "braid", "handle": 1}}, {"table": {"family": "inet", "name": "filter", "handle": 2}}, {"table": {"family": "bridge", "name": "br", "handle": 3}}, {"table": {"family": "ip", "name": "gone", "handle": 4}}]}"#,
            "nft -j list table inet filter": ForeignFirewallFixtures.handwritten,
            "iptables-legacy-save": "",
        ])
        let ruleset = try LinuxKernel(runner: runner).readForeignRuleset()
        let listed = runner.asked.filter { $0.starts(with: ["nft", "-j", "list", "table"]) }.map {
            $0.suffix(2).joined(separator: " ")
        }
        #expect(listed == ["inet filter", "ip gone"])
        // The table that vanished between the two listings is skipped; the other is audited as usual.
        let findings = ForeignFirewallAudit.findings(in: ruleset, lanInterfaces: ["lan0"], wanInterfaces: ["wan1"])
        #expect(findings.map(\.chain) == ["forward"], "\(findings.map(\.summary))")
    }
}
