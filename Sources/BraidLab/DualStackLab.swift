import BraidConfig
import BraidKernel
import Foundation

/// The lab with IPv6 added: LAN hosts with ULA addresses, three ISPs of which the first two carry
/// IPv6 and the third is IPv4-only, and an IPv6 server on the internet host.
///
/// ```
///  lanN fd00:1::1N ─ lan0 fd00:1::1 ─ router ─ wan1 2001:db8:1::2 ── isp1 (static gateway fe80::1)
///                                           ├─ wan2 2001:db8:2::2 ── isp2 (radvd: the gateway is learned)
///                                           └─ wan3 (IPv4 only)   ── isp3 (drops all IPv6)
///  ispN ─ 2001:db8:ff:N::/64 ─ internet [2001:db8:ffff::10]
/// ```
/// ISP N routes 2001:db8:N::/48 to its customer and, like a real ISP (BCP 38), drops IPv6 from the
/// customer whose source is not in it: an un-translated ULA source, or a source of the other WAN,
/// dies there. ISP 1 also routes 2001:db8:1:100::/64 (the prefix Braid translates the LAN to).
/// radvd runs in ISP 2 with a short router lifetime, with its own config and pid file in the
/// lab's scratch directory; it is killed at teardown whatever the test did.
public final class DualStackLab: Sendable {
    public let lab: Lab
    public static let serverAddress = IPv6Address("2001:db8:ffff::10")!
    public static let lanPrefix = IPPrefix("fd00:1::/64")!
    public static let routerLanAddress = IPv6Address("fd00:1::1")!
    /// The prefix ISP 1 routes to the router for prefix translation.
    public static let translatedPrefix = IPPrefix("2001:db8:1:100::/64")!
    /// ISP 1's gateway as the router sees it: link-local.
    public static let staticGateway = IPv6Address("fe80::1")!
    /// radvd's router lifetime and largest advertisement interval, short so a test can wait past them.
    public static let routerLifetime: Duration = .seconds(6)
    public static let maximumAdvertisementInterval = 4
    /// The WANs (1-based) that carry IPv6.
    public static let ipv6Wans = [1, 2]

    private let radvd = LockedBox<[ChildProcess]>([])
    private let radvdLog = LockedBox<[UInt8]>([])
    private let servers = LockedBox<[IPv6WhoAmIServer]>([])
    private let responders = LockedBox<[IPv6ProbeResponders]>([])

    init(lab: Lab) { self.lab = lab }

    public func lanHostAddress(_ index: Int) -> IPv6Address {
        IPv6Address(high: Self.routerLanAddress.high, low: 0x10 + UInt64(index))
    }
    public func routerAddress(_ wan: Int) -> IPv6Address { IPv6Address("2001:db8:\(wan)::2")! }
    public func ispAddress(_ wan: Int) -> IPv6Address { IPv6Address("2001:db8:\(wan)::1")! }
    public func customerPrefix(_ wan: Int) -> IPPrefix { IPPrefix("2001:db8:\(wan)::/48")! }
    /// The internet host's address on its link to ISP `wan`.
    public func internetSideAddress(_ wan: Int) -> IPv6Address { IPv6Address("2001:db8:ff:\(wan)::2")! }

    /// The lab WAN (1-based number) an answer's address belongs to, by its ISP's prefix.
    public func wanNumber(forPeer answer: String) -> Int? {
        guard let address = answer.split(separator: " ").first.flatMap({ IPAddress($0) }) else { return nil }
        return Self.ipv6Wans.first { customerPrefix($0).contains(address) }
    }

    /// Builds the IPv4 lab, adds IPv6, runs `body`, and tears everything down (radvd included)
    /// whether `body` returns or throws.
    public static func with<Result: Sendable>(
        lanHostCount: Int = 2, name: String = "v6", _ body: (DualStackLab) async throws -> Result
    ) async throws -> Result {
        try await Lab.with(wanCount: 3, lanHostCount: lanHostCount, name: name) { lab in
            let dual = DualStackLab(lab: lab)
            defer { dual.teardown() }
            try dual.build()
            return try await body(dual)
        }
    }

    /// Builds a dual-stack lab for a caller that tears it down itself (`teardown()`, also on failure).
    public static func make(lanHostCount: Int = 2, name: String = "v6") throws -> DualStackLab {
        let dual = DualStackLab(lab: try Lab(wanCount: 3, lanHostCount: lanHostCount, name: name))
        do { try dual.build() } catch {
            dual.teardown()
            throw error
        }
        return dual
    }

    private func build() throws {
        let router = lab.router
        try router.ip([["address", "add", "\(Self.routerLanAddress)/64", "dev", Lab.lanInterface, "nodad"]])
        for (index, host) in lab.lanHosts.enumerated() {
            try host.ip([
                ["address", "add", "\(lanHostAddress(index))/64", "dev", "eth0", "nodad"],
                ["route", "add", "default", "via", "\(Self.routerLanAddress)"],
            ])
        }
        try lab.internet.ip([["address", "add", "\(Self.serverAddress)/128", "dev", "lo"]])
        for wan in lab.wans {
            let number = wan.index
            let isp = wan.namespace
            try isp.sysctl("net/ipv6/conf/all/forwarding", "1")
            guard Self.ipv6Wans.contains(number) else {
                try isp.run([
                    "nft", "insert", "rule", "inet", "isp", "forward", "iifname", "customer", "meta", "nfproto", "ipv6",
                    "counter", "drop",
                ])
                continue
            }
            try router.ip([["address", "add", "\(routerAddress(number))/64", "dev", wan.routerInterface, "nodad"]])
            try isp.ip([
                ["address", "add", "\(ispAddress(number))/64", "dev", "customer", "nodad"],
                ["address", "add", "\(Self.staticGateway)/64", "dev", "customer", "nodad"],
                ["address", "add", "2001:db8:ff:\(number)::1/64", "dev", "upstream", "nodad"],
                ["route", "add", "default", "via", "\(internetSideAddress(number))"],
            ])
            if number == 1 {
                try isp.ip([["route", "add", "\(Self.translatedPrefix)", "via", "\(routerAddress(1))", "dev", "customer"]])
            }
            try isp.run([
                "nft", "insert", "rule", "inet", "isp", "forward", "iifname", "customer", "ip6", "saddr", "!=",
                "\(customerPrefix(number))", "counter", "drop", "comment", "\"BCP 38 (IPv6): only our customers' prefix\"",
            ])
            try lab.internet.ip([
                ["address", "add", "\(internetSideAddress(number))/64", "dev", wan.internetInterface, "nodad"],
                ["route", "add", "\(customerPrefix(number))", "via", "2001:db8:ff:\(number)::1"],
            ])
        }
        try startRadvd(in: lab.wans[1].namespace)
        let server = try IPv6WhoAmIServer(namespace: lab.internet.name, port: Lab.serverPort)
        servers.update { $0.append(server) }
        // HTTP (port 80) and DNS (port 53) on the server's IPv6 address, for TCP/HTTP/DNS probes.
        let probeResponders = try IPv6ProbeResponders(namespace: lab.internet.name, address: Self.serverAddress)
        responders.update { $0.append(probeResponders) }
        try waitForAddresses()
    }

    /// Starts an IPv6 who-am-I server on a LAN host (a port forward's backend).
    public func startLanServer(host index: Int, port: UInt16) throws {
        let server = try IPv6WhoAmIServer(namespace: lab.lanHosts[index].name, port: port, identity: "lan\(index + 1)")
        servers.update { $0.append(server) }
    }

    private func startRadvd(in isp: NetworkNamespace) throws {
        let config = try lab.writeFile(
            "radvd.conf",
            """
            interface customer {
                AdvSendAdvert on;
                MinRtrAdvInterval 3;
                MaxRtrAdvInterval \(Self.maximumAdvertisementInterval);
                AdvDefaultLifetime \(Self.routerLifetime.components.seconds);
            };
            """)
        let pidFile = (config as NSString).deletingLastPathComponent + "/radvd.pid"
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        let child = try ChildProcess(
            executable: ip,
            arguments: ["ip", "netns", "exec", isp.name, "radvd", "-n", "-C", config, "-p", pidFile, "-m", "stderr"],
            mergeError: true)
        radvd.update { $0.append(child) }
        let log = radvdLog
        let descriptor = child.outputDescriptor
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                log.update { $0 += buffer[..<count] }
            }
            close(descriptor)
        }
    }

    public var radvdOutput: String { String(decoding: radvdLog.value, as: UTF8.self) }
    public var radvdIsRunning: Bool { radvd.value.contains { $0.isRunning } }

    /// Link-local addresses go through duplicate address detection (about a second); until it ends
    /// the router cannot talk to its link-local gateways.
    private func waitForAddresses() throws {
        let deadline = Date().addingTimeInterval(10)
        for namespace in [lab.router] + lab.wans.map(\.namespace) + lab.lanHosts {
            while try !namespace.run(["ip", "-6", "address", "show", "tentative"]).isEmpty {
                guard Date() < deadline else { throw LabError("IPv6 addresses in \(namespace.name) stayed tentative") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// The gateway the router learned from ISP 2's router advertisements (main table), if any.
    public func learnedGateway() throws -> IPv6Address? {
        let routes = try lab.router.run([
            "ip", "-6", "route", "show", "default", "dev", lab.wans[1].routerInterface, "proto", "ra",
        ])
        let words = routes.split(whereSeparator: \.isWhitespace)
        guard let via = words.firstIndex(of: "via"), via + 1 < words.count else { return nil }
        return IPv6Address(String(words[via + 1]))
    }

    /// ISP 2 moves its router to another link-local address: radvd stops (saying goodbye with a
    /// zero router lifetime), the address it advertised from is removed, `newAddress` is added,
    /// and radvd starts again, advertising from it. Returns the address it advertised from before.
    @discardableResult
    public func moveAdvertisedRouter(to newAddress: IPv6Address) throws -> IPv6Address {
        guard let old = try learnedGateway() else { throw LabError("the router has learned no gateway from ISP 2") }
        let isp = lab.wans[1].namespace
        for child in radvd.value {
            child.signal(SIGTERM)
            _ = child.wait()
        }
        radvd.value = []
        // Every other link-local address goes too, so radvd can only advertise from the new one.
        let current = try isp.run(["ip", "-6", "address", "show", "dev", "customer", "scope", "link"])
        for line in current.split(separator: "\n") {
            let words = line.split(whereSeparator: \.isWhitespace)
            guard let inet = words.firstIndex(of: "inet6"), inet + 1 < words.count else { continue }
            try isp.ip([["address", "del", String(words[inet + 1]), "dev", "customer"]])
        }
        try isp.ip([["address", "add", "\(newAddress)/64", "dev", "customer", "nodad"]])
        try startRadvd(in: isp)
        return old
    }

    /// Waits until the router has learned ISP 2's default route from a router advertisement.
    /// Gives the router `fd00:N::1/64` on the LAN and the first LAN host two addresses in each
    /// `fd00:N::/64` (`::10` and `::beef:1`), for tests of what keys on a client's /64. Prefix 1 is
    /// the lab's own LAN prefix: only its second host address is new.
    public func addLanPrefixes(_ numbers: ClosedRange<Int>) throws {
        for number in numbers where number > 1 {
            try lab.router.ip([["address", "add", "fd00:\(number)::1/64", "dev", Lab.lanInterface, "nodad"]])
        }
        for number in numbers {
            try lab.lanHosts[0].ip(
                [
                    ["address", "add", "fd00:\(number)::10/64", "dev", "eth0", "nodad"],
                    ["address", "add", "fd00:\(number)::beef:1/64", "dev", "eth0", "nodad"],
                ].filter { number > 1 || $0[2] != "fd00:1::10/64" })
        }
    }

    public func waitForRouterAdvertisement(timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !lab.router.run(["ip", "-6", "route", "show", "default", "dev", lab.wans[1].routerInterface]).contains(
            "proto ra")
        {
            guard Date() < deadline else {
                throw LabError("no router advertisement reached the router within \(timeout) s; radvd said:\n\(radvdOutput)")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// A config for this lab: isp1 with a static link-local gateway and prefix translation, isp2
    /// with a gateway learned from radvd, isp3 IPv4-only. `extraWanKeys` go on every WAN.
    /// `perWan` adds keys to one WAN (by number), over `extraWanKeys`.
    public func configYAML(
        weights: [Int] = [1, 1, 1], extraWanKeys: [String: String] = [:], perWan: [Int: [String: String]] = [:],
        tail: String = ""
    ) -> String {
        var lines = ["lan:", "  interfaces: [\(Lab.lanInterface)]", "wans:"]
        for wan in lab.wans {
            lines += [
                "  - name: \(wan.name)", "    interface: \(wan.routerInterface)", "    gateway: \(wan.gateway)",
                "    weight: \(weights[wan.index - 1])",
            ]
            switch wan.index {
            case 1:
                lines.append(
                    "    ipv6: { gateway: \"\(Self.staticGateway)\", nat: { from: \"\(Self.lanPrefix)\", to: \"\(Self.translatedPrefix)\" } }"
                )
            case 2: lines.append("    ipv6: { gateway: auto }")
            default: break
            }
            let keys = extraWanKeys.merging(perWan[wan.index] ?? [:]) { _, one in one }
            for (key, value) in keys.sorted(by: { $0.key < $1.key }) { lines.append("    \(key): \(value)") }
        }
        return lines.joined(separator: "\n") + "\n" + tail
    }

    /// Cuts only ISP `wan`'s IPv6 upstream: its IPv4 keeps flowing.
    public func cutIPv6Upstream(_ wan: Int) throws {
        try lab.wans[wan - 1].namespace.run(["nft", "add", "rule", "inet", "isp", "outage", "meta", "nfproto", "ipv6", "drop"])
    }

    /// Everything of the router's kernel state Braid could touch, both families: the ruleset, the
    /// rules and routes of all tables, and the sysctls (IPv4's and IPv6's forwarding and
    /// accept_ra). An RA-learned route's remaining lifetime is left out: it counts down.
    public func routerSnapshot() throws -> KernelSnapshot {
        let router = lab.router
        var snapshot = try lab.routerSnapshot()
        let interfaces = lab.routerInterfaces
        let keys =
            ["net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"]
            + interfaces.flatMap { ["net/ipv6/conf/\($0)/forwarding", "net/ipv6/conf/\($0)/accept_ra"] }
        snapshot.rules += try router.run(["ip", "-6", "rule", "show"])
        // `ip route show table all` lists both families already; add nothing, but drop the countdown.
        snapshot.routes = snapshot.routes.replacing(/[ ]expires \d+sec/, with: "")
        snapshot.sysctls +=
            "\n"
            + (try keys.map { "\($0)=\(try router.run(["sysctl", "-n", $0]).trimmingCharacters(in: .whitespacesAndNewlines))" })
            .joined(separator: "\n")
        return snapshot
    }

    /// Kills radvd, stops the servers and removes every namespace; safe to call twice.
    public func teardown() {
        for child in radvd.value {
            child.signal(SIGKILL)
            child.wait()
        }
        radvd.value = []
        for server in servers.value { server.stop() }
        servers.value = []
        for responder in responders.value { responder.stop() }
        responders.value = []
        lab.teardown()
    }
}
