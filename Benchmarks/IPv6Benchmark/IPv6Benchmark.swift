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
        try await failover(dual, binary: binary, cuts: cuts)
    }

    static func traffic(_ dual: DualStackLab, binary: String, repetitions: Int) async throws {
        let lab = dual.lab
        let host = lab.lanHosts[0]
        let routedHost = IPv6Address("\(routedLanPrefix)10")!
        try lab.router.ip([["address", "add", "\(routedLanPrefix)1/64", "dev", Lab.lanInterface, "nodad"]])
        try host.ip([["address", "add", "\(routedHost)/64", "dev", "eth0", "nodad"]])
        try lab.wans[1].namespace.ip([["route", "add", "\(routedLanPrefix)/64", "via", "\(dual.routerAddress(2))"]])
        try dual.waitForRouterAdvertisement()

        // Baseline: forwarding on, one static default route, no nft table at all.
        try lab.router.sysctl("net/ipv6/conf/all/forwarding", "1")
        try lab.router.ip([
            ["route", "add", "default", "via", "\(dual.ispAddress(2))", "dev", lab.wans[1].routerInterface, "metric", "1"]
        ])
        let plain = try await measure(dual, source: routedHost, repetitions: repetitions)
        // The least any NAT66 gateway does: conntrack and one masquerade rule, the ULA source.
        try lab.router.run(
            ["nft", "-f", "-"],
            input: """
                table inet bench_nat66 {
                    chain postrouting {
                        type nat hook postrouting priority srcnat; policy accept;
                        oifname "\(lab.wans[1].routerInterface)" masquerade
                    }
                }
                """)
        let nat66 = try await measure(dual, source: dual.lanHostAddress(0), repetitions: repetitions)
        try lab.router.run(["nft", "delete", "table", "inet", "bench_nat66"])
        try lab.router.ip([
            ["route", "del", "default", "via", "\(dual.ispAddress(2))", "dev", lab.wans[1].routerInterface, "metric", "1"]
        ])
        try lab.router.sysctl("net/ipv6/conf/all/forwarding", "0")

        // Braid: the lab's dual-stack config (isp1 prefix translation, isp2 masquerade, isp3 IPv4 only).
        let path = try lab.writeFile("braid.yaml", dual.configYAML())
        let applied = try lab.runBraid(binary, ["apply", "-c", path])
        guard applied.status == 0 else { throw LabError("braid apply failed: \(applied.standardError)") }
        let braid = try await measure(dual, source: dual.lanHostAddress(0), repetitions: repetitions)
        _ = try lab.runBraid(binary, ["down"])

        print("")
        print("IPv6 forwarding through the router (LAN host → internet host), medians:")
        print(row("plain forwarding: iperf3 TCP", plain.throughput, "Gbit/s", baseline: plain.throughput))
        print(row("one masquerade rule (conntrack, NAT66): iperf3", nat66.throughput, "Gbit/s", baseline: plain.throughput))
        print(row("Braid dual-stack ruleset: iperf3 TCP", braid.throughput, "Gbit/s", baseline: plain.throughput))
        print(row("plain forwarding: new connections", plain.rate, "conn/s", baseline: plain.rate))
        print(row("one masquerade rule: new connections", nat66.rate, "conn/s", baseline: plain.rate))
        print(row("Braid dual-stack ruleset: new connections", braid.rate, "conn/s", baseline: plain.rate))
        print(
            String(
                format: "  Braid against one masquerade rule: iperf3 × %.2f, new connections × %.2f",
                braid.throughput / nat66.throughput, braid.rate / nat66.rate))
    }

    static func measure(
        _ dual: DualStackLab, source: IPv6Address, repetitions: Int
    ) async throws -> (throughput: Double, rate: Double) {
        var speeds: [Double] = []
        var rates: [Double] = []
        for _ in 0..<repetitions {
            speeds.append(try iperf(dual, source: source))
            let started = ContinuousClock.now
            let answers = try await LabTraffic.newIPv6Connections(
                from: dual.lab.lanHosts[0], count: 1000, to: DualStackLab.serverAddress, source: source)
            let failed = answers.filter { $0.hasPrefix("failed") }.count
            if failed > 0 { print("  warning: \(failed) connections failed: \(answers.first { $0.hasPrefix("failed") } ?? "")") }
            rates.append(1000 / ((ContinuousClock.now - started).inMilliseconds / 1000))
        }
        return (median(speeds), median(rates))
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

    static func row(_ name: String, _ value: Double, _ unit: String, baseline: Double) -> String {
        "  " + name.padding(toLength: 48, withPad: " ", startingAt: 0)
            + String(format: "%10.2f %-7@ (× %.2f of plain)", value, unit as NSString, value / baseline)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty
            ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
