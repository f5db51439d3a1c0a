import Testing

/// One config file that `ConfigLoader.parse` must reject, with the key path and the 1-based
/// line the user should be sent to.
struct InvalidConfigCase: Sendable, CustomTestStringConvertible {
    /// What is wrong, as shown in the test report.
    let problem: String
    let yaml: String
    let expectedPath: String
    let expectedLine: Int

    var testDescription: String { problem }

    /// Expects the config to be refused with a line that starts with the key path and ends with the line number.
    func expectRefusedAtKeyAndLine(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let error = try #require(rejection(of: yaml, sourceLocation: sourceLocation), sourceLocation: sourceLocation)
        let lines = error.description.split(separator: "\n")
        #expect(
            lines.contains { $0.hasPrefix("\(expectedPath): ") && $0.hasSuffix("(line \(expectedLine))") },
            "description: \(error.description)", sourceLocation: sourceLocation)
    }

    /// The table the parameterized test runs. Line numbers count from the first line of `yaml`.
    static let all: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "unknown top-level key",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                logging: verbose
                """, expectedPath: "logging", expectedLine: 7),

        InvalidConfigCase(
            problem: "unknown WAN key",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    metric: 10
                """, expectedPath: "wans[0].metric", expectedLine: 7),

        InvalidConfigCase(
            problem: "unknown LAN key",
            yaml: """
                lan:
                  interfaces: [lan0]
                  vlan: 10
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan.vlan", expectedLine: 3),

        InvalidConfigCase(
            problem: "weight is a quoted word",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: "abc"
                """, expectedPath: "wans[0].weight", expectedLine: 7),

        InvalidConfigCase(
            problem: "weight is a list",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: [1]
                """, expectedPath: "wans[0].weight", expectedLine: 7),

        InvalidConfigCase(
            problem: "weight is a fraction",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: 1.5
                """, expectedPath: "wans[0].weight", expectedLine: 7),

        InvalidConfigCase(
            problem: "negative weight",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: -1
                """, expectedPath: "wans[0].weight", expectedLine: 7),

        InvalidConfigCase(
            problem: "weight above the maximum",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: 1000001
                """, expectedPath: "wans[0].weight", expectedLine: 7),

        InvalidConfigCase(
            problem: "every weight is zero",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    weight: 0
                  - name: isp2
                    interface: wan2
                    gateway: 198.51.100.1
                    weight: 0
                """, expectedPath: "wans", expectedLine: 4),

        InvalidConfigCase(
            problem: "lan.interfaces is not a list",
            yaml: """
                lan:
                  interfaces: lan0
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan.interfaces", expectedLine: 2),

        InvalidConfigCase(
            problem: "lan.interfaces is empty",
            yaml: """
                lan:
                  interfaces: []
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan.interfaces", expectedLine: 2),

        InvalidConfigCase(
            problem: "lan is a list instead of a mapping",
            yaml: """
                lan: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan", expectedLine: 1),

        InvalidConfigCase(
            problem: "lan is missing",
            yaml: """
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan", expectedLine: 1),

        InvalidConfigCase(
            problem: "wans is missing",
            yaml: """
                lan:
                  interfaces: [lan0]
                """, expectedPath: "wans", expectedLine: 1),

        InvalidConfigCase(
            problem: "wans is an empty list",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans: []
                """, expectedPath: "wans", expectedLine: 3),

        InvalidConfigCase(
            problem: "wans is a word instead of a list",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans: isp1
                """, expectedPath: "wans", expectedLine: 3),

        InvalidConfigCase(
            problem: "gateway given as a word other than auto or none",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: dhcp
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "an IPv6 address as the IPv4 gateway",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 2001:db8::1
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "duplicate WAN names",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                  - name: isp1
                    interface: wan2
                    gateway: 198.51.100.1
                """, expectedPath: "wans[1].name", expectedLine: 7),

        InvalidConfigCase(
            problem: "duplicate LAN interfaces",
            yaml: """
                lan:
                  interfaces:
                    - lan0
                    - lan0
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan.interfaces[1]", expectedLine: 4),

        InvalidConfigCase(
            problem: "gateway octet above 255",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 10.0.0.300
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "gateway with a leading zero",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 010.0.0.1
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "gateway is a loopback address",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 127.0.0.1
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "gateway is empty",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: ""
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "gateway with no value",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway:
                    weight: 2
                """, expectedPath: "wans[0].gateway", expectedLine: 6),

        InvalidConfigCase(
            problem: "WAN name with an uppercase letter",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: Isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].name", expectedLine: 4),

        InvalidConfigCase(
            problem: "WAN name with a space",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp 1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].name", expectedLine: 4),

        InvalidConfigCase(
            problem: "WAN name of 16 characters",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: abcdefghijklmnop
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].name", expectedLine: 4),

        InvalidConfigCase(
            problem: "WAN name starting with a hyphen",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: -isp
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].name", expectedLine: 4),

        InvalidConfigCase(
            problem: "reserved WAN name main",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: main
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].name", expectedLine: 4),

        InvalidConfigCase(
            problem: "unknown nat mode",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    nat: dnat
                """, expectedPath: "wans[0].nat", expectedLine: 7),

        InvalidConfigCase(
            problem: "SNAT address octet above 255",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    nat: 203.0.113.256
                """, expectedPath: "wans[0].nat", expectedLine: 7),

        InvalidConfigCase(
            problem: "SNAT address is multicast",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    nat: 224.0.0.1
                """, expectedPath: "wans[0].nat", expectedLine: 7),

        InvalidConfigCase(
            problem: "interface name of 17 characters",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: abcdefghijklmnopq
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].interface", expectedLine: 5),

        InvalidConfigCase(
            problem: "interface name of 16 characters",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: abcdefghijklmnop
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].interface", expectedLine: 5),

        InvalidConfigCase(
            problem: "interface name containing a slash",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: eth0/1
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].interface", expectedLine: 5),

        InvalidConfigCase(
            problem: "LAN interface name containing a colon",
            yaml: """
                lan:
                  interfaces:
                    - lan0
                    - "lan0:1"
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                """, expectedPath: "lan.interfaces[1]", expectedLine: 4),

        InvalidConfigCase(
            problem: "mark_mask is not one contiguous run of bits",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  mark_mask: 0x00ff00ff
                """, expectedPath: "kernel.mark_mask", expectedLine: 8),

        InvalidConfigCase(
            problem: "mark_mask of a single bit",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  mark_mask: 0x00010000
                """, expectedPath: "kernel.mark_mask", expectedLine: 8),

        InvalidConfigCase(
            problem: "mark_mask wider than 32 bits",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  mark_mask: 0x1ffffffff
                """, expectedPath: "kernel.mark_mask", expectedLine: 8),

        InvalidConfigCase(
            problem: "more WANs than the mark mask has room for",
            yaml: """
                lan:
                  interfaces: [lan0]
                kernel:
                  mark_mask: 0x3
                wans:
                  - {name: isp1, interface: wan1, gateway: 192.0.2.1}
                  - {name: isp2, interface: wan2, gateway: 192.0.2.2}
                  - {name: isp3, interface: wan3, gateway: 192.0.2.3}
                  - {name: isp4, interface: wan4, gateway: 192.0.2.4}
                """, expectedPath: "wans", expectedLine: 6),

        InvalidConfigCase(
            problem: "first_table of zero",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  first_table: 0
                """, expectedPath: "kernel.first_table", expectedLine: 8),

        // docs/config.md documents that the table-range check reports the line of the `wans` list
        // (its first entry), not the line of `kernel.first_table`.
        InvalidConfigCase(
            problem: "first_table range reaching the reserved table 253",
            yaml: """
                kernel:
                  first_table: 252
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                  - name: isp2
                    interface: wan2
                    gateway: 198.51.100.1
                """, expectedPath: "kernel.first_table", expectedLine: 6),

        InvalidConfigCase(
            problem: "first_table range inside the reserved tables",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  first_table: 255
                """, expectedPath: "kernel.first_table", expectedLine: 4),

        InvalidConfigCase(
            problem: "first_rule_priority above 32000",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel:
                  first_rule_priority: 32001
                """, expectedPath: "kernel.first_rule_priority", expectedLine: 8),

        InvalidConfigCase(
            problem: "tier of zero",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    tier: 0
                """, expectedPath: "wans[0].tier", expectedLine: 7),

        InvalidConfigCase(
            problem: "flush_on_down is not a boolean",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                flush_on_down: yes
                """, expectedPath: "flush_on_down", expectedLine: 7),

        InvalidConfigCase(
            problem: "kernel is a word instead of a mapping",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                kernel: default
                """, expectedPath: "kernel", expectedLine: 7),
    ]
}

/// One WAN with a health check, with `health` lines appended under its `health:` key and `top`
/// lines at the top level: the config the health and flap-damping tests vary.
func oneHealthCheckedWan(health: String = "", top: String = "") -> String {
    """
    lan:
      interfaces: [lan0]
    wans:
      - name: isp1
        interface: wan1
        gateway: 192.0.2.1
        health:
          targets: [198.51.100.7]
    \(health)
    \(top)
    """
}
