import BraidConfig
import BraidDaemon
import BraidLab
import Foundation
import Testing

extension LabTests.DualStack {
    /// TCP, HTTP and DNS probes to an IPv6 target, like the IPv4 ones in `Failover.probeMethods`.
    /// Each WAN's probes must leave through that WAN (mark + bound to its device): cutting only
    /// isp2's IPv6 upstream takes down isp2's IPv6 verdict and nothing else, so neither isp1's
    /// probes nor isp2's IPv4 ones can have gone that way.
    @Test(
        "TCP, HTTP and DNS probes over IPv6 leave through their WAN: a healthy target keeps it up, an IPv6-only cut takes down only that WAN's IPv6",
        arguments: ["tcp:80", "http://health.example/health", "dns:example.org"])
    func ipv6ProbeMethods(method: String) async throws {
        try await DualStackLab.with(lanHostCount: 1, name: "p6\(method.prefix(3))") { dual in
            let lab = dual.lab
            try dual.waitForRouterAdvertisement()
            let timers = "method: \"\(method)\", interval: 100ms, timeout: 200ms"
            let yaml = dual.configYAML(
                extraWanKeys: ["health": "{ targets: [\(Lab.secondServerAddress), \"\(DualStackLab.serverAddress)\"], \(timers) }"],
                perWan: [3: ["health": "{ targets: [\(Lab.secondServerAddress)], \(timers) }"]])
            let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: try lab.writeFile("braid.yaml", yaml))
            try await daemon.waitForLog("running", timeout: .seconds(10))
            // Until the RA-learned route and the neighbours settle, the first rounds may fail (seen once
            // in a full lab run): wait for every verdict to be up, then demand that it stays so.
            let settled = ContinuousClock.now + .seconds(8)
            while ContinuousClock.now < settled {
                if let status = lab.daemonStatus(),
                    status.wans.allSatisfy({ $0.state == .up && ($0.name == "isp3" || $0.ipv6State == .up) })
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let settledAt = daemon.log.count
            try await Task.sleep(for: .milliseconds(1000))
            let sinceSettled = daemon.log.dropFirst(settledAt).map(\.text).joined(separator: "\n")
            #expect(!sinceSettled.contains(" down"), "a WAN or its IPv6 went down with healthy targets:\n\(daemon.logText)")
            let status = try #require(lab.daemonStatus())
            for wan in status.wans where wan.state != .up || (wan.name != "isp3" && wan.ipv6State != .up) {
                Issue.record("\(wan.name): \(wan.state) / IPv6 \(String(describing: wan.ipv6State)): \(wan.reason)")
            }
            for wan in status.wans where wan.name != "isp3" {
                let target = try #require(wan.targets.first { $0.address == "\(DualStackLab.serverAddress)" }, "\(wan)")
                #expect(target.lastRTTMilliseconds != nil, "\(wan.name)'s IPv6 probe got no answer: \(target)")
            }
            let logged = daemon.log.count
            try dual.cutIPv6Upstream(2)
            try await daemon.waitForLog("isp2 IPv6 is down", after: logged, timeout: .seconds(5))
            try await Task.sleep(for: .milliseconds(500))
            let after = try #require(lab.daemonStatus())
            let isp1 = try #require(after.wans.first { $0.name == "isp1" })
            let isp2 = try #require(after.wans.first { $0.name == "isp2" })
            #expect(isp1.state == .up && isp1.ipv6State == .up, "isp1's probes went out of isp2: \(isp1)")
            #expect(isp2.state == .up && isp2.ipv6State == .down, "\(isp2)")
            #expect(await daemon.stop() == 0)
        }
    }
}
