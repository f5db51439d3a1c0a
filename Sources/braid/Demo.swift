import ArgumentParser
import BraidApply
import BraidConfig
import BraidDaemon
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
            try await Self.failover(lab, weights: weights)
            try applier.down()
            print("\nbraid down: removed; the lab is being torn down.")
        }
    }

    /// Runs `braid run` (this binary) with health checks on the lab router, opens a new connection
    /// every 20 ms, cuts isp1's upstream, and prints how long until new connections avoided it.
    static func failover(_ lab: Lab, weights: [Int]) async throws {
        print("\nA failover: `braid run` probes every ISP; isp1's upstream is cut while new connections keep coming …")
        let yaml =
            lab.configYAML(weights: weights, extraWanKeys: ["health": "{ targets: [\(Lab.serverAddress)] }"])
            + "api:\n  listen: none\n"
        let path = try lab.writeFile("demo-run.yaml", yaml)
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let daemon = try LabDaemon(lab: lab, binary: binary, configPath: path)
        try await daemon.waitForLog("running", timeout: .seconds(15))
        let socket = GatewayDaemon.statusSocketPath(stateDirectory: lab.stateDirectory)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline,
            StatusSocketServer.read(path: socket)?.wans.allSatisfy({ $0.state == .up }) != true
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        let sampler = ConnectionSampler(from: lab.lanHosts[0])
        try await Task.sleep(for: .milliseconds(500))
        let cutAt = ContinuousClock.now
        try lab.cutUpstream(lab.wans[0])
        let verdict = try await daemon.waitForLog("isp1 is down", timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(800))
        let samples = await sampler.stop()
        await daemon.stop()
        func milliseconds(_ duration: Duration) -> Int {
            Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        }
        print(
            "  braid run declared isp1 down \(milliseconds(verdict.arrivedAt - cutAt)) ms after the cut (\(verdict.text.range(of: "isp1 is down: ").map { String(verdict.text[$0.upperBound...]) } ?? verdict.text))"
        )
        guard let lastOnDeadWan = samples.last(where: { $0.neededRetransmission }) else {
            print("  no new connection went to isp1 after the cut (its share was too small to be hit)")
            return
        }
        let later = samples.filter { $0.startedAt > lastOnDeadWan.startedAt }
        let byWan = Dictionary(grouping: later) { lab.wan(forPeer: $0.answer)?.name ?? "failed" }.mapValues(\.count)
        print(
            "  the last new connection sent to isp1 started \(milliseconds(lastOnDeadWan.startedAt - cutAt)) ms after the cut; "
                + "since then \(later.count) new connections: "
                + byWan.sorted { $0.key < $1.key }.map { "\($0.value) via \($0.key)" }.joined(separator: ", "))
        let failed = samples.filter(\.failed).count
        print(
            "  \(samples.count) connections in all, \(failed) failed (those sent to isp1 before the failover were retried via another ISP after the flush)"
        )
    }
}
