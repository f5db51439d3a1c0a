import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Configs written for mwan3, converted by `braid import mwan3` and run by Braid, behave as
    /// mwan3 would: a balanced policy splits by its members' weights, a tiered policy fails over
    /// in metric order on carrier loss, and a sticky rule keeps a client on the WAN it got.
    @Suite struct Mwan3Import {
        /// OpenWrt's network file for this lab: each mwan3 interface is a static uplink on the
        /// router's WAN device, the LAN is the lab's bridge.
        static func network(_ lab: Lab) -> String {
            var text = "config interface 'lan'\n\toption device '\(Lab.lanInterface)'\n\toption proto 'static'\n\n"
            for wan in lab.wans {
                text += """
                    config interface '\(wan.name)'
                    \toption device '\(wan.routerInterface)'
                    \toption proto 'static'
                    \toption ipaddr '\(wan.routerAddress)'
                    \toption netmask '255.255.255.0'
                    \toption gateway '\(wan.gateway)'


                    """
            }
            return text
        }

        /// Runs the real CLI's import and returns the path of the Braid config it wrote.
        static func importConfig(_ lab: Lab, mwan3: String) throws -> String {
            let source = try lab.writeFile("mwan3", mwan3)
            let network = try lab.writeFile("network", Self.network(lab))
            let output = try lab.writeFile("braid.yaml", "")
            let result = try lab.runBraid(
                try BraidExecutable.path, ["import", "mwan3", source, "--network", network, "-o", output])
            guard result.status == 0 else { throw LabError("braid import failed (\(result.status)): \(result.standardError)") }
            #expect(!result.standardError.contains("warning:"), "\(result.standardError)")
            let check = try lab.runBraid(try BraidExecutable.path, ["check", "-c", output])
            #expect(check.status == 0, "braid check: \(check.standardError)")
            return output
        }

        static let balancedMwan3 = """
            config globals 'globals'
            \toption mmx_mask '0x3F00'

            config interface 'isp1'
            \toption enabled '1'

            config interface 'isp2'
            \toption enabled '1'

            config member 'isp1_m1_w3'
            \toption interface 'isp1'
            \toption metric '1'
            \toption weight '3'

            config member 'isp2_m1_w2'
            \toption interface 'isp2'
            \toption metric '1'
            \toption weight '2'

            config policy 'balanced'
            \tlist use_member 'isp1_m1_w3'
            \tlist use_member 'isp2_m1_w2'

            config rule 'https'
            \toption sticky '1'
            \toption timeout '600'
            \toption dest_port '443'
            \toption proto 'tcp'
            \toption use_policy 'balanced'

            config rule 'default_rule'
            \toption dest_ip '0.0.0.0/0'
            \toption use_policy 'balanced'

            """

        @Test(
            "An imported balanced policy splits 3:2 within a binomial tolerance; its sticky https rule keeps each client on one WAN"
        )
        func balancedAndSticky() async throws {
            try await Lab.with(wanCount: 2, name: "mwb") { lab in
                let https = try WhoAmIServer(namespace: lab.internet.name, address: Lab.serverAddress, port: 443)
                lab.onTeardown { https.stop() }
                let path = try Self.importConfig(lab, mwan3: Self.balancedMwan3)
                let apply = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                guard apply.status == 0 else { throw LabError("apply failed: \(apply.standardError)") }

                let trials = 600
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: trials))
                #expect(counts["failed"] == nil, "connections failed: \(counts)")
                let expected = Double(trials) * 0.6
                let tolerance = binomialTolerance(trials: trials, probability: 0.6)
                let observed = Double(counts["isp1", default: 0])
                #expect(
                    abs(observed - expected) <= tolerance,
                    "isp1 carried \(observed) of \(trials), expected \(expected) ± \(tolerance)")

                // Sticky https: every client keeps one WAN over many new connections, and clients spread.
                let clients = (0..<24).map { IPv4Address(Lab.routerLanAddress.value + 100 + UInt32($0)) }
                try lab.lanHosts[0].ip(clients.map { ["address", "add", "\($0)/24", "dev", "eth0"] })
                var got: [IPv4Address: String] = [:]
                for client in clients {
                    let answers = try await LabTraffic.newConnections(
                        from: lab.lanHosts[0], count: 12, port: 443, source: client)
                    let byWan = lab.countByWan(answers)
                    #expect(byWan.count == 1 && byWan["failed"] == nil, "\(client) on several WANs: \(byWan)")
                    got[client] = byWan.keys.first
                }
                #expect(Set(got.values) == ["isp1", "isp2"], "24 sticky clients should use both WANs: \(got)")
                // The kernel remembers them in the policy's dynamic sets.
                let listing = try lab.router.run(["nft", "list", "set", "inet", "braid", "sticky_balanced_600_isp1"])
                let remembered = clients.filter { got[$0] == "isp1" }
                #expect(remembered.allSatisfy { listing.contains("\($0)") }, "\(listing)")
                // Plain traffic from the same client is not sticky: it is split by the default policy.
                let plain = lab.countByWan(
                    try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60, source: clients[0]))
                #expect(plain.keys.count == 2, "port 8080 is balanced per connection: \(plain)")
            }
        }

        static let tieredMwan3 = """
            config interface 'isp1'
            \toption enabled '1'
            config interface 'isp2'
            \toption enabled '1'
            config interface 'isp3'
            \toption enabled '1'

            config member 'isp1_m1'
            \toption interface 'isp1'
            \toption metric '1'
            config member 'isp2_m2'
            \toption interface 'isp2'
            \toption metric '2'
            config member 'isp3_m3'
            \toption interface 'isp3'
            \toption metric '3'

            config policy 'failover'
            \tlist use_member 'isp1_m1'
            \tlist use_member 'isp3_m3'
            \tlist use_member 'isp2_m2'
            \toption last_resort 'unreachable'

            config rule 'default_rule'
            \toption dest_ip '0.0.0.0/0'
            \toption use_policy 'failover'

            """

        @Test("An imported tiered policy fails over in metric order on carrier loss, and back")
        func tieredFailover() async throws {
            try await Lab.with(wanCount: 3, name: "mwt") { lab in
                let path = try Self.importConfig(lab, mwan3: Self.tieredMwan3)
                let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
                try await daemon.waitForLog("running")
                #expect(lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)) == ["isp1": 30])
                try lab.setRouterLink(lab.wans[0], up: false)
                try await lab.waitForWan("isp1", .noLink)
                #expect(
                    lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)) == ["isp2": 30],
                    "metric 2 comes next, whatever the member order")
                try lab.setRouterLink(lab.wans[1], up: false)
                try await lab.waitForWan("isp2", .noLink)
                #expect(lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)) == ["isp3": 30])
                let explained = try lab.runBraid(
                    try BraidExecutable.path,
                    [
                        "explain", "-c", path, "--state-dir", lab.stateDirectory, "--from", "\(lab.lanHostAddress(0))",
                        "--to", "\(Lab.serverAddress)",
                    ])
                #expect(explained.standardOutput.contains("policy failover, tier 3: isp3 100%"), "\(explained.standardOutput)")
                try lab.setRouterLink(lab.wans[2], up: false)
                try await lab.waitForWan("isp3", .noLink)
                // Last resort unreachable: refused at once rather than timing out.
                let refused = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 3, timeout: 1)
                #expect(refused.allSatisfy { $0.hasPrefix("failed") }, "\(refused)")
                try lab.setRouterLink(lab.wans[0], up: true)
                try await lab.waitForWan("isp1", .up)
                #expect(lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)) == ["isp1": 30])
            }
        }
    }
}
