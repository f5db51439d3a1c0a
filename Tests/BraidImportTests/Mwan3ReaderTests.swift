import BraidImport
import Testing

@Suite struct Mwan3ReaderTests {
    func read(_ text: String) throws -> (config: Mwan3Config, notes: [ImportNote]) {
        Mwan3Reader.read(try UCIParser.parse(text, file: "mwan3"), file: "mwan3")
    }

    @Test func sectionsInAnyOrderWithMwan3Defaults() throws {
        let (config, notes) = try read(
            """
            config rule 'https'
                option sticky '1'
                option dest_port '443'
                option proto 'tcp'
                option use_policy 'balanced'
            config policy 'balanced'
                list use_member 'wan_m1_w3'
                list use_member 'wanb_m1_w2'
            config member 'wan_m1_w3'
                option interface 'wan'
                option weight '3'
            config member 'wanb_m1_w2'
                option interface 'wanb'
                option weight '2'
            config interface 'wan'
                option enabled '1'
                list track_ip '1.1.1.1'
            config interface 'wanb'
                option enabled 1
                option interval 5
            """)
        #expect(notes.isEmpty)
        #expect(config.rules.map(\.usePolicy) == ["balanced"])
        #expect(config.rules[0].sticky && config.rules[0].stickyTimeout == 600)
        #expect(config.policies[0].members == ["wan_m1_w3", "wanb_m1_w2"])
        #expect(config.policies[0].lastResort == .unreachable)
        #expect(config.members.map(\.weight) == [3, 2])
        let wan = config.interfaces[0]
        #expect(wan.enabled && wan.count == 1 && wan.timeout == 4 && wan.interval == 10 && wan.down == 5 && wan.up == 5)
        #expect(config.interfaces[1].interval == 5)
    }

    @Test func brokenReferencesAreNotedWithTheirLineAndTheRestConverts() throws {
        let (config, notes) = try read(
            """
            config interface 'wan'
                option enabled '1'
            config member 'ghost_m1'
                option interface 'wan9'
            config member 'wan_m1'
                option interface 'wan'
            config policy 'only_ghost'
                list use_member 'ghost_m1'
            config policy 'empty'
            config policy 'ok'
                list use_member 'wan_m1'
            config rule 'r1'
                option use_policy 'nowhere'
            config rule 'r2'
                option use_policy 'ok'
            config rule 'r3'
                option use_policy 'unreachable'
            config wan 'odd'
            """)
        #expect(config.members.map(\.name) == ["wan_m1"])
        #expect(config.policies.map(\.name) == ["ok"])
        #expect(config.rules.map(\.name) == ["r2", "r3"])
        let text = notes.map(\.description)
        #expect(text.contains { $0.hasPrefix("mwan3:3: ghost_m1.interface: names interface 'wan9'") })
        #expect(text.contains { $0.hasPrefix("mwan3:7: only_ghost: policy has no usable members") })
        #expect(text.contains { $0.hasPrefix("mwan3:9: empty: policy has no usable members") })
        #expect(text.contains { $0.hasPrefix("mwan3:12: r1.use_policy: policy 'nowhere' is not defined") })
        #expect(text.contains { $0.hasPrefix("mwan3:18: odd: unknown section type `wan`") })
    }

    @Test func badValuesFallBackToMwan3DefaultsWithANote() throws {
        let (config, notes) = try read(
            """
            config interface 'wan'
                option enabled 'maybe'
                option count 'three'
                option track_method 'carrier-pigeon'
                option tarck_ip '1.1.1.1'
            """)
        let wan = config.interfaces[0]
        #expect(!wan.enabled && wan.count == 1 && wan.trackMethod == "ping")
        #expect(notes.map(\.option) == ["tarck_ip", "enabled", "track_method", "count"])
        #expect(notes.allSatisfy { ($0.line ?? 0) > 1 })
    }

    @Test func anonymousRulesKeepTheirUCIReference() throws {
        let (config, _) = try read(
            """
            config policy p
                list use_member m
            config member m
                option interface wan
            config interface wan
            config rule
                option dest_ip 10.0.0.0/8
                option use_policy p
            config rule
                option src_ip 192.168.1.0/24
                option use_policy default
            """)
        #expect(config.rules.map(\.name) == ["@rule[0]", "@rule[1]"])
        #expect(config.rules[1].sourceIP == "192.168.1.0/24")
    }
}
