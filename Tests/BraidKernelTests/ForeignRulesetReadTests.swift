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
            // The tables come from the chains (`list tables` reads every set's elements first):
            // a table shows up once however many chains it has, and a table without chains not at all.
            "nft -j list chains":
                #"{"nftables": [{"metainfo": {"json_schema_version": 1}}, {"chain": {"family": "inet", "table": "braid", "name": "prerouting", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2}}, {"chain": {"family": "bridge", "table": "br", "name": "forward", "handle": 1}}, {"chain": {"family": "ip", "table": "gone", "name": "x", "handle": 1}}]}"#,
            "nft -j list table inet filter": ForeignFirewallFixtures.handwritten,
            "iptables-legacy-save": "",
        ])
        let ruleset = try LinuxKernel(runner: runner).readForeignRuleset()
        let listed = runner.asked.filter { $0.starts(with: ["nft", "-j", "list", "table"]) }.map {
            $0.suffix(2).joined(separator: " ")
        }
        #expect(listed == ["inet filter", "ip gone"])
        #expect(!runner.asked.contains(["nft", "-j", "list", "tables"]))
        // The table that vanished between the two listings is skipped; the other is audited as usual.
        let findings = ForeignFirewallAudit.findings(in: ruleset, lanInterfaces: ["lan0"], wanInterfaces: ["wan1"])
        #expect(findings.map(\.chain) == ["forward"], "\(findings.map(\.summary))")
    }
}
