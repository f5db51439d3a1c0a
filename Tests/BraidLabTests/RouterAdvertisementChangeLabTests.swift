import BraidConfig
import BraidDaemon
import BraidLab
import Foundation
import Testing

extension LabTests.DualStack {
    @Test("An RA-learned IPv6 gateway that moves (radvd on a new router address) is followed: the WAN's table and new connections use the new one")
    func routerAdvertisedGatewayChangeIsFollowed() async throws {
        try await DualStackLab.with(lanHostCount: 1, name: "v6mv") { dual in
            let lab = dual.lab
            try dual.waitForRouterAdvertisement()
            let wan2 = lab.wans[1].routerInterface
            // All IPv6 over isp2, so every new connection needs its current gateway.
            let path = try lab.writeFile("braid.yaml", dual.configYAML(weights: [0, 1, 1]))
            let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
            try await daemon.waitForLog("running", timeout: .seconds(10))
            let before = try #require(try dual.learnedGateway())
            #expect(try lab.router.run(["ip", "-6", "route", "show", "table", "201"]).contains("default via \(before) dev \(wan2)"))

            let moved = IPv6Address("fe80::2:99")!
            let old = try dual.moveAdvertisedRouter(to: moved)
            #expect(old == before)
            // The router hears the new router within radvd's first advertisements; Braid's table follows.
            let deadline = ContinuousClock.now + .seconds(15)
            var table = ""
            while ContinuousClock.now < deadline {
                table = try lab.router.run(["ip", "-6", "route", "show", "table", "201"])
                if table.contains("default via \(moved) dev \(wan2)") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(table.contains("default via \(moved) dev \(wan2)"), "table 201 did not follow the new gateway: \(table)")
            #expect(!table.contains("via \(before)"), "the old gateway is still in table 201: \(table)")
            // The old address is gone from the ISP, so only the new gateway can carry these.
            let answers = Self.count(
                try await LabTraffic.newIPv6Connections(from: lab.lanHosts[0], count: 20, to: DualStackLab.serverAddress), dual)
            #expect(answers == ["isp2": 20], "\(answers)")
            #expect(await daemon.stop() == 0)
        }
    }
}
