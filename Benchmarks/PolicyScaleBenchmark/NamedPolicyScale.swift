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
            // Varied weights, so the policies' splits really differ; the benchmark's own policy (the
            // last) splits 1:1 in both runs, so both send the LAN host's connections over the same WANs.
            let (first, second) = index == policies - 1 ? (1, 1) : (1 + index % 3, 1 + index % 2)
            lines.append("  p\(index): { members: [{ wan: isp1, weight: \(first) }, { wan: isp2, weight: \(second) }] }")
        }
        lines.append("rules:")
        // Every other address, so the rule map has 100 elements either way (neighbours naming the
        // same policy would merge into one range, and the 1-policy map would be smaller).
        for index in 0..<99 {
            lines.append(
                "  - { name: host-\(index), source: \(IPv4Address(0x0a64_0000 + 2 * UInt32(index))), policy: p\(index % policies) }")
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
        for repetition in 0..<repetitions {
            // Alternating which goes first, so that a trend in the load does not favour one.
            for index in repetition % 2 == 0 ? [0, 1] : [1, 0] {
                let config = configs[index]
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
        // A count the machine's load cannot blur: the nft rules a new connection's first packet
        // passes through in Braid's table (nftrace), with each config.
        var traced: [Int] = []
        for config in configs {
            try applier.down()
            try applier.apply(config)
            traced.append(try await tracedRules(lab))
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
        for (index, policies) in counts.enumerated() {
            print(
                PolicyScaleBenchmark.row(
                    "\(policies) polic\(policies == 1 ? "y" : "ies"): nft rules on a SYN's path", Double(traced[index]), "rules",
                    baseline: Double(traced[0])))
        }
        try applier.down()
    }

    /// The rules of Braid's table that trace a LAN host's SYN (`nft monitor trace`), from a
    /// table of the benchmark's own that sets nftrace on it and is deleted afterwards.
    static func tracedRules(_ lab: Lab) async throws -> Int {
        let table = ["inet", "braid_bench_trace"]
        try lab.router.run(["nft", "add", "table"] + table)
        defer { _ = try? lab.router.run(["nft", "delete", "table"] + table) }
        try lab.router.run(
            ["nft", "add", "chain"] + table + ["pre", "{ type filter hook prerouting priority -300; policy accept; }"])
        try lab.router.run(
            ["nft", "add", "rule"] + table
                + ["pre", "ip", "saddr", "\(lab.lanHostAddress(0))", "tcp", "flags", "syn", "meta", "nftrace", "set", "1"])
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        let monitor = try ChildProcess(
            executable: ip, arguments: ["ip", "netns", "exec", lab.router.name, "nft", "monitor", "trace"], mergeError: true)
        try await Task.sleep(for: .milliseconds(300))
        _ = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 1)
        try await Task.sleep(for: .milliseconds(300))
        // SIGKILL: nft monitor does not end on SIGTERM here.
        monitor.signal(SIGKILL)
        let output = String(decoding: ChildProcess.readAll(monitor.outputDescriptor), as: UTF8.self)
        _ = monitor.wait()
        return output.split(separator: "\n").filter { $0.contains(" inet braid ") && $0.contains(" rule ") }.count
    }
}
