import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

/// All lab tests: real packets through a Braid router in network namespaces. Serialized, because
/// two cores are better spent on one lab at a time than on timing-sensitive labs competing.
@Suite(.serialized, .enabled(if: LabRequirement.isAvailable, LabRequirement.reason))
struct LabTests {}

extension LabTests {
    /// Outbound traffic: how new connections spread, and that each connection stays on its WAN.
    @Suite struct Forwarding {
        @Test("1000 new connections split 70/30 within a binomial tolerance; every reply reaches the LAN host")
        func weightedSplit() async throws {
            try await Lab.with(wanCount: 2, name: "split") { lab in
                try lab.applyExpectingSuccess(lab.configYAML(weights: [70, 30]))
                let trials = 1000
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: trials))
                #expect(counts["failed"] == nil, "connections failed: \(counts)")
                let expected = Double(trials) * 0.7
                let tolerance = binomialTolerance(trials: trials, probability: 0.7)
                let observed = Double(counts["isp1", default: 0])
                #expect(
                    abs(observed - expected) <= tolerance,
                    "isp1 carried \(observed) of \(trials), expected \(expected) ± \(tolerance)")
                #expect(counts["isp1", default: 0] + counts["isp2", default: 0] == trials)
            }
        }

        @Test("Every request of one keep-alive connection leaves by the same WAN")
        func keepAliveStaysOnOneWan() async throws {
            try await Lab.with(wanCount: 3, name: "keep") { lab in
                try lab.applyExpectingSuccess(lab.configYAML())
                // Several connections, so that a per-packet (not per-connection) split could not pass by luck.
                for _ in 0..<5 {
                    let flow = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.001)
                    await flow.waitForAnswers(20)
                    let answers = flow.stop()
                    #expect(answers.count >= 20)
                    #expect(Set(answers).count == 1, "one connection used several WANs: \(lab.countByWan(answers))")
                    #expect(lab.wan(forPeer: answers[0]) != nil, "unexpected answer \(answers[0])")
                }
            }
        }

        @Test("UDP from the LAN is balanced and answered")
        func udpIsBalanced() async throws {
            try await Lab.with(wanCount: 2, name: "udp") { lab in
                try lab.applyExpectingSuccess(lab.configYAML())
                var counts: [String: Int] = [:]
                for _ in 0..<60 {
                    let answer = try await LabTraffic.udpRequest(from: lab.lanHosts[0])
                    counts[lab.wan(forPeer: answer)?.name ?? answer, default: 0] += 1
                }
                #expect(Set(counts.keys) == ["isp1", "isp2"], "UDP answers: \(counts)")
            }
        }

        @Test("The router's own connections reach the internet, balanced, with no default route in main")
        func routerTrafficIsBalanced() async throws {
            try await Lab.with(wanCount: 2, name: "own") { lab in
                let before = try await LabTraffic.newConnections(from: lab.router, count: 1, timeout: 0.5)
                #expect(before[0].hasPrefix("failed"), "the lab router should have no route before Braid: \(before)")
                try lab.applyExpectingSuccess(lab.configYAML())
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.router, count: 200))
                #expect(counts["failed"] == nil, "router connections failed: \(counts)")
                #expect(counts["isp1", default: 0] > 40 && counts["isp2", default: 0] > 40, "router traffic split: \(counts)")
            }
        }

        @Test("A connection that arrives on a non-default WAN is answered through that WAN", arguments: [1, 2])
        func inboundAnsweredOnArrivalWan(wanIndex: Int) async throws {
            try await Lab.with(wanCount: 2, name: "in\(wanIndex)") { lab in
                // isp1 carries most traffic, so the fallback route points at it: only the connection mark
                // can send isp2's replies back through isp2 (whose anti-spoofing filter is the only way out).
                try lab.applyExpectingSuccess(lab.configYAML(weights: [90, 10]))
                let wan = lab.wans[wanIndex - 1]
                let answers = try await LabTraffic.newConnections(from: lab.internet, count: 20, to: wan.routerAddress)
                #expect(answers.allSatisfy { $0 == "\(wan.internetSideAddress)" }, "answers: \(answers)")
            }
        }

        @Test("Sixteen WANs with arbitrary interface names all carry traffic")
        func sixteenWans() async throws {
            var names = ["enp3s0f1", "wwan0", "ppp0", "eth0.100", "lte_modem-2", "x", "WAN_Fibre", "abcdefghijklmno"]
            names += (9...16).map { "uplink\($0)" }
            try await Lab.with(wanCount: 16, name: "wide", wanInterfaceNames: names) { lab in
                try lab.applyExpectingSuccess(lab.configYAML())
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 640))
                #expect(counts["failed"] == nil, "failures: \(counts)")
                for wan in lab.wans {
                    // 40 expected each; 5 binomial deviations below that is still above 10.
                    #expect(counts[wan.name, default: 0] > 10, "\(wan.name) carried \(counts[wan.name, default: 0]): \(counts)")
                }
            }
        }
    }
}

extension LabTests {
    /// `braid status` and `braid check` through the real CLI.
    @Suite struct Reporting {
        @Test("status shows each WAN's connections and counters after traffic")
        func statusReportsConnectionsAndCounters() async throws {
            try await Lab.with(wanCount: 2, name: "stat") { lab in
                let yaml = lab.configYAML(weights: [1, 1])
                let path = try lab.writeFile("braid.yaml", yaml)
                let notInstalled = try lab.runBraid(try BraidExecutable.path, ["status", "-c", path])
                #expect(notInstalled.standardOutput.contains("not installed"))
                try lab.applyExpectingSuccess(yaml)
                // Keep connections open so conntrack holds them while status runs.
                var flows: [LongLivedFlow] = []
                for _ in 0..<10 { flows.append(try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.05)) }
                for flow in flows { await flow.waitForAnswers(2) }
                let result = try lab.runBraid(try BraidExecutable.path, ["status", "-c", path, "--json"])
                let used = Set(flows.flatMap { $0.stop() }.compactMap { lab.wan(forPeer: $0)?.name })
                #expect(result.status == 0, "\(result.standardError)")
                let status = try JSONDecoder().decode(GatewayStatus.self, from: Data(result.standardOutput.utf8))
                #expect(status.installed)
                #expect(status.wans.map(\.connections).reduce(0, +) >= 10)
                for wan in status.wans where used.contains(wan.name) {
                    #expect(wan.connections > 0 && wan.transmitted.packets > 0 && wan.received.packets > 0, "\(wan)")
                    #expect(wan.linkUp && wan.share == 0.5)
                }
                let table = try lab.runBraid(try BraidExecutable.path, ["status", "-c", path])
                #expect(table.standardOutput.contains("isp1") && table.standardOutput.contains("CONNS"))
            }
        }
    }
}

extension LabTests.Reporting {
    @Test("Every golden ruleset is accepted by the kernel (nft -c, in a scratch namespace)")
    func goldenRulesetsLoad() async throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("BraidPlannerTests/Golden")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".plan") }
        #expect(files.count >= 5)
        try await Lab.with(wanCount: 1, name: "gold") { lab in
            for file in files {
                let plan = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                let ruleset = plan.components(separatedBy: "# ip rules").first ?? plan
                let result = try lab.router.runner.run(["nft", "-c", "-f", "-"], input: ruleset)
                #expect(result.status == 0, "\(file): \(result.standardError)")
            }
        }
    }
}
