import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation

/// Policy at scale, in the namespace lab: how long `apply` takes with 10,000 rules and a set of
/// 100,000 prefixes, how long a health re-plan takes with them installed, and whether forwarding
/// (iperf3 throughput, new connections per second) slows down with 10,000 rules compared to 10.
/// Every figure is also given as a ratio to a baseline measured in the same run.
///
/// Run as root: `swift run -c release policy-scale-benchmark [repetitions]`; `… mixed [rounds]`
/// compares mixed policies with an iptables gateway (`MixedPolicyScale`; `… mixed [rounds] changes`:
/// only its apply and change figures), `… named-policies [n]`
/// compares 100 named policies with one.
@main
struct PolicyScaleBenchmark {
    static func main() async throws {
        // A child that exits before reading all its input (ipset on a bad line) is an error to
        // report, not a reason to die with the lab still up.
        signal(SIGPIPE, SIG_IGN)
        let repetitions = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 3
        if CommandLine.arguments.dropFirst().first == "mixed" {
            let rounds = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 3
            return try await MixedPolicyScale.run(repetitions: rounds, only: CommandLine.arguments.dropFirst(3).first)
        }
        let lab = try Lab(wanCount: 2, name: "scale")
        defer { lab.teardown() }
        if CommandLine.arguments.dropFirst().first == "named-policies" {
            let kernel = LinuxKernel(runner: lab.router.runner)
            let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
            let count = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 3
            return try await NamedPolicyScale.run(lab: lab, applier: applier, repetitions: count)
        }
        let setFile = try lab.writeFile("large-set.txt", largeSet(count: 100_000))
        let base = lab.configYAML()
        let configs: [(String, String)] = [
            ("baseline (no rules, no set)", base),
            ("10 rules + 100k-entry set", base + policy(ruleCount: 10, setFile: setFile)),
            ("10,000 rules + 100k-entry set", base + policy(ruleCount: 10_000, setFile: setFile)),
        ]
        let kernel = LinuxKernel(runner: lab.router.runner)
        let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
        print("Policy scale benchmark (\(repetitions) repetitions, medians)")
        print("")
        print("apply, cold (braid down before each):")
        var coldTimes: [Double] = []
        for (name, yaml) in configs {
            let config = try ConfigLoader.parse(yaml)
            var times: [Double] = []
            for _ in 0..<repetitions {
                try applier.down()
                let started = ContinuousClock.now
                try applier.apply(config)
                times.append((ContinuousClock.now - started).inMilliseconds)
            }
            coldTimes.append(median(times))
            print(row(name, median(times), "ms", baseline: coldTimes[0]))
        }
        print("")
        print("re-plan with 10,000 rules + 100k set installed (a WAN goes down, then comes back):")
        let large = try ConfigLoader.parse(configs[2].1)
        var replans: [Double] = []
        for round in 0..<(2 * repetitions) {
            let started = ContinuousClock.now
            try applier.apply(large, availability: round % 2 == 0 ? WanAvailability(unavailable: ["isp1"]) : .allAvailable)
            replans.append((ContinuousClock.now - started).inMilliseconds)
        }
        print(row("re-plan", median(replans), "ms", baseline: coldTimes[0]))
        // Alternating source and destination rules: no two neighbours share a map, so 10,000 maps.
        // A health change rewrites the split and the `use_N` chains in place, not the maps.
        let alternating = try ConfigLoader.parse(base + policy(ruleCount: 10_000, setFile: setFile, alternating: true))
        try applier.down()
        let alternatingStarted = ContinuousClock.now
        try applier.apply(alternating)
        print(
            row(
                "apply, cold, 10,000 alternating rules + 100k set", (ContinuousClock.now - alternatingStarted).inMilliseconds,
                "ms", baseline: coldTimes[0]))
        var alternatingReplans: [Double] = []
        for round in 0..<(2 * repetitions) {
            let started = ContinuousClock.now
            let report = try applier.apply(
                alternating, availability: round % 2 == 0 ? WanAvailability(unavailable: ["isp1"]) : .allAvailable)
            alternatingReplans.append((ContinuousClock.now - started).inMilliseconds)
            for case .loadRuleset(let transaction, _) in report.performed where transaction.operations.contains(.flushTable) {
                print("  warning: the re-plan reloaded the whole table")
            }
        }
        print(row("re-plan, 10,000 alternating rules (WAN down/up)", median(alternatingReplans), "ms", baseline: coldTimes[0]))
        var weightChanges: [Double] = []
        for round in 0..<(2 * repetitions) {
            let weighted = try ConfigLoader.parse(
                lab.configYAML(weights: round % 2 == 0 ? [3, 1] : [1, 1])
                    + policy(ruleCount: 10_000, setFile: setFile, alternating: true))
            let started = ContinuousClock.now
            try applier.apply(weighted)
            weightChanges.append((ContinuousClock.now - started).inMilliseconds)
        }
        print(row("weight change, 10,000 alternating rules", median(weightChanges), "ms", baseline: coldTimes[0]))
        let alternatingFacts = try kernel.readHostFacts()
        let loaded = try GatewayPlanner.plan(alternating, host: alternatingFacts).ruleset.render()
        let diffStarted = ContinuousClock.now
        let replanned = try GatewayPlanner.plan(
            alternating, host: alternatingFacts, availability: WanAvailability(unavailable: ["isp1"]))
        let planned = ContinuousClock.now
        let update = TableUpdate.inPlace(from: loaded, to: replanned.ruleset.render())
        print(row("  of which planning (pure)", (planned - diffStarted).inMilliseconds, "ms", baseline: coldTimes[0]))
        print(
            row(
                "  of which rendering and diffing (pure)", (ContinuousClock.now - planned).inMilliseconds, "ms",
                baseline: coldTimes[0]))
        print("  in-place update: \(update?.transaction.renderedByteCount ?? 0) bytes for a table of \(loaded.utf8.count) bytes")
        try applier.down()
        try applier.apply(large)
        let planStarted = ContinuousClock.now
        let facts = try kernel.readHostFacts()
        _ = try GatewayPlanner.plan(large, host: facts)
        print(row("  of which planning (pure)", (ContinuousClock.now - planStarted).inMilliseconds, "ms", baseline: coldTimes[0]))

        // The daemon's periodic resync: nothing changed (one netlink request says so), and after
        // another program's nft transaction (Braid's whole table is listed and compared).
        try applier.apply(large)
        var quiet: [Double] = []
        var afterForeign: [Double] = []
        for round in 0..<repetitions {
            var started = ContinuousClock.now
            try applier.apply(large)
            quiet.append((ContinuousClock.now - started).inMilliseconds)
            try lab.router.run(["nft", "add", "table", "inet", "someone_else_\(round)"])
            started = ContinuousClock.now
            let report = try applier.apply(large)
            afterForeign.append((ContinuousClock.now - started).inMilliseconds)
            if !report.performed.isEmpty { print("  warning: a foreign table made Braid reload: \(report.performed)") }
        }
        print(row("resync, nothing changed", median(quiet), "ms", baseline: coldTimes[0]))
        print(row("resync after another program's nft change", median(afterForeign), "ms", baseline: coldTimes[0]))

        print("")
        print("forwarding through the router (LAN host → internet host):")
        var throughput: [Double] = []
        var connectionRates: [Double] = []
        for (name, yaml) in configs.dropFirst() {
            try applier.down()
            try applier.apply(try ConfigLoader.parse(yaml))
            var rates: [Double] = []
            var speeds: [Double] = []
            for _ in 0..<repetitions {
                speeds.append(try iperf(lab))
                let started = ContinuousClock.now
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 1000)
                let failed = answers.filter { $0.hasPrefix("failed") }.count
                if failed > 0 { print("  warning: \(failed) connections failed") }
                rates.append(1000 / ((ContinuousClock.now - started).inMilliseconds / 1000))
            }
            throughput.append(median(speeds))
            connectionRates.append(median(rates))
            print(row("\(name): iperf3 TCP", median(speeds), "Gbit/s", baseline: throughput[0]))
            print(row("\(name): new connections", median(rates), "conn/s", baseline: connectionRates[0]))
        }
        try await NamedPolicyScale.run(lab: lab, applier: applier, repetitions: repetitions)
        try applier.down()
    }

    /// `ruleCount` rules: mostly per-host source pins (the common case at scale), and one rule of each
    /// other kind. The benchmark's LAN host matches none of them, so its connections walk every lookup.
    static func policy(ruleCount: Int, setFile: String, alternating: Bool = false) -> String {
        var lines = ["sets:", "  large: { file: \(setFile) }", "rules:"]
        lines += ["  - name: ports", "    protocol: udp", "    destination_port: 27015-27030", "    use: [isp1]"]
        lines += ["  - name: large-set", "    destination_set: large", "    use: [isp2, balance]"]
        lines += ["  - name: office", "    destination: 203.0.113.0/24", "    use: [main]"]
        for index in 0..<(ruleCount - 3) {
            // 10.100.0.0/16 onwards: host pins outside the lab's LAN.
            let address = 0x0a64_0000 + UInt32(index)
            if alternating && index % 2 == 1 {
                // 198.18.0.0/15 onwards (benchmarking addresses): none is the lab's server.
                lines += [
                    "  - name: site-\(index)", "    destination: \(IPv4Address(0xc612_0000 + UInt32(index)))",
                    "    use: [isp2, balance]",
                ]
                continue
            }
            lines += [
                "  - name: host-\(index)", "    source: \(IPv4Address(address))",
                "    use: [\(index % 2 == 0 ? "isp1" : "isp2")]",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A reproducible list of prefixes spread over the unicast space (none covering the lab's server).
    static func largeSet(count: Int) -> String {
        var generator = SplitMix(seed: 42)
        var lines = ["# benchmark set: \(count) prefixes"]
        while lines.count <= count {
            let length = [16, 20, 24, 24, 24, 28, 32][Int(generator.next() % 7)]
            let first = UInt32(1 + generator.next() % 190)
            let address = (first << 24 | UInt32(truncatingIfNeeded: generator.next()) & 0x00ff_ffff) & IPv4Prefix.mask(length)
            lines.append("\(IPv4Address(address))/\(length)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func iperf(_ lab: Lab) throws -> Double {
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        let server = try ChildProcess(
            executable: ip,
            arguments: ["ip", "netns", "exec", lab.internet.name, "iperf3", "-s", "-1", "-B", "\(Lab.serverAddress)"],
            mergeError: true)
        Thread.sleep(forTimeInterval: 0.3)
        let output = try lab.lanHosts[0].run(["iperf3", "-c", "\(Lab.serverAddress)", "-t", "3", "-J"])
        server.signal(SIGTERM)
        server.wait()
        guard let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
            let bits = received["bits_per_second"] as? Double
        else { throw LabError("iperf3 gave no result: \(output.prefix(300))") }
        return bits / 1e9
    }

    static func row(_ name: String, _ value: Double, _ unit: String, baseline: Double) -> String {
        "  " + name.padding(toLength: 52, withPad: " ", startingAt: 0)
            + String(format: "%10.2f %-7@ (× %.2f of baseline)", value, unit as NSString, value / baseline)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty
            ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

}

/// A small deterministic generator, so every run benchmarks the same set.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var value = state
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }
}
