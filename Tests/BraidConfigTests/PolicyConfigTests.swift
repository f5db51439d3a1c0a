import BraidConfig
import Foundation
import Testing

/// The two WANs every policy config below builds on, in two lines, so that the first policy key
/// is on line 3 of the file.
private let policyBaseYAML = """
    lan: { interfaces: [lan0] }
    wans: [{ name: isp1, interface: wan1, gateway: 192.0.2.1 }, { name: isp2, interface: wan2, gateway: 198.51.100.1 }]

    """

/// A fresh directory under the system temporary directory, removed by `body`'s caller.
private func withTemporaryDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "braid-policy-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

private func prefix(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> IPPrefix {
    try #require(IPPrefix(text), sourceLocation: sourceLocation)
}

private func address(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> IPv4Address {
    try #require(IPv4Address(text), sourceLocation: sourceLocation)
}

/// Valid `sticky`, `sets`, `rules` and `port_forwards` parse to exactly the values written, with
/// their documented defaults.
@Suite struct ValidPolicyConfigTests {
    @Test func stickyDefaultsToNoneAndAcceptsNoneAndSource() throws {
        #expect(try ConfigLoader.parse(policyBaseYAML).sticky == StickyMode.none)
        #expect(try ConfigLoader.parse(policyBaseYAML + "sticky: none\n").sticky == StickyMode.none)
        #expect(try ConfigLoader.parse(policyBaseYAML + "sticky: source\n").sticky == .source)
        #expect(try ConfigLoader.parse(policyBaseYAML + "sticky: \"source\"\n").sticky == .source)
    }

    @Test func policyKeysDefaultToEmpty() throws {
        let config = try ConfigLoader.parse(policyBaseYAML)
        #expect(config.sets.isEmpty && config.rules.isEmpty && config.portForwards.isEmpty)
        // Empty collections are allowed too.
        let empty = try ConfigLoader.parse(policyBaseYAML + "sets: {}\nrules: []\nport_forwards: []\n")
        #expect(empty.sets.isEmpty && empty.rules.isEmpty && empty.portForwards.isEmpty)
    }

    @Test func inlineSetsKeepTheirEntriesInOrder() throws {
        let config = try ConfigLoader.parse(
            policyBaseYAML + """
                sets:
                  streaming: [198.51.100.0/24, 203.0.113.7, 0.0.0.0/0]
                  empty: []
                  office:
                    - 192.0.2.128/25
                """)
        #expect(
            config.sets == [
                AddressSetConfig(
                    name: "streaming",
                    entries: [try prefix("198.51.100.0/24"), try prefix("203.0.113.7/32"), try prefix("0.0.0.0/0")]),
                AddressSetConfig(name: "empty", entries: []),
                AddressSetConfig(name: "office", entries: [try prefix("192.0.2.128/25")]),
            ])
        #expect(config.sets.allSatisfy { $0.file == nil })
    }

    static let setFileText = """
        # Streaming CDNs, one address or prefix per line.

        198.51.100.0/24
           203.0.113.7   # a single host, indented, with a comment
        \t192.0.2.0/25\t

        # the end
        10.0.0.0/8#comment right after the prefix
        """

    static let setFileEntries = ["198.51.100.0/24", "203.0.113.7/32", "192.0.2.0/25", "10.0.0.0/8"]

    @Test func setFileIsReadRelativeToTheConfigFileDirectory() throws {
        try withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("lists"), withIntermediateDirectories: true)
            try Self.setFileText.write(to: directory.appendingPathComponent("lists/cdn.txt"), atomically: true, encoding: .utf8)
            let configURL = directory.appendingPathComponent("braid.yaml")
            try
                (policyBaseYAML + """
                    sets:
                      cdn: { file: lists/cdn.txt }
                      mixed: [192.0.2.1]
                    """).write(to: configURL, atomically: true, encoding: .utf8)
            // Run from another directory: the path is relative to the config's directory, not the cwd.
            let config = try ConfigLoader.load(path: configURL.path)
            let cdn = try #require(config.sets.first)
            #expect(cdn.name == "cdn")
            #expect(cdn.entries == (try Self.setFileEntries.map { try prefix($0) }))
            #expect(cdn.file == directory.appendingPathComponent("lists/cdn.txt").path)
            #expect(config.sets.last == AddressSetConfig(name: "mixed", entries: [try prefix("192.0.2.1")]))
        }
    }

    @Test func setFileIsReadRelativeToTheBaseDirectoryGivenToParse() throws {
        try withTemporaryDirectory { directory in
            try Self.setFileText.write(to: directory.appendingPathComponent("cdn.txt"), atomically: true, encoding: .utf8)
            let config = try ConfigLoader.parse(
                policyBaseYAML + "sets:\n  cdn: { file: cdn.txt }\n", baseDirectory: directory.path)
            #expect(config.sets.first?.entries == (try Self.setFileEntries.map { try prefix($0) }))
            #expect(config.sets.first?.file == directory.appendingPathComponent("cdn.txt").path)
        }
    }

    @Test func absoluteSetFilePathIgnoresTheBaseDirectory() throws {
        try withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("block.txt")
            try "203.0.113.0/24\n".write(to: file, atomically: true, encoding: .utf8)
            let config = try ConfigLoader.parse(
                policyBaseYAML + "sets:\n  block:\n    file: \(file.path)\n", baseDirectory: "/nonexistent")
            #expect(config.sets == [AddressSetConfig(name: "block", entries: [try prefix("203.0.113.0/24")], file: file.path)])
        }
    }

    @Test func setFileWithOnlyCommentsIsAnEmptySet() throws {
        try withTemporaryDirectory { directory in
            try "# nothing yet\n\n   \n".write(
                to: directory.appendingPathComponent("later.txt"), atomically: true, encoding: .utf8)
            let config = try ConfigLoader.parse(
                policyBaseYAML + "sets:\n  later: { file: later.txt }\n", baseDirectory: directory.path)
            #expect(config.sets.first?.entries == [])
        }
    }

    @Test func rulesParseEveryCriterionAndTarget() throws {
        let config = try ConfigLoader.parse(
            policyBaseYAML + """
                sets:
                  streaming: [198.51.100.0/24]
                rules:
                  - name: gaming-pc
                    source: 10.0.0.50
                    use: [isp1, isp2]
                  - name: "office net: VPN"
                    source: [10.0.1.0/24, 10.0.2.0/24]
                    destination: 172.16.0.0/12
                    use: [main]
                  - name: games
                    protocol: udp
                    destination_port: [3074, 27015-27030]
                    use: [isp2, balance]
                  - name: web
                    protocol: tcp
                    destination_port: 443
                    use: [isp1, drop]
                  - name: streaming
                    destination_set: streaming
                    use: [balance]
                  - name: ping
                    protocol: icmp
                    destination: [192.0.2.0/24]
                    use: [drop]
                  - { name: everything-else, use: [isp2] }
                """)
        #expect(
            config.rules == [
                TrafficRuleConfig(name: "gaming-pc", sources: [try prefix("10.0.0.50")], use: [.wan("isp1"), .wan("isp2")]),
                TrafficRuleConfig(
                    name: "office net: VPN", sources: [try prefix("10.0.1.0/24"), try prefix("10.0.2.0/24")],
                    destinations: [try prefix("172.16.0.0/12")], use: [.main]),
                TrafficRuleConfig(
                    name: "games", transport: .udp, destinationPorts: [PortRange(3074, 3074), PortRange(27015, 27030)],
                    use: [.wan("isp2"), .balance]),
                TrafficRuleConfig(
                    name: "web", transport: .tcp, destinationPorts: [PortRange(443, 443)], use: [.wan("isp1"), .drop]),
                TrafficRuleConfig(name: "streaming", destinationSet: "streaming", use: [.balance]),
                TrafficRuleConfig(name: "ping", transport: .icmp, destinations: [try prefix("192.0.2.0/24")], use: [.drop]),
                TrafficRuleConfig(name: "everything-else", use: [.wan("isp2")]),
            ])
    }

    @Test func portRangeEdgesAreAccepted() throws {
        let config = try ConfigLoader.parse(
            policyBaseYAML + """
                rules:
                  - { name: edges, protocol: tcp, destination_port: [1, 65535, 1-65535, "8080-8080"], use: [isp1] }
                """)
        #expect(
            config.rules.first?.destinationPorts == [
                PortRange(1, 1), PortRange(65535, 65535), PortRange(1, 65535), PortRange(8080, 8080),
            ])
    }

    @Test func onePortMayBeForwardedPerWanAndPerProtocol() throws {
        let config = try ConfigLoader.parse(
            policyBaseYAML + """
                port_forwards:
                  - { name: web1, wans: [isp1], port: 80, to: 10.0.0.2 }
                  - { name: web2, wans: [isp2], port: 80, to: 10.0.0.3 }
                  - { name: dns, protocol: udp, port: 53-80, to: 10.0.0.4 }
                  - { name: outside, wans: [isp1], port: 443, to: 10.0.0.5, hairpin: false }
                  - { name: inside, wans: [isp1], port: 443, to: 10.0.0.6 }
                """)
        // The last two: arrivals on isp1 go to "outside", LAN clients and the router to "inside".
        #expect(config.portForwards.map(\.name) == ["web1", "web2", "dns", "outside", "inside"])
    }

    @Test func portForwardsParseWithTheirDefaults() throws {
        let config = try ConfigLoader.parse(
            policyBaseYAML + """
                port_forwards:
                  - name: web
                    port: 8080
                    to: 10.0.0.2:80
                  - name: game
                    wans: [isp2]
                    protocol: udp
                    port: 27015-27030
                    to: [10.0.0.3, 10.0.0.4@3]
                    hairpin: false
                  - { name: pool, protocol: tcp, port: "443", to: [10.0.0.5:8443@2, 10.0.0.6:8443], wans: [isp1, isp2], hairpin: true }
                """)
        #expect(
            config.portForwards == [
                PortForwardConfig(
                    name: "web", wans: [], transport: .tcp, ports: PortRange(8080, 8080),
                    targets: [ForwardTarget(address: try address("10.0.0.2"), port: 80)], hairpin: true),
                PortForwardConfig(
                    name: "game", wans: ["isp2"], transport: .udp, ports: PortRange(27015, 27030),
                    targets: [
                        ForwardTarget(address: try address("10.0.0.3"), port: nil),
                        ForwardTarget(address: try address("10.0.0.4"), port: nil, weight: 3),
                    ],
                    hairpin: false),
                PortForwardConfig(
                    name: "pool", wans: ["isp1", "isp2"], transport: .tcp, ports: PortRange(443, 443),
                    targets: [
                        ForwardTarget(address: try address("10.0.0.5"), port: 8443, weight: 2),
                        ForwardTarget(address: try address("10.0.0.6"), port: 8443),
                    ],
                    hairpin: true),
            ])
    }

    @Test(
        arguments: [
            ("10.0.0.2", "10.0.0.2", nil, 1),
            ("10.0.0.2:80", "10.0.0.2", 80, 1),
            ("10.0.0.2@7", "10.0.0.2", nil, 7),
            ("10.0.0.2:65535@1000", "10.0.0.2", 65535, 1000),
        ] as [(String, String, UInt16?, Int)])
    func forwardTargetGrammar(text: String, addressText: String, port: UInt16?, weight: Int) throws {
        let target = try #require(ForwardTarget.parse(text))
        #expect(target == ForwardTarget(address: try address(addressText), port: port, weight: weight))
        #expect(target.description == text)
    }

    @Test(arguments: [
        "", "10.0.0.2:", "10.0.0.2:0", "10.0.0.2:80-81", "10.0.0.2@0", "10.0.0.2@1001", "10.0.0.2@", "10.0.0.2:80@2@3",
        "127.0.0.1:80", "224.0.0.1", "10.0.0.2:+80", "host:80",
    ])
    func forwardTargetGrammarRejects(text: String) {
        #expect(ForwardTarget.parse(text) == nil)
    }

    @Test(arguments: ["0", "65536", "70000", "2000-1000", "-80", "80-", "1-2-3", "+80", "0x50", "08o", " 80", "123456"])
    func portRangeGrammarRejects(text: String) {
        #expect(PortRange.parse(text) == nil)
    }
}

/// One policy config that must be rejected, the key path and 1-based line the user is sent to,
/// and (optionally) a piece of the message. `files` are written next to the config first.
struct InvalidPolicyCase: Sendable, CustomTestStringConvertible {
    let problem: String
    /// Appended to `policyBaseYAML` (2 lines), so its first line is line 3 of the file.
    let policy: String
    let expectedPath: String
    let expectedLine: Int
    var messageContains: String?
    var files: [String: [UInt8]] = [:]

    var testDescription: String { problem }
    var yaml: String { policyBaseYAML + policy }

    static let all: [InvalidPolicyCase] = [
        InvalidPolicyCase(
            problem: "unknown WAN in use",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                    use: [isp1, isp9]
                """, expectedPath: "rules[0].use[1]", expectedLine: 6, messageContains: "no WAN named \"isp9\""),

        InvalidPolicyCase(
            problem: "balance not last in use",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                    use: [balance, isp1]
                """, expectedPath: "rules[0].use[0]", expectedLine: 6, messageContains: "must come last"),

        InvalidPolicyCase(
            problem: "drop not last in use, block style",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                    use:
                      - isp1
                      - drop
                      - isp2
                """, expectedPath: "rules[0].use[1]", expectedLine: 8, messageContains: "must come last"),

        InvalidPolicyCase(
            problem: "source prefix with host bits",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.1/24
                    use: [isp1]
                """, expectedPath: "rules[0].source", expectedLine: 5, messageContains: "host bits"),

        InvalidPolicyCase(
            problem: "destination prefix with host bits in a list",
            policy: """
                rules:
                  - name: r
                    destination: [192.0.2.0/24, 198.51.100.7/16]
                    use: [isp1]
                """, expectedPath: "rules[0].destination[1]", expectedLine: 5),

        InvalidPolicyCase(
            problem: "destination port 0",
            policy: """
                rules:
                  - name: r
                    protocol: tcp
                    destination_port: 0
                    use: [isp1]
                """, expectedPath: "rules[0].destination_port", expectedLine: 6),

        InvalidPolicyCase(
            problem: "destination port 70000",
            policy: """
                rules:
                  - name: r
                    protocol: udp
                    destination_port: [53, 70000]
                    use: [isp1]
                """, expectedPath: "rules[0].destination_port[1]", expectedLine: 6),

        InvalidPolicyCase(
            problem: "reversed port range",
            policy: """
                rules:
                  - name: r
                    protocol: tcp
                    destination_port: 2000-1000
                    use: [isp1]
                """, expectedPath: "rules[0].destination_port", expectedLine: 6),

        InvalidPolicyCase(
            problem: "destination_port without protocol",
            policy: """
                rules:
                  - name: r
                    destination_port: 443
                    use: [isp1]
                """, expectedPath: "rules[0].destination_port", expectedLine: 5, messageContains: "protocol: tcp"),

        InvalidPolicyCase(
            problem: "destination_port with protocol icmp",
            policy: """
                rules:
                  - name: r
                    protocol: icmp
                    destination_port: 443
                    use: [isp1]
                """, expectedPath: "rules[0].destination_port", expectedLine: 6),

        InvalidPolicyCase(
            problem: "unknown protocol",
            policy: """
                rules:
                  - name: r
                    protocol: sctp
                    use: [isp1]
                """, expectedPath: "rules[0].protocol", expectedLine: 5),

        InvalidPolicyCase(
            problem: "unknown destination_set",
            policy: """
                sets:
                  streaming: [198.51.100.0/24]
                rules:
                  - name: r
                    destination_set: straeming
                    use: [isp1]
                """, expectedPath: "rules[0].destination_set", expectedLine: 7, messageContains: "no set named \"straeming\""),

        InvalidPolicyCase(
            problem: "set file that does not exist",
            policy: """
                sets:
                  block: { file: missing.txt }
                """, expectedPath: "sets.block.file", expectedLine: 4, messageContains: "no such file"),

        InvalidPolicyCase(
            problem: "set file that is not UTF-8 text",
            policy: """
                sets:
                  block:
                    file: binary.txt
                """, expectedPath: "sets.block.file", expectedLine: 5, messageContains: "not UTF-8 text",
            files: ["binary.txt": [0x31, 0x30, 0x2e, 0xff, 0xfe, 0x0a]]),

        InvalidPolicyCase(
            problem: "bad line in a set file",
            policy: """
                sets:
                  streaming: { file: streaming.txt }
                """, expectedPath: "sets.streaming.file", expectedLine: 4,
            messageContains: "streaming.txt line 4: \"10.0.0.1/8\"",
            files: ["streaming.txt": Array("# CDN\n198.51.100.0/24\n\n10.0.0.1/8   # host bits\n203.0.113.7\n".utf8)]),

        InvalidPolicyCase(
            problem: "inline set entry that is not an address",
            policy: """
                sets:
                  office: [192.0.2.0/24, example.com]
                """, expectedPath: "sets.office[1]", expectedLine: 4),

        InvalidPolicyCase(
            problem: "set name with an upper-case letter",
            policy: """
                sets:
                  Office: [192.0.2.0/24]
                """, expectedPath: "sets.Office", expectedLine: 4),

        InvalidPolicyCase(
            problem: "set mapping without file",
            policy: """
                sets:
                  office: { path: office.txt }
                """, expectedPath: "sets.office.path", expectedLine: 4, messageContains: "unknown key"),

        InvalidPolicyCase(
            problem: "duplicate rule name",
            policy: """
                rules:
                  - name: pinned
                    source: 10.0.0.5
                    use: [isp1]
                  - name: pinned
                    source: 10.0.0.6
                    use: [isp2]
                """, expectedPath: "rules[1].name", expectedLine: 7, messageContains: "already the name of rules[0]"),

        InvalidPolicyCase(
            problem: "rule without a name",
            policy: """
                rules:
                  - source: 10.0.0.5
                    use: [isp1]
                """, expectedPath: "rules[0].name", expectedLine: 4),

        InvalidPolicyCase(
            problem: "missing use",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                """, expectedPath: "rules[0].use", expectedLine: 4, messageContains: "missing"),

        InvalidPolicyCase(
            problem: "empty use",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                    use: []
                """, expectedPath: "rules[0].use", expectedLine: 6),

        InvalidPolicyCase(
            problem: "use is a word instead of a list",
            policy: """
                rules:
                  - name: r
                    source: 10.0.0.5
                    use: isp1
                """, expectedPath: "rules[0].use", expectedLine: 6),

        InvalidPolicyCase(
            problem: "unknown rule key",
            policy: """
                rules:
                  - name: r
                    src: 10.0.0.5
                    use: [isp1]
                """, expectedPath: "rules[0].src", expectedLine: 5),

        InvalidPolicyCase(
            problem: "bad sticky value",
            policy: """
                sticky: client
                """, expectedPath: "sticky", expectedLine: 3, messageContains: "not none or source"),

        InvalidPolicyCase(
            problem: "sticky is a boolean",
            policy: """
                flush_on_down: true
                sticky: true
                """, expectedPath: "sticky", expectedLine: 4),

        InvalidPolicyCase(
            problem: "port forward with a bad target port",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: 10.0.0.2:99999
                """, expectedPath: "port_forwards[0].to", expectedLine: 6),

        InvalidPolicyCase(
            problem: "port forward target that is not an address",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: [10.0.0.2:80, nas.lan:80]
                """, expectedPath: "port_forwards[0].to[1]", expectedLine: 6),

        InvalidPolicyCase(
            problem: "port forward target weight 0",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: [10.0.0.2:80@0]
                """, expectedPath: "port_forwards[0].to[0]", expectedLine: 6),

        InvalidPolicyCase(
            problem: "port on the target of a forwarded range",
            policy: """
                port_forwards:
                  - name: game
                    protocol: udp
                    port: 27015-27030
                    to:
                      - 10.0.0.3:27015
                """, expectedPath: "port_forwards[0].to[0]", expectedLine: 8, messageContains: "keeps its ports"),

        InvalidPolicyCase(
            problem: "targets mixed with and without a port",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: [10.0.0.2:8080, 10.0.0.3]
                """, expectedPath: "port_forwards[0].to", expectedLine: 6, messageContains: "every target a port, or none"),

        InvalidPolicyCase(
            problem: "two forwards of one port range on one WAN",
            policy: """
                port_forwards:
                  - name: web
                    wans: [isp1]
                    port: 8000-8100
                    to: 10.0.0.2
                  - name: admin
                    port: 8080
                    to: 10.0.0.3:80
                """, expectedPath: "port_forwards[1].port", expectedLine: 9,
            messageContains: "tcp 8080 on isp1 is already forwarded by port_forwards[0] (\"web\")"),

        InvalidPolicyCase(
            problem: "a forward whose range only partly overlaps an earlier one",
            policy: """
                port_forwards:
                  - { name: web, port: 8080, to: 10.0.0.2 }
                  - { name: range, protocol: tcp, port: 8000-8100, to: 10.0.0.3 }
                """, expectedPath: "port_forwards[1].port", expectedLine: 5,
            messageContains: "tcp 8000-8100 on every WAN overlaps port_forwards[0] (\"web\"), which forwards tcp 8080"),

        InvalidPolicyCase(
            problem: "empty target list",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: []
                """, expectedPath: "port_forwards[0].to", expectedLine: 6),

        InvalidPolicyCase(
            problem: "unknown WAN in port_forwards[].wans",
            policy: """
                port_forwards:
                  - name: web
                    wans: [isp1, isp3]
                    port: 80
                    to: 10.0.0.2
                """, expectedPath: "port_forwards[0].wans[1]", expectedLine: 5, messageContains: "no WAN named \"isp3\""),

        InvalidPolicyCase(
            problem: "protocol icmp for a port forward",
            policy: """
                port_forwards:
                  - name: ping
                    protocol: icmp
                    port: 1
                    to: 10.0.0.2
                """, expectedPath: "port_forwards[0].protocol", expectedLine: 5, messageContains: "not tcp or udp"),

        InvalidPolicyCase(
            problem: "bad hairpin value",
            policy: """
                port_forwards:
                  - name: web
                    port: 80
                    to: 10.0.0.2
                    hairpin: yes
                """, expectedPath: "port_forwards[0].hairpin", expectedLine: 7),

        InvalidPolicyCase(
            problem: "port forward port 0",
            policy: """
                port_forwards:
                  - name: web
                    port: 0
                    to: 10.0.0.2
                """, expectedPath: "port_forwards[0].port", expectedLine: 5),

        InvalidPolicyCase(
            problem: "port forward without a port",
            policy: """
                port_forwards:
                  - name: web
                    to: 10.0.0.2
                """, expectedPath: "port_forwards[0].port", expectedLine: 4),

        InvalidPolicyCase(
            problem: "duplicate port forward name",
            policy: """
                port_forwards:
                  - { name: web, port: 80, to: 10.0.0.2 }
                  - { name: web, port: 443, to: 10.0.0.2 }
                """, expectedPath: "port_forwards[1].name", expectedLine: 5),

        InvalidPolicyCase(
            problem: "rules is a mapping instead of a list",
            policy: """
                rules:
                  pinned: { source: 10.0.0.5, use: [isp1] }
                """, expectedPath: "rules", expectedLine: 4),
    ]
}

/// Invalid policy configs name the key path and the line, and the line the user reads says both.
@Suite struct InvalidPolicyConfigTests {
    @Test(arguments: InvalidPolicyCase.all)
    func invalidPolicyNamesTheKeyAndLine(_ invalidCase: InvalidPolicyCase) throws {
        let error = try withTemporaryDirectory { (directory: URL) -> ConfigError? in
            for (name, bytes) in invalidCase.files {
                try Data(bytes).write(to: directory.appendingPathComponent(name))
            }
            do {
                let config = try ConfigLoader.parse(invalidCase.yaml, baseDirectory: directory.path)
                Issue.record("expected ConfigError, but the config was accepted: \(config)")
                return nil
            } catch let error as ConfigError {
                return error
            }
        }
        let rejection = try #require(error)
        guard case .invalid(let issues) = rejection else {
            Issue.record("expected ConfigError.invalid, got \(rejection)")
            return
        }
        let listing = issues.map { "\($0.path) line \($0.line.map(String.init) ?? "nil"): \($0.message)" }.joined(separator: "\n")
        let match = issues.first { $0.path == invalidCase.expectedPath && $0.line == invalidCase.expectedLine }
        #expect(
            match != nil, "expected an issue at \(invalidCase.expectedPath) (line \(invalidCase.expectedLine)); got:\n\(listing)")
        if let fragment = invalidCase.messageContains {
            #expect(match?.message.contains(fragment) == true, "message should contain \(fragment); got:\n\(listing)")
        }
        #expect(
            rejection.description.split(separator: "\n").contains {
                $0.hasPrefix("\(invalidCase.expectedPath): ") && $0.hasSuffix("(line \(invalidCase.expectedLine))")
            }, "description: \(rejection.description)")
    }

    @Test func invalidPolicyTableIsLargeEnough() {
        #expect(InvalidPolicyCase.all.count >= 15)
    }

    @Test func baseConfigIsValidAndTwoLinesLong() throws {
        _ = try ConfigLoader.parse(policyBaseYAML)
        #expect(policyBaseYAML.split(separator: "\n").count == 2)
    }

    @Test func setFileMessageNamesEveryBadLineUpToFiveThenCountsTheRest() throws {
        try withTemporaryDirectory { directory in
            let lines = ["192.0.2.0/24"] + (1...8).map { "bad-\($0)" }
            try lines.joined(separator: "\n").write(
                to: directory.appendingPathComponent("many.txt"), atomically: true, encoding: .utf8)
            do {
                _ = try ConfigLoader.parse(policyBaseYAML + "sets:\n  many: { file: many.txt }\n", baseDirectory: directory.path)
                Issue.record("accepted a set file with 8 bad lines")
            } catch let error as ConfigError {
                let messages = error.issues.filter { $0.path == "sets.many.file" }.map(\.message)
                #expect(messages.count == 6, "\(messages)")
                for number in 2...6 {
                    #expect(messages.contains { $0.contains("many.txt line \(number): \"bad-\(number - 1)\"") })
                }
                #expect(messages.last?.hasSuffix("3 more bad lines") == true, "\(messages)")
                #expect(error.issues.allSatisfy { $0.line == 4 })
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func everyPolicyProblemInOneFileIsReported() throws {
        let error = try #require(
            rejection(
                of: policyBaseYAML + """
                    sticky: always
                    sets:
                      office: [192.0.2.1/24]
                    rules:
                      - name: r
                        protocol: tcp
                        destination_port: 0
                        use: [isp9]
                    port_forwards:
                      - name: web
                        protocol: icmp
                        port: 80
                        to: 10.0.0.2
                    """))
        let paths = Set(error.issues.map(\.path))
        #expect(
            paths.isSuperset(of: [
                "sticky", "sets.office[0]", "rules[0].destination_port", "rules[0].use[0]", "port_forwards[0].protocol",
            ]),
            "\(error)")
    }

    @Test func wanReferencesAreNotCheckedWhenTheWanListIsMissing() throws {
        // `wans` missing is the only error: no second "no WAN named" for every rule.
        let error = try #require(
            rejection(
                of: """
                    lan: { interfaces: [lan0] }
                    rules:
                      - { name: r, source: 10.0.0.5, use: [isp1] }
                    port_forwards:
                      - { name: web, wans: [isp1], port: 80, to: 10.0.0.2 }
                    """))
        #expect(error.issues.map(\.path) == ["wans"], "\(error)")
    }
}

/// Loader bugs found in review and fixed: `drop` is reserved, CRLF set files read line by line,
/// and a bad WAN entry is reported once.
@Suite struct PolicyConfigRegressionTests {
    /// A WAN named `drop` is accepted, but `use: [drop]` always means "refuse": that WAN can
    /// never be chosen by a rule (Identifiers.reservedWanNames lacks "drop").
    @Test func wanNamedDropIsRejected() {
        let accepted =
            (try? ConfigLoader.parse(
                """
                lan: { interfaces: [lan0] }
                wans: [{ name: isp1, interface: wan1, gateway: 192.0.2.1 }, { name: drop, interface: wan2, gateway: 198.51.100.1 }]
                """)) != nil
        #expect(!accepted)
    }

    /// A set file with Windows line ends: Swift reads "\r\n" as one Character, so
    /// `split(separator: "\n")` in TrafficPolicyReader.readSets finds no line breaks and the whole
    /// file is reported as one bad "line 1".
    @Test func setFileWithCRLFLineEndsIsRead() throws {
        try withTemporaryDirectory { directory in
            try "198.51.100.0/24\r\n203.0.113.7\r\n".write(
                to: directory.appendingPathComponent("crlf.txt"), atomically: true, encoding: .utf8)
            let config = try ConfigLoader.parse(
                policyBaseYAML + "sets:\n  crlf: { file: crlf.txt }\n", baseDirectory: directory.path)
            #expect(config.sets.first?.entries.count == 2)
        }
    }

    /// One invalid WAN entry makes every rule that names it report "no WAN named …" as well,
    /// though the comment on TrafficPolicyReader.knownWans says references are not checked then.
    @Test func ruleNamingAnInvalidWanReportsOnlyTheWan() throws {
        let error = try #require(
            rejection(
                of: """
                    lan: { interfaces: [lan0] }
                    wans: [{ name: isp1, interface: wan1, gateway: 192.0.2.1 }, { name: isp2, interface: wan2, gateway: 198.51.100.300 }]
                    rules:
                      - { name: r, source: 10.0.0.5, use: [isp2] }
                    """))
        #expect(error.issues.contains { $0.path == "wans[1].gateway" })
        #expect(!error.issues.contains { $0.path == "rules[0].use[0]" }, "\(error)")
    }
}
