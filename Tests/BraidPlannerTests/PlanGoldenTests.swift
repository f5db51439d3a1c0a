import BraidConfig
import BraidPlanner
import Foundation
import Testing

/// One config and host whose `braid plan` output is pinned in `Golden/<fileName>`.
struct GoldenScenario: Sendable, CustomTestStringConvertible {
    let fileName: String
    let yaml: String
    /// Interfaces whose link is down on the host; every other interface the config names is up.
    var linksDown: Set<String> = []

    var testDescription: String { fileName }

    static let all: [GoldenScenario] = [
        GoldenScenario(
            fileName: "two_wans_70_30_masquerade.plan",
            yaml: """
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
                """),

        GoldenScenario(
            fileName: "three_wans_snat_none_standby.plan",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: fiber
                    interface: wan0
                    gateway: 192.0.2.1
                    weight: 2
                    nat: 203.0.113.10
                  - name: routed
                    interface: wan1
                    gateway: 198.51.100.1
                    weight: 1
                    nat: none
                  - name: lte-standby
                    interface: wwan0
                    gateway: 100.64.0.1
                    weight: 0
                """),

        GoldenScenario(
            fileName: "sixteen_wans_custom_kernel_layout.plan",
            yaml: """
                lan:
                  interfaces: [br-lan]
                wans:
                  - {name: fiber-a, interface: enp3s0f0, gateway: 192.0.2.1, weight: 40}
                  - {name: fiber-b, interface: enp3s0f1, gateway: 192.0.2.129, weight: 40}
                  - {name: lte1, interface: wwan0, gateway: 100.64.0.1, weight: 10}
                  - {name: lte2, interface: wwan1, gateway: 100.64.1.1, weight: 10}
                  - {name: dsl1, interface: ppp0, gateway: 10.255.0.1, weight: 20}
                  - {name: dsl2, interface: ppp1, gateway: 10.255.1.1, weight: 20}
                  - {name: vlan100, interface: eth0.100, gateway: 198.51.100.1, weight: 30}
                  - {name: vlan200, interface: eth0.200, gateway: 198.51.100.65, weight: 30, nat: none}
                  - {name: cable, interface: eno1, gateway: 203.0.113.1, weight: 50, nat: 203.0.113.2}
                  - {name: satellite, interface: ens18, gateway: 172.16.0.1, weight: 0}
                  - {name: wifi, interface: wlp2s0, gateway: 172.16.1.1, weight: 10}
                  - {name: bonded, interface: bond0.42, gateway: 172.16.2.1, weight: 20}
                  - {name: usb-tether, interface: usb0, gateway: 192.168.8.1, weight: 10}
                  - {name: bridged, interface: br-wan, gateway: 172.16.3.1, weight: 10}
                  - {name: macvlan_2, interface: mv-isp_2, gateway: 172.16.4.1, weight: 10}
                  - {name: sixteenth, interface: Eth15, gateway: 172.16.5.1, weight: 10}
                kernel:
                  mark_mask: 0x0000ff00
                  first_table: 1000
                  first_rule_priority: 500
                """),

        GoldenScenario(
            fileName: "two_lan_interfaces.plan",
            yaml: """
                lan:
                  interfaces: [lan0, guest0]
                wans:
                  - name: isp1
                    interface: wan0
                    gateway: 192.0.2.1
                  - name: isp2
                    interface: wan1
                    gateway: 198.51.100.1
                """),

        GoldenScenario(
            fileName: "wan_link_down.plan",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan0
                    gateway: 192.0.2.1
                    weight: 2
                  - name: isp2
                    interface: wan1
                    gateway: 198.51.100.1
                    weight: 1
                  - name: standby
                    interface: wwan0
                    gateway: 100.64.0.1
                    weight: 0
                """, linksDown: ["wan1"]),

        // Policy: a run of source rules, a destination prefix to main, two port rules, a
        // multi-criteria rule with drop, destination sets (one merged from overlapping entries),
        // sticky clients over tier 1, a hairpin port forward with weighted backends, and a
        // non-hairpin forward of a UDP range.
        GoldenScenario(
            fileName: "policy_sets_rules_sticky_hairpin.plan",
            yaml: """
                sticky: source
                lan:
                  interfaces: [lan0, guest0]
                wans:
                  - {name: fiber, interface: wan0, gateway: 192.0.2.1, weight: 3}
                  - {name: cable, interface: wan1, gateway: 198.51.100.1, weight: 1}
                  - {name: lte, interface: wwan0, gateway: 100.64.0.1, tier: 2}
                sets:
                  streaming: [198.18.0.0/24, 198.18.1.0/24, 203.0.113.64/26, 203.0.113.128/26, 198.18.0.7]
                  blocked: [198.19.255.0/24]
                rules:
                  - {name: voip-phone, source: 10.0.0.20, use: [cable, fiber]}
                  - {name: gaming-pc, source: [10.0.0.50, 10.0.0.51], use: [fiber, lte]}
                  - {name: guest-net, source: 10.0.2.0/24, use: [lte, balance]}
                  - {name: office-vpn, destination: 172.16.0.0/12, use: [main]}
                  - {name: dns, protocol: udp, destination_port: 53, use: [fiber, balance]}
                  - {name: games, protocol: udp, destination_port: [3074, 27015-27030], use: [fiber, cable]}
                  - {name: kids-web, source: 10.0.0.128/25, protocol: tcp, destination_port: [80, 443], use: [cable, drop]}
                  - {name: streaming, destination_set: streaming, use: [cable, balance]}
                  - {name: blocked, destination_set: blocked, use: [drop]}
                port_forwards:
                  - {name: web, wans: [fiber, cable], protocol: tcp, port: 443, to: [10.0.0.10:8443, 10.0.0.11:8443@2]}
                  - {name: game-server, wans: [fiber], protocol: udp, port: 27015-27030, to: 10.0.0.12, hairpin: false}
                """),
    ]
}

/// Golden tests for `braid plan`'s text: the nft table, ip rules, routes, sysctls and WAN
/// summary for six representative gateways. Re-record with `BRAID_RECORD_GOLDEN=1`.
@Suite struct PlanGoldenTests {
    @Test(arguments: GoldenScenario.all)
    func planMatchesGoldenFile(_ scenario: GoldenScenario) throws {
        // With LAN addresses, so the planner's checks of health and forward targets run too.
        let state = try plan(scenario.yaml, linksDown: scenario.linksDown, lanAddresses: true)
        try GoldenFile.check(PlanPrinter.render(state), against: scenario.fileName)
    }

    @Test func everyGoldenFileBelongsToAScenario() throws {
        guard !GoldenFile.isRecording else { return }
        let directory = try #require(Bundle.module.url(forResource: "Golden", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".plan") }
        #expect(Set(files) == Set(GoldenScenario.all.map(\.fileName)))
    }

    @Test func sixteenWanScenarioReallyHasSixteenWans() throws {
        let scenario = try #require(GoldenScenario.all.first { $0.fileName.hasPrefix("sixteen") })
        let state = try plan(scenario.yaml)
        #expect(state.wans.count == 16)
        #expect(state.wans.map(\.table) == Array(1000...1015))
        #expect(state.policyRules.map(\.priority) == Array(500...518))
    }

    @Test func wanWithLinkDownGetsNoRouteAndNoShare() throws {
        let scenario = try #require(GoldenScenario.all.first { $0.fileName == "wan_link_down.plan" })
        // With LAN addresses, so the planner's checks of health and forward targets run too.
        let state = try plan(scenario.yaml, linksDown: scenario.linksDown, lanAddresses: true)
        let down = try state.wan(named: "isp2")
        #expect(down.splitShare == 0)
        #expect(!state.routes.contains { $0.table == down.table || $0.device == down.interface })
        #expect(state.routes.count == 2)
        #expect(try state.wan(named: "isp1").splitShare == state.wans[0].splitModulus)
        let splitMap = try #require(state.ruleset.maps.first { $0.name == "new_connection_split" })
        #expect(splitMap.elements.map(\.value) == ["goto choose_isp1"])
        // Its fwmark rule stays, so connections it already carries fall through to the fallback rule.
        #expect(state.policyRules.contains { $0.fwmark == down.mark && $0.table == down.table })
    }

    @Test func lineDifferenceShowsFirstDifferingLinesWithNumbers() {
        let difference = GoldenFile.lineDifference(expected: "a\nb\nc\nd\n", actual: "a\nB\nc\nd\ne\n")
        #expect(difference.contains("@@ -1 +1 @@"))
        #expect(difference.contains("-    2      | b"))
        #expect(difference.contains("+         2 | B"))
        #expect(difference.contains("+         5 | e"))
    }
}
