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
        let counts = [1, 100]
        let configs = try counts.map { try ConfigLoader.parse(config(lab, policies: $0)) }
        var applies: [[Double]] = [[], []]
        var replans: [[Double]] = [[], []]
        var rates: [[Double]] = [[], []]
        // Interleaved, so that load from other work on the machine falls on both alike.
        for _ in 0..<repetitions {
            for (index, config) in configs.enumerated() {
                try applier.down()
                let started = ContinuousClock.now
                try applier.apply(config)
                applies[index].append((ContinuousClock.now - started).inMilliseconds)
                for round in 0..<2 {
                    let replanStarted = ContinuousClock.now
                    try applier.apply(config, availability: round == 0 ? WanAvailability(unavailable: ["isp1"]) : .allAvailable)
                    replans[index].append((ContinuousClock.now - replanStarted).inMilliseconds)
                }
                let connectStarted = ContinuousClock.now
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 1000)
                let failed = answers.filter { $0.hasPrefix("failed") }.count
                if failed > 0 { print("  warning: \(failed) connections failed") }
                rates[index].append(1000 / ((ContinuousClock.now - connectStarted).inMilliseconds / 1000))
            }
        }
        let median = PolicyScaleBenchmark.median
        for (index, policies) in counts.enumerated() {
            let name = "\(policies) polic\(policies == 1 ? "y" : "ies")"
            print(PolicyScaleBenchmark.row("\(name): apply, cold", median(applies[index]), "ms", baseline: median(applies[0])))
            print(
                PolicyScaleBenchmark.row(
                    "\(name): re-plan (WAN down/up)", median(replans[index]), "ms", baseline: median(replans[0])))
            print(
                PolicyScaleBenchmark.row("\(name): new connections", median(rates[index]), "conn/s", baseline: median(rates[0])))
        }
        try applier.down()
    }
}
