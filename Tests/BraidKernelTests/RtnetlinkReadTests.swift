import BraidConfig
import BraidPlanner
import CBraidLinux
import Glibc
import Testing

@testable import BraidKernel

/// What the rtnetlink records become: host facts (each interface's index, flags, addresses of
/// both families kept apart, point-to-point peers, the default routes others put on it) and
/// Braid's own rules and routes. The records are built as the kernel sends them; the lab test
/// `NetlinkReadLabTests` reads the same things from a real namespace.
@Suite struct RtnetlinkReadTests {
    static let up = UInt32(IFF_UP) | LinuxKernel.lowerUp

    static let links = [
        link(7, "wan1", flags: up), link(9, "ppp0", flags: up | UInt32(IFF_POINTOPOINT)), link(11, "wan2", flags: up),
        link(12, "lan", flags: UInt32(IFF_UP)),
    ]
    static let addresses = [
        address(7, "192.0.2.2", 24), address(7, "2001:db8:1::2", 64), address(7, "fe80::2", 64),
        address(9, "100.64.0.2", 32, peer: "100.64.0.1"), address(9, "fe80::1:2", 128, peer: "fe80::1:1"),
        address(11, "198.51.100.2", 24),
    ]
    // As this kernel has them: protocols 16 dhcp, 4 static, 9 ra, 3 boot (`ip route add`'s
    // default), 2 kernel, 213 Braid's.
    static let routes = [
        route(nil, 0, via: "198.51.100.1", oif: 11, table: 300, protocol: 3),
        route(nil, 0, via: "198.51.100.9", oif: 11, table: 301, protocol: 2),
        route(nil, 0, oif: 9, table: 301, protocol: 4),
        route(nil, 0, via: "192.0.2.1", oif: 7, table: 200, protocol: 213),
        route(nil, 0, via: "192.0.2.1", oif: 7, table: 254, protocol: 16, metric: 1007),
        route(nil, 0, oif: 0, table: 302, protocol: 4, unicast: false),
        route(nil, 0, via: "192.0.2.9", oif: 0, table: 303, protocol: 4, multipath: true),
        route("192.0.2.0", 24, oif: 7, table: 254, protocol: 3),
        route(nil, 0, via: "fe80::1", oif: 7, table: 254, protocol: 9, metric: 1024, family: AF_INET6),
        route(nil, 0, via: "fe80::1", oif: 7, table: 200, protocol: 213, family: AF_INET6),
        route("2001:db8::", 32, via: "fe80::1", oif: 7, table: 200, protocol: 213, family: AF_INET6),
        route(nil, 0, oif: 9, table: 201, protocol: 213),
        // Braid puts no route in main: one there with its protocol number is someone else's.
        route("203.0.113.0", 24, via: "192.0.2.1", oif: 7, table: 254, protocol: 213),
    ]

    var facts: HostFacts { LinuxKernel.hostFacts(links: Self.links, addresses: Self.addresses, routes: Self.routes) }

    @Test func interfacesCarryIndexFlagsAndEachFamilysAddresses() throws {
        let wan = try #require(facts.interfaces["wan1"])
        #expect(wan.index == 7 && wan.isUp && !wan.isPointToPoint)
        #expect(wan.addresses.map(\.description) == ["192.0.2.2/24"])
        #expect(wan.ipv6Addresses.map(\.description) == ["2001:db8:1::2/64", "fe80::2/64"])
        let ppp = try #require(facts.interfaces["ppp0"])
        #expect(ppp.isPointToPoint)
        #expect(ppp.peerAddresses(.ipv4) == [IPAddress("100.64.0.1")!])
        #expect(ppp.ipv6Addresses.first?.peer == IPv6Address("fe80::1:1"))
        // Up but without carrier: not up.
        #expect(facts.interfaces["lan"]?.isUp == false)
        #expect(facts.interfaces["lan"]?.addresses == [])
    }

    @Test func defaultRoutesOfBothFamiliesExceptBraidsAreRead() throws {
        #expect(
            facts.interfaces["wan1"]?.defaultRoutes == [
                KernelDefaultRoute(
                    family: .ipv4, gateway: IPAddress("192.0.2.1"), table: 254, routeProtocol: "dhcp", metric: 1007),
                KernelDefaultRoute(family: .ipv6, gateway: IPAddress("fe80::1"), table: 254, routeProtocol: "ra", metric: 1024),
            ])
        #expect(
            facts.interfaces["ppp0"]?.defaultRoutes == [
                KernelDefaultRoute(family: .ipv4, gateway: nil, table: 301, routeProtocol: "static", metric: 0)
            ])
        #expect(
            facts.interfaces["wan2"]?.defaultRoutes == [
                KernelDefaultRoute(family: .ipv4, gateway: IPAddress("198.51.100.1"), table: 300, routeProtocol: "boot"),
                KernelDefaultRoute(family: .ipv4, gateway: IPAddress("198.51.100.9"), table: 301, routeProtocol: "kernel"),
            ])
    }

    @Test func braidsRoutesOfBothFamiliesReadBackWithDeviceRoutes() {
        let routes = LinuxKernel.braidsRoutes(Self.routes, names: LinuxKernel.linkNames(Self.links))
        #expect(
            routes.map(\.description) == [
                "default via 192.0.2.1 dev wan1 table 200", "default via fe80::1 dev wan1 table 200",
                "2001:db8::/32 via fe80::1 dev wan1 table 200", "default dev ppp0 table 201",
            ])
        #expect(Set(routes.map(\.key)).count == 4)
    }

    @Test func braidsRulesOfBothFamiliesAreRead() {
        let rules = LinuxKernel.braidsPolicyRules([
            Self.rule(priority: 0, table: 255, protocol: 0),
            Self.rule(priority: 10001, table: 200, fwmark: 0x10000, fwmask: 0xff0000),
            Self.rule(priority: 10001, table: 200, fwmark: 0x10000, fwmask: 0xff0000, family: AF_INET6),
            Self.rule(priority: 10000, table: 254, suppressPrefixLength: 0),
            Self.rule(priority: 32766, table: 254, protocol: 2),
        ])
        #expect(
            rules.map(\.description) == [
                "priority 10001 fwmark 0x00010000/0x00ff0000 lookup 200",
                "-6 priority 10001 fwmark 0x00010000/0x00ff0000 lookup 200",
                "priority 10000 lookup main suppress_prefixlength 0",
            ])
        #expect(rules.map(\.family) == [.ipv4, .ipv6, .ipv4])
    }

    // MARK: records as the kernel sends them

    static func link(_ index: Int32, _ name: String, flags: UInt32) -> braid_link {
        var record = braid_link()
        record.index = index
        record.flags = flags
        withUnsafeMutableBytes(of: &record.name) { $0.copyBytes(from: name.utf8.prefix(15)) }
        return record
    }

    static func address(_ index: Int32, _ local: String, _ length: UInt8, peer: String? = nil) -> braid_address {
        var record = braid_address()
        let address = IPAddress(local)!
        record.family = UInt8(address.family == .ipv4 ? AF_INET : AF_INET6)
        record.index = index
        record.prefix_length = length
        withUnsafeMutableBytes(of: &record.local) { $0.copyBytes(from: bytes(address)) }
        if let peer {
            record.has_peer = 1
            withUnsafeMutableBytes(of: &record.peer) { $0.copyBytes(from: bytes(IPAddress(peer)!)) }
        }
        return record
    }

    static func route(
        _ destination: String?, _ length: UInt8, via gateway: String? = nil, oif: Int32, table: UInt32, protocol: UInt8,
        metric: UInt32 = 0, unicast: Bool = true, multipath: Bool = false, family: Int32 = AF_INET
    ) -> braid_route {
        var record = braid_route()
        record.family = UInt8(family)
        record.destination_length = length
        record.protocol = `protocol`
        record.unicast = unicast ? 1 : 0
        record.multipath = multipath ? 1 : 0
        record.table = table
        record.oif = multipath ? 0 : oif
        record.metric = metric
        if let destination {
            record.has_destination = 1
            withUnsafeMutableBytes(of: &record.destination) { $0.copyBytes(from: bytes(IPAddress(destination)!)) }
        }
        if let gateway, !multipath {
            record.has_gateway = 1
            withUnsafeMutableBytes(of: &record.gateway) { $0.copyBytes(from: bytes(IPAddress(gateway)!)) }
        }
        return record
    }

    static func rule(
        priority: UInt32, table: UInt32, fwmark: UInt32? = nil, fwmask: UInt32? = nil, suppressPrefixLength: Int32 = -1,
        protocol: UInt8 = 213, family: Int32 = AF_INET
    ) -> braid_rule {
        var record = braid_rule()
        record.family = UInt8(family)
        record.action = 1  // FR_ACT_TO_TBL
        record.protocol = `protocol`
        record.priority = priority
        record.table = table
        record.has_fwmark = fwmark == nil ? 0 : 1
        record.fwmark = fwmark ?? 0
        record.has_fwmask = fwmask == nil ? 0 : 1
        record.fwmask = fwmask ?? 0
        record.suppress_prefix_length = suppressPrefixLength
        return record
    }

    static func bytes(_ address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let v4): withUnsafeBytes(of: v4.value.bigEndian) { Array($0) }
        case .v6(let v6): v6.bytes
        }
    }
}
