import BraidConfig
import BraidLab
import Foundation

/// Measures how fast `braid run` follows a learned gateway, in the namespace lab, 10 times each:
/// - bind → first new connection through that WAN, when the DHCP client's bind shows as a route
///   event (dhcpcd's `default via … proto dhcp` in main) and as a client-hook call (dhclient's exit
///   hook, as dhclient-script sources it: the only source when the kernel refused the route);
/// - gateway change → first new connection through the new gateway, both ways. The ISP's old
///   gateway goes dark at the change, so a connection that succeeds went by the new one.
/// Figures are given as a ratio to the daemon's probe interval (the default health settings).
///
/// Run as root: `swift run -c release uplink-benchmark [rounds]`.
@main
struct UplinkBenchmark {
    static let newGateway = IPv4Address("100.64.2.254")!

    static func main() async throws {
        let rounds = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 10
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: build the braid product first (\(binary) is missing)")
            exit(1)
        }
        let interval = HealthCheckConfig.defaultInterval
        print("Uplink benchmark: \(rounds) rounds each; health icmp every \(DurationText.format(interval)) (the default)")
        let lab = try Lab(wanCount: 2, name: "upbench")
        defer { lab.teardown() }
        let wan = lab.wans[1]
        let hookRoot = try lab.hookRoot()
        let install = Process()
        install.executableURL = URL(fileURLWithPath: binary)
        install.arguments = ["hooks", "install", "--root", hookRoot, "--state-dir", lab.stateDirectory, "--braid", binary]
        install.standardOutput = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        let hook = "\(hookRoot)/etc/dhcp/dhclient-exit-hooks.d/braid"

        // The second gateway: a macvlan on the ISP's side with a MAC of its own, so the old and the
        // new next hop are different frames' destinations and either can be made dark.
        try wan.namespace.ip([
            ["link", "add", "customer2", "link", "customer", "type", "macvlan", "mode", "bridge"],
            ["address", "add", "\(newGateway)/24", "dev", "customer2"], ["link", "set", "customer2", "up"],
        ])
        // Each side answers ARP only for its own address, so the router learns the macvlan's MAC for
        // the new gateway (by default Linux answers for any of its addresses on any interface).
        for interface in ["customer", "customer2"] { try wan.namespace.sysctl("net/ipv4/conf/\(interface)/arp_ignore", "1") }
        let health = "{ targets: [\(Lab.serverAddress)] }"
        // isp2 takes nearly all new connections, so the first one after its change shows it.
        let yaml = """
            flap_damping: { enabled: false }
            lan:
              interfaces: [\(Lab.lanInterface)]
            wans:
              - { name: isp1, interface: \(lab.wans[0].routerInterface), gateway: \(lab.wans[0].gateway), weight: 1, health: \(health) }
              - { name: isp2, interface: \(wan.routerInterface), gateway: auto, weight: 99, health: \(health) }
            """
        let daemon = try LabDaemon(lab: lab, binary: binary, configPath: try lab.writeFile("braid.yaml", yaml))
        try await daemon.waitForLog("running")

        func routeInMain(_ gateway: IPv4Address?) throws {
            _ = try? lab.router.run(["ip", "route", "del", "default", "dev", wan.routerInterface])
            if let gateway {
                try lab.router.run([
                    "ip", "route", "replace", "default", "via", "\(gateway)", "dev", wan.routerInterface, "proto", "dhcp",
                    "metric", "1002",
                ])
            }
        }
        func callHook(reason: String, router: IPv4Address?) throws {
            try lab.router.run(
                [
                    "env", "interface=\(wan.routerInterface)", "reason=\(reason)", "new_ip_address=\(wan.routerAddress)",
                    "new_routers=\(router.map { "\($0)" } ?? "")", "sh", "-c", ". '\(hook)'",
                ])
        }
        /// Only `gateway` forwards: the other one drops what it is sent.
        func onlyAlive(_ gateway: IPv4Address) throws {
            let dark = gateway == wan.gateway ? "customer2" : "customer"
            try wan.namespace.run(["nft", "flush", "chain", "inet", "isp", "outage"])
            try wan.namespace.run(["nft", "add", "rule", "inet", "isp", "outage", "iifname", dark, "drop"])
        }
        /// Time from `change` to the start of the first new connection that isp2 answered at once.
        func timeToFirstConnection(_ change: () throws -> Void) async throws -> Double {
            let sampler = ConnectionSampler(from: lab.lanHosts[0], interval: .milliseconds(5))
            try await Task.sleep(for: .milliseconds(100))
            let changedAt = ContinuousClock.now
            try change()
            try await Task.sleep(for: .milliseconds(600))
            let samples = await sampler.stop()
            guard
                let first = samples.first(where: {
                    $0.startedAt >= changedAt && !$0.neededRetransmission && lab.wan(forPeer: $0.answer)?.name == "isp2"
                })
            else { throw LabError("no connection went through isp2 within 600 ms:\n\(daemon.logText)") }
            return (first.startedAt - changedAt).inMilliseconds
        }
        func waitForState(_ state: String) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let status = try lab.runBraid(
                    binary, ["status", "-c", try lab.writeFile("braid.yaml", yaml), "--json", "--state-dir", lab.stateDirectory])
                if status.standardOutput.contains("\"name\" : \"isp2\"") || status.standardOutput.contains("\"name\":\"isp2\"") {
                    struct Report: Decodable { var daemon: Daemon? }
                    struct Daemon: Decodable { var wans: [Wan] }
                    struct Wan: Decodable { var name: String; var state: String }
                    let report = try JSONDecoder().decode(Report.self, from: Data(status.standardOutput.utf8))
                    if report.daemon?.wans.first(where: { $0.name == "isp2" })?.state == state { return }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw LabError("isp2 did not become \(state):\n\(daemon.logText)")
        }

        try onlyAlive(wan.gateway)
        var bindByRoute: [Double] = [], bindByHook: [Double] = [], changeByRoute: [Double] = [], changeByHook: [Double] = []
        for _ in 1...rounds {
            try await waitForState("no_gateway")
            bindByRoute.append(try await timeToFirstConnection { try routeInMain(wan.gateway) })
            try routeInMain(nil)
            try await waitForState("no_gateway")
            bindByHook.append(try await timeToFirstConnection { try callHook(reason: "BOUND", router: wan.gateway) })
            try callHook(reason: "EXPIRE", router: nil)
        }
        // Changes as a route event (dhcpcd replaces its route), alternating between the gateways.
        try await waitForState("no_gateway")
        try routeInMain(wan.gateway)
        try await waitForState("up")
        var current = wan.gateway
        for _ in 1...rounds {
            let next = current == wan.gateway ? newGateway : wan.gateway
            try onlyAlive(next)
            changeByRoute.append(try await timeToFirstConnection { try routeInMain(next) })
            current = next
        }
        // Changes reported by the hook alone (dhclient RENEW with a new router; main keeps the old route).
        for _ in 1...rounds {
            let next = current == wan.gateway ? newGateway : wan.gateway
            try onlyAlive(next)
            changeByHook.append(try await timeToFirstConnection { try callHook(reason: "RENEW", router: next) })
            current = next
        }
        _ = await daemon.stop()

        let intervalMilliseconds = interval.inMilliseconds
        print("")
        print(
            "                                 median       max   (ratio to the \(Int(intervalMilliseconds)) ms probe interval: median, max)"
        )
        for (name, values) in [
            ("bind (route event)", bindByRoute), ("bind (client hook)", bindByHook),
            ("gateway change (route event)", changeByRoute), ("gateway change (client hook)", changeByHook),
        ] {
            let sorted = values.sorted()
            let median =
                sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            print(
                "  " + name.padding(toLength: 29, withPad: " ", startingAt: 0)
                    + String(
                        format: " %7.1f ms %7.1f ms   (%.2f, %.2f)", median, sorted.last ?? 0, median / intervalMilliseconds,
                        (sorted.last ?? 0) / intervalMilliseconds))
        }
    }
}
