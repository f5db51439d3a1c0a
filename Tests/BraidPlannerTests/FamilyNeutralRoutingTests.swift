import BraidConfig
import Testing

@testable import BraidPlanner

/// The partition over IPv6 keys, and the family that routes, rules and their slots carry.
@Suite struct FamilyNeutralRoutingTests {
    func address(_ text: String) throws -> IPv6Address { try #require(IPv6Address(text)) }

    @Test func partitionOverIPv6KeysCarriesAcrossThe64BitHalves() throws {
        var partition = IntervalPartition<IPv6Address, String>()
        partition.add(try address("::ffff:ffff:ffff:fff0"), try address("0:0:0:1::10"), "middle")
        partition.add(try address("::"), try address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "all")
        let pieces = partition.merged.map { "\($0.lower)-\($0.upper)=\($0.value)" }
        #expect(
            pieces == [
                "::-::ffff:ffff:ffff:ffef=all",
                "::ffff:ffff:ffff:fff0-::1:0:0:0:10=middle",
                "::1:0:0:0:11-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff=all",
            ])
    }

    @Test func partitionOverIPv6KeysReachesTheTopWithoutWrapping() throws {
        var partition = IntervalPartition<IPv6Address, String>()
        let top = IPv6Address.maximum
        partition.add(top, top, "top")
        partition.add(try address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0"), top, "below")
        #expect(
            partition.merged.map { "\($0.lower)-\($0.upper)=\($0.value)" } == [
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe=below",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff=top",
            ])
    }

    @Test func defaultRoutesOfBothFamiliesInOneTableTakeDifferentSlots() throws {
        let ipv4 = Route(table: 100, gateway: try #require(IPv4Address("192.0.2.1")), device: "wan1")
        let ipv6 = Route(table: 100, gateway: .v6(try address("fe80::1")), device: "wan1")
        #expect(ipv4.family == .ipv4)
        #expect(ipv6.family == .ipv6)
        #expect(ipv4.key != ipv6.key)
        let replacement = Route(table: 100, gateway: try #require(IPv4Address("192.0.2.254")), device: "wan1")
        #expect(replacement.key == ipv4.key)
    }

    @Test func routeAndRuleCommandsNameTheirFamily() throws {
        let route = Route(
            table: 100, destination: try #require(IPPrefix("2001:db8::/32")), gateway: .v6(try address("fe80::1")),
            device: "wan1")
        #expect(
            route.command("add") == [
                "ip", "-6", "route", "add", "2001:db8::/32", "via", "fe80::1", "dev", "wan1", "table", "100",
            ])
        let ipv4Route = Route(table: 100, gateway: try #require(IPv4Address("192.0.2.1")), device: "wan1")
        #expect(
            ipv4Route.command("del") == [
                "ip", "-4", "route", "del", "default", "via", "192.0.2.1", "dev", "wan1", "table", "100",
            ])

        let rule = PolicyRule(priority: 10001, fwmark: 0x10000, fwmask: 0xff0000, table: 100)
        #expect(rule.family == .ipv4)
        #expect(
            rule.command("add") == [
                "ip", "-4", "rule", "add", "priority", "10001", "fwmark", "0x00010000/0x00ff0000", "lookup", "100",
            ])
        #expect(rule.description == "priority 10001 fwmark 0x00010000/0x00ff0000 lookup 100")
        let ipv6Rule = PolicyRule(family: .ipv6, priority: 10001, fwmark: 0x10000, fwmask: 0xff0000, table: 100)
        #expect(ipv6Rule != rule)
        #expect(ipv6Rule.command("del").prefix(4) == ["ip", "-6", "rule", "del"])
        #expect(ipv6Rule.description == "-6 priority 10001 fwmark 0x00010000/0x00ff0000 lookup 100")
    }

    @Test func planPrintsIPv6CommandsWithTheirFamilyOption() {
        #expect(PlanPrinter.ip(.ipv4) == "ip")
        #expect(PlanPrinter.ip(.ipv6) == "ip -6")
    }

    @Test func familiesSpellTheirNftMatches() {
        #expect(AddressFamily.ipv4.nftAddressMatch(.source, "10.0.0.0/8") == "ip saddr 10.0.0.0/8")
        #expect(AddressFamily.ipv6.nftAddressMatch(.destination, "@lan6", negated: true) == "ip6 daddr != @lan6")
        #expect(AddressFamily.allCases.map(\.nftAddressType) == ["ipv4_addr", "ipv6_addr"])
        #expect(AddressFamily.allCases.map(\.nfproto) == ["ipv4", "ipv6"])
        #expect(AddressFamily.allCases.map(\.nftFamilyKeyword) == ["ip", "ip6"])
        #expect(AddressFamily.ipv4.nfprotoMatch(negated: true) == "meta nfproto != ipv4")
        #expect(AddressFamily.ipv6.nfprotoMatch() == "meta nfproto ipv6")
        #expect(AddressFamily.ipv4.nftNAT(.dnat, to: "192.168.1.10:8080") == "dnat ip to 192.168.1.10:8080")
        #expect(AddressFamily.ipv6.nftNAT(.snat, to: "2001:db8::1") == "snat ip6 to 2001:db8::1")
        #expect(AddressFamily.ipv6.nftAddress(.source) == "ip6 saddr")
    }

    @Test func aPolicyRuleHasTheFamiliesOfItsAddressCriteria() throws {
        let prefix = try #require(IPPrefix("10.0.0.0/8"))
        let ula = try #require(IPPrefix("fd00:1::/64"))
        #expect(TrafficRuleConfig(name: "lan", sources: [prefix], use: [.main]).addressFamilies(setFamilies: nil) == [.ipv4])
        #expect(
            TrafficRuleConfig(name: "both", sources: [ula, prefix], use: [.main]).addressFamilies(setFamilies: nil) == [
                .ipv4, .ipv6,
            ])
        #expect(
            TrafficRuleConfig(name: "cdn", destinationSet: "streaming", use: [.balance]).addressFamilies(setFamilies: [.ipv6])
                == [.ipv6])
        #expect(
            TrafficRuleConfig(name: "never", sources: [prefix], destinations: [ula], use: [.drop]).addressFamilies(
                setFamilies: nil) == [])
        #expect(
            TrafficRuleConfig(name: "games", transport: .udp, destinationPorts: [PortRange(27015, 27030)], use: [.drop])
                .addressFamilies(setFamilies: nil) == nil)
    }

    @Test func anInterfaceTakesGatewaysOfTheFamilyOfItsAddresses() throws {
        let interface = InterfaceFacts(
            name: "wan1", addresses: [InterfaceAddress(address: try #require(IPv4Address("192.0.2.2")), prefixLength: 24)],
            ipv6Addresses: [IPv6InterfaceAddress(address: try address("2001:db8:1::2"), prefixLength: 64)])
        #expect(interface.hasOnLink(try #require(IPAddress("192.0.2.1"))))
        #expect(!interface.hasOnLink(try #require(IPAddress("198.51.100.1"))))
        #expect(interface.hasOnLink(try #require(IPAddress("2001:db8:1::1"))))
        #expect(interface.hasOnLink(try #require(IPAddress("fe80::1"))))
        #expect(!interface.hasOnLink(try #require(IPAddress("2001:db8:2::1"))))
        let ipv4Only = InterfaceFacts(name: "wan2", addresses: interface.addresses)
        #expect(!ipv4Only.hasOnLink(try #require(IPAddress("2001:db8:1::1"))))
    }
}
