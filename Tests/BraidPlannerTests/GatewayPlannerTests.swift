import BraidConfig
import BraidPlanner
import Testing

/// Three WANs: two weighted 70/30 and a weight-0 standby.
let weightedWithStandbyYAML = """
    lan:
      interfaces: [lan0]
    wans:
      - name: fiber
        interface: wan0
        gateway: 192.0.2.1
        weight: 70
      - name: cable
        interface: wan1
        gateway: 198.51.100.1
        weight: 30
      - name: standby
        interface: wwan0
        gateway: 100.64.0.1
        weight: 0
    """

/// Which WANs get new connections when some are unavailable (health probes) or their link is down.
@Suite struct WanAvailabilityTests {
    func shares(_ state: DesiredState) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: state.wans.map { ($0.name, $0.splitShare) })
    }

    @Test func allAvailableSplitsByWeightAndLeavesTheStandbyOut() throws {
        let state = try plan(weightedWithStandbyYAML)
        #expect(shares(state) == ["fiber": 7, "cable": 3, "standby": 0])
        #expect(state.wans.allSatisfy { $0.splitModulus == 10 })
    }

    @Test func unavailableWanGetsShareZero() throws {
        let state = try plan(weightedWithStandbyYAML, availability: WanAvailability(unavailable: ["cable"]))
        #expect(shares(state) == ["fiber": 1, "cable": 0, "standby": 0])
        #expect(try state.wan(named: "fiber").splitModulus == 1)
        // Unavailable is not link-down: its route stays so existing connections keep working.
        #expect(state.routes.contains { $0.device == "wan1" })
    }

    @Test func standbyTakesEverythingWhenEveryWeightedWanIsUnavailable() throws {
        let state = try plan(weightedWithStandbyYAML, availability: WanAvailability(unavailable: ["fiber", "cable"]))
        #expect(shares(state) == ["fiber": 0, "cable": 0, "standby": 1])
        #expect(try state.wan(named: "standby").splitModulus == 1)
        #expect(state.fallbackRule?.table == (try state.wan(named: "standby").table))
    }

    @Test func standbyTakesEverythingWhenEveryWeightedLinkIsDown() throws {
        let state = try plan(weightedWithStandbyYAML, linksDown: ["wan0", "wan1"])
        #expect(shares(state) == ["fiber": 0, "cable": 0, "standby": 1])
        #expect(state.routes.map(\.device) == ["wwan0"])
    }

    @Test func severalStandbysShareEquallyWhenNoWeightedWanIsUsable() throws {
        let state = try plan(
            """
            lan:
              interfaces: [lan0]
            wans:
              - {name: main-isp, interface: wan0, gateway: 192.0.2.1, weight: 5}
              - {name: backup-a, interface: wan1, gateway: 198.51.100.1, weight: 0}
              - {name: backup-b, interface: wan2, gateway: 203.0.113.1, weight: 0}
            """, availability: WanAvailability(unavailable: ["main-isp"]))
        #expect(shares(state) == ["main-isp": 0, "backup-a": 1, "backup-b": 1])
        #expect(state.wans.allSatisfy { $0.splitModulus == 2 })
    }

    @Test func configuredWeightsStayWhenNoWanIsUsable() throws {
        let state = try plan(weightedWithStandbyYAML, availability: WanAvailability(unavailable: ["fiber", "cable", "standby"]))
        #expect(shares(state) == ["fiber": 7, "cable": 3, "standby": 0])
        #expect(state.wans.allSatisfy { $0.splitModulus == 10 })
    }

    @Test func configuredWeightsStayWhenEveryLinkIsDown() throws {
        let state = try plan(weightedWithStandbyYAML, linksDown: ["wan0", "wan1", "wwan0"])
        #expect(shares(state) == ["fiber": 7, "cable": 3, "standby": 0])
        #expect(state.routes.isEmpty)
    }

    @Test func unknownNamesInAvailabilityAreIgnored() throws {
        let state = try plan(weightedWithStandbyYAML, availability: WanAvailability(unavailable: ["no-such-wan"]))
        #expect(shares(state) == ["fiber": 7, "cable": 3, "standby": 0])
    }
}

/// WAN marks live inside `kernel.mark_mask`, and every rule that sets a mark keeps the bits
/// outside it, so Braid coexists with other software's marks.
@Suite struct MarkLayoutTests {
    static let customMaskYAML = """
        lan:
          interfaces: [lan0]
        wans:
          - {name: isp1, interface: wan0, gateway: 192.0.2.1}
          - {name: isp2, interface: wan1, gateway: 198.51.100.1}
          - {name: isp3, interface: wan2, gateway: 203.0.113.1}
        kernel:
          mark_mask: 0x0000ff00
        """

    /// A config and the mark mask it lays out (the default, and a custom one).
    static let configsWithTheirMasks: [(yaml: String, mask: UInt32)] = [
        (weightedWithStandbyYAML, KernelLayoutConfig.defaultMarkMask),
        (customMaskYAML, 0x0000_ff00),
    ]

    @Test(arguments: configsWithTheirMasks)
    func marksAreDistinctNonZeroAndInsideTheMask(_ yaml: String, _ mask: UInt32) throws {
        let state = try plan(yaml)
        let marks = state.wans.map(\.mark)
        #expect(Set(marks).count == marks.count)
        for mark in marks {
            #expect(mark != 0)
            #expect(mark & ~mask == 0, "mark \(String(mark, radix: 16)) has bits outside \(String(mask, radix: 16))")
        }
        #expect(state.policyRules.dropFirst().dropLast().allSatisfy { $0.fwmask == mask })
    }

    @Test func customMaskShiftsMarksIntoItsLowestBit() throws {
        let state = try plan(Self.customMaskYAML)
        #expect(state.wans.map(\.mark) == [0x100, 0x200, 0x300])
        let rendered = PlanPrinter.render(state)
        #expect(rendered.contains("meta mark set meta mark & 0xffff00ff | 0x00000100"))
        #expect(rendered.contains("ct mark set ct mark & 0xffff00ff | 0x00000300"))
        #expect(rendered.contains("ip rule add priority 10002 fwmark 0x00000200/0x0000ff00 lookup 201 protocol 213"))
    }

    @Test func defaultMaskPutsMarksInTheTopByte() throws {
        let state = try plan(weightedWithStandbyYAML)
        #expect(state.wans.map(\.mark) == [0x100_0000, 0x200_0000, 0x300_0000])
        #expect(PlanPrinter.render(state).contains("meta mark set meta mark & 0x00ffffff | 0x01000000"))
    }

    /// Every `& keep | mark` in the rendered ruleset keeps exactly the bits outside the mask and
    /// sets only bits inside it.
    @Test(arguments: configsWithTheirMasks)
    func everyRenderedMarkAssignmentPreservesOtherBits(_ yaml: String, _ mask: UInt32) throws {
        let rendered = PlanPrinter.render(try plan(yaml))
        let assignment = /(meta|ct) mark set (meta|ct) mark & 0x([0-9a-f]{8}) \| 0x([0-9a-f]{8})/
        let matches = rendered.matches(of: assignment)
        #expect(matches.count == 3 * 3 + 3, "two meta and one ct assignment per WAN, and the same for the main-table mark")
        for match in matches {
            #expect(match.output.1 == match.output.2, "a mark is set from the same kind of mark")
            let keep = try #require(UInt32(match.output.3, radix: 16))
            let value = try #require(UInt32(match.output.4, radix: 16))
            #expect(keep == ~mask)
            #expect(value & ~mask == 0)
            #expect(value != 0)
        }
    }

    @Test func marksAreMatchedUnderTheMask() throws {
        let rendered = PlanPrinter.render(try plan(Self.customMaskYAML))
        #expect(rendered.contains("ct mark & 0x0000ff00 != 0 ct mark & 0x0000ff00 vmap @wan_by_ct_mark"))
        #expect(rendered.contains("meta mark & 0x0000ff00 != 0 meta mark & 0x0000ff00 vmap @wan_by_socket_mark"))
        #expect(!rendered.contains("0xff000000"))
    }
}

/// LAN interfaces the config names must exist on the host; a missing WAN interface (`ppp0` before
/// the first dial, an unplugged modem) is a WAN without a link, not an error.
@Suite struct InterfaceCheckTests {
    @Test func missingInterfacesAreNamedByTheirKeyPaths() throws {
        let config = try ConfigLoader.parse(weightedWithStandbyYAML)
        let host = HostFacts(interfaces: [InterfaceFacts(name: "wan0"), InterfaceFacts(name: "wwan0")])
        let error = try #require(throws: PlanError.self) {
            try GatewayPlanner.plan(config, host: host)
        }
        #expect(error.problems.map(\.path) == ["lan.interfaces[0]"])
        #expect(error.description.contains("\"lan0\""))
    }

    @Test func aMissingWanInterfaceIsAWanWithoutALink() throws {
        let config = try ConfigLoader.parse(weightedWithStandbyYAML)
        let host = HostFacts(interfaces: [
            InterfaceFacts(name: "lan0"),
            InterfaceFacts(name: "wan0", addresses: [InterfaceAddress(address: IPv4Address("192.0.2.2")!, prefixLength: 24)]),
        ])
        let state = try GatewayPlanner.plan(config, host: host)
        #expect(state.unusableReasons["cable"] == "interface wan1 does not exist")
        #expect(!state.routes.contains { $0.device == "wan1" })
        #expect(!state.sysctls.contains { $0.key.contains("/wan1/") })
    }

    @Test func secondLanInterfaceMissingIsNamedByIndex() throws {
        let config = try ConfigLoader.parse(
            """
            lan:
              interfaces: [lan0, guest0]
            wans:
              - {name: isp1, interface: wan0, gateway: 192.0.2.1}
            """)
        let host = HostFacts(interfaces: [InterfaceFacts(name: "lan0"), InterfaceFacts(name: "wan0")])
        let error = try #require(throws: PlanError.self) {
            try GatewayPlanner.plan(config, host: host)
        }
        #expect(error.problems.map(\.path) == ["lan.interfaces[1]"])
    }

    @Test func interfaceThatIsDownStillCountsAsPresent() throws {
        let state = try plan(weightedWithStandbyYAML, linksDown: ["lan0", "wan0", "wan1", "wwan0"])
        #expect(state.wans.count == 3)
    }
}

/// The rules Braid installs: main with suppressed default first, one fwmark rule per WAN, and a
/// fallback for unmarked traffic that points at the usable WAN with the largest share.
@Suite struct PolicyRuleTests {
    static let unequalWeightsYAML = """
        lan:
          interfaces: [lan0]
        wans:
          - {name: small, interface: wan0, gateway: 192.0.2.1, weight: 1}
          - {name: large, interface: wan1, gateway: 198.51.100.1, weight: 3}
          - {name: middle, interface: wan2, gateway: 203.0.113.1, weight: 2}
        """

    @Test func rulesAreSuppressThenOnePerWanThenFallback() throws {
        let state = try plan(Self.unequalWeightsYAML)
        #expect(
            state.policyRules.map(\.description) == [
                "priority 10000 lookup main suppress_prefixlength 0",
                "priority 10001 fwmark 0x01000000/0xff000000 lookup 200",
                "priority 10002 fwmark 0x02000000/0xff000000 lookup 201",
                "priority 10003 fwmark 0x03000000/0xff000000 lookup 202",
                "priority 10004 fwmark 0xff000000/0xff000000 lookup main",
                "priority 10005 lookup 201",
            ])
    }

    @Test func fallbackPointsAtTheLargestShare() throws {
        let state = try plan(Self.unequalWeightsYAML)
        #expect(state.fallbackRule?.table == (try state.wan(named: "large").table))
        #expect(state.fallbackRule?.fwmark == nil)
    }

    @Test func fallbackSkipsAnUnavailableWan() throws {
        let state = try plan(Self.unequalWeightsYAML, availability: WanAvailability(unavailable: ["large"]))
        #expect(state.fallbackRule?.table == (try state.wan(named: "middle").table))
    }

    @Test func fallbackSkipsAWanWhoseLinkIsDown() throws {
        let state = try plan(Self.unequalWeightsYAML, linksDown: ["wan1", "wan2"])
        #expect(state.fallbackRule?.table == (try state.wan(named: "small").table))
    }

    @Test func fallbackPrefersTheFirstWanOnATie() throws {
        let state = try plan(
            """
            lan:
              interfaces: [lan0]
            wans:
              - {name: first, interface: wan0, gateway: 192.0.2.1, weight: 1}
              - {name: second, interface: wan1, gateway: 198.51.100.1, weight: 2}
              - {name: third, interface: wan2, gateway: 203.0.113.1, weight: 2}
            """)
        #expect(state.fallbackRule?.table == (try state.wan(named: "second").table))
    }

    @Test func routesAreOneDefaultRoutePerWanTable() throws {
        let state = try plan(Self.unequalWeightsYAML)
        #expect(
            state.routes.map(\.description) == [
                "default via 192.0.2.1 dev wan0 table 200",
                "default via 198.51.100.1 dev wan1 table 201",
                "default via 203.0.113.1 dev wan2 table 202",
            ])
    }

    @Test func sysctlsEnableForwardingAndLooseReversePathFilteringPerWan() throws {
        let state = try plan(Self.unequalWeightsYAML)
        #expect(
            state.sysctls.map(\.description) == [
                "net/ipv4/ip_forward = 1",
                "net/ipv4/conf/wan0/rp_filter = 2",
                "net/ipv4/conf/wan1/rp_filter = 2",
                "net/ipv4/conf/wan2/rp_filter = 2",
            ])
    }

    @Test func planningIsDeterministic() throws {
        let first = PlanPrinter.render(try plan(weightedWithStandbyYAML))
        let second = PlanPrinter.render(try plan(weightedWithStandbyYAML))
        #expect(first == second)
    }
}
