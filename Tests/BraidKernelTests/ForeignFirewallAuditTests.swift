import BraidConfig
import BraidKernel
import BraidKernelFake
import BraidPlanner
import Testing

@Suite struct ForeignFirewallAuditTests {
    static let lanPrefixes = ["lan0": [IPv4Prefix("10.77.0.0/24")!]]

    func findings(_ json: String, legacy: String? = nil, wans: [String] = ["wan1"]) -> [ForeignFirewallFinding] {
        ForeignFirewallAudit.findings(
            in: ForeignRuleset(nftJSON: json, iptablesLegacySave: legacy), lanInterfaces: ["lan0"],
            wanInterfaces: wans, lanPrefixes: Self.lanPrefixes)
    }

    @Test("Docker's FORWARD policy drop is found, with the DOCKER-USER rules as the fix, and its own masquerade is not")
    func docker() throws {
        let results = findings(ForeignFirewallFixtures.docker, wans: ["wan1", "wan2"])
        #expect(results.count == 1, "\(results.map(\.summary))")
        let finding = try #require(results.first)
        #expect(finding.kind == .drop)
        #expect((finding.family, finding.table, finding.chain, finding.hook) == ("ip", "filter", "FORWARD", "forward"))
        #expect(
            finding.problem.hasPrefix(
                "policy drop drops all traffic between lan0 and wan1 (both ways), all traffic between lan0 and wan2 (both ways)."),
            "\(finding.problem)")
        #expect(finding.fix.contains("iptables -I DOCKER-USER -i lan0 -o wan1 -j ACCEPT"))
        #expect(
            finding.fix.contains("iptables -I DOCKER-USER -i wan2 -o lan0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"))
    }

    @Test("Docker's rules seen through iptables-legacy-save give the same finding, with iptables-legacy commands")
    func dockerLegacy() throws {
        let results = findings("", legacy: ForeignFirewallFixtures.dockerLegacySave)
        let finding = try #require(results.first)
        #expect(results.count == 1, "\(results.map(\.summary))")
        #expect((finding.kind, finding.family, finding.table, finding.chain) == (.drop, "iptables-legacy", "filter", "FORWARD"))
        #expect(finding.fix.contains("iptables-legacy -I DOCKER-USER -i lan0 -o wan1 -j ACCEPT"))
        #expect(finding.location == "iptables-legacy table filter, chain FORWARD")
    }

    @Test("ufw's routed deny drops new connections, not replies; its route rule clears it")
    func ufw() throws {
        let results = findings(ForeignFirewallFixtures.ufw)
        let finding = try #require(results.first)
        #expect(results.count == 1, "\(results.map(\.summary))")
        #expect(finding.kind == .drop && finding.chain == "FORWARD")
        #expect(finding.problem.contains("new connections lan0→wan1") && !finding.problem.contains("replies"))
        #expect(finding.fix.contains("ufw route allow in on lan0 out on wan1"))
        #expect(
            findings(ForeignFirewallFixtures.ufwAllowed).isEmpty, "\(findings(ForeignFirewallFixtures.ufwAllowed).map(\.summary))"
        )
    }

    @Test("A hand-written forward chain with policy drop: new connections dropped, nft commands as the fix")
    func handwritten() throws {
        let results = findings(ForeignFirewallFixtures.handwritten)
        let finding = try #require(results.first)
        #expect(results.count == 1)
        #expect(
            (finding.kind, finding.family, finding.table, finding.chain, finding.priority) == (
                .drop, "inet", "filter", "forward", 0
            ))
        #expect(
            finding.problem
                == "policy drop drops new connections lan0→wan1. Braid's `accept` does not override it: a drop in any base chain wins"
        )
        #expect(finding.fix.contains(#"nft insert rule inet filter forward iifname "lan0" oifname "wan1" accept"#))
    }

    @Test("Drops limited to other interfaces or sources do not count; a port reject is partial; a masquerade on a WAN is NAT")
    func mixed() {
        let results = findings(ForeignFirewallFixtures.mixed)
        #expect(results.map(\.kind) == [.partialDrop, .nat], "\(results.map(\.summary))")
        #expect(
            results.first?.problem.contains("chain forward (handle 7) may drop some new connections lan0→wan1") == true,
            "\(results.map(\.problem))")
        #expect(results.last?.table == "mynat" && results.last?.chain == "post")
        #expect(results.last?.problem.contains("same priority as Braid's NAT") == true)
        // Braid's own table (here with policy drop) is never reported.
        #expect(!results.contains { $0.table == "braid" })
        // Other interfaces: nothing to say.
        #expect(
            ForeignFirewallAudit.findings(
                in: ForeignRuleset(nftJSON: ForeignFirewallFixtures.mixed), lanInterfaces: ["lan7"],
                wanInterfaces: ["wan7"]
            ).isEmpty)
    }

    @Test("A forward chain with policy accept and no drops is harmless")
    func harmless() {
        let json =
            #"{"nftables": [{"table": {"family": "inet", "name": "filter", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 2, "expr": [{"counter": {"packets": 0, "bytes": 0}}]}}]}"#
        #expect(findings(json).isEmpty)
        #expect(findings("").isEmpty)
    }

    @Test("Unreadable output becomes an unchecked finding, never an error")
    func unreadable() {
        let results = findings("not json")
        #expect(results.map(\.kind) == [.unchecked])
    }

    @Test("check() audits the ruleset the kernel port returns (none by default)")
    func checkThroughKernelPort() throws {
        let kernel = FakeKernel(interfaces: [
            InterfaceFacts(name: "lan0", addresses: [InterfaceAddress(address: IPv4Address("10.77.0.1")!, prefixLength: 24)]),
            InterfaceFacts(name: "wan1"),
        ])
        let config = Config(
            lan: LanConfig(interfaces: ["lan0"]),
            wans: [WanConfig(name: "isp1", interface: "wan1", gateway: IPv4Address("100.64.1.1")!)])
        #expect(ForeignFirewallAudit.check(config: config, kernel: kernel).isEmpty)
        kernel.update { $0.foreignRuleset = ForeignRuleset(nftJSON: ForeignFirewallFixtures.docker) }
        #expect(ForeignFirewallAudit.check(config: config, kernel: kernel).map(\.chain) == ["FORWARD"])
    }

    @Test(
        "firewalld-shaped zones: followed through goto; IPv6-only rules ignored; the final reject is found, with a firewalld fix")
    func firewalldLike() throws {
        let results = findings(ForeignFirewallFixtures.firewalldLike)
        let finding = try #require(results.first)
        #expect(results.count == 1, "\(results.map(\.summary))")
        #expect((finding.kind, finding.table, finding.chain, finding.priority) == (.drop, "firewalld", "filter_FORWARD", 10))
        #expect(
            finding.problem.hasPrefix("a `reject` rule in chain filter_FORWARD (handle 14) drops new connections lan0→wan1."),
            "\(finding.problem)")
        #expect(finding.fix.first?.hasPrefix("firewalld:") == true)
    }

    @Test("A jump to a chain that drops counts, named by that chain's rule; the conditional drop before it is not repeated")
    func jumpToDrop() throws {
        let results = findings(ForeignFirewallFixtures.jumpToDrop)
        #expect(results.count == 1, "\(results.map(\.summary))")
        let finding = try #require(results.first)
        #expect(finding.chain == "forward" && finding.kind == .drop)
        #expect(
            finding.problem.hasPrefix(
                "a `drop` rule in chain lan_out (handle 5) drops new connections lan0→wan1, established traffic lan0→wan1."),
            "\(finding.problem)")
        #expect(finding.fix.contains(#"nft insert rule ip router forward iifname "lan0" oifname "wan1" accept"#))
    }

    @Test("iptables-save: a target's own options are not conditions; a rule for other sources or interfaces does not count")
    func legacyRejectAndTargetOptions() throws {
        let save = """
            *filter
            :FORWARD ACCEPT [0:0]
            :lan-out - [0:0]
            -A FORWARD -s 192.168.50.0/24 -j DROP
            -A FORWARD -i eth9 -j DROP
            -A FORWARD -m comment --comment "log, then go on" -j LOG --log-prefix "fwd "
            -A FORWARD -i lan+ -j lan-out
            -A lan-out -j REJECT --reject-with icmp-port-unreachable
            COMMIT
            *nat
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -o wan1 -j SNAT --to-source 100.64.1.2
            COMMIT
            """
        let results = findings("", legacy: save)
        #expect(results.map(\.kind) == [.drop, .nat], "\(results.map(\.summary))")
        #expect(
            results.first?.problem.hasPrefix(
                "a `reject` rule in chain lan-out (-A lan-out -j REJECT --reject-with icmp-port-unreachable) drops") == true,
            "\(results.first?.problem ?? "")")
        #expect(results.first?.fix.contains("iptables-legacy -I FORWARD -i lan0 -o wan1 -j ACCEPT") == true)
        #expect(results.last?.problem.contains("`snat` rule in chain POSTROUTING") == true, "\(results.last?.problem ?? "")")
    }
}
