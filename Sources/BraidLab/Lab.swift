import BraidConfig
import BraidKernel
import Foundation

/// A multi-WAN network built from namespaces: LAN hosts on a bridge behind a router, one ISP per
/// WAN, and an "internet" host that every ISP reaches. Tests, benchmarks and `braid demo` run Braid
/// on the router and send real traffic through it.
///
/// ```
///  lan1..N ──(bridge lan0 10.77.0.1/24)── router ──wanI 100.64.I.2/24── ispI ──198.18.I.0/24── internet 198.19.0.10
/// ```
/// Each ISP forwards only its own customer range (100.64.I.0/24), as real ISPs filter spoofed
/// sources (BCP 38): a packet that leaves by the wrong WAN, or without NAT, is dropped there.
public final class Lab: Sendable {
    /// The internet host's service address, on its loopback.
    public static let serverAddress = IPv4Address("198.19.0.10")!
    /// A second internet address that answers pings, for health checks with several targets.
    public static let secondServerAddress = IPv4Address("198.19.0.11")!
    /// An address on the internet side that nothing answers: a dead health-check target.
    public static let deadAddress = IPv4Address("198.19.0.99")!
    /// Port of the who-am-I server on the internet host and on the router.
    public static let serverPort: UInt16 = 8080
    public static let routerLanAddress = IPv4Address("10.77.0.1")!
    public static let lanInterface = "lan0"

    public let prefix: String
    public let router: NetworkNamespace
    public let internet: NetworkNamespace
    public let lanHosts: [NetworkNamespace]
    /// A host on a second LAN (bridge `lan1`, 10.78.0.0/24), when the lab was built with one.
    public let guestHost: NetworkNamespace?
    public static let guestInterface = "lan1"
    public static let routerGuestAddress = IPv4Address("10.78.0.1")!
    public static let guestHostAddress = IPv4Address("10.78.0.2")!
    public let wans: [LabWan]
    /// Directory for Braid's state file on the lab router.
    public let stateDirectory: String
    private let servers = LockedBox<[WhoAmIServer]>([])
    private let daemons = LockedBox<[LabDaemon]>([])
    private let responders = LockedBox<[ProbeResponders]>([])
    private let teardownActions = LockedBox<[@Sendable () -> Void]>([])

    /// Runs `action` at teardown, before the namespaces go (the lab's DHCP servers and clients).
    public func onTeardown(_ action: @escaping @Sendable () -> Void) { teardownActions.update { $0.append(action) } }

    /// Daemons started on this lab are killed at teardown, whatever the test did.
    func register(_ daemon: LabDaemon) { daemons.update { $0.append(daemon) } }

    /// Builds a lab with `wanCount` WANs and `lanHostCount` LAN hosts. Names start with a prefix
    /// unique to this process, so parallel runs never collide and stale labs can be found.
    /// `wanInterfaceNames` names the router's WAN interfaces (default wan1, wan2, …).
    public init(
        wanCount: Int, lanHostCount: Int = 1, name: String = "lab", wanInterfaceNames: [String]? = nil, guestLan: Bool = false
    ) throws {
        guard geteuid() == 0 else { throw LabError("the lab needs root (network namespaces)") }
        guard (1...32).contains(wanCount), (1...50).contains(lanHostCount) else { throw LabError("unsupported lab size") }
        Lab.removeStaleLabs()
        let prefix = "braid\(getpid())\(name)\(Lab.counter.update { value -> Int in value += 1; return value })"
        self.prefix = prefix
        router = NetworkNamespace(name: "\(prefix)-router")
        internet = NetworkNamespace(name: "\(prefix)-net")
        lanHosts = (1...lanHostCount).map { NetworkNamespace(name: "\(prefix)-lan\($0)") }
        guestHost = guestLan ? NetworkNamespace(name: "\(prefix)-guest") : nil
        wans = (1...wanCount).map { index in
            LabWan(
                index: index, namespace: NetworkNamespace(name: "\(prefix)-isp\(index)"),
                routerInterface: wanInterfaceNames?[index - 1] ?? "wan\(index)")
        }
        stateDirectory = NSTemporaryDirectory() + "\(prefix)-state"
        do { try build() } catch {
            teardown()
            throw error
        }
    }

    private static let counter = LockedBox(0)

    public var allNamespaces: [NetworkNamespace] {
        [router, internet] + lanHosts + [guestHost].compactMap { $0 } + wans.map(\.namespace)
    }

    public func lanHostAddress(_ index: Int) -> IPv4Address { IPv4Address(Lab.routerLanAddress.value + 1 + UInt32(index)) }

    private func build() throws {
        for namespace in allNamespaces {
            try ProcessCommandRunner().check(["ip", "netns", "add", namespace.name])
            try namespace.ip([["link", "set", "lo", "up"]])
        }
        // Router: LAN bridge, strict reverse-path filtering as Debian ships it, no default route in
        // main, so that every path to the internet is Braid's doing.
        try router.ip([
            ["link", "add", Lab.lanInterface, "type", "bridge"],
            ["address", "add", "\(Lab.routerLanAddress)/24", "dev", Lab.lanInterface],
            ["link", "set", Lab.lanInterface, "up"],
        ])
        try router.sysctl("net/ipv4/conf/all/rp_filter", "1")
        try router.sysctl("net/ipv4/conf/default/rp_filter", "1")
        for (index, host) in lanHosts.enumerated() {
            let port = "lanport\(index + 1)"
            try ProcessCommandRunner().check([
                "ip", "link", "add", port, "netns", router.name, "type", "veth", "peer", "name", "eth0", "netns", host.name,
            ])
            try router.ip([["link", "set", port, "master", Lab.lanInterface], ["link", "set", port, "up"]])
            try host.ip([
                ["address", "add", "\(lanHostAddress(index))/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                ["route", "add", "default", "via", "\(Lab.routerLanAddress)"],
            ])
        }
        if let guestHost {
            try router.ip([
                ["link", "add", Lab.guestInterface, "type", "bridge"],
                ["address", "add", "\(Lab.routerGuestAddress)/24", "dev", Lab.guestInterface],
                ["link", "set", Lab.guestInterface, "up"],
            ])
            try ProcessCommandRunner().check([
                "ip", "link", "add", "guestport", "netns", router.name, "type", "veth", "peer", "name", "eth0", "netns",
                guestHost.name,
            ])
            try router.ip([["link", "set", "guestport", "master", Lab.guestInterface], ["link", "set", "guestport", "up"]])
            try guestHost.ip([
                ["address", "add", "\(Lab.guestHostAddress)/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                ["route", "add", "default", "via", "\(Lab.routerGuestAddress)"],
            ])
        }
        try internet.ip([
            ["address", "add", "\(Lab.serverAddress)/32", "dev", "lo"],
            ["address", "add", "\(Lab.secondServerAddress)/32", "dev", "lo"],
        ])
        for wan in wans {
            let isp = wan.namespace
            try addRouterLink(wan)
            try ProcessCommandRunner().check([
                "ip", "link", "add", "upstream", "netns", isp.name, "type", "veth", "peer", "name", wan.internetInterface,
                "netns", internet.name,
            ])
            try isp.ip([
                ["address", "add", "\(wan.upstreamAddress)/24", "dev", "upstream"], ["link", "set", "upstream", "up"],
                ["route", "add", "default", "via", "\(wan.internetSideAddress)"],
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
                            iifname "customer" ip saddr != \(wan.customerRange) counter drop comment "BCP 38: only our customers' addresses"
                            jump outage
                        }
                    }
                    """)
            try internet.ip([
                ["address", "add", "\(wan.internetSideAddress)/24", "dev", wan.internetInterface],
                ["link", "set", wan.internetInterface, "up"],
                ["route", "add", "\(wan.customerRange)", "via", "\(wan.upstreamAddress)"],
            ])
        }
        try startServer(in: internet, address: Lab.serverAddress)
        try startServer(in: router)
        let probeResponders = try ProbeResponders(namespace: internet.name, address: Lab.secondServerAddress)
        responders.update { $0.append(probeResponders) }
    }

    /// Starts a who-am-I server on `namespace` (TCP and UDP port `serverPort`).
    public func startServer(in namespace: NetworkNamespace, address: IPv4Address = IPv4Address(0), identity: String? = nil) throws
    {
        let server = try WhoAmIServer(namespace: namespace.name, address: address, port: Lab.serverPort, identity: identity)
        servers.update { $0.append(server) }
    }

    /// The WAN a server saw traffic come from, by the address it saw.
    public func wan(forPeer answer: String) -> LabWan? {
        let address = answer.split(separator: " ").first.map(String.init) ?? ""
        return wans.first { "\($0.routerAddress)" == address }
    }

    /// A config for this lab's router with the given weights (1 each when omitted).
    /// `wanOrder`: which of the lab's WANs (by index) the config lists, in that order; default all.
    public func configYAML(weights: [Int]? = nil, extraWanKeys: [String: String] = [:], wanOrder: [Int]? = nil) -> String {
        let lans = [Lab.lanInterface] + (guestHost == nil ? [] : [Lab.guestInterface])
        var lines = ["lan:", "  interfaces: [\(lans.joined(separator: ", "))]", "wans:"]
        for index in wanOrder ?? Array(wans.indices) {
            let wan = wans[index]
            lines += [
                "  - name: \(wan.name)", "    interface: \(wan.routerInterface)", "    gateway: \(wan.gateway)",
                "    weight: \(weights?[index] ?? 1)",
            ]
            for (key, value) in extraWanKeys.sorted(by: { $0.key < $1.key }) { lines.append("    \(key): \(value)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Cuts the ISP's upstream: it stops forwarding anything, while the router's link to it stays up
    /// (the failure only health checks can see).
    public func cutUpstream(_ wan: LabWan) throws {
        try wan.namespace.run(["nft", "add", "rule", "inet", "isp", "outage", "drop"])
    }

    public func healUpstream(_ wan: LabWan) throws {
        try wan.namespace.run(["nft", "flush", "chain", "inet", "isp", "outage"])
    }

    /// The veth pair between the router's WAN interface and the ISP's `customer`, addressed and up.
    private func addRouterLink(_ wan: LabWan) throws {
        try ProcessCommandRunner().check([
            "ip", "link", "add", wan.routerInterface, "netns", router.name, "type", "veth",
            "peer", "name", "customer", "netns", wan.namespace.name,
        ])
        try router.ip([
            ["address", "add", "\(wan.routerAddress)/24", "dev", wan.routerInterface],
            ["link", "set", wan.routerInterface, "up"],
        ])
        try wan.namespace.ip([["address", "add", "\(wan.gateway)/24", "dev", "customer"], ["link", "set", "customer", "up"]])
    }

    /// Deletes the router's WAN interface (and with it the ISP's end), as when a PPP link drops or an
    /// LTE modem is unplugged: its routes, addresses and /proc/sys/net/ipv4/conf entry are gone.
    public func deleteRouterLink(_ wan: LabWan) throws {
        try router.ip([["link", "del", wan.routerInterface]])
    }

    /// Re-creates a deleted WAN link with the same names and addresses; the kernel gives the
    /// router's interface a new index.
    public func recreateRouterLink(_ wan: LabWan) throws {
        try addRouterLink(wan)
    }

    /// Replaces the router's WAN address with `address` (e.g. "100.99.1.2/24"), so that the WAN's
    /// gateway is off-link: the kernel flushes the WAN's routes and refuses to add them back.
    public func moveRouterAddress(_ wan: LabWan, to address: String) throws {
        try router.ip([
            ["address", "flush", "dev", wan.routerInterface], ["address", "add", address, "dev", wan.routerInterface],
        ])
    }

    /// Takes the ISP's end of the router link down: the router sees its WAN interface lose carrier.
    public func setRouterLink(_ wan: LabWan, up: Bool) throws {
        try wan.namespace.ip([["link", "set", "customer", up ? "up" : "down"]])
    }

    /// Removes every namespace of this lab and stops its servers; safe to call twice.
    public func teardown() {
        for action in teardownActions.value.reversed() { action() }
        teardownActions.value = []
        for daemon in daemons.value { daemon.kill9() }
        daemons.value = []
        for server in servers.value { server.stop() }
        servers.value = []
        for responder in responders.value { responder.stop() }
        responders.value = []
        for namespace in allNamespaces {
            _ = try? ProcessCommandRunner().run(["ip", "netns", "del", namespace.name])
        }
        try? FileManager.default.removeItem(atPath: stateDirectory)
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "\(prefix)-files")
    }

    /// Builds a lab, runs `body`, and tears the lab down whether `body` returns or throws.
    public static func with<Result: Sendable>(
        wanCount: Int, lanHostCount: Int = 1, name: String = "lab", wanInterfaceNames: [String]? = nil,
        guestLan: Bool = false, _ body: (Lab) async throws -> Result
    ) async throws -> Result {
        let lab = try Lab(
            wanCount: wanCount, lanHostCount: lanHostCount, name: name, wanInterfaceNames: wanInterfaceNames, guestLan: guestLan)
        do {
            let result = try await body(lab)
            lab.teardown()
            return result
        } catch {
            lab.teardown()
            throw error
        }
    }

    /// Deletes namespaces left by lab processes that died without cleaning up (killed, crashed).
    public static func removeStaleLabs() {
        guard let output = try? ProcessCommandRunner().check(["ip", "netns", "list"]) else { return }
        for line in output.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix("braid"), let pid = Int32(name.dropFirst(5).prefix { $0.isNumber }),
                pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            _ = try? ProcessCommandRunner().run(["ip", "netns", "del", name])
        }
    }
}

/// One lab WAN: the router's interface and address, the ISP's gateway and its upstream link.
public struct LabWan: Sendable {
    public let index: Int
    public let namespace: NetworkNamespace

    /// The router's interface towards this ISP.
    public let routerInterface: String

    public var name: String { "isp\(index)" }
    public var routerAddress: IPv4Address { IPv4Address("100.64.\(index).2")! }
    public var gateway: IPv4Address { IPv4Address("100.64.\(index).1")! }
    public var customerRange: String { "100.64.\(index).0/24" }
    /// The ISP's end of its link to the internet host.
    public var upstreamAddress: IPv4Address { IPv4Address("198.18.\(index).1")! }
    public var internetSideAddress: IPv4Address { IPv4Address("198.18.\(index).2")! }
    public var internetInterface: String { "isp\(index)" }
}

extension Lab {
    /// Interfaces on the router whose sysctls a snapshot records.
    public var routerInterfaces: [String] {
        [Lab.lanInterface] + (guestHost == nil ? [] : [Lab.guestInterface]) + wans.map(\.routerInterface)
    }

    /// A snapshot of the router's kernel state.
    public func routerSnapshot() throws -> KernelSnapshot {
        try KernelSnapshot.take(router, interfaces: routerInterfaces)
    }

    /// Writes `text` to a file in the lab's scratch directory and returns its path.
    public func writeFile(_ name: String, _ text: String) throws -> String {
        let directory = NSTemporaryDirectory() + "\(prefix)-files"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs the `braid` executable at `binary` on the router, with the lab's state directory.
    public func runBraid(_ binary: String, _ arguments: [String]) throws -> CommandResult {
        var full = [binary] + arguments
        if let command = arguments.first, ["apply", "down"].contains(command) { full += ["--state-dir", stateDirectory] }
        return try router.runner.run(full)
    }
}
