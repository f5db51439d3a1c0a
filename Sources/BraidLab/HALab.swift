import BraidConfig
import BraidKernel
import Foundation

/// Two Braid gateways as an HA pair, with real keepalived and conntrackd between them:
///
/// ```
///  lan hosts ──(bridge in `sw`)──┬── router1 (10.77.0.2) ──┬──(bridge in ispI, gateway 100.64.I.1)── ispI ── internet
///                                └── router2 (10.77.0.3) ──┘
///          virtual 10.77.0.1          router1 ──sync0 10.99.0.1 ── 10.99.0.2 sync0── router2
/// ```
/// Each router has its own address on every segment (100.64.I.2 and .3 on WAN I); the active
/// one also holds the virtual addresses (10.77.0.1 on the LAN, 100.64.I.10 on WAN I), which the
/// LAN hosts use as their gateway and the internet sees as the source of every connection.
public final class HALab: Sendable {
    public static let lanVirtualAddress = IPv4Address("10.77.0.1")!
    public static let routerCount = 2

    public let prefix: String
    public let routers: [NetworkNamespace]
    public let lanSwitch: NetworkNamespace
    public let internet: NetworkNamespace
    public let lanHosts: [NetworkNamespace]
    public let isps: [NetworkNamespace]
    public let stateDirectories: [String]
    public let filesDirectory: String
    private let servers = LockedBox<[WhoAmIServer]>([])
    private let daemons = LockedBox<[LabDaemon]>([])

    public var wanCount: Int { isps.count }

    public init(wanCount: Int = 2, lanHostCount: Int = 1, name: String = "ha") throws {
        guard geteuid() == 0 else { throw LabError("the lab needs root (network namespaces)") }
        Lab.removeStaleLabs()
        let prefix = "braid\(getpid())\(name)\(HALab.counter.update { value -> Int in value += 1; return value })"
        self.prefix = prefix
        routers = (1...Self.routerCount).map { NetworkNamespace(name: "\(prefix)-r\($0)") }
        lanSwitch = NetworkNamespace(name: "\(prefix)-sw")
        internet = NetworkNamespace(name: "\(prefix)-net")
        lanHosts = (1...lanHostCount).map { NetworkNamespace(name: "\(prefix)-lan\($0)") }
        isps = (1...wanCount).map { NetworkNamespace(name: "\(prefix)-isp\($0)") }
        stateDirectories = (1...Self.routerCount).map { NSTemporaryDirectory() + "\(prefix)-state\($0)" }
        filesDirectory = NSTemporaryDirectory() + "\(prefix)-files"
        do { try build() } catch {
            teardown()
            throw error
        }
    }

    private static let counter = LockedBox(0)

    public var allNamespaces: [NetworkNamespace] { routers + [lanSwitch, internet] + lanHosts + isps }

    // MARK: addresses (router index 0 or 1, WAN index 1...)

    public func routerLanAddress(_ router: Int) -> IPv4Address { IPv4Address("10.77.0.\(2 + router)")! }
    public func routerWanAddress(_ router: Int, wan: Int) -> IPv4Address { IPv4Address("100.64.\(wan).\(2 + router)")! }
    public func wanVirtualAddress(_ wan: Int) -> IPv4Address { IPv4Address("100.64.\(wan).10")! }
    public func ispGateway(_ wan: Int) -> IPv4Address { IPv4Address("100.64.\(wan).1")! }
    public func syncAddress(_ router: Int) -> IPv4Address { IPv4Address("10.99.0.\(1 + router)")! }
    public func lanHostAddress(_ index: Int) -> IPv4Address { IPv4Address("10.77.0.\(20 + index)")! }
    public var routerInterfaces: [String] { ["lan0"] + (1...wanCount).map { "wan\($0)" } + ["sync0"] }

    /// The WAN (1...) whose virtual address a server saw, nil for anything else.
    public func wan(forPeer answer: String) -> Int? {
        let address = answer.split(separator: " ").first.map(String.init) ?? ""
        return (1...wanCount).first { "\(wanVirtualAddress($0))" == address }
    }

    private func build() throws {
        for namespace in allNamespaces {
            try ProcessCommandRunner().check(["ip", "netns", "add", namespace.name])
            try namespace.ip([["link", "set", "lo", "up"]])
        }
        try lanSwitch.ip([["link", "add", "lan", "type", "bridge"], ["link", "set", "lan", "up"]])
        for (index, router) in routers.enumerated() {
            try router.sysctl("net/ipv4/conf/all/rp_filter", "1")
            try router.sysctl("net/ipv4/conf/default/rp_filter", "1")
            try veth(router, "lan0", lanSwitch, "r\(index + 1)", bridge: "lan")
            try router.ip([["address", "add", "\(routerLanAddress(index))/24", "dev", "lan0"], ["link", "set", "lan0", "up"]])
        }
        try ProcessCommandRunner().check([
            "ip", "link", "add", "sync0", "netns", routers[0].name, "type", "veth", "peer", "name", "sync0", "netns",
            routers[1].name,
        ])
        for (index, router) in routers.enumerated() {
            try router.ip([["address", "add", "\(syncAddress(index))/24", "dev", "sync0"], ["link", "set", "sync0", "up"]])
        }
        for (index, host) in lanHosts.enumerated() {
            try veth(host, "eth0", lanSwitch, "host\(index + 1)", bridge: "lan")
            try host.ip([
                ["address", "add", "\(lanHostAddress(index))/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                ["route", "add", "default", "via", "\(Self.lanVirtualAddress)"],
            ])
        }
        try internet.ip([["address", "add", "\(Lab.serverAddress)/32", "dev", "lo"]])
        for (offset, isp) in isps.enumerated() {
            let wan = offset + 1
            try isp.ip([
                ["link", "add", "seg", "type", "bridge"], ["address", "add", "\(ispGateway(wan))/24", "dev", "seg"],
                ["link", "set", "seg", "up"],
            ])
            for (index, router) in routers.enumerated() {
                try veth(router, "wan\(wan)", isp, "r\(index + 1)", bridge: "seg")
                try router.ip([
                    ["address", "add", "\(routerWanAddress(index, wan: wan))/24", "dev", "wan\(wan)"],
                    ["link", "set", "wan\(wan)", "up"],
                ])
            }
            try ProcessCommandRunner().check([
                "ip", "link", "add", "upstream", "netns", isp.name, "type", "veth", "peer", "name", "isp\(wan)", "netns",
                internet.name,
            ])
            try isp.ip([
                ["address", "add", "198.18.\(wan).1/24", "dev", "upstream"], ["link", "set", "upstream", "up"],
                ["route", "add", "default", "via", "198.18.\(wan).2"],
            ])
            try isp.sysctl("net/ipv4/ip_forward", "1")
            try isp.run(
                ["nft", "-f", "-"],
                input: """
                    table inet isp {
                        chain outage {
                        }
                        chain forward {
                            type filter hook forward priority filter; policy accept;
                            iifname "seg" ip saddr != 100.64.\(wan).0/24 counter drop comment "BCP 38: only our customers' addresses"
                            jump outage
                        }
                    }
                    """)
            try internet.ip([
                ["address", "add", "198.18.\(wan).2/24", "dev", "isp\(wan)"], ["link", "set", "isp\(wan)", "up"],
                ["route", "add", "100.64.\(wan).0/24", "via", "198.18.\(wan).1"],
            ])
        }
        let server = try WhoAmIServer(namespace: internet.name, address: IPv4Address(0), port: Lab.serverPort)
        servers.update { $0.append(server) }
    }

    /// A veth pair: `name` in `namespace`, `port` in `other` as a port of `bridge`.
    private func veth(
        _ namespace: NetworkNamespace, _ name: String, _ other: NetworkNamespace, _ port: String, bridge: String
    )
        throws
    {
        try ProcessCommandRunner().check([
            "ip", "link", "add", name, "netns", namespace.name, "type", "veth", "peer", "name", port, "netns", other.name,
        ])
        try other.ip([["link", "set", port, "master", bridge], ["link", "set", port, "up"]])
    }

    // MARK: Braid on the routers

    /// Router `router`'s config: two weighted WANs with health checks, and `ha:`.
    public func configYAML(
        router: Int, priority: Int, weights: [Int]? = nil, preempt: Bool = false, stableAfter: String = "2s",
        healthInterval: String = "100ms", wanOrder: [Int]? = nil
    ) -> String {
        var lines = ["lan:", "  interfaces: [lan0]", "wans:"]
        for wan in wanOrder ?? Array(1...wanCount) {
            lines += [
                "  - name: isp\(wan)", "    interface: wan\(wan)", "    gateway: \(ispGateway(wan))",
                "    weight: \(weights?[wan - 1] ?? 1)",
                "    health: { targets: [\(Lab.serverAddress)], interval: \(healthInterval), timeout: 200ms, down_after: 3, up_after: 2 }",
            ]
        }
        lines += [
            "ha:", "  priority: \(priority)", "  sync_interface: sync0", "  peer: \(syncAddress(1 - router))",
            "  preempt: \(preempt)", "  stable_after: \(stableAfter)", "  virtual_addresses:",
            "    lan0: [\(Self.lanVirtualAddress)/24]",
        ]
        for wan in 1...wanCount { lines.append("    wan\(wan): [\(wanVirtualAddress(wan))/24]") }
        return lines.joined(separator: "\n") + "\n"
    }

    public func writeFile(_ name: String, _ text: String) throws -> String {
        try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true)
        let path = filesDirectory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `braid run` on router `router` with `yaml`; it is killed at teardown.
    public func startBraid(router: Int, binary: String, yaml: String) throws -> LabDaemon {
        let path = try writeFile("router\(router + 1).yaml", yaml)
        let daemon = try LabDaemon(
            namespace: routers[router], stateDirectory: stateDirectories[router], binary: binary, configPath: path)
        daemons.update { $0.append(daemon) }
        return daemon
    }

    /// Whether router `router` holds the LAN's virtual address now.
    public func holdsVirtualAddresses(_ router: Int) -> Bool {
        guard let output = try? routers[router].run(["ip", "-4", "-o", "address", "show", "dev", "lan0"]) else { return false }
        return output.contains(" \(Self.lanVirtualAddress)/")
    }

    /// The router that holds the virtual addresses, if exactly one does.
    public func activeRouter() -> Int? {
        let holders = (0..<Self.routerCount).filter(holdsVirtualAddresses)
        return holders.count == 1 ? holders[0] : nil
    }

    /// Waits until router `router` holds (or no longer holds) the virtual addresses; returns when it happened.
    @discardableResult
    public func waitForVirtualAddresses(
        on router: Int, held: Bool = true, timeout: Duration = .seconds(10), poll: Duration = .milliseconds(5)
    ) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if holdsVirtualAddresses(router) == held { return .now }
            try await Task.sleep(for: poll)
        }
        throw LabError("router\(router + 1) did not \(held ? "take" : "give up") the virtual addresses within \(timeout)")
    }

    /// Power loss on router `router`: every process in its namespace killed with SIGKILL, its links
    /// down, and what RAM held gone (the virtual addresses keepalived added, conntrack, Braid's table),
    /// as after a real power cut.
    public func powerOff(_ router: Int) throws {
        let namespace = routers[router]
        let pids = (try? ProcessCommandRunner().check(["ip", "netns", "pids", namespace.name])) ?? ""
        for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) where pid != getpid() { kill(pid, SIGKILL) }
        try namespace.ip(routerInterfaces.map { ["link", "set", $0, "down"] })
        var deletions = [["address", "del", "\(Self.lanVirtualAddress)/24", "dev", "lan0"]]
        for wan in 1...wanCount { deletions.append(["address", "del", "\(wanVirtualAddress(wan))/24", "dev", "wan\(wan)"]) }
        for deletion in deletions { _ = try? namespace.runner.run(["ip"] + deletion) }
        _ = try? namespace.runner.run(["conntrack", "-F"])
        _ = try? namespace.runner.run(["nft", "delete", "table", "inet", "braid"])
    }

    /// Power back on: the links come up (Braid is started again by the caller).
    public func powerOn(_ router: Int) throws {
        try routers[router].ip(routerInterfaces.map { ["link", "set", $0, "up"] })
    }

    /// Makes every health probe of router `router` fail, on every WAN (its WANs "die" for it alone):
    /// each ISP drops what comes from that router's own address.
    public func failWans(of router: Int) throws {
        for (offset, isp) in isps.enumerated() {
            try isp.run([
                "nft", "add", "rule", "inet", "isp", "outage", "ip", "saddr", "\(routerWanAddress(router, wan: offset + 1))",
                "drop",
            ])
        }
    }

    public func healWans() throws {
        for isp in isps { try isp.run(["nft", "flush", "chain", "inet", "isp", "outage"]) }
    }

    /// Kills every daemon, removes every namespace and file of this lab; safe to call twice.
    public func teardown() {
        for daemon in daemons.value { daemon.kill9() }
        daemons.value = []
        // keepalived and conntrackd of the routers, if a daemon died without stopping them.
        for router in routers {
            let pids = (try? ProcessCommandRunner().check(["ip", "netns", "pids", router.name])) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) where pid != getpid() { kill(pid, SIGKILL) }
        }
        for server in servers.value { server.stop() }
        servers.value = []
        for namespace in allNamespaces { _ = try? ProcessCommandRunner().run(["ip", "netns", "del", namespace.name]) }
        for directory in stateDirectories + [filesDirectory] { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Builds a lab, runs `body`, and tears the lab down whether `body` returns or throws.
    public static func with<Result: Sendable>(
        wanCount: Int = 2, lanHostCount: Int = 1, name: String = "ha", _ body: (HALab) async throws -> Result
    ) async throws -> Result {
        let lab = try HALab(wanCount: wanCount, lanHostCount: lanHostCount, name: name)
        do {
            let result = try await body(lab)
            lab.teardown()
            return result
        } catch {
            lab.teardown()
            throw error
        }
    }
}
