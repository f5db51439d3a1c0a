import ArgumentParser
import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import Foundation

/// `braid demo`: builds a three-ISP lab in network namespaces, runs Braid on its router, drives
/// real connections through it, prints the live split per WAN, and removes everything.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run Braid in a throw-away three-ISP network-namespace lab (root).")

    @Option(help: "New connections per round.")
    var connections = 200
    @Option(help: "Rounds of traffic.")
    var rounds = 3

    func run() async throws {
        try requireRoot("demo")
        let weights = [50, 30, 20]
        print("Building a lab: LAN host → router (Braid) → 3 ISPs → internet host \(Lab.serverAddress)")
        try await Lab.with(wanCount: 3, name: "demo") { lab in
            let configText = lab.configYAML(weights: weights)
            print("\nConfig:\n" + configText.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            let config = try ConfigLoader.parse(configText)
            let kernel = LinuxKernel(runner: lab.router.runner)
            let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
            let report = try applier.apply(config)
            print(
                "\nbraid apply: \(report.performed.count) changes in one go (nft transaction, \(report.desired.policyRules.count) ip rules, \(report.desired.routes.count) routes)"
            )

            var totals: [String: Int] = [:]
            for round in 1...rounds {
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: connections)
                for answer in answers { totals[lab.wan(forPeer: answer)?.name ?? "failed", default: 0] += 1 }
                let sent = round * connections
                print("\nAfter \(sent) new connections from \(lab.lanHostAddress(0)):")
                for (index, wan) in lab.wans.enumerated() {
                    let count = totals[wan.name, default: 0]
                    let bar = String(repeating: "█", count: count * 40 / max(sent, 1))
                    print(
                        "  \(wan.name) weight \(weights[index])  \(String(format: "%5.1f%%", Double(count) * 100 / Double(sent)))  \(bar)"
                    )
                }
                if let failed = totals["failed"] { print("  failed: \(failed)") }
            }

            print("\nA long-lived connection while the weights change to 10/10/80 …")
            let flow = try await LongLivedFlow(from: lab.lanHosts[0])
            try await Task.sleep(for: .milliseconds(300))
            let reweighted = try ConfigLoader.parse(lab.configYAML(weights: [10, 10, 80]))
            try applier.apply(reweighted)
            try await Task.sleep(for: .milliseconds(300))
            let answers = flow.stop()
            let wansUsed = Set(answers.map { lab.wan(forPeer: $0)?.name ?? "failed" })
            print("  \(answers.count) requests on one connection, all via \(wansUsed.sorted().joined(separator: ", "))")

            let status = try GatewayStatus.read(config: reweighted, kernel: kernel)
            print("\nbraid status:\n" + StatusTable.render(status))
            try applier.down()
            print("\nbraid down: removed; the lab is being torn down.")
        }
    }
}
