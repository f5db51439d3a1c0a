import BraidConfig
import Testing

/// Two WANs on lines 1-2, so the first policy key is on line 3.
private let base = """
    lan: { interfaces: [lan0] }
    wans: [{ name: isp1, interface: wan1, gateway: 192.0.2.1 }, { name: isp2, interface: wan2, gateway: 198.51.100.1 }]

    """

/// `policies`, `default_policy`, `rules[].policy` and `rules[].sticky`.
@Suite struct NamedPolicyConfigTests {
    @Test func policiesReadInBothShapesWithTheirDefaults() throws {
        let config = try ConfigLoader.parse(
            base + """
                policies:
                  balanced:
                    members: [{ wan: isp1, weight: 3 }, { wan: isp2, weight: 2 }]
                  isp1_then_isp2:
                    members: [{ wan: isp1 }, { wan: isp2, tier: 2, flush_on_down: false }]
                    last_resort: unreachable
                  short:
                    - { wan: isp2 }
                default_policy: balanced
                rules:
                  - { name: https, protocol: tcp, destination_port: 443, policy: balanced, sticky: 10m }
                  - { name: office, source: 10.0.0.0/24, policy: isp1_then_isp2 }
                """)
        #expect(
            config.policies == [
                NamedPolicyConfig(
                    name: "balanced",
                    members: [PolicyMemberConfig(wan: "isp1", weight: 3), PolicyMemberConfig(wan: "isp2", weight: 2)]),
                NamedPolicyConfig(
                    name: "isp1_then_isp2",
                    members: [PolicyMemberConfig(wan: "isp1"), PolicyMemberConfig(wan: "isp2", tier: 2, flushOnDown: false)],
                    lastResort: .unreachable),
                NamedPolicyConfig(name: "short", members: [PolicyMemberConfig(wan: "isp2")]),
            ])
        #expect(config.defaultPolicy == "balanced")
        #expect(config.rules.map(\.use) == [[.policy("balanced", stickySeconds: 600)], [.policy("isp1_then_isp2")]])
        #expect(config.flushesOnDown("isp2") == false)
        #expect(config.flushesOnDown("isp1") == true)
    }

    @Test func withoutPoliciesNothingChanges() throws {
        let config = try ConfigLoader.parse(base)
        #expect(config.policies.isEmpty && config.defaultPolicy == nil)
    }

    static let refused: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "a member names an unknown WAN",
            yaml: base + """
                policies:
                  balanced:
                    members: [{ wan: isp1 }, { wan: isp9 }]
                """, expectedPath: "policies.balanced.members[1].wan", expectedLine: 5),
        InvalidConfigCase(
            problem: "a policy without members",
            yaml: base + """
                policies:
                  empty:
                    members: []
                """, expectedPath: "policies.empty.members", expectedLine: 5),
        InvalidConfigCase(
            problem: "a policy without the members key",
            yaml: base + """
                policies:
                  empty:
                    last_resort: drop
                """, expectedPath: "policies.empty.members", expectedLine: 5),
        InvalidConfigCase(
            problem: "a rule names a missing policy",
            yaml: base + """
                policies:
                  balanced: [{ wan: isp1 }]
                rules:
                  - { name: web, protocol: tcp, destination_port: 80, policy: fast }
                """, expectedPath: "rules[0].policy", expectedLine: 6),
        InvalidConfigCase(
            problem: "default_policy names a missing policy",
            yaml: base + """
                policies:
                  balanced: [{ wan: isp1 }]
                default_policy: balance
                """, expectedPath: "default_policy", expectedLine: 5),
        InvalidConfigCase(
            problem: "a bad sticky duration",
            yaml: base + """
                policies:
                  balanced: [{ wan: isp1 }]
                rules:
                  - { name: web, protocol: tcp, destination_port: 443, policy: balanced, sticky: ten }
                """, expectedPath: "rules[0].sticky", expectedLine: 6),
        InvalidConfigCase(
            problem: "sticky longer than a day",
            yaml: base + """
                policies:
                  balanced: [{ wan: isp1 }]
                rules:
                  - { name: web, protocol: tcp, destination_port: 443, policy: balanced, sticky: 2d }
                """, expectedPath: "rules[0].sticky", expectedLine: 6),
        InvalidConfigCase(
            problem: "sticky without a policy",
            yaml: base + """
                rules:
                  - { name: web, protocol: tcp, destination_port: 443, use: [isp1], sticky: 10m }
                """, expectedPath: "rules[0].sticky", expectedLine: 4),
        InvalidConfigCase(
            problem: "use and policy together",
            yaml: base + """
                policies:
                  balanced: [{ wan: isp1 }]
                rules:
                  - { name: web, protocol: tcp, destination_port: 443, policy: balanced, use: [isp1] }
                """, expectedPath: "rules[0].use", expectedLine: 6),
        InvalidConfigCase(
            problem: "an unknown last_resort",
            yaml: base + """
                policies:
                  balanced:
                    members: [{ wan: isp1 }]
                    last_resort: blackhole
                """, expectedPath: "policies.balanced.last_resort", expectedLine: 6),
        InvalidConfigCase(
            problem: "a WAN twice in one policy",
            yaml: base + """
                policies:
                  balanced:
                    - { wan: isp1 }
                    - { wan: isp1, weight: 2 }
                """, expectedPath: "policies.balanced[1].wan", expectedLine: 6),
        InvalidConfigCase(
            problem: "a policy name nft could misread",
            yaml: base + """
                policies:
                  "Fast Lane": [{ wan: isp1 }]
                """, expectedPath: "policies.Fast Lane", expectedLine: 4),
        InvalidConfigCase(
            problem: "members disagree on flush_on_down",
            yaml: base + """
                policies:
                  one: [{ wan: isp1, flush_on_down: true }]
                  two: [{ wan: isp1, flush_on_down: false }]
                """, expectedPath: "policies.two", expectedLine: 5),
        InvalidConfigCase(
            problem: "an unknown member key",
            yaml: base + """
                policies:
                  one: [{ wan: isp1, metric: 1 }]
                """, expectedPath: "policies.one[0].metric", expectedLine: 4),
    ]

    @Test(arguments: refused)
    func badInputNamesKeyAndLine(_ testCase: InvalidConfigCase) throws {
        try testCase.expectRefusedAtKeyAndLine()
    }

    @Test func hooksCarryTheMwan3UserScript() throws {
        let config = try ConfigLoader.parse(base + "hooks: { mwan3_user: /etc/mwan3.user }\n")
        #expect(config.hooks.mwan3User == "/etc/mwan3.user")
        try InvalidConfigCase(
            problem: "relative mwan3_user", yaml: base + "hooks: { mwan3_user: mwan3.user }\n",
            expectedPath: "hooks.mwan3_user", expectedLine: 3
        ).expectRefusedAtKeyAndLine()
    }
}
