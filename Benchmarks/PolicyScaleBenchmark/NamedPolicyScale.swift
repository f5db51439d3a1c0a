import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation

/// Named policies at scale: new connections per second through the router with 100 policies
/// against 1, the same 100 rules either way (99 source pins of other hosts and one that sends
/// the benchmark's LAN host to the last policy), so the only difference is the number of
/// policies. A rule's verdict jumps straight to its policy's chain, so the rate should not move.
/// Also the cold apply and a health re-plan (a WAN down, then back) with each.
///
/// Alone: `swift run -c release policy-scale-benchmark named-policies [repetitions]`.
enum NamedPolicyScale {
    static func config(_ lab: Lab, policies: Int) -> String {
        var lines = ["policies:"]
        for index in 0..<policies {
            // Alternate the weights so the policies' splits really differ.
            lines.append(
                "  p\(index): { members: [{ wan: isp1, weight: \(1 + index % 3) }, { wan: isp2, weight: \(1 + index % 2) }] }")
        }
        lines.append("rules:")
        for index in 0..<99 {
            lines.append(
                "  - { name: host-\(index), source: \(IPv4Address(0x0a64_0000 + UInt32(index))), policy: p\(index % policies) }")
        }
        lines.append("  - { name: bench, source: \(lab.lanHostAddress(0)), policy: p\(policies - 1) }")
        return lab.configYAML() + lines.joined(separator: "\n") + "\n"
    }

    static func run(lab: Lab, applier: GatewayApplier, repetitions: Int) async throws {
        print("")
        print("named policies (100 rules either way; the LAN host's rule names the last policy):")
        var rates: [Double] = []
        var applies: [Double] = []
        var replans: [Double] = []
        for policies in [1, 100] {
            let config = try ConfigLoader.parse(config(lab, policies: policies))
            try applier.down()
            let started = ContinuousClock.now
            try applier.apply(config)
            applies.append((ContinuousClock.now - started).inMilliseconds)
            var rounds: [Double] = []
            for round in 0..<(2 * repetitions) {
                let replanStarted = ContinuousClock.now
                try applier.apply(config, availability: round % 2 == 0 ? WanAvailability(unavailable: ["isp1"]) : .allAvailable)
                rounds.append((ContinuousClock.now - replanStarted).inMilliseconds)
            }
            replans.append(PolicyScaleBenchmark.median(rounds))
            var samples: [Double] = []
            for _ in 0..<repetitions {
                let connectStarted = ContinuousClock.now
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 1000)
                let failed = answers.filter { $0.hasPrefix("failed") }.count
                if failed > 0 { print("  warning: \(failed) connections failed") }
                samples.append(1000 / ((ContinuousClock.now - connectStarted).inMilliseconds / 1000))
            }
            rates.append(PolicyScaleBenchmark.median(samples))
            let name = "\(policies) polic\(policies == 1 ? "y" : "ies")"
            print(PolicyScaleBenchmark.row("\(name): apply, cold", applies.last!, "ms", baseline: applies[0]))
            print(PolicyScaleBenchmark.row("\(name): re-plan (WAN down/up)", replans.last!, "ms", baseline: replans[0]))
            print(PolicyScaleBenchmark.row("\(name): new connections", rates.last!, "conn/s", baseline: rates[0]))
        }
        try applier.down()
    }
}
