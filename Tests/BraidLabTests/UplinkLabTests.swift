import BraidConfig
import BraidDaemon
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Real uplinks: gateways learned from real DHCP clients (dnsmasq in the ISP namespaces,
    /// dhclient and dhcpcd on the router, with Braid's hooks installed by `braid hooks install`),
    /// point-to-point links with no next hop, and interfaces that come and go.
    @Suite struct Uplinks {
        /// A config whose WANs have the given `gateway` words (nil: the key is left out, so `auto`).
        static func yaml(_ lab: Lab, gateways: [String?], weights: [Int]? = nil, top: String = "") -> String {
            var lines = [top, "lan:", "  interfaces: [\(Lab.lanInterface)]", "wans:"]
            for (index, wan) in lab.wans.enumerated() {
                lines += [
                    "  - name: \(wan.name)", "    interface: \(wan.routerInterface)", "    weight: \(weights?[index] ?? 1)",
                ]
                if let gateway = gateways[index] { lines.append("    gateway: \(gateway)") }
            }
            return lines.joined(separator: "\n") + "\n"
        }

        static func installHooks(_ lab: Lab) throws -> String {
            let root = try lab.hookRoot()
            let result = try ProcessCommandRunner().run([
                try BraidExecutable.path, "hooks", "install", "--root", root, "--state-dir", lab.stateDirectory,
            ])
            guard result.status == 0 else { throw LabError("braid hooks install failed: \(result.standardError)") }
            return root
        }

        static func plan(_ lab: Lab, yaml: String) throws -> String {
            try lab.runBraid(
                try BraidExecutable.path, ["plan", "-c", try lab.writeFile("plan.yaml", yaml), "--state-dir", lab.stateDirectory]
            ).standardOutput
        }

        @Test("Three DHCP WANs (dhclient on two at once, dhcpcd) come up after `braid run` started and carry a weighted split")
        func dhcpWansComeUpAndSplit() async throws {
            let resolvConf = FileManager.default.contents(atPath: "/etc/resolv.conf")
            try await Lab.with(wanCount: 3, name: "dhcp") { lab in
                for wan in lab.wans { try lab.clearRouterAddress(wan) }
                let hookRoot = try Self.installHooks(lab)
                let yaml = Self.yaml(lab, gateways: [nil, "auto", "auto"], weights: [1, 1, 2])
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: yaml)
                // Started with no address anywhere: it waits, it does not refuse.
                for wan in lab.wans { try await lab.waitForWan(wan.name, .noAddress) }
                for wan in lab.wans { try lab.startDhcpServer(wan) }
                let clients = [
                    try lab.startDhclient(lab.wans[0], hookRoot: hookRoot),
                    try lab.startDhclient(lab.wans[1], hookRoot: hookRoot),
                    try lab.startDhcpcd(lab.wans[2], hookRoot: hookRoot),
                ]
                for wan in lab.wans {
                    do { try await lab.waitForWan(wan.name, .up, timeout: .seconds(30)) } catch {
                        throw LabError(
                            "\(error)\n\(clients.map { "\($0.name):\n\($0.output)" }.joined(separator: "\n"))\n\(daemon.logText)")
                    }
                }
                // The EEXIST case: dhclient-script's `default via` for whichever dhclient WAN bound
                // second was refused and hidden, so main has none through it; its gateway came from
                // the hook alone.
                let main = try lab.router.run(["ip", "-4", "route", "show", "default"])
                let inMain = [1, 2].filter { main.contains("via 100.64.\($0).1 dev wan\($0)") }
                #expect(inMain.count == 1, "one dhclient route in main expected: \(main)")
                #expect(main.contains("via 100.64.3.1 dev wan3 proto dhcp"), "\(main)")
                let plan = try Self.plan(lab, yaml: yaml)
                for number in [1, 2] where !inMain.contains(number) {
                    #expect(
                        plan.contains(
                            "# isp\(number): interface wan\(number), gateway 100.64.\(number).1 (learned from dhclient hook"),
                        "\(plan)")
                }
                #expect(plan.contains("default via 100.64.3.1 dev wan3 table 202"), "\(plan)")

                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 400)
                let counts = lab.countByWan(answers)
                #expect(counts["failed"] == nil, "\(answers.filter { $0.hasPrefix("failed") }.prefix(3))")
                for (name, share) in [("isp1", 0.25), ("isp2", 0.25), ("isp3", 0.5)] {
                    let tolerance = binomialTolerance(trials: 400, probability: share)
                    #expect(abs(Double(counts[name] ?? 0) - 400 * share) <= tolerance, "\(counts)")
                }
                #expect(await daemon.stop() == 0)
            }
            #expect(
                FileManager.default.contents(atPath: "/etc/resolv.conf") == resolvConf,
                "a DHCP client wrote the host's resolv.conf")
        }

        @Test("A gateway that moves when the DHCP client rebinds is followed; only that WAN's connections are flushed")
        func movedGatewayIsFollowed() async throws {
            try await Lab.with(wanCount: 2, name: "move") { lab in
                for wan in lab.wans { try lab.clearRouterAddress(wan) }
                let hookRoot = try Self.installHooks(lab)
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: Self.yaml(lab, gateways: [nil, nil]))
                let server = try lab.startDhcpServer(lab.wans[0])
                try lab.startDhcpServer(lab.wans[1])
                var dhclient = try lab.startDhclient(lab.wans[0], hookRoot: hookRoot)
                _ = try lab.startDhcpcd(lab.wans[1], hookRoot: hookRoot)
                for wan in lab.wans { try await lab.waitForWan(wan.name, .up, timeout: .seconds(30)) }

                var flows: [LongLivedFlow] = []
                var onIsp1: [LongLivedFlow] = []
                while flows.count < 40 && (onIsp1.count < 2 || flows.count - onIsp1.count < 2) {
                    let flow = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.02)
                    flows.append(flow)
                    if lab.wan(forPeer: await flow.firstAnswer() ?? "")?.name == "isp1" { onIsp1.append(flow) }
                }
                try #require(onIsp1.count >= 2 && flows.count - onIsp1.count >= 2, "flows did not land on both WANs")

                // The ISP renumbers its gateway: the old one goes dark, the DHCP server hands out the
                // new one, and dhclient (restarted, so it rebinds with INIT-REBOOT) reports it. Its
                // script's `default via 100.64.1.254` is refused (EEXIST) and the old route stays.
                let skip = daemon.log.count
                server.kill()
                try lab.wans[0].namespace.run(["ip", "address", "del", "100.64.1.1/24", "dev", "customer"])
                try lab.startDhcpServer(lab.wans[0], router: IPv4Address("100.64.1.254")!)
                dhclient.kill()
                let movedAt = ContinuousClock.now
                dhclient = try lab.startDhclient(lab.wans[0], hookRoot: hookRoot)
                let followed = try await daemon.waitForLog("isp1 gateway is 100.64.1.254", after: skip, timeout: .seconds(20))
                let main = try lab.router.run(["ip", "-4", "route", "show", "default", "dev", "wan1"])
                #expect(main.contains("via 100.64.1.1"), "the stale route was expected to stay in main: \(main)")
                let table = try lab.router.run(["ip", "-4", "route", "show", "table", "200"])
                #expect(table.contains("default via 100.64.1.254 dev wan1"), "\(table)")

                let flushed = try await daemon.waitForLog("flushed", after: skip, timeout: .seconds(5))
                #expect(flushed.text.contains("of isp1"), "\(flushed.text)")
                let count = Int(flushed.text.components(separatedBy: "flushed ").last?.split(separator: " ").first ?? "") ?? 0
                #expect(count >= onIsp1.count, "\(flushed.text)")
                #expect(!daemon.log.dropFirst(skip).contains { $0.text.contains("connection(s) of isp2") }, "\(daemon.logText)")
                for flow in flows where !onIsp1.contains(where: { $0 === flow }) {
                    #expect(!flow.stop().contains { $0.hasPrefix("failed") }, "a flow on isp2 broke")
                }
                for flow in onIsp1 { _ = flow.stop() }
                // New connections through isp1 go by the new gateway.
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40)
                let counts = lab.countByWan(answers)
                #expect(counts["failed"] == nil && (counts["isp1"] ?? 0) > 0, "\(counts)")
                print("gateway move → followed: \(followed.arrivedAt - movedAt) (includes dhclient's rebind)")
                #expect(await daemon.stop() == 0)
            }
        }

        @Test("A point-to-point WAN (gateway: none) carries traffic, and again after it is deleted and re-created")
        func pointToPointWanAndRecreatedInterface() async throws {
            try await Lab.with(wanCount: 2, name: "ptp") { lab in
                try lab.makePointToPoint(lab.wans[1])
                let daemon = try await LabTests.Failover.startDaemon(
                    lab, yaml: Self.yaml(lab, gateways: ["\(lab.wans[0].gateway)", "none"]))
                try await lab.waitForWan("isp2", .up)
                let table = try lab.router.run(["ip", "-4", "route", "show", "table", "201"])
                #expect(table.contains("default dev wan2"), "\(table)")
                var counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(counts["failed"] == nil && (counts["isp2"] ?? 0) > 0, "\(counts)")

                let index = { () throws -> String in
                    try lab.router.run(["cat", "/sys/class/net/wan2/ifindex"]).trimmingCharacters(in: .whitespacesAndNewlines)
                }
                let before = try index()
                try lab.deleteRouterLink(lab.wans[1])
                try await lab.waitForWan("isp2", .noLink)
                try lab.recreateRouterLink(lab.wans[1])
                try lab.makePointToPoint(lab.wans[1])
                #expect(try index() != before, "the re-created interface kept its index")
                // Up, and routed again: the status may say up for a moment while the link has its
                // first address, before the flush and the point-to-point address reach the daemon.
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {
                    let routed = try lab.router.run(["ip", "-4", "route", "show", "table", "201"]).contains("default dev wan2")
                    if routed, lab.daemonStatus()?.wans.first(where: { $0.name == "isp2" })?.state == .up { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await lab.waitForWan("isp2", .up)
                try await Task.sleep(for: .milliseconds(100))
                counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(counts["failed"] == nil && (counts["isp2"] ?? 0) > 0, "\(counts)\n\(daemon.logText)")
                #expect(await daemon.stop() == 0)
            }
        }

        /// pppd runs /etc/ppp/ip-up with `interface tty speed local-IP remote-IP ipparam` and IFNAME,
        /// IPLOCAL, IPREMOTE in its environment; Debian's ip-up exports PPP_IFACE, PPP_TTY, PPP_SPEED,
        /// PPP_LOCAL, PPP_REMOTE, PPP_IPPARAM and runs ip-up.d with run-parts. This kernel has no ppp
        /// driver, so the link is a veth configured as pppd would (`LOCAL peer REMOTE/32`), and the
        /// hooks are called here exactly that way: ip-up through run-parts with Debian's environment,
        /// ip-down directly with pppd's arguments.
        @Test("The pppd hook, called as pppd calls ip-up and ip-down, brings a point-to-point WAN in and out of service")
        func pppdHookBringsAWanInAndOut() async throws {
            try await Lab.with(wanCount: 2, name: "ppp") { lab in
                let hookRoot = try Self.installHooks(lab)
                try lab.makePointToPoint(lab.wans[1], configureRouter: false)
                let daemon = try await LabTests.Failover.startDaemon(
                    lab, yaml: Self.yaml(lab, gateways: ["\(lab.wans[0].gateway)", "auto"]))
                try await lab.waitForWan("isp2", .noAddress)
                try lab.configurePointToPointRouterSide(lab.wans[1])
                let pppEnvironment = [
                    "IFNAME=wan2", "IPLOCAL=100.64.2.2", "IPREMOTE=100.64.2.1", "DEVICE=/dev/ttyS0", "SPEED=115200",
                ]
                try lab.router.run(
                    ["env"] + pppEnvironment + [
                        "PPP_IFACE=wan2", "PPP_TTY=/dev/ttyS0", "PPP_SPEED=115200", "PPP_LOCAL=100.64.2.2",
                        "PPP_REMOTE=100.64.2.1",
                        "PPP_IPPARAM=isp2", "run-parts", "\(hookRoot)/etc/ppp/ip-up.d",
                    ])
                try await lab.waitForWan("isp2", .up)
                let plan = try Self.plan(lab, yaml: Self.yaml(lab, gateways: ["\(lab.wans[0].gateway)", "auto"]))
                #expect(plan.contains("gateway 100.64.2.1 (learned from pppd hook (ip-up))"), "\(plan)")
                var counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(counts["failed"] == nil && (counts["isp2"] ?? 0) > 0, "\(counts)")

                let downAt = ContinuousClock.now
                let status = try lab.router.runner.run(
                    ["env"] + pppEnvironment + [
                        "\(hookRoot)/etc/ppp/ip-down.d/braid", "wan2", "/dev/ttyS0", "115200", "100.64.2.2", "100.64.2.1", "isp2",
                    ])
                #expect(status.status == 0)
                try await lab.waitForWan("isp2", .noGateway, timeout: .seconds(2))
                #expect(
                    ContinuousClock.now - downAt < .seconds(1),
                    "ip-down took the WAN out only after \(ContinuousClock.now - downAt)")
                counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30))
                #expect(counts == ["isp1": 30], "\(counts)")
                #expect(await daemon.stop() == 0)
            }
        }

        @Test("`braid apply` installs the rest and names a WAN that waits for its gateway and one whose interface is missing")
        func applyWithWaitingAndMissingWans() async throws {
            try await Lab.with(wanCount: 2, name: "wait") { lab in
                // isp2 has its address but no gateway anywhere; isp3 is a modem not plugged in.
                let yaml =
                    Self.yaml(lab, gateways: ["\(lab.wans[0].gateway)", "auto"])
                    + "  - { name: lte, interface: wwan0, gateway: auto }\n"
                let path = try lab.writeFile("braid.yaml", yaml)
                let result = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(result.status == 0, "\(result.standardError)")
                #expect(result.standardError.contains("isp2 waits for a gateway"), "\(result.standardError)")
                #expect(
                    result.standardError.contains("lte is no_link: its interface wwan0 does not exist"), "\(result.standardError)"
                )
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 20))
                #expect(counts == ["isp1": 20], "\(counts)")
                // A hook report is all `apply` needs: no daemon runs.
                let report = try ProcessCommandRunner().run([
                    try BraidExecutable.path, "hooks", "report", "--client", "dhclient", "--state-dir", lab.stateDirectory,
                    "--interface", "wan2", "--reason", "BOUND", "--address", "\(lab.wans[1].routerAddress)", "--router",
                    "\(lab.wans[1].gateway)",
                ])
                #expect(report.status == 0)
                let again = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(again.status == 0 && !again.standardError.contains("isp2"), "\(again.standardError)")
                let table = try lab.router.run(["ip", "-4", "route", "show", "table", "201"])
                #expect(table.contains("default via 100.64.2.1 dev wan2"), "\(table)")
                _ = try lab.runBraid(try BraidExecutable.path, ["down"])
            }
        }

        @Test("`braid hooks install` then `remove` leaves the hook directories exactly as before; garbage reports change nothing")
        func hooksInstallAndRemove() async throws {
            try await Lab.with(wanCount: 1, name: "hooks") { lab in
                // A copy of this host's hook directories, with what the packages put there.
                let root = try lab.hookRoot()
                for directory in ["etc/dhcp/dhclient-exit-hooks.d", "usr/lib/dhcpcd/dhcpcd-hooks"] {
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/\(directory)")) ?? [] {
                        try? FileManager.default.copyItem(atPath: "/\(directory)/\(name)", toPath: "\(root)/\(directory)/\(name)")
                    }
                }
                func listing() throws -> String {
                    try ProcessCommandRunner().check([
                        "sh", "-c",
                        "cd '\(root)' && find . -exec ls -ld --time-style=+ {} + | sort && find . -type f -exec md5sum {} + | sort",
                    ])
                }
                let before = try listing()
                let braid = try BraidExecutable.path
                let install = try ProcessCommandRunner().run([
                    braid, "hooks", "install", "--root", root, "--state-dir", lab.stateDirectory,
                ])
                #expect(install.status == 0, "\(install.standardError)")
                #expect(install.standardOutput.split(separator: "\n").count == 4, "\(install.standardOutput)")
                #expect(install.standardOutput.contains("installed \(root)/etc/ppp/ip-up.d/braid (pppd)"))
                #expect(try listing() != before)
                // Garbage from a client: exit 0, nothing written.
                let garbage = try ProcessCommandRunner().run([
                    braid, "hooks", "report", "--client", "dhclient", "--state-dir", lab.stateDirectory, "--interface", "wan1",
                    "--reason", "BOUND", "--address", "100.64.1.2", "--router", "not-an-address",
                ])
                #expect(garbage.status == 0)
                #expect(!FileManager.default.fileExists(atPath: lab.stateDirectory + "/leases"))
                let nothing = try ProcessCommandRunner().run([braid, "hooks", "report"])
                #expect(nothing.status == 0)
                let remove = try ProcessCommandRunner().run([braid, "hooks", "remove", "--root", root])
                #expect(remove.status == 0 && remove.standardOutput.split(separator: "\n").count == 4, "\(remove.standardOutput)")
                #expect(try listing() == before)

                let emptyRoot = (try lab.writeFile("marker", "") as NSString).deletingLastPathComponent + "/empty"
                try FileManager.default.createDirectory(atPath: emptyRoot + "/etc", withIntermediateDirectories: true)
                let refused = try ProcessCommandRunner().run([braid, "hooks", "install", "--root", emptyRoot])
                #expect(
                    refused.status != 0 && refused.standardError.contains("no supported DHCP or PPP client"),
                    "\(refused.standardError)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: emptyRoot + "/etc") == [])
            }
        }
    }
}
