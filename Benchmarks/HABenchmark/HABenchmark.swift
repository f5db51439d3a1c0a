import BraidConfig
import BraidDaemon
import BraidHA
import BraidLab
import Foundation

/// Measures an HA pair's takeover in the two-gateway lab, over repeated power losses of whichever
/// gateway is active (the roles alternate): takeover time (power cut → virtual addresses on the
/// backup), time to the first new connection, how long the conntrackd commit came after
/// keepalived's report (the ordering effect: keepalived moves the addresses before Braid hears
/// of it), the long-lived flows' interruption, and flows lost out of N. The baseline, computed
/// for the same settings, is VRRP's own promise: the backup declares the master down after
/// 3 adverts plus a skew of (256 − priority)/256 advert.
///
/// Run as root: `.build/debug/ha-benchmark [failovers] [flows]` (after `swift build`).
@main
struct HABenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let failovers = arguments.first.flatMap(Int.init) ?? 10
        let flowCount = arguments.dropFirst().first.flatMap(Int.init) ?? 16
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: build the braid product first (\(binary) is missing)")
            exit(1)
        }
        let advert = 0.1
        let priorities = [200, 100]
        print(
            "HA benchmark: \(failovers) power losses of the active gateway, \(flowCount) long-lived TCP flows each, WAN weights 2:1"
        )

        let lab = try HALab(name: "habench")
        defer { lab.teardown() }
        var daemons: [LabDaemon?] = [nil, nil]
        func start(_ router: Int) async throws {
            let yaml = lab.configYAML(router: router, priority: priorities[router], weights: [2, 1])
            let daemon = try lab.startBraid(router: router, binary: binary, yaml: yaml)
            try await daemon.waitForLog("running", timeout: .seconds(20))
            daemons[router] = daemon
        }
        func status(_ router: Int) -> HAStatus? {
            StatusSocketServer.read(path: GatewayDaemon.statusSocketPath(stateDirectory: lab.stateDirectories[router]))?.ha
        }
        func waitForRole(_ router: Int, _ role: HARole, timeout: Duration = .seconds(20)) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if status(router)?.role == role { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw LabError("router\(router + 1) did not become \(role.rawValue)")
        }
        // One after the other: without preempt, whichever keepalived starts first becomes master.
        try await start(0)
        try await waitForRole(0, .active)
        try await start(1)
        try await waitForRole(1, .backup)

        var takeovers: [Double] = []
        var firstConnections: [Double] = []
        var commits: [Double] = []
        var interruptions: [Double] = []
        var baselines: [Double] = []
        var lost = 0
        var total = 0
        for round in 1...failovers {
            guard let active = lab.activeRouter() else { throw LabError("no single active router before round \(round)") }
            let backup = 1 - active
            try await waitForRole(backup, .backup)
            var flows: [TimedFlow] = []
            for _ in 0..<flowCount { flows.append(try await TimedFlow(from: lab.lanHosts[0])) }
            for flow in flows { _ = await flow.firstAnswer() }
            let syncDeadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < syncDeadline, (status(backup)?.externalCacheEntries ?? 0) < flowCount {
                try await Task.sleep(for: .milliseconds(100))
            }
            let transitionsBefore = status(backup)?.transitions ?? 0
            let addresses = flows.map(\.distinctAnswers)

            let cutAt = ContinuousClock.now
            try lab.powerOff(active)
            daemons[active]?.kill9()
            let sampler = ConnectionSampler(from: lab.lanHosts[0], interval: .milliseconds(20), timeout: 1)
            let tookOver = try await lab.waitForVirtualAddresses(on: backup, timeout: .seconds(5), poll: .milliseconds(2))
            try await Task.sleep(for: .seconds(3))
            let samples = await sampler.stop()
            let firstNew = samples.first { !$0.failed }
            let takeover = (tookOver - cutAt).milliseconds
            takeovers.append(takeover)
            firstConnections.append(firstNew.map { ($0.finishedAt - cutAt).milliseconds } ?? .infinity)
            baselines.append((3 + Double(256 - priorities[backup]) / 256) * advert * 1000)
            let commitDeadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < commitDeadline, (status(backup)?.transitions ?? 0) == transitionsBefore {
                try await Task.sleep(for: .milliseconds(20))
            }
            commits.append(status(backup)?.lastCommitMilliseconds ?? .infinity)
            var roundLost = 0
            for (index, flow) in flows.enumerated() {
                let silence = flow.longestSilence(since: cutAt, until: .now)
                interruptions.append(silence.milliseconds)
                let stalled = flow.longestSilence(since: .now - .seconds(1)) > .milliseconds(500)
                if flow.failed || stalled || flow.distinctAnswers != addresses[index] { roundLost += 1 }
            }
            lost += roundLost
            total += flows.count
            print(
                String(
                    format:
                        "round %2d: router%d → router%d  takeover %4.0f ms  first new connection %4.0f ms  commit %3.0f ms after the report  flows lost %d of %d",
                    round, active + 1, backup + 1, takeover, firstConnections.last!, commits.last!, roundLost, flows.count))
            // The old active powers up again and comes back as backup (no preempt).
            try lab.powerOn(active)
            try await start(active)
            try await waitForRole(active, .backup)
            for flow in flows { flow.stop() }
            try await Task.sleep(for: .seconds(1))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let baseline = median(baselines)
        print("")
        print(String(format: "VRRP's own bound (3 adverts + skew, advert %.0f ms): %.0f ms", advert * 1000, baseline))
        print(
            String(
                format:
                    "takeover (power cut → virtual addresses on the backup), median / max: %.0f / %.0f ms (%.2f× / %.2f× the bound)",
                median(takeovers), takeovers.max()!, median(takeovers) / baseline, takeovers.max()! / baseline))
        print(
            String(
                format: "power cut → first new connection answered, median / max: %.0f / %.0f ms (%.2f× / %.2f× the takeover)",
                median(firstConnections), firstConnections.max()!, median(firstConnections) / median(takeovers),
                firstConnections.max()! / median(takeovers)))
        print(
            String(
                format: "keepalived's report → conntrackd commit done, median / max: %.0f / %.0f ms", median(commits),
                commits.max()!))
        print(
            String(
                format:
                    "long-lived flows' longest silence across the takeover, median / max: %.0f / %.0f ms (%.2f× the takeover)",
                median(interruptions), interruptions.max()!, median(interruptions) / median(takeovers)))
        print("flows lost: \(lost) of \(total)")
        for daemon in daemons { _ = await daemon?.stop() }
    }
}

extension Duration {
    fileprivate var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
