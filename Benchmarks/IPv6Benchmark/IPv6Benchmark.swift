import BraidConfig
import BraidKernel
import BraidLab
import Foundation

/// IPv6 through Braid in the dual-stack lab, every figure next to a baseline from the same run:
/// - iperf3 TCP throughput and new connections per second, LAN host → internet host, with Braid's
///   dual-stack ruleset (split, NAT66 / prefix translation) against plain IPv6 forwarding (one
///   default route, no ruleset, a LAN address the ISP routes, so nothing needs translating);
/// - failover with the default health timers: an upstream cut of one WAN's IPv6 only, then of its
///   IPv4 only, each `cuts` times: detection (cut → the daemon's verdict) and switch (cut → start of
///   the last new connection that still went to the dead WAN).
///
/// Run as root after `swift build -c release`: `.build/release/ipv6-benchmark [repetitions] [cuts]`.
@main
struct IPv6Benchmark {
    /// A LAN prefix ISP 2 routes to the router, for the baseline without NAT.
    static let routedLanPrefix = "2001:db8:2:1::"

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let repetitions = arguments.first.flatMap(Int.init) ?? 3
        let cuts = arguments.dropFirst().first.flatMap(Int.init) ?? 5
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: build the braid product first (\(binary) is missing)")
            exit(1)
        }
        print("IPv6 benchmark: \(repetitions) repetitions of each traffic run, \(cuts) cuts per family")
        let dual = try DualStackLab.make(lanHostCount: 1, name: "v6bench")
        defer { dual.teardown() }
        try await traffic(dual, binary: binary, repetitions: repetitions)
        if cuts > 0 { try await failover(dual, binary: binary, cuts: cuts) }
    }

    /// One way of forwarding the LAN host's traffic: set up, measured, torn down, once per round.
    struct Variant {
        let name: String
        let source: IPv6Address
        let setUp: () throws -> Void
        let tearDown: () throws -> Void
    }

    /// One round's figures for one variant.
    struct Sample {
        var throughput: Double
        var rate: Double
        var ipv4Rate: Double
        /// Connections per second of this process's CPU time (client, server and the kernel's
        /// forwarding, which runs in the sending thread's softirq): what the path costs, far less
        /// sensitive than the wall-clock rate to other work taking the CPU away.
        var cpuRate: Double
        var ipv4CpuRate: Double
    }

    static func traffic(_ dual: DualStackLab, binary: String, repetitions: Int) async throws {
        let lab = dual.lab
        let host = lab.lanHosts[0]
        let routedHost = IPv6Address("\(routedLanPrefix)10")!
        let isp2 = lab.wans[1]
        try lab.router.ip([["address", "add", "\(routedLanPrefix)1/64", "dev", Lab.lanInterface, "nodad"]])
        try host.ip([["address", "add", "\(routedHost)/64", "dev", "eth0", "nodad"]])
        try isp2.namespace.ip([["route", "add", "\(routedLanPrefix)/64", "via", "\(dual.routerAddress(2))"]])
        try dual.waitForRouterAdvertisement()
        // Tens of thousands of short connections from one host to one server port: reuse ports in
        // TIME_WAIT, or connect fails with EADDRNOTAVAIL (and a fast failure would count as a fast connection).
        try host.sysctl("net/ipv4/tcp_tw_reuse", "1")
        try host.sysctl("net/ipv4/ip_local_port_range", "1024 65000")

        // Baseline: forwarding on, one static default route per family, no nft table at all (so
        // no conntrack either). IPv4 needs a masquerade rule anyway (the LAN's 10/8 is not routed
        // back), so the plain variant measures IPv6 only.
        let routes = [
            ["route", "add", "default", "via", "\(dual.ispAddress(2))", "dev", isp2.routerInterface, "metric", "1"],
            ["route", "add", "default", "via", "\(isp2.gateway)", "dev", isp2.routerInterface, "metric", "1"],
        ]
        let forwardingOn = {
            try lab.router.sysctl("net/ipv6/conf/all/forwarding", "1")
            try lab.router.sysctl("net/ipv4/ip_forward", "1")
            try lab.router.ip(routes)
        }
        let forwardingOff = {
            try lab.router.ip(routes.map { $0.map { $0 == "add" ? "del" : $0 } })
            try lab.router.sysctl("net/ipv6/conf/all/forwarding", "0")
            try lab.router.sysctl("net/ipv4/ip_forward", "0")
        }
        let plain = Variant(name: "plain", source: routedHost, setUp: forwardingOn, tearDown: forwardingOff)
        // The least any NAT66 gateway does: conntrack and one masquerade rule, the ULA source.
        let nat66 = Variant(
            name: "masquerade", source: dual.lanHostAddress(0),
            setUp: {
                try forwardingOn()
                try lab.router.run(
                    ["nft", "-f", "-"],
                    input: """
                        table inet bench_nat66 {
                            chain postrouting {
                                type nat hook postrouting priority srcnat; policy accept;
                                oifname "\(isp2.routerInterface)" masquerade
                            }
                        }
                        """)
            },
            tearDown: {
                try lab.router.run(["nft", "delete", "table", "inet", "bench_nat66"])
                try forwardingOff()
            })
        // Braid: the lab's dual-stack config (isp1 prefix translation, isp2 masquerade, isp3 IPv4 only).
        let path = try lab.writeFile("braid.yaml", dual.configYAML())
        let braid = Variant(
            name: "braid", source: dual.lanHostAddress(0),
            setUp: {
                let applied = try lab.runBraid(binary, ["apply", "-c", path])
                guard applied.status == 0 else { throw LabError("braid apply failed: \(applied.standardError)") }
            },
            tearDown: { _ = try lab.runBraid(binary, ["down"]) })

        // The ruleset as it was before IPv6 skipped the `fib daddr type` lookup (two policy-routed
        // FIB lookups per new connection instead of one): Braid's table with that rule put back,
        // to measure what the change is worth in the same run.
        let braidBefore = Variant(
            name: "braid-before", source: dual.lanHostAddress(0),
            setUp: {
                try braid.setUp()
                let listing = try lab.router.run(["nft", "-a", "list", "chain", "inet", "braid", "prerouting"])
                guard
                    let line = listing.split(separator: "\n").first(where: {
                        $0.contains("meta nfproto ipv4") && $0.contains("fib daddr type")
                    }), let handle = line.split(separator: " ").last
                else { throw LabError("no IPv4 `fib daddr type` rule in:\n\(listing)") }
                try lab.router.run([
                    "nft", "add", "rule", "inet", "braid", "prerouting", "position", String(handle), "meta", "nfproto", "ipv6",
                    "iifname", Lab.lanInterface, "fib", "daddr", "type", "{", "local,", "broadcast,", "multicast", "}", "return",
                ])
            },
            tearDown: braid.tearDown)

        // Interleaved rounds, the order rotating, so that a burst of load from other work on the
        // machine hits every variant alike; the figure is the median of the per-round ratios.
        let variants = [plain, nat66, braid, braidBefore]
        // Connection rates are short samples (500 connections, a fraction of a second), so there
        // are five rounds of them per iperf3 round: more, shorter, interleaved samples give a
        // steadier median on a machine shared with other work than a few long ones.
        var samples: [String: [Sample]] = [:]
        for round in 0..<repetitions * 5 {
            for offset in 0..<variants.count {
                let variant = variants[(round + offset) % variants.count]
                try variant.setUp()
                defer { try? variant.tearDown() }
                samples[variant.name, default: []].append(
                    try await measure(
                        dual, source: variant.source, ipv4: variant.name != "plain", iperf: round < repetitions))
            }
        }
        func ratios(_ name: String, over base: String, _ value: (Sample) -> Double) -> Double {
            median(zip(samples[name]!, samples[base]!).map { value($0) / value($1) }.filter { !$0.isNaN })
        }
        func medianOf(_ name: String, _ value: (Sample) -> Double) -> Double {
            median(samples[name]!.map(value).filter { !$0.isNaN })
        }

        print("")
        print(
            "Forwarding through the router (LAN host → internet host), \(repetitions) interleaved iperf3 rounds, \(repetitions * 5) of 500 new connections;"
        )
        print("values are medians, ratios the median of the per-round ratios:")
        for (label, name) in [
            ("plain IPv6 forwarding", "plain"), ("one masquerade rule (conntrack, NAT)", "masquerade"),
            ("Braid dual-stack ruleset", "braid"), ("Braid, before (two fib lookups)", "braid-before"),
        ] {
            print(row("\(label): iperf3 TCP", medianOf(name, \.throughput), "Gbit/s", ratios(name, over: "plain", \.throughput)))
        }
        for (label, name) in [
            ("plain IPv6 forwarding", "plain"), ("one masquerade rule", "masquerade"), ("Braid dual-stack ruleset", "braid"),
            ("Braid, before (two fib lookups)", "braid-before"),
        ] {
            print(row("\(label): new IPv6 conn", medianOf(name, \.rate), "conn/s", ratios(name, over: "plain", \.rate)))
        }
        for (label, name) in [
            ("plain IPv6 forwarding", "plain"), ("one masquerade rule", "masquerade"), ("Braid dual-stack ruleset", "braid"),
            ("Braid, before (two fib lookups)", "braid-before"),
        ] {
            print(
                row(
                    "\(label): new IPv6 conn per CPU-s", medianOf(name, \.cpuRate), "conn/s",
                    ratios(name, over: "plain", \.cpuRate)))
        }
        print(
            String(
                format:
                    "  per CPU-second: Braid against one masquerade rule × %.2f, against its ruleset before the change × %.2f",
                ratios("braid", over: "masquerade", \.cpuRate), ratios("braid", over: "braid-before", \.cpuRate)))
        print(
            String(
                format: "  IPv4 per CPU-second in the same rounds: %.0f (one masquerade rule) vs %.0f (Braid): × %.2f",
                medianOf("masquerade", \.ipv4CpuRate), medianOf("braid", \.ipv4CpuRate),
                ratios("braid", over: "masquerade", \.ipv4CpuRate)))
        print(
            String(
                format: "  Braid against one masquerade rule: iperf3 × %.2f, new IPv6 connections × %.2f",
                ratios("braid", over: "masquerade", \.throughput), ratios("braid", over: "masquerade", \.rate)))
        print(
            String(
                format: "  Braid against its ruleset before the change: new IPv6 connections × %.2f",
                ratios("braid", over: "braid-before", \.rate)))
        print(
            String(
                format: "  IPv4 in the same rounds: new connections %.0f (one masquerade rule) vs %.0f (Braid): × %.2f",
                medianOf("masquerade", \.ipv4Rate), medianOf("braid", \.ipv4Rate),
                ratios("braid", over: "masquerade", \.ipv4Rate)))
    }

    /// One variant's sample of a round; `throughput` is NaN when the round has no iperf3 run.
    static func measure(_ dual: DualStackLab, source: IPv6Address, ipv4: Bool, iperf withIperf: Bool) async throws -> Sample {
        let speed = withIperf ? try iperf(dual, source: source) : .nan
        let count = 500
        var started = ContinuousClock.now
        var cpu = processCPUSeconds()
        let answers = try await LabTraffic.newIPv6Connections(
            from: dual.lab.lanHosts[0], count: count, to: DualStackLab.serverAddress, source: source)
        let rate = Double(count) / ((ContinuousClock.now - started).inMilliseconds / 1000)
        let cpuRate = Double(count) / (processCPUSeconds() - cpu)
        warnAboutFailures(answers)
        var ipv4Rate = Double.nan
        var ipv4CpuRate = Double.nan
        if ipv4 {
            started = ContinuousClock.now
            cpu = processCPUSeconds()
            let answers4 = try await LabTraffic.newConnections(from: dual.lab.lanHosts[0], count: count)
            ipv4Rate = Double(count) / ((ContinuousClock.now - started).inMilliseconds / 1000)
            ipv4CpuRate = Double(count) / (processCPUSeconds() - cpu)
            warnAboutFailures(answers4)
        }
        return Sample(throughput: speed, rate: rate, ipv4Rate: ipv4Rate, cpuRate: cpuRate, ipv4CpuRate: ipv4CpuRate)
    }

    static func warnAboutFailures(_ answers: [String]) {
        let failed = answers.filter { $0.hasPrefix("failed") }.count
        if failed > 0 { print("  warning: \(failed) connections failed: \(answers.first { $0.hasPrefix("failed") } ?? "")") }
    }

    static func iperf(_ dual: DualStackLab, source: IPv6Address) throws -> Double {
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        let server = try ChildProcess(
            executable: ip,
            arguments: [
                "ip", "netns", "exec", dual.lab.internet.name, "iperf3", "-s", "-1", "-B", "\(DualStackLab.serverAddress)",
            ],
            mergeError: true)
        defer {
            server.signal(SIGKILL)
            server.wait()
        }
        Thread.sleep(forTimeInterval: 0.3)
        let output = try dual.lab.lanHosts[0].run([
            "iperf3", "-6", "-c", "\(DualStackLab.serverAddress)", "-B", "\(source)", "-t", "3", "-J",
        ])
        guard let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
            let bits = received["bits_per_second"] as? Double
        else { throw LabError("iperf3 gave no result: \(output.prefix(300))") }
        return bits / 1e9
    }

    /// Cuts isp1's IPv6 (then its IPv4) `cuts` times with the daemon on default timers.
    static func failover(_ dual: DualStackLab, binary: String, cuts: Int) async throws {
        let lab = dual.lab
        let health = "{ targets: [\(Lab.serverAddress), \"\(DualStackLab.serverAddress)\"] }"
        let yaml = dual.configYAML(
            extraWanKeys: ["health": health], perWan: [3: ["health": "{ targets: [\(Lab.serverAddress)] }"]])
        let daemon = try LabDaemon(lab: lab, binary: binary, configPath: try lab.writeFile("failover.yaml", yaml))
        try await daemon.waitForLog("running", timeout: .seconds(10))
        try await Task.sleep(for: .seconds(1))
        var results: [(family: String, detection: [Double], switching: [Double])] = []
        for family in ["ipv6", "ipv4"] {
            var detections: [Double] = []
            var switches: [Double] = []
            for _ in 0..<cuts {
                let sampler = ConnectionSampler(from: lab.lanHosts[0], ipv6: family == "ipv6" ? DualStackLab.serverAddress : nil)
                try await Task.sleep(for: .milliseconds(300))
                let logged = daemon.log.count
                let cutAt = ContinuousClock.now
                try lab.wans[0].namespace.run(["nft", "add", "rule", "inet", "isp", "outage", "meta", "nfproto", family, "drop"])
                let verdict = family == "ipv6" ? "isp1 IPv6 is down" : "isp1 is down"
                let line = try await daemon.waitForLog(verdict, after: logged, timeout: .seconds(5))
                try await Task.sleep(for: .milliseconds(800))
                let samples = await sampler.stop()
                detections.append((line.arrivedAt - cutAt).inMilliseconds)
                if let last = samples.last(where: { $0.neededRetransmission }) {
                    switches.append((last.startedAt - cutAt).inMilliseconds)
                }
                let healed = daemon.log.count
                try lab.healUpstream(lab.wans[0])
                try await daemon.waitForLog(
                    family == "ipv6" ? "isp1 IPv6 is up" : "isp1 is up", after: healed, timeout: .seconds(10))
                try await Task.sleep(for: .milliseconds(500))
            }
            results.append((family, detections, switches))
        }
        _ = await daemon.stop()
        let bound = HealthCheckConfig.defaultInterval * HealthCheckConfig.defaultDownAfter + HealthCheckConfig.defaultTimeout
        print("")
        print(
            "Failover with default timers (bound \(Int(bound.inMilliseconds)) ms), \(cuts) cuts of isp1 per family, median / max:"
        )
        let ipv4 = results.first { $0.family == "ipv4" }!
        for result in results {
            let name = result.family == "ipv6" ? "IPv6-only cut" : "IPv4-only cut"
            print(
                String(
                    format: "  %@: detection %.0f / %.0f ms, switch %.0f / %.0f ms (× %.2f of IPv4's switch)",
                    name as NSString, median(result.detection), result.detection.max() ?? 0, median(result.switching),
                    result.switching.max() ?? 0, median(result.switching) / max(median(ipv4.switching), 1)))
        }
    }

    static func row(_ name: String, _ value: Double, _ unit: String, _ ratio: Double) -> String {
        "  " + name.padding(toLength: 56, withPad: " ", startingAt: 0)
            + String(format: "%10.2f %-7@ (× %.2f of plain)", value, unit as NSString, ratio)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty
            ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
