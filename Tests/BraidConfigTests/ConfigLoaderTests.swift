import BraidConfig
import Testing

/// Parses `yaml`, expecting `ConfigLoader` to reject it; records a test issue and returns nil
/// when the text is accepted instead.
func rejection(of yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let config = try ConfigLoader.parse(yaml)
        Issue.record("expected ConfigError, but the config was accepted: \(config)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Valid configs: every key is read into `Config`, and the defaults fill what the file leaves out.
@Suite struct ValidConfigTests {
    @Test func fullConfigParsesToTheWrittenValues() throws {
        let config = try ConfigLoader.parse(
            """
            # A gateway with three uplinks.
            lan:
              interfaces: [lan0, lan0.20]
            wans:
              - name: fiber
                interface: enp3s0f1
                gateway: 192.0.2.1
                weight: 70
                nat: masquerade
              - name: cable
                interface: eth0.100
                gateway: 198.51.100.1
                weight: 30
                nat: 203.0.113.7
              - name: lte-backup
                interface: wwan0
                gateway: 100.64.0.1
                weight: 0
                nat: none
                tier: 2
            flush_on_down: false
            kernel:
              mark_mask: 0x0000ff00
              first_table: 1000
              first_rule_priority: 500
            """)
        let expected = Config(
            lan: LanConfig(interfaces: ["lan0", "lan0.20"]),
            wans: [
                WanConfig(
                    name: "fiber", interface: "enp3s0f1", gateway: try #require(IPv4Address("192.0.2.1")),
                    weight: 70, nat: .masquerade),
                WanConfig(
                    name: "cable", interface: "eth0.100", gateway: try #require(IPv4Address("198.51.100.1")),
                    weight: 30, nat: .snat(try #require(IPv4Address("203.0.113.7")))),
                WanConfig(
                    name: "lte-backup", interface: "wwan0", gateway: try #require(IPv4Address("100.64.0.1")),
                    weight: 0, nat: NatMode.none, tier: 2),
            ],
            kernel: KernelLayoutConfig(markMask: 0x0000_ff00, firstTable: 1000, firstRulePriority: 500),
            flushOnDown: false)
        #expect(config == expected)
    }

    @Test func omittedKeysTakeTheirDefaults() throws {
        let config = try ConfigLoader.parse(
            """
            lan:
              interfaces: [lan0]
            wans:
              - name: isp1
                interface: wan1
                gateway: 192.0.2.1
            """)
        let wan = try #require(config.wans.first)
        #expect(config.wans.count == 1)
        #expect(wan.weight == 1)
        #expect(wan.nat == .masquerade)
        #expect(wan.tier == 1)
        #expect(wan.health == nil)
        #expect(config.flushOnDown)
        #expect(config.kernel == KernelLayoutConfig())
        #expect(config.kernel.markMask == 0xff00_0000)
        #expect(config.kernel.firstTable == 200)
        #expect(config.kernel.firstRulePriority == 10000)
    }

    @Test func kernelKeysAcceptDecimalAndPartialLayouts() throws {
        let config = try ConfigLoader.parse(
            """
            lan:
              interfaces: [lan0]
            wans:
              - name: isp1
                interface: wan1
                gateway: 192.0.2.1
            kernel:
              mark_mask: 65280
            """)
        #expect(config.kernel == KernelLayoutConfig(markMask: 0x0000_ff00))
    }

    @Test func flowStyleConfigParses() throws {
        let config = try ConfigLoader.parse(
            """
            {lan: {interfaces: [lan0]}, wans: [{name: isp1, interface: wan1, gateway: 192.0.2.1, weight: 3}]}
            """)
        #expect(config.wans.map(\.weight) == [3])
        #expect(config.lan.interfaces == ["lan0"])
    }

    @Test func weightOfZeroIsAcceptedBesideAPositiveWeight() throws {
        let config = try ConfigLoader.parse(
            """
            lan:
              interfaces: [lan0]
            wans:
              - name: isp1
                interface: wan1
                gateway: 192.0.2.1
                weight: 1000000
              - name: standby
                interface: wan2
                gateway: 198.51.100.1
                weight: 0
            """)
        #expect(config.wans.map(\.weight) == [ConfigLoader.maximumWeight, 0])
    }
}

/// Invalid configs: each is rejected with an issue that names the offending key path and line,
/// and every problem in a file is reported at once.
@Suite struct InvalidConfigTests {
    @Test(arguments: InvalidConfigCase.all)
    func invalidConfigNamesTheKeyAndLine(_ invalidCase: InvalidConfigCase) throws {
        let error = try #require(rejection(of: invalidCase.yaml))
        guard case .invalid(let issues) = error else {
            Issue.record("expected ConfigError.invalid, got \(error)")
            return
        }
        let match = issues.first { $0.path == invalidCase.expectedPath && $0.line == invalidCase.expectedLine }
        #expect(
            match != nil,
            """
            expected an issue at \(invalidCase.expectedPath) (line \(invalidCase.expectedLine)); got:
            \(issues.map { "\($0.path) line \($0.line.map(String.init) ?? "nil"): \($0.message)" }.joined(separator: "\n"))
            """)
        // The text the user reads names the key and the line on one line.
        let descriptionLines = error.description.split(separator: "\n")
        #expect(
            descriptionLines.contains {
                $0.hasPrefix("\(invalidCase.expectedPath): ") && $0.hasSuffix("(line \(invalidCase.expectedLine))")
            },
            "description: \(error.description)")
    }

    @Test func invalidCaseTableIsLargeEnough() {
        #expect(InvalidConfigCase.all.count >= 20)
    }

    @Test func everyProblemInOneFileIsReported() throws {
        let error = try #require(
            rejection(
                of: """
                    lan:
                      interfaces: [lan0, "lan 1"]
                    wans:
                      - name: Isp1
                        interface: wan1
                        gateway: 10.0.0.300
                      - name: isp2
                        interface: wan2
                        gateway: 198.51.100.1
                        weight: -5
                    extra: true
                    """))
        let paths = Set(error.issues.map(\.path))
        #expect(error.issues.count >= 2)
        #expect(paths.isSuperset(of: ["lan.interfaces[1]", "wans[0].name", "wans[0].gateway", "wans[1].weight", "extra"]))
        for issue in error.issues {
            #expect(error.description.contains(issue.description))
        }
    }
}
