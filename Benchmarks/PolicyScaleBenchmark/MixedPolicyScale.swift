import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation

/// `policy-scale-benchmark mixed [rounds]`: Braid's rank pipeline side by side with the iptables
/// gateway it replaces (mwan3's layout: CONNMARK restore/save around a linear rule chain and a
/// `statistic` split, one fwmark rule and routing table per WAN), in one 3-WAN lab and the same
/// rounds. Each round measures every variant once, in turn, so the machine's load swings hit all
/// of them alike; the figures are medians of the per-round ratios.
///
/// - new connections/s through the router with 10,000 rules of each mix, against Braid with no
///   rules and against the iptables chain holding the same rules (the lab host matches none of
///   them, so every new connection walks the whole policy);
/// - cold apply of 10,000 alternating rules plus a rule for a 100,000-prefix set, against
///   `iptables-restore` plus `ipset restore` of the same;
/// - a weight change and a health change with that installed, against the peer's
///   `iptables-restore --noflush` of its split chain.
enum MixedPolicyScale {
    /// One policy rule, spelled for both gateways.
    struct Rule {
        var source: String?
        var destination: String?
        var proto: String?
        var port: UInt16?
        var destinationSet: String?
        var wan: Int

        func yaml(name: String) -> String {
            var keys = ["name: \(name)"]
            if let source { keys.append("source: \(source)") }
            if let destination { keys.append("destination: \(destination)") }
            if let proto { keys.append("protocol: \(proto)") }
            if let port { keys.append("destination_port: \(port)") }
            if let destinationSet { keys.append("destination_set: \(destinationSet)") }
            keys.append("use: [isp\(wan)]")
            return "  - {" + keys.joined(separator: ", ") + "}"
        }

        /// mwan3's form: match, and only if no earlier rule marked the packet.
        var iptables: String {
            var words = ["-A", "peer_rules"]
            if let source { words += ["-s", source] }
            if let destination { words += ["-d", destination] }
            if let proto { words += ["-p", proto] }
            if let port { words += ["--dport", "\(port)"] }
            if let destinationSet { words += ["-m", "set", "--match-set", destinationSet, "dst"] }
            words += ["-m", "mark", "--mark", "0x0/0xff00", "-j", "MARK", "--set-xmark", "0x\(wan)00/0xff00"]
            return words.joined(separator: " ")
        }
    }

    /// 10,000 host addresses outside the lab (10.100.0.0/16 and 172.16.0.0/12 onwards).
    static func source(_ index: Int) -> String { "\(IPv4Address(0x0a64_0000 + UInt32(index)))" }
    static func destination(_ index: Int) -> String { "\(IPv4Address(0xac10_0000 + UInt32(index)))" }

    /// `source:` and `destination:` rules taking turns: the mix that defeated per-run maps.
    static func alternating(_ count: Int) -> [Rule] {
        (0..<count).map { index in
            index % 2 == 0
                ? Rule(source: source(index), wan: 1 + index % 3) : Rule(destination: destination(index), wan: 1 + index % 3)
        }
    }

    /// Four shapes in turn, three of them multi-criteria: source and destination; source, TCP and
    /// a port; destination and a UDP port; source alone.
    static func multiCriteria(_ count: Int) -> [Rule] {
        (0..<count).map { index in
            let wan = 1 + index % 3
            let port = UInt16(1_000 + index % 50_000)
            switch index % 4 {
            case 0: return Rule(source: source(index), destination: destination(index), wan: wan)
            case 1: return Rule(source: source(index), proto: "tcp", port: port, wan: wan)
            case 2: return Rule(destination: destination(index), proto: "udp", port: port, wan: wan)
            default: return Rule(source: source(index), wan: wan)
            }
        }
    }

    /// Enough that one round lasts about a second: shorter rounds measured the client's warm-up.
    static let connectionsPerRound = 3_000

    /// `only`: "changes" skips the connection rates.
    /// The changes are measured on a table that is installed, not one still being installed: the
    /// kernel frees a cold load's 100,000-element transaction in the background, and the next
    /// transaction waits for that (seen: a weight change 1 ms after the cold apply took 16–31 ms
    /// in nft, 3–5 ms a second later). Braid and the peer both get this pause.
    static func settleAfterColdLoad() async throws {
        try await Task.sleep(for: .milliseconds(500))
    }

    /// One long-lived flow on every WAN, opened with `installed` in place, through ten of
    /// `changes` in a row (weights and health, as measured): each must go on answering through
    /// the WAN it began on. Returns a line for the report.
    static func flowsThroughChanges(
        lab: Lab, applier: GatewayApplier, installed: Config,
        changes: [(isWeight: Bool, config: Config, availability: WanAvailability, peerWeights: [Int])]
    ) async throws -> String {
        progress("long-lived flows through 10 changes")
        try applier.apply(installed)
        try await settleAfterColdLoad()
        var flows: [String: LongLivedFlow] = [:]
        for _ in 0..<90 where flows.count < lab.wans.count {
            let candidate = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.01)
            let name = await candidate.firstAnswer().flatMap { lab.wan(forPeer: $0)?.name }
            if let name, flows[name] == nil { flows[name] = candidate } else { _ = candidate.stop() }
        }
        for index in 0..<10 {
            let change = changes[index % changes.count]
            try applier.apply(change.config, availability: change.availability)
        }
        var verdicts: [String] = []
        for (name, flow) in flows.sorted(by: { $0.key < $1.key }) {
            let before = flow.answersSoFar.count
            _ = await flow.waitForAnswers(before + 10)
            let answers = flow.stop()
            let elsewhere = answers.filter { lab.wan(forPeer: $0)?.name != name }
            verdicts.append(
                "\(name) " + (answers.count >= before + 10 && elsewhere.isEmpty ? "kept" : "LOST (\(elsewhere.first ?? "too few answers"))")
                    + ", \(answers.count) answers")
        }
        try applier.down()
        return "  long-lived flows through 10 changes (one per WAN found: \(flows.count) of \(lab.wans.count)): "
            + verdicts.joined(separator: "; ")
    }

    static func run(repetitions: Int, only: String? = nil) async throws {
        let lab = try Lab(wanCount: 3, name: "mixd")
        defer { lab.teardown() }
        // As the daemon runs nft scripts (one braid-nft-session helper kept running), and, as a
        // baseline in the same run, through an `nft -f -` process per script.
        let kernel = LinuxKernel(runner: NamespacedCommandRunner(namespace: lab.router.name, keepsNftSession: true, keepsNamespaceThread: true))
        let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
        let processApplier = GatewayApplier(
            kernel: LinuxKernel(runner: lab.router.runner), store: AppliedStateStore(directory: lab.stateDirectory))
        let peer = IptablesPeer(lab: lab)
        defer { peer.remove() }
        let base = lab.configYAML()
        let setFile = try lab.writeFile("mixed-set.txt", PolicyScaleBenchmark.largeSet(count: 100_000))
        let policies: [(name: String, rules: [Rule])] = [
            ("10,000 alternating rules", alternating(10_000)),
            ("10,000 multi-criteria rules", multiCriteria(10_000)),
        ]
        func braidConfig(_ rules: [Rule], set: Bool = false, weights: [Int]? = nil) throws -> Config {
            var yaml = lab.configYAML(weights: weights)
            if set { yaml += "sets:\n  large: { file: \(setFile) }\n" }
            let all = rules + (set ? [Rule(destinationSet: "large", wan: 2)] : [])
            if !all.isEmpty {
                yaml += "rules:\n" + all.enumerated().map { $1.yaml(name: "rule-\($0)") }.joined(separator: "\n") + "\n"
            }
            return try ConfigLoader.parse(yaml)
        }
        let none = try ConfigLoader.parse(base)
        let braidPolicies = try policies.map { try braidConfig($0.rules) }

        print("Mixed policy benchmark: Braid vs an iptables peer (mwan3's layout), \(repetitions) interleaved rounds")
        print("iptables: \((try? lab.router.run(["iptables", "-V"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?")")
        print("")
        if only != "changes" {
            print("new connections per second, \(connectionsPerRound) sequential TCP connections per variant per round:")
            var rates: [String: [Double]] = [:]
            var cpuRates: [String: [Double]] = [:]
            func measure(_ key: String) async throws {
                progress("measuring \(key)")
                // No connection of an earlier variant (or its mark) is left to be met again.
                _ = try? lab.router.run(["conntrack", "-F"])
                let cpu = processCPUSeconds()
                let started = ContinuousClock.now
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: connectionsPerRound)
                let failed = answers.filter { $0.hasPrefix("failed") }.count
                if failed > 0 { print("  warning: \(key): \(failed) connections failed") }
                rates[key, default: []].append(
                    Double(connectionsPerRound) / ((ContinuousClock.now - started).inMilliseconds / 1_000))
                cpuRates[key, default: []].append(Double(connectionsPerRound) / (processCPUSeconds() - cpu))
            }
            // Five variants of 3,000 connections a round would run the client out of ephemeral ports
            // (each 4-tuple waits 60 s in TIME_WAIT, and a reused one meets the server's): no
            // TIME_WAIT on either end, as load generators do.
            for host in [lab.lanHosts[0], lab.internet] { try host.sysctl("net.ipv4.tcp_max_tw_buckets", "0") }
            // A first round for nothing: neighbours resolved, caches and the server warm.
            try applier.apply(none)
            _ = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: connectionsPerRound)
            for _ in 0..<repetitions {
                try applier.down()
                try applier.apply(none)
                try await measure("braid, no rules")
                for (index, policy) in policies.enumerated() {
                    try applier.down()
                    progress("apply \(policy.name)")
                    try applier.apply(braidPolicies[index])
                    try await measure("braid, \(policy.name)")
                }
                try applier.down()
                try peer.install([])
                try await measure("iptables, no rules")
                peer.remove()
                for policy in policies {
                    try peer.install(policy.rules)
                    try await measure("iptables, \(policy.name)")
                    peer.remove()
                }
            }
            for (title, figures) in [("by wall clock", rates), ("per CPU-second of the client, server and forwarding", cpuRates)]
            {
                print("  \(title):")
                let baseline = figures["braid, no rules"]!
                print(row("Braid, no rules", median(baseline), "conn/s", ""))
                for policy in policies {
                    let braid = figures["braid, \(policy.name)"]!
                    let iptables = figures["iptables, \(policy.name)"]!
                    print(
                        row(
                            "Braid, \(policy.name)", median(braid), "conn/s",
                            String(
                                format: "× %.2f of no rules, × %.2f of iptables", medianRatio(braid, baseline),
                                medianRatio(braid, iptables))))
                    print(
                        row(
                            "iptables, \(policy.name)", median(iptables), "conn/s",
                            String(format: "× %.2f of Braid with no rules", medianRatio(iptables, baseline))))
                }
                print(row("iptables, no rules", median(figures["iptables, no rules"]!), "conn/s", ""))
            }
            // What the 10,000 rules themselves cost each new connection, over the same gateway
            // without them: the part of a connection a ruleset can win back.
            print("  CPU per new connection that 10,000 rules add, over the same gateway with none (medians of rounds):")
            func microseconds(_ key: String) -> [Double] { cpuRates[key]!.map { 1e6 / $0 } }
            for policy in policies {
                let braid = zip(microseconds("braid, \(policy.name)"), microseconds("braid, no rules")).map { $0 - $1 }
                let iptables = zip(microseconds("iptables, \(policy.name)"), microseconds("iptables, no rules")).map { $0 - $1 }
                print(
                    "    \(policy.name): Braid "
                        + String(format: "%+.1f µs, iptables %+.1f µs (of %.0f µs a connection)", median(braid), median(iptables), median(microseconds("braid, no rules"))))
            }
        }
        print("")
        print("apply and changes: 10,000 alternating rules + a rule for a 100,000-prefix set:")
        let withSet = alternating(10_000)
        var braidCold: [Double] = []
        var peerCold: [Double] = []
        var braidWeight: [Double] = []
        var braidHealth: [Double] = []
        var peerWeight: [Double] = []
        var peerHealth: [Double] = []
        var coldPhases: [ApplyTimings] = []
        var weightPhases: [ApplyTimings] = []
        var healthPhases: [ApplyTimings] = []
        let large = try braidConfig(withSet, set: true)
        let reweighted = try braidConfig(withSet, set: true, weights: [3, 2, 1])
        // Weight, health, weight, health, each from the state the one before left, ending where it
        // began: 1:1:1 → 3:2:1 → isp1 down → 1:1:1 (isp1 still down) → isp1 back.
        let isp1Down = WanAvailability(unavailable: ["isp1"])
        let changes: [(isWeight: Bool, config: Config, availability: WanAvailability, peerWeights: [Int])] = [
            (true, reweighted, .allAvailable, [3, 2, 1]), (false, reweighted, isp1Down, [0, 2, 1]),
            (true, large, isp1Down, [0, 1, 1]), (false, large, .allAvailable, [1, 1, 1]),
        ]
        let setEntries = try String(contentsOfFile: setFile, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map(String.init)
        var processCold: [Double] = []
        var processWeight: [Double] = []
        var processHealth: [Double] = []
        for _ in 0..<repetitions {
            // The baseline: the same changes, each script run by an `nft -f -` process.
            try processApplier.down()
            progress("cold apply and changes, nft scripts run by an nft process")
            var baselineStarted = ContinuousClock.now
            try processApplier.apply(large)
            processCold.append((ContinuousClock.now - baselineStarted).inMilliseconds)
            try await settleAfterColdLoad()
            for change in changes {
                baselineStarted = ContinuousClock.now
                try processApplier.apply(change.config, availability: change.availability)
                let milliseconds = (ContinuousClock.now - baselineStarted).inMilliseconds
                if change.isWeight { processWeight.append(milliseconds) } else { processHealth.append(milliseconds) }
            }
            try processApplier.down()
            try applier.down()
            progress("cold apply of 10,000 alternating rules + the set")
            var started = ContinuousClock.now
            coldPhases.append(try applier.apply(large).timings)
            braidCold.append((ContinuousClock.now - started).inMilliseconds)
            try await settleAfterColdLoad()
            for change in changes {
                started = ContinuousClock.now
                let report = try applier.apply(change.config, availability: change.availability)
                let milliseconds = (ContinuousClock.now - started).inMilliseconds
                if change.isWeight {
                    braidWeight.append(milliseconds)
                    weightPhases.append(report.timings)
                } else {
                    braidHealth.append(milliseconds)
                    healthPhases.append(report.timings)
                }
            }
            try applier.down()
            progress("iptables peer with the set")
            started = ContinuousClock.now
            try peer.install(withSet + [Rule(destinationSet: "large", wan: 2)], set: ("large", setEntries))
            peerCold.append((ContinuousClock.now - started).inMilliseconds)
            try await settleAfterColdLoad()
            for change in changes {
                started = ContinuousClock.now
                try peer.replaceSplit(weights: change.peerWeights)
                let milliseconds = (ContinuousClock.now - started).inMilliseconds
                if change.isWeight { peerWeight.append(milliseconds) } else { peerHealth.append(milliseconds) }
            }
            peer.remove()
        }
        let flowsKept = try await flowsThroughChanges(lab: lab, applier: applier, installed: large, changes: changes)
        print(
            row(
                "Braid cold apply", median(braidCold), "ms",
                String(format: "× %.2f of iptables-restore + ipset", medianRatio(braidCold, peerCold))))
        print(row("iptables-restore + ipset restore", median(peerCold), "ms", ""))
        print(
            row(
                "Braid weight change (plan, diff, apply)", median(braidWeight), "ms",
                String(format: "× %.2f of the peer's", medianRatio(braidWeight, peerWeight))))
        print(
            row(
                "Braid health change (plan, diff, apply)", median(braidHealth), "ms",
                String(format: "× %.2f of the peer's", medianRatio(braidHealth, peerHealth))))
        print(row("iptables --noflush split chain: weight / health", median(peerWeight), "ms", String(format: "/ %.1f ms", median(peerHealth))))
        print(
            row(
                "Braid with an nft process per script: cold", median(processCold), "ms",
                String(format: "(the session × %.2f of it)", medianRatio(braidCold, processCold))))
        print(
            row(
                "  … weight change / health change", median(processWeight), "ms",
                String(
                    format: "/ %.1f ms (the session × %.2f / × %.2f of them)", median(processHealth),
                    medianRatio(braidWeight, processWeight), medianRatio(braidHealth, processHealth))))
        let phases: [(String, KeyPath<ApplyTimings, Duration>)] = [
            ("observe", \.observe), ("plan", \.plan), ("render", \.render), ("diff", \.diff),
            ("execute", \.execute), ("verify", \.verify),
        ]
        for (kind, timings) in [("cold apply", coldPhases), ("weight change", weightPhases), ("health change", healthPhases)] {
            print(
                "  Braid's \(kind), median per phase: "
                    + phases.map { name, phase in
                        name + String(format: " %.1f ms", median(timings.map { $0[keyPath: phase].inMilliseconds }))
                    }.joined(separator: ", "))
        }
        print(flowsKept)
    }

    /// What the run is doing, on stderr, with the time since the start; the figures printed so far
    /// are flushed first, so a run cut short still shows them.
    static func progress(_ message: String) {
        fflush(nil)
        let seconds = (ContinuousClock.now - startedAt).inMilliseconds / 1_000
        FileHandle.standardError.write(Data(String(format: "[%6.1f s] ", seconds).utf8) + Data((message + "\n").utf8))
    }
    static let startedAt = ContinuousClock.now

    static func row(_ name: String, _ value: Double, _ unit: String, _ note: String) -> String {
        "  " + name.padding(toLength: 48, withPad: " ", startingAt: 0)
            + String(format: "%10.1f %-7@ ", value, unit as NSString) + note
    }

    static func median(_ values: [Double]) -> Double { PolicyScaleBenchmark.median(values) }

    /// The median of the per-round ratios (rounds pair up by position).
    static func medianRatio(_ values: [Double], _ baseline: [Double]) -> Double {
        median(zip(values, baseline).map { $0 / $1 })
    }
}
