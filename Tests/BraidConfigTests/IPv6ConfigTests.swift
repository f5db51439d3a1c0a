import BraidConfig
import Testing

/// The `ipv6:` section of a WAN and the places that accept IPv6 where they accept IPv4.
@Suite struct IPv6ConfigTests {
    static let header = """
        lan:
          interfaces: [lan0]
        wans:
          - name: fibre
            interface: wan0
            gateway: 192.0.2.1

        """

    @Test func ipv6SectionReadsGatewayAndNat() throws {
        let config = try ConfigLoader.parse(
            """
            lan:
              interfaces: [lan0]
            wans:
              - name: fibre
                interface: wan0
                gateway: 192.0.2.1
                ipv6:
                  gateway: fe80::1
                health:
                  targets: [1.1.1.1, "2606:4700:4700::1111"]
              - name: cable
                interface: wan1
                gateway: 198.51.100.1
                ipv6:
                  gateway: "2001:db8:2::1"
                  nat: { from: "fd00:1::/64", to: "2001:db8:2:100::/64" }
              - name: lte
                interface: wwan0
                gateway: 100.64.0.1
              - name: radio
                interface: wan3
                gateway: 203.0.113.1
                ipv6: { gateway: auto, nat: none }
            """)
        #expect(config.wans[0].ipv6 == WanIPv6Config(gateway: .fixed(IPv6Address("fe80::1")!), nat: .masquerade))
        #expect(config.wans[0].health?.targets == [IPAddress("1.1.1.1")!, IPAddress("2606:4700:4700::1111")!])
        #expect(config.wans[0].health?.check(for: .ipv6)?.targets == [IPAddress("2606:4700:4700::1111")!])
        #expect(
            config.wans[1].ipv6?.nat
                == .prefixTranslation(PrefixTranslation(from: IPPrefix("fd00:1::/64")!, to: IPPrefix("2001:db8:2:100::/64")!)))
        #expect(config.wans[2].ipv6 == nil)
        #expect(!config.wans[2].carries(.ipv6) && config.wans[2].carries(.ipv4))
        #expect(config.wans[3].ipv6 == WanIPv6Config(gateway: .auto, nat: IPv6NatMode.none))
    }

    @Test func rulesSetsAndForwardsTakeIPv6() throws {
        let config = try ConfigLoader.parse(
            Self.header + """
                    ipv6: { gateway: "fe80::1" }
                sets:
                  mixed: [203.0.113.0/24, "2001:db8:aa::/48"]
                rules:
                  - { name: v6-client, source: "fd00:1::50", use: [fibre] }
                  - { name: both, source: [10.0.0.0/8, "fd00:1::/64"], destination_set: mixed, use: [fibre] }
                port_forwards:
                  - { name: web, port: 8080, to: ["[fd00:1::2]:80", "10.0.0.2:80"] }
                  - { name: ssh, port: 22, to: "fd00:1::3" }
                """)
        #expect(config.rules[0].sources == [IPPrefix("fd00:1::50/128")!])
        #expect(config.sets[0].entries == [IPPrefix("203.0.113.0/24")!, IPPrefix("2001:db8:aa::/48")!])
        #expect(config.rules[1].addressFamilies(setFamilies: [.ipv4, .ipv6]) == [.ipv4, .ipv6])
        #expect(config.portForwards[0].targets[0] == ForwardTarget(address: IPAddress("fd00:1::2")!, port: 80))
        #expect(config.portForwards[0].targets[0].description == "[fd00:1::2]:80")
        #expect(config.portForwards[1].targets[0] == ForwardTarget(address: IPAddress("fd00:1::3")!, port: nil))
    }

    static let refused: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "IPv4 address in ipv6.gateway",
            yaml: header + """
                    ipv6:
                      gateway: 192.0.2.1
                """, expectedPath: "wans[0].ipv6.gateway", expectedLine: 8),
        InvalidConfigCase(
            problem: "a zone id in ipv6.gateway",
            yaml: header + """
                    ipv6: { gateway: "fe80::1%wan0" }
                """, expectedPath: "wans[0].ipv6.gateway", expectedLine: 7),
        InvalidConfigCase(
            problem: "prefix translation of different lengths",
            yaml: header + """
                    ipv6:
                      gateway: fe80::1
                      nat:
                        from: "fd00:1::/64"
                        to: "2001:db8:2:100::/56"
                """, expectedPath: "wans[0].ipv6.nat.to", expectedLine: 11),
        InvalidConfigCase(
            problem: "prefix translation to an IPv4 prefix",
            yaml: header + """
                    ipv6:
                      nat: { from: "fd00:1::/64", to: 203.0.113.0/24 }
                """, expectedPath: "wans[0].ipv6.nat.to", expectedLine: 8),
        InvalidConfigCase(
            problem: "an unknown IPv6 NAT word",
            yaml: header + """
                    ipv6: { nat: npt }
                """, expectedPath: "wans[0].ipv6.nat", expectedLine: 7),
        InvalidConfigCase(
            problem: "an IPv6 health target on a WAN without ipv6",
            yaml: header + """
                    health:
                      targets: [1.1.1.1, "2606:4700:4700::1111"]
                """, expectedPath: "wans[0].health.targets[1]", expectedLine: 8),
        InvalidConfigCase(
            problem: "a link-local health target",
            yaml: header + """
                    ipv6: {}
                    health: { targets: ["fe80::1"] }
                """, expectedPath: "wans[0].health.targets[0]", expectedLine: 8),
        InvalidConfigCase(
            problem: "an IPv6 prefix longer than 128",
            yaml: header + """
                rules:
                  - { name: r, source: "fd00:1::/129", use: [fibre] }
                """, expectedPath: "rules[0].source", expectedLine: 8),
        InvalidConfigCase(
            problem: "an IPv6 prefix with host bits",
            yaml: header + """
                rules:
                  - { name: r, destination: "2001:db8::1/64", use: [fibre] }
                """, expectedPath: "rules[0].destination", expectedLine: 8),
        InvalidConfigCase(
            problem: "a rule whose source and destination are of different families",
            yaml: header + """
                rules:
                  - { name: r, source: 10.0.0.0/8, destination: "2001:db8::/32", use: [fibre] }
                """, expectedPath: "rules[0]", expectedLine: 8),
        InvalidConfigCase(
            problem: "a bracketed target without a port",
            yaml: header + """
                port_forwards:
                  - { name: web, port: 80, to: "[fd00:1::2]" }
                """, expectedPath: "port_forwards[0].to", expectedLine: 8),
        InvalidConfigCase(
            problem: "a bracket that is not closed",
            yaml: header + """
                port_forwards:
                  - { name: web, port: 80, to: "[fd00:1::2:80" }
                """, expectedPath: "port_forwards[0].to", expectedLine: 8),
        InvalidConfigCase(
            problem: "no colon between bracket and port",
            yaml: header + """
                port_forwards:
                  - { name: web, port: 80, to: "[fd00:1::2]80" }
                """, expectedPath: "port_forwards[0].to", expectedLine: 8),
        InvalidConfigCase(
            problem: "IPv4 in brackets",
            yaml: header + """
                port_forwards:
                  - { name: web, port: 80, to: "[10.0.0.2]:80" }
                """, expectedPath: "port_forwards[0].to", expectedLine: 8),
        InvalidConfigCase(
            problem: "a port past 65535 after an IPv6 target",
            yaml: header + """
                port_forwards:
                  - { name: web, port: 80, to: ["[fd00:1::2]:70000"] }
                """, expectedPath: "port_forwards[0].to[0]", expectedLine: 8),
    ]

    @Test(arguments: refused)
    func badIPv6InputIsNamedWithKeyPathAndLine(_ invalid: InvalidConfigCase) throws {
        try invalid.expectRefusedAtKeyAndLine()
    }

    @Test func ipv4InIPv6GatewayPointsAtGateway() throws {
        let error = try #require(
            rejection(
                of: Self.header + """
                        ipv6: { gateway: 192.0.2.1 }
                    """))
        #expect(error.description.contains("is an IPv4 address"))
        #expect(error.description.contains("gateway (the WAN's IPv4 next hop)"))
    }

    @Test func prefixLengthsThatDifferAreNamed() throws {
        let error = try #require(
            rejection(
                of: Self.header + """
                        ipv6: { nat: { from: "fd00:1::/64", to: "2001:db8:2::/48" } }
                    """))
        #expect(error.description.contains("2001:db8:2::/48 is a /48 but `from` fd00:1::/64 is a /64"))
    }

    @Test(arguments: [
        ("[fd00:1::2]", "brackets but no port"), ("[fd00:1::2:80", "does not close it"), ("fd00:1::2]:80", "never opened"),
        ("[10.0.0.2]:80", "IPv4 address in brackets"), ("[fd00:1::2]:0", "port that is not 1-65535"),
        ("[fe80::2]:80", "not link-local"), ("[fd00:1::zz]:80", "not a valid IPv6 address"),
    ])
    func forwardTargetSyntaxErrorsSayHowToWriteIt(_ text: String, _ reason: String) {
        guard case .failure(let error) = ForwardTarget.parseExplained(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test func forwardTargetsOfBothFamiliesParse() {
        #expect(ForwardTarget.parse("[fd00:1::2]:80@3") == ForwardTarget(address: IPAddress("fd00:1::2")!, port: 80, weight: 3))
        #expect(ForwardTarget.parse("fd00:1::2@2") == ForwardTarget(address: IPAddress("fd00:1::2")!, port: nil, weight: 2))
        #expect(ForwardTarget.parse("10.0.0.2:80") == ForwardTarget(address: IPv4Address("10.0.0.2")!, port: 80))
    }
}
