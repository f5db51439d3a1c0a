import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Another firewall on the router: Docker's iptables rules, issued with Debian's iptables in
    /// its nft mode, as dockerd issues them when it starts.
    @Suite struct ForeignFirewall {
        /// What dockerd runs (filter and nat tables) for the default bridge docker0, 172.17.0.0/16.
        static let dockerRules: [[String]] = [
            ["-N", "DOCKER"], ["-N", "DOCKER-ISOLATION-STAGE-1"], ["-N", "DOCKER-ISOLATION-STAGE-2"], ["-N", "DOCKER-USER"],
            ["-P", "FORWARD", "DROP"],
            ["-A", "FORWARD", "-j", "DOCKER-USER"],
            ["-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1"],
            ["-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-o", "docker0", "-j", "DOCKER"],
            ["-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "docker0", "-o", "docker0", "-j", "ACCEPT"],
            ["-A", "DOCKER-ISOLATION-STAGE-1", "-i", "docker0", "!", "-o", "docker0", "-j", "DOCKER-ISOLATION-STAGE-2"],
            ["-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN"],
            ["-A", "DOCKER-ISOLATION-STAGE-2", "-o", "docker0", "-j", "DROP"],
            ["-A", "DOCKER-ISOLATION-STAGE-2", "-j", "RETURN"],
            ["-A", "DOCKER-USER", "-j", "RETURN"],
            ["-t", "nat", "-N", "DOCKER"],
            ["-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
            ["-t", "nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
            ["-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"],
            ["-t", "nat", "-A", "DOCKER", "-i", "docker0", "-j", "RETURN"],
        ]

        /// Debian's `iptables` is iptables-nft (its alternatives' default), which nft lists; named
        /// explicitly so the test does not depend on the alternative chosen on this machine.
        /// iptables-legacy hooks in beside nftables, where only `iptables-legacy-save` sees it.
        static let iptablesVariants = ["iptables-nft", "iptables-legacy"]

        func otherFirewalls(_ lab: Lab, config path: String) throws -> [ForeignFirewallFinding] {
            let result = try lab.runBraid(
                try BraidExecutable.path, ["status", "-c", path, "--json", "--state-dir", lab.stateDirectory])
            guard result.status == 0 else { throw LabError("braid status failed: \(result.standardError)") }
            struct Report: Decodable { var otherFirewalls: [ForeignFirewallFinding] }
            return try JSONDecoder().decode(Report.self, from: Data(result.standardOutput.utf8)).otherFirewalls
        }

        @Test(
            "Docker's FORWARD policy drop is reported by apply and status with the DOCKER-USER fix, which works",
            arguments: iptablesVariants)
        func dockerForwardDrop(iptables: String) async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(iptables)") else {
                throw LabError("\(iptables) is not installed (Debian package iptables; scripts/install-dependencies installs it)")
            }
            let legacy = iptables == "iptables-legacy"
            // How Braid names the chain and the tool in its fix.
            let location = legacy ? "iptables-legacy table filter, chain FORWARD" : "table ip filter, chain FORWARD"
            let tool = legacy ? "iptables-legacy" : "iptables"
            try await Lab.with(wanCount: 1, name: "dock") { lab in
                let path = try lab.writeFile("braid.yaml", lab.configYAML())
                let first = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                try #require(first.status == 0, "\(first.standardError)")
                #expect(!first.standardError.contains("warning"), "\(first.standardError)")
                #expect(lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 3)) == ["isp1": 3])

                for rule in Self.dockerRules { try lab.router.run([iptables] + rule) }
                let blocked = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 2, timeout: 1))
                #expect(blocked == ["failed": 2], "Docker's FORWARD policy should drop the LAN's connections: \(blocked)")

                let apply = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(apply.status == 0, "\(apply.standardError)")
                #expect(
                    apply.standardError.contains("will be dropped by another firewall: \(location)"), "\(apply.standardError)")
                #expect(
                    apply.standardError.contains("\(tool) -I DOCKER-USER -i lan0 -o wan1 -j ACCEPT"), "\(apply.standardError)")
                // Docker's own masquerade is limited to 172.17.0.0/16: not Braid's traffic, not reported.
                #expect(!apply.standardError.contains("NAT"), "\(apply.standardError)")

                let findings = try otherFirewalls(lab, config: path)
                #expect(
                    findings.map { "\($0.kind.rawValue) \($0.family) \($0.table) \($0.chain)" } == [
                        "drop \(legacy ? "iptables-legacy" : "ip") filter FORWARD"
                    ],
                    "\(findings)")
                let text = try lab.runBraid(try BraidExecutable.path, ["status", "-c", path, "--state-dir", lab.stateDirectory])
                #expect(
                    text.standardOutput.contains("Other firewalls on the forward path")
                        && text.standardOutput.contains("DOCKER-USER"),
                    "\(text.standardOutput)")

                // The fix, as Braid words it, run as it says.
                let commands = (findings.first?.fix ?? []).filter { $0.hasPrefix("\(tool) ") }
                #expect(commands.count == 2, "\(findings.first?.fix ?? [])")
                for command in commands {
                    try lab.router.run([iptables] + command.split(separator: " ").dropFirst().map(String.init))
                }
                let flowing = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 5))
                #expect(flowing == ["isp1": 5], "after the DOCKER-USER rules: \(flowing)")
                #expect(try otherFirewalls(lab, config: path).isEmpty)
                let clean = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(clean.status == 0 && !clean.standardError.contains("warning"), "\(clean.standardError)")
            }
        }
    }
}
