import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// One WAN's broken piece takes that WAN out, never the others: `braid run` with three WANs,
    /// one broken on the router (interface gone, gateway off-link), then a second WAN's upstream
    /// cut; the daemon must still move new connections to the healthy third.
    @Suite struct Isolation {
        static let health = "{ targets: [\(Lab.serverAddress)] }"

        /// Cuts isp2's upstream once isp1 is broken and expects new connections to leave by isp3.
        static func cutSecondWanAndExpectFailover(_ lab: Lab, _ daemon: LabDaemon) async throws {
            try lab.cutUpstream(lab.wans[1])
            try await lab.waitForWan("isp2", .down)
            let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60, timeout: 1))
            // ≥ 95 % through the healthy third WAN.
            #expect(counts["isp3", default: 0] >= 57, "with isp1 broken and isp2 cut: \(counts)\n\(daemon.logText)")
            #expect(!daemon.logText.contains("re-plan failed"), "\(daemon.logText)")
        }

        @Test("A WAN interface that disappears does not block the failover of the others")
        func vanishedInterfaceDoesNotBlockFailover() async throws {
            try await Lab.with(wanCount: 3, name: "gone") { lab in
                let daemon = try await LabTests.Failover.startDaemon(
                    lab, yaml: lab.configYAML(extraWanKeys: ["health": Self.health]))
                try lab.deleteRouterLink(lab.wans[0])
                try await daemon.waitForLog("isp1 link is down")
                try await Self.cutSecondWanAndExpectFailover(lab, daemon)
                let status = try #require(try LabTests.Failover.daemonHealth(lab))
                #expect(status.first { $0.name == "isp1" }?.state == "no_link", "\(status.map { "\($0.name): \($0.state)" })")
            }
        }

        @Test("A WAN whose gateway became off-link is reported unusable and does not block the failover of the others")
        func offLinkGatewayDoesNotBlockFailover() async throws {
            try await Lab.with(wanCount: 3, name: "olnk") { lab in
                let daemon = try await LabTests.Failover.startDaemon(
                    lab, yaml: lab.configYAML(extraWanKeys: ["health": Self.health]))
                try lab.moveRouterAddress(lab.wans[0], to: "100.99.1.2/24")
                try await daemon.waitForLog("interface addresses changed")
                try await Self.cutSecondWanAndExpectFailover(lab, daemon)
                #expect(
                    daemon.logText.contains("isp1 is out of service: gateway 100.64.1.1 is not on-link on wan1"),
                    "\(daemon.logText)")
                let status = try #require(try LabTests.Failover.daemonHealth(lab))
                let isp1 = try #require(status.first { $0.name == "isp1" })
                #expect(isp1.state == "unusable" && isp1.reason.contains("not on-link"), "\(isp1.state): \(isp1.reason)")
            }
        }

        @Test("A WAN interface deleted and re-created (new index) carries new connections again without SIGHUP")
        func recreatedInterfaceComesBack() async throws {
            try await Lab.with(wanCount: 2, name: "recr") { lab in
                let daemon = try await LabTests.Failover.startDaemon(
                    lab, yaml: lab.configYAML(extraWanKeys: ["health": Self.health]))
                try await Task.sleep(for: .milliseconds(300))
                let indexBefore = try lab.router.run(["cat", "/sys/class/net/wan1/ifindex"])
                try lab.deleteRouterLink(lab.wans[0])
                try await daemon.waitForLog("isp1 is down")
                let skip = daemon.log.count
                try lab.recreateRouterLink(lab.wans[0])
                #expect(try lab.router.run(["cat", "/sys/class/net/wan1/ifindex"]) != indexBefore)
                try await daemon.waitForLog("isp1 is up", after: skip)
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 100, timeout: 1))
                #expect(counts["isp1", default: 0] > 20 && counts["failed"] == nil, "after the re-creation: \(counts)")
            }
        }
    }
}
