import BraidConfig
import BraidLab
import Foundation

/// Measures how fast `braid run` takes a dead WAN out of service, in the namespace lab, over many
/// upstream cuts: detection time (cut → the daemon's verdict) and switch time (cut → start of the
/// last new connection that still went to the dead WAN). Figures are also given as a ratio to the
/// worst case the health settings promise, computed for the same run.
///
/// Run as root: `swift run -c release failover-benchmark [cuts] [interval] [timeout] [down_after] [rules]`.
/// `rules`: that many policy rules installed (alternating `source:` and `destination:`, half of
/// them on each WAN, none matching the lab's own traffic), to compare failover with a large policy
/// against failover with none: a WAN going down passes half of them over.
@main
struct FailoverBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let cuts = arguments.first.flatMap(Int.init) ?? 10
        let interval = arguments.dropFirst().first ?? DurationText.format(HealthCheckConfig.defaultInterval)
        let timeout = arguments.dropFirst(2).first ?? DurationText.format(HealthCheckConfig.defaultTimeout)
        let downAfter = arguments.dropFirst(3).first.flatMap(Int.init) ?? HealthCheckConfig.defaultDownAfter
        let ruleCount = arguments.dropFirst(4).first.flatMap(Int.init) ?? 0
        guard let intervalValue = DurationText.parse(interval), let timeoutValue = DurationText.parse(timeout) else {
            print("usage: failover-benchmark [cuts] [interval] [timeout] [down_after] [rules]")
            exit(2)
        }
        let bound = intervalValue * downAfter + timeoutValue
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: build the braid product first (\(binary) is missing)")
            exit(1)
        }
        print(
            "Failover benchmark: \(cuts) upstream cuts, health icmp interval \(interval), timeout \(timeout), down_after \(downAfter), up_after 3, \(ruleCount) policy rules"
        )
        print("Promised worst-case detection: \(bound.inMilliseconds) ms")

        let lab = try Lab(wanCount: 2, name: "bench")
        defer { lab.teardown() }
        do {
            var detections: [Double] = []
            var switches: [Double] = []
            var linkDowns: [Double] = []
            // Flap damping off: ten cuts a few seconds apart are flaps, and a held WAN would carry no
            // connection to measure the next switch with.
            let yaml =
                "flap_damping: { enabled: false }\n"
                + lab.configYAML(extraWanKeys: [
                    "health":
                        "{ targets: [\(Lab.serverAddress)], interval: \(interval), timeout: \(timeout), down_after: \(downAfter), up_after: 3 }"
                ]) + policy(ruleCount)
            let daemon = try LabDaemon(lab: lab, binary: binary, configPath: try lab.writeFile("braid.yaml", yaml))
            try await daemon.waitForLog("running")
            for cut in 1...cuts {
                // Let the phase of the probe rounds drift between cuts.
                try await Task.sleep(for: .milliseconds(300 + Int.random(in: 0..<Int(intervalValue.inMilliseconds))))
                let sampler = ConnectionSampler(from: lab.lanHosts[0], interval: .milliseconds(10))
                try await Task.sleep(for: .milliseconds(200))
                let skip = daemon.log.count
                let cutAt = ContinuousClock.now
                try lab.cutUpstream(lab.wans[0])
                let verdict = try await daemon.waitForLog("isp1 is down", after: skip)
                try await Task.sleep(for: .milliseconds(300))
                let samples = await sampler.stop()
                let detection = (verdict.arrivedAt - cutAt).inMilliseconds
                let switchTime =
                    samples.last(where: { $0.neededRetransmission }).map { ($0.startedAt - cutAt).inMilliseconds } ?? 0
                detections.append(detection)
                switches.append(switchTime)
                try lab.healUpstream(lab.wans[0])
                try await daemon.waitForLog("isp1 is up", after: skip)
                print(String(format: "  cut %2d: detection %6.1f ms, switch %6.1f ms", cut, detection, switchTime))
            }
            for _ in 1...min(cuts, 5) {
                let skip = daemon.log.count
                let downAt = ContinuousClock.now
                try lab.setRouterLink(lab.wans[0], up: false)
                let line = try await daemon.waitForLog("isp1 link is down", after: skip)
                linkDowns.append((line.arrivedAt - downAt).inMilliseconds)
                try lab.setRouterLink(lab.wans[0], up: true)
                try await daemon.waitForLog("isp1 link is up", after: skip)
                try await Task.sleep(for: .milliseconds(200))
            }
            _ = await daemon.stop()
            report(detections: detections, switches: switches, linkDowns: linkDowns, bound: bound)
        }
    }

    /// `count` rules in YAML: sources in 10.100.0.0/16 and destinations in 172.16.0.0/16 by turns,
    /// on isp1 and isp2 by turns (the lab's hosts are 10.77.0.0/24, its server 198.19.0.10).
    static func policy(_ count: Int) -> String {
        guard count > 0 else { return "" }
        return "rules:\n"
            + (0..<count).map { index in
                let match =
                    index % 2 == 0
                    ? "source: \(IPv4Address(0x0a64_0000 + UInt32(index)))"
                    : "destination: \(IPv4Address(0xac10_0000 + UInt32(index)))"
                return "  - { name: rule-\(index), \(match), use: [isp\(1 + (index / 2) % 2)] }"
            }.joined(separator: "\n") + "\n"
    }

    static func report(detections: [Double], switches: [Double], linkDowns: [Double], bound: Duration) {
        let boundMilliseconds = bound.inMilliseconds
        print("")
        print("                median      max   (ratio to the promised \(Int(boundMilliseconds)) ms: median, max)")
        for (name, values) in [("detection", detections), ("switch", switches)] {
            print(
                "  " + name.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(
                        format: " %7.1f ms %7.1f ms   (%.2f, %.2f)", median(values), values.max() ?? 0,
                        median(values) / boundMilliseconds, (values.max() ?? 0) / boundMilliseconds))
        }
        print(
            "  link down "
                + String(
                    format: " %7.1f ms %7.1f ms   (router-side link down → out; target 200 ms)",
                    median(linkDowns), linkDowns.max() ?? 0))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

}
