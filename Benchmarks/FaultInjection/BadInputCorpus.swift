import Foundation

/// One bad input for `braid`: the file (or path) given with `-c`, the command to run on it, and
/// what a clean rejection must name.
struct BadInputCase: Sendable {
    enum Command: String, Sendable { case check, plan, run }

    var description: String
    /// The `-c` argument.
    var path: String
    var command: Command = .check
    /// A clean rejection names the problem: its output contains one of these (case-insensitive).
    /// Empty: any `error:` line will do.
    var names: [String] = []
    /// Inputs that Braid must refuse: accepting them is a failure, not a finding.
    var mustReject: Bool = false
    /// Run as the unprivileged user `nobody` (root reads a chmod 000 file anyway).
    var asNobody: Bool = false
    /// Extra arguments after `-c PATH` (for `run`: its state directory).
    var extraArguments: [String] = []
    /// Exit statuses that count as a rejection: 2 (input to fix); `run` also uses 1 for a state
    /// directory it cannot use.
    var rejectionStatuses: Set<Int32> = [2]
}

/// Builds the corpus: a valid 3-WAN config that uses every key of docs/config.md, and mutations of
/// it written to files in a directory, with a one-line description each.
struct BadInputCorpus {
    let directory: String
    private(set) var cases: [BadInputCase] = []
    private var counter = 0

    /// The valid config every mutation starts from.
    static let base = """
        flush_on_down: true
        lan:
          interfaces: [lan0]
        wans:
          - name: isp1
            interface: wan1
            gateway: 100.64.1.1
            weight: 2
            nat: masquerade
            health:
              targets: [198.19.0.10, 198.19.0.11]
              method: icmp
              interval: 150ms
              timeout: 300ms
              down_after: 3
              up_after: 5
              quorum: 1
          - name: isp2
            interface: wan2
            gateway: 100.64.2.1
            weight: 1
            nat: 100.64.2.2
            health:
              targets: [198.19.0.10]
              method: "tcp:8080"
          - name: isp3
            interface: wan3
            gateway: 100.64.3.1
            tier: 2
            nat: none
        kernel:
          mark_mask: 0x00ff0000
          first_table: 200
          first_rule_priority: 10000
        sticky: source
        sets:
          office: [192.0.2.0/24, 198.51.100.7]
          listed: { file: listed.txt }
        rules:
          - name: voip
            source: 10.77.0.20
            use: [isp2, isp1]
          - name: dns
            protocol: udp
            destination_port: [53, 5353-5354]
            use: [isp1, balance]
          - name: office
            destination_set: office
            use: [isp3, drop]
        port_forwards:
          - name: web
            wans: [isp1, isp2]
            port: 443
            to: [10.77.0.10:8443, 10.77.0.11:8443@2]
          - name: games
            protocol: udp
            port: 27015-27030
            to: 10.77.0.12
            hairpin: false

        """

    static let setFile = "# addresses for rules\n198.18.0.0/24\n198.18.128.0/25   # another\n"

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.setFile.write(toFile: directory + "/listed.txt", atomically: true, encoding: .utf8)
        try build()
    }

    var validConfigPath: String { directory + "/valid.yaml" }

    // MARK: - Adding cases

    private mutating func nextPath(_ suffix: String = "yaml") -> String {
        counter += 1
        return directory + String(format: "/case%03d.%@", counter, suffix)
    }

    /// A file with exactly these bytes.
    private mutating func add(
        _ description: String, bytes: [UInt8], names: [String] = [], mustReject: Bool = false,
        command: BadInputCase.Command = .check
    ) throws {
        let path = nextPath()
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CorpusError("cannot write \(path)")
        }
        cases.append(BadInputCase(description: description, path: path, command: command, names: names, mustReject: mustReject))
    }

    private mutating func add(
        _ description: String, text: String, names: [String] = [], mustReject: Bool = false,
        command: BadInputCase.Command = .check
    ) throws {
        try add(description, bytes: Array(text.utf8), names: names, mustReject: mustReject, command: command)
    }

    /// The base config with `old` replaced by `new`; `old` must occur in it, or the mutation would
    /// silently test the valid config.
    private mutating func replace(
        _ old: String, _ new: String, _ description: String, names: [String] = [],
        mustReject: Bool = false, command: BadInputCase.Command = .check
    ) throws {
        guard Self.base.contains(old) else {
            throw CorpusError("mutation \"\(description)\": \(old.debugDescription) is not in the base config")
        }
        try add(
            description, text: Self.base.replacingOccurrences(of: old, with: new), names: names, mustReject: mustReject,
            command: command)
    }

    /// One mutation per value of a `key: value` line of the base config.
    private mutating func values(
        _ line: String, key: String, _ values: [String], names: [String], mustReject: Set<String> = [],
        planToo: Bool = false
    ) throws {
        let indent = String(line.prefix { $0 == " " })
        let field = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)[0]
        for value in values {
            let shown = visible(value.count > 40 ? String(value.prefix(37)) + "…" : value)
            try replace(
                line, "\(indent)\(field): \(value)", "\(key): \(shown)", names: names,
                mustReject: mustReject.contains(value))
            if planToo {
                try replace(
                    line, "\(indent)\(field): \(value)", "\(key): \(shown)", names: names,
                    mustReject: mustReject.contains(value), command: .plan)
            }
        }
    }

    // MARK: - The corpus

    private mutating func build() throws {
        try Self.base.write(toFile: validConfigPath, atomically: true, encoding: .utf8)
        try addressMutations()
        try numberMutations()
        try durationAndMethodMutations()
        try nameMutations()
        try typeAndKeyMutations()
        try policyMutations()
        try yamlStructureMutations()
        try fileMutations()
    }

    private mutating func addressMutations() throws {
        let badAddresses = [
            "100.64.1.256", "010.64.1.1", "100.064.1.1", "100.64.1", "100.64.1.1.1", "0.0.0.0", "127.0.0.1",
            "224.0.0.1", "255.255.255.255", "240.0.0.1", "100.64.1.1/24", "\"\"", "-1", "99999999999999999999",
            "0x64.1.1.1", "fe80::1", "\"100.64.1.1 \"", "[100.64.1.1]", "{ a: 1 }", "~", "1e3", "100.64.1.-1",
        ]
        try values("    gateway: 100.64.1.1", key: "wans[0].gateway", badAddresses, names: ["wans[0].gateway"])
        try values(
            "    nat: 100.64.2.2", key: "wans[1].nat",
            ["256.1.1.1", "127.0.0.1", "0.0.0.0", "MASQUERADE", "sometimes", "[none]", "01.2.3.4"],
            names: ["wans[1].nat"])
        let mustRejectTargets: Set<String> = ["[0.0.0.0]", "[127.0.0.1]", "[198.19.0.10, 127.0.0.1]", "[0.0.0.0, 198.19.0.11]"]
        try values(
            "      targets: [198.19.0.10, 198.19.0.11]", key: "wans[0].health.targets",
            [
                "[0.0.0.0]", "[127.0.0.1]", "[198.19.0.10, 127.0.0.1]", "[0.0.0.0, 198.19.0.11]", "[224.0.0.1]",
                "[239.255.255.250]",
                "[255.255.255.255]", "[1.2.3]", "[]", "198.19.0.10", "[01.2.3.4]", "[198.19.0.256]", "[\"\"]", "[~]",
            ],
            names: ["wans[0].health.targets"], mustReject: mustRejectTargets)
        try values(
            "  office: [192.0.2.0/24, 198.51.100.7]", key: "sets.office",
            [
                "[10.0.0.1/8]", "[1.2.3.4/33]", "[01.2.3.0/24]", "[256.0.0.0/8]", "[1.2.3.4/-1]", "[\"1.2.3.4/\"]",
                "[1.2.3.0/024]",
                "[1.2.3.4/99999999999999999999]", "[nas.lan]", "[1.2.3.4 /32]",
            ], names: ["sets.office"])
        try values(
            "    source: 10.77.0.20", key: "rules[0].source",
            ["10.0.0.1/24", "10.77.0.256", "010.77.0.20", "10.77.0.0/33", "everyone"],
            names: ["rules[0].source"])
    }

    private mutating func numberMutations() throws {
        let huge = "99999999999999999999"
        try values(
            "    weight: 2", key: "wans[0].weight",
            [
                "heavy", "-3", "1000001", huge, "1.5", "0x", "\"\"", "[]", "~", "1e3", "+5",
                "1_000", "0o17", "true", "-0x5", "0x7fffffffffffffffff",
            ], names: ["wans[0].weight"],
            planToo: true)
        try values("    tier: 2", key: "wans[2].tier", ["0", "101", "-1", "x", huge, "1.0"], names: ["wans[2].tier"])
        try values(
            "      down_after: 3", key: "wans[0].health.down_after", ["0", "1001", "-1", huge, "x"],
            names: ["wans[0].health.down_after"])
        try values(
            "      up_after: 5", key: "wans[0].health.up_after", ["0", "1001", huge, "0x"], names: ["wans[0].health.up_after"])
        try values("      quorum: 1", key: "wans[0].health.quorum", ["0", "3", "-1", huge], names: ["wans[0].health.quorum"])
        try values(
            "  mark_mask: 0x00ff0000", key: "kernel.mark_mask",
            [
                "0x00f0f000", "0x80000000", "0", "0x1ffffffff", "-1", "0xg", huge,
                "0x1",
            ], names: ["kernel.mark_mask"], planToo: true)
        try values(
            "  first_table: 200", key: "kernel.first_table", ["252", "0", "-1", "2147483648", huge, "253", "2147483647"],
            names: ["kernel.first_table"])
        try values(
            "  first_rule_priority: 10000", key: "kernel.first_rule_priority", ["0", "32001", "32765", "-5", huge],
            names: ["kernel.first_rule_priority"])
        try values(
            "flush_on_down: true", key: "flush_on_down", ["yes", "1", "True", "\"\"", "[true]", "~"], names: ["flush_on_down"])
        try values("sticky: source", key: "sticky", ["yes", "destination", "1", "[source]"], names: ["sticky"])
    }

    private mutating func durationAndMethodMutations() throws {
        let huge: Set<String> = [
            "99999999999999999999s", "99999999999999999999ms", "99999999999999999999m",
            "1e400s", "18446744073709551616ms", "9223372036854775807s",
        ]
        try values(
            "      interval: 150ms", key: "wans[0].health.interval",
            [
                "99999999999999999999s", "99999999999999999999ms", "99999999999999999999m", "1e400s", "18446744073709551616ms",
                "9223372036854775807s", "10ms", "3601s", "-1s", "1h", "0s", "\"\"", "1.5.5s", "1m1s", ".s", "nans", "infs", "150",
                "150 ms", "0.0001ms",
            ],
            names: ["wans[0].health.interval"], mustReject: huge)
        try values(
            "      timeout: 300ms", key: "wans[0].health.timeout",
            ["99999999999999999999ms", "18446744073709551616ms", "61s", "0ms", "-5ms", "5ms"], names: ["wans[0].health.timeout"],
            mustReject: huge)
        let longName = String(repeating: "a", count: 300)
        try values(
            "      method: icmp", key: "wans[0].health.method",
            [
                "icmpx", "ICMP", "tcp:0", "tcp:65536", "tcp:-1", "tcp:08080", "\"tcp:\"", "http://", "https://a/",
                "\"http://h/ sp\"",
                "\"dns:\"", "dns:a..b", "dns:\(longName)", "dns:example.com.", "\"http://h:99999/\"", "[icmp]",
            ],
            names: ["wans[0].health.method"])
    }

    private mutating func nameMutations() throws {
        let controlNames = [
            "\"isp\\0x\"", "\"isp\\e[31m\"", "\"isp\\x7f\"", "\"isp\\x1b]0;owned\\x07\"", "\"isp\\r\"", "\"isp\\b\\b\\b\"",
        ]
        try values(
            "  - name: isp1", key: "wans[0].name",
            [
                "ISP1", "main", "local", "default", "balance", "all", "\"\"", "abcdefghijklmnop", "-isp", "_isp", "\"isp é\"",
                "isp.1",
                "\"isp 1\"", String(repeating: "x", count: 5000), "[isp1]", "~",
            ] + controlNames,
            names: ["wans[0].name"], mustReject: Set(controlNames))
        try replace("  - name: isp2", "  - name: isp1", "duplicate WAN name isp1", names: ["wans[1].name"])
        try replace("    interface: wan2", "    interface: wan1", "duplicate WAN interface wan1", names: ["wans[1].interface"])
        try replace(
            "    interface: wan2", "    interface: lan0", "WAN interface is a LAN interface", names: ["wans[1].interface"])
        let controlInterfaces = ["\"wan\\0\"", "\"wan\\e[2J\"", "\"wan\\x7f\""]
        try values(
            "    interface: wan3", key: "wans[2].interface",
            ["abcdefghijklmnop", "wan/3", "\"wan 3\"", "wan:3", ".", "..", "\"\"", "wän3", String(repeating: "w", count: 5000)]
                + controlInterfaces,
            names: ["wans[2].interface"], mustReject: Set(controlInterfaces))
        try values(
            "  interfaces: [lan0]", key: "lan.interfaces",
            [
                "[]", "[lan0, lan0]", "[wan1]", "[a/b]", "[abcdefghijklmnop]", "[.]", "[\"lan 0\"]", "lan0", "[\"lan\\0\"]",
                "[\"lan\\e\"]",
            ],
            names: ["lan.interfaces"], mustReject: ["[\"lan\\0\"]", "[\"lan\\e\"]"])
        // Raw control bytes (not YAML escapes) in a name.
        for (label, byte) in [("NUL", UInt8(0)), ("ESC", UInt8(0x1b)), ("DEL", UInt8(0x7f)), ("BEL", UInt8(7))] {
            let line = "  - name: isp1"
            var bytes = Array(Self.base.utf8)
            let range = try byteRange(of: line, in: bytes)
            bytes.replaceSubrange(range, with: Array("  - name: isp".utf8) + [byte] + Array("1".utf8))
            try add(
                "wans[0].name with a raw \(label) byte", bytes: bytes, names: ["wans[0].name", "line", "control", "invalid"],
                mustReject: true)
        }
        try values(
            "  - name: voip", key: "rules[0].name", ["\"voip\\e[1m\"", "Voip", String(repeating: "r", count: 3000)],
            names: ["rules[0].name"], mustReject: ["\"voip\\e[1m\""])
        try values(
            "  - name: web", key: "port_forwards[0].name", ["\"web\\0\"", "WEB", "games"], names: ["port_forwards"],
            mustReject: ["\"web\\0\""])
        try replace(
            "  office: [192.0.2.0/24", "  \"off\\x1bice\": [192.0.2.0/24", "set name with ESC", names: ["sets"], mustReject: true)
        try replace("  office: [192.0.2.0/24", "  Bad!: [192.0.2.0/24", "set name Bad!", names: ["sets"])
    }

    private func write(_ data: Data, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw CorpusError("cannot write \(path)") }
    }

    private func byteRange(of text: String, in bytes: [UInt8]) throws -> Range<Int> {
        let needle = Array(text.utf8)
        for start in 0...(bytes.count - needle.count) where Array(bytes[start..<start + needle.count]) == needle {
            return start..<start + needle.count
        }
        throw CorpusError("\(text.debugDescription) is not in the base config")
    }

    private mutating func typeAndKeyMutations() throws {
        try replace("lan:\n  interfaces: [lan0]", "lan: lan0", "lan is a string", names: ["lan"])
        try replace("lan:\n  interfaces: [lan0]", "lan: [lan0]", "lan is a list", names: ["lan"])
        try replace("wans:\n  - name: isp1", "wans: isp1\nx:\n  - name: isp1", "wans is a string", names: ["wans"])
        try replace(
            "    health:\n      targets: [198.19.0.10]\n      method: \"tcp:8080\"", "    health: tcp", "health is a string",
            names: ["wans[1].health"])
        try replace(
            "    health:\n      targets: [198.19.0.10]\n      method: \"tcp:8080\"", "    health: [198.19.0.10]",
            "health is a list",
            names: ["wans[1].health"])
        try replace(
            "    health:\n      targets: [198.19.0.10]\n      method: \"tcp:8080\"", "    health:\n      method: icmp",
            "health without targets", names: ["wans[1].health"])
        try replace("kernel:\n  mark_mask", "kernel: [1, 2]\nkernel_old:\n  mark_mask", "kernel is a list", names: ["kernel"])
        try replace("sets:\n  office", "sets: [office]\nsets_old:\n  office", "sets is a list", names: ["sets"])
        try replace(
            "rules:\n  - name: voip", "rules: { name: voip }\nrules_old:\n  - name: voip", "rules is a mapping", names: ["rules"])
        try replace(
            "port_forwards:\n  - name: web", "port_forwards: web\nforwards_old:\n  - name: web", "port_forwards is a string",
            names: ["port_forwards"])
        try add("wans is an empty list", text: "lan:\n  interfaces: [lan0]\nwans: []\n", names: ["wans"])
        try add("wans missing", text: "lan:\n  interfaces: [lan0]\n", names: ["wans"])
        try add("lan missing", text: "wans:\n  - { name: isp1, interface: wan1, gateway: 100.64.1.1 }\n", names: ["lan"])
        try add("document is a list", text: "- lan\n- wans\n", names: ["mapping", "document", "config"])
        try add("document is a scalar", text: "hello\n", names: ["mapping", "document", "config"])
        try add("document is null", text: "~\n", names: ["empty", "mapping", "config"])
        for (line, unknown, path) in [
            ("flush_on_down: true", "speed: 1", "speed"), ("  interfaces: [lan0]", "  dhcp: true", "lan.dhcp"),
            ("    nat: masquerade", "    speed: fast", "wans[0].speed"),
            ("      quorum: 1", "      retries: 2", "wans[0].health.retries"),
            ("  first_table: 200", "  first_tabel: 200", "kernel.first_tabel"),
            ("    source: 10.77.0.20", "    sourc: 10.77.0.20", "rules[0].sourc"),
            ("    hairpin: false", "    comment: x", "port_forwards[1].comment"),
        ] {
            try replace(line, line + "\n" + unknown, "unknown key \(path)", names: [path])
        }
        try replace(
            "  listed: { file: listed.txt }", "  listed: { file: listed.txt, url: x }", "unknown key sets.listed.url",
            names: ["sets.listed.url"])
        try replace("lan:", "lans:", "misspelled top-level key lans", names: ["lans"])
        try replace("wans:\n", "wan:\n", "misspelled top-level key wan", names: ["wan"])
        try replace(
            "flush_on_down: true", "flush_on_down: true\nflush_on_down: false", "duplicate key flush_on_down",
            names: ["flush_on_down", "duplicate", "line"])
        try replace(
            "    weight: 2", "    weight: 2\n    weight: 3", "duplicate key weight", names: ["weight", "duplicate", "line"])
    }

    private mutating func policyMutations() throws {
        try values(
            "    use: [isp2, isp1]", key: "rules[0].use", ["[isp9]", "[balance, isp1]", "[]", "isp1", "[drop, isp1]", "~"],
            names: ["rules[0].use"])
        try values(
            "    destination_port: [53, 5353-5354]", key: "rules[1].destination_port",
            ["0", "70000", "2000-1000", "[1-]", "[-5]", "[65535-65536]", "053", "[\"53 \"]", "99999999999999999999", "[+53]"],
            names: ["rules[1].destination_port"])
        try replace(
            "    protocol: udp\n    destination_port", "    protocol: sctp\n    destination_port", "rules[1].protocol sctp",
            names: ["rules[1].protocol"])
        try replace(
            "    protocol: udp\n    destination_port", "    protocol: icmp\n    destination_port", "destination_port with icmp",
            names: ["rules[1].destination_port"])
        try replace(
            "    protocol: udp\n    destination_port", "    destination_port", "destination_port without protocol",
            names: ["rules[1].destination_port"])
        try replace(
            "    destination_set: office", "    destination_set: nothere", "destination_set names no set",
            names: ["rules[2].destination_set"])
        try replace("  - name: dns", "  - name: voip", "duplicate rule name", names: ["rules[1].name"])
        try values(
            "    port: 443", key: "port_forwards[0].port",
            [
                "0", "70000", "2000-1000", "1-", "-5", "65535-65536", "0443", "\"443 \"",
                "99999999999999999999", "[443]", "~",
            ], names: ["port_forwards[0].port"])
        try values(
            "    to: [10.77.0.10:8443, 10.77.0.11:8443@2]", key: "port_forwards[0].to",
            [
                "10.77.0.10:99999", "nas.lan:80", "10.77.0.10:8443@0", "10.77.0.10:8443@1001", "[10.77.0.10:8443, 10.77.0.11]",
                "127.0.0.1:80", "0.0.0.0:80", "224.0.0.1:80", "10.77.0.10:0", "\"10.77.0.10:\"", "[]", "10.77.0.10:80@-1",
            ],
            names: ["port_forwards[0].to"])
        try replace(
            "    to: 10.77.0.12\n", "    to: 10.77.0.12:27015\n", "a target port on a forwarded range",
            names: ["port_forwards[1].to"])
        try replace(
            "    wans: [isp1, isp2]", "    wans: [isp9]", "port forward on an unknown WAN", names: ["port_forwards[0].wans"])
        try replace(
            "    protocol: udp\n    port: 27015", "    protocol: icmp\n    port: 27015", "port forward protocol icmp",
            names: ["port_forwards[1].protocol"])
        try replace("    hairpin: false", "    hairpin: yes", "hairpin: yes", names: ["port_forwards[1].hairpin"])
        try replace(
            "    protocol: udp\n    port: 27015-27030", "    port: 400-500", "overlapping port forwards",
            names: ["port_forwards[1].port"])
        try replace(
            "    protocol: udp\n    port: 27015-27030", "    protocol: udp\n    port: 27015-27015", "a one-port range (valid)",
            names: ["port_forwards[1].port"])
    }

    private mutating func yamlStructureMutations() throws {
        // One anchored list of 2,000 addresses, reused by 2,000 rules: 4 million entries from a small file.
        let addresses = (0..<2000).map { "10.\(128 + $0 / 250).\($0 % 250).1" }.joined(separator: ", ")
        let bomb = Self.base.replacingOccurrences(
            of: "rules:\n",
            with: "rules:\n  - name: r0\n    destination: &many [\(addresses)]\n    use: [isp1]\n"
                + (1..<2000).map { "  - name: r\($0)\n    destination: *many\n    use: [isp1]\n" }.joined())
        try add(
            "alias bomb: 2,000 addresses anchored once, reused by 2,000 rules", text: bomb,
            names: ["alias", "rules", "too many", "large"],
            mustReject: true)
        var laughs = "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        for level in 1...9 {
            laughs += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        try add(
            "billion laughs (9 levels of 9 aliases)", text: Self.base + laughs,
            names: ["alias", "a9", "a0", "unknown key", "large"],
            mustReject: true)
        try add(
            "alias to a scalar used as a WAN name",
            text: Self.base.replacingOccurrences(of: "  - name: isp2", with: "  - name: *nothing"),
            names: ["alias", "nothing", "line"])
        try add(
            "deep nesting: 10,000 nested lists",
            text: Self.base + "deep: " + String(repeating: "[", count: 10000) + String(repeating: "]", count: 10000) + "\n",
            names: ["deep", "nest", "line"])
        try add(
            "deep nesting: 5,000 nested mappings",
            text: Self.base + "deep: " + String(repeating: "{a: ", count: 5000) + "1" + String(repeating: "}", count: 5000)
                + "\n",
            names: ["deep", "nest", "line"])
        try add(
            "deep nesting inside a WAN: 2,000 nested lists as the gateway",
            text: Self.base.replacingOccurrences(
                of: "    gateway: 100.64.1.1",
                with: "    gateway: " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000)),
            names: ["deep", "nest", "gateway", "line"])
        try add(
            "block-style nesting 1,000 levels deep",
            text: Self.base + "deep:\n" + (1...1000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n")
                + " 1\n",
            names: ["deep", "nest", "line"])
        var invalidUTF8 = Array(Self.base.utf8)
        invalidUTF8.insert(contentsOf: [0xff, 0xfe, 0xc3], at: try byteRange(of: "isp2", in: invalidUTF8).upperBound)
        try add("invalid UTF-8 bytes in a WAN name", bytes: invalidUTF8, names: ["UTF-8"])
        try add(
            "a lone UTF-8 continuation byte in a comment", bytes: Array(Self.base.utf8) + [0x23, 0x20, 0x80, 0x0a],
            names: ["UTF-8"])
        try add(
            "overlong UTF-8 encoding of '/'", bytes: Array("lan:\n  interfaces: [lan".utf8) + [0xc0, 0xaf] + Array("0]\n".utf8),
            names: ["UTF-8"])
        try add("CRLF line ends (may be valid)", text: Self.base.replacingOccurrences(of: "\n", with: "\r\n"), names: [])
        try add("a UTF-8 byte-order mark (may be valid)", bytes: [0xef, 0xbb, 0xbf] + Array(Self.base.utf8), names: [])
        try add(
            "UTF-16 encoded file", bytes: Array(Self.base.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }),
            names: ["UTF-8", "line", "invalid"])
        try add("empty file", text: "", names: ["empty"])
        try add("only whitespace", text: "   \n\n\t\n", names: ["empty", "tab", "line"])
        try add("only a comment", text: "# nothing here\n", names: ["empty"])
        try add(
            "a NUL byte in the middle of the file",
            bytes: Array(Self.base.utf8.prefix(40)) + [0] + Array(Self.base.utf8.dropFirst(40)),
            names: ["line", "control", "invalid", "NUL"], mustReject: true)
        try add(
            "tab indentation", text: Self.base.replacingOccurrences(of: "\n  interfaces", with: "\n\tinterfaces"),
            names: ["tab", "line"])
        try add(
            "unterminated quote", text: Self.base.replacingOccurrences(of: "method: \"tcp:8080\"", with: "method: \"tcp:8080"),
            names: ["line"])
        try add("unclosed flow list", text: Self.base + "extra: [1, 2\n", names: ["line"])
        try add("two YAML documents", text: Self.base + "---\n" + Self.base, names: ["document", "line"])
        try add("a 1 MB line", text: Self.base + "# " + String(repeating: "x", count: 1 << 20) + "\n", names: [])
        try add(
            "a 1 MB unknown key value", text: Self.base + "junk: " + String(repeating: "x", count: 1 << 20) + "\n",
            names: ["junk"])
        try add(
            "3 WANs under kernel.mark_mask 0x3 (room for 2)",
            text: Self.base.replacingOccurrences(of: "mark_mask: 0x00ff0000", with: "mark_mask: 0x3"), names: ["mark_mask"])
        let manyWans =
            "lan:\n  interfaces: [lan0]\nwans:\n"
            + (1...300).map { "  - { name: w\($0), interface: e\($0), gateway: 100.\($0 / 250).\($0 % 250).1 }\n" }.joined()
        try add("300 WANs under the default mark mask (254 fit)", text: manyWans, names: ["mark_mask", "wans"])
        try add(
            "a YAML tag !!binary as a gateway",
            text: Self.base.replacingOccurrences(of: "gateway: 100.64.1.1", with: "gateway: !!binary aGVsbG8="),
            names: ["wans[0].gateway"])
        try add(
            "a custom YAML tag",
            text: Self.base.replacingOccurrences(of: "gateway: 100.64.1.1", with: "gateway: !!python/object:os.system 1"),
            names: ["wans[0].gateway", "tag", "line"])
        try add("a complex mapping key", text: Self.base + "? [a, b]\n: c\n", names: ["key", "line"])
        try add(
            "a merge key <<",
            text: Self.base.replacingOccurrences(of: "  - name: isp3\n", with: "  - <<: { weight: 3 }\n    name: isp3\n"),
            names: ["<<", "wans[2]"])
    }

    private mutating func fileMutations() throws {
        // Set files that are missing, binary, or not text the loader can use.
        let setLine = "  listed: { file: listed.txt }"
        func setFile(_ name: String, _ description: String, names: [String] = ["sets.listed"]) throws {
            try replace(setLine, "  listed: { file: \(name) }", description, names: names)
        }
        try setFile("missing.txt", "set file missing", names: ["sets.listed", "no such file"])
        let binary = directory + "/binary.set"
        var generator = SystemRandomNumberGenerator()
        try write(Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }), to: binary)
        try setFile(binary, "set file is random binary data")
        try write(Data("10.0.0.0/8\n".utf8 + [0] + "1.2.3.4\n".utf8), to: directory + "/nul.set")
        try setFile("nul.set", "set file with a NUL byte")
        try write(Data("10.0.0.0/8\r\n1.2.3.4\r\n".utf8), to: directory + "/crlf.set")
        try setFile("crlf.set", "set file with CRLF line ends (documented known problem)")
        try write(Data((1...20).map { "10.0.0.\($0)/8\n" }.joined().utf8), to: directory + "/bad.set")
        try setFile("bad.set", "set file with 20 bad lines")
        try write(Data("1.2.3.4\n\u{1b}]0;owned\u{07}\n".utf8), to: directory + "/escape.set")
        try setFile("escape.set", "set file with an ESC sequence on a line")
        try FileManager.default.createDirectory(atPath: directory + "/setdir", withIntermediateDirectories: true)
        try setFile("setdir", "set file is a directory")
        try setFile("/dev/zero", "set file is /dev/zero")
        let setFifo = directory + "/set.fifo"
        guard mkfifo(setFifo, 0o600) == 0 else { throw CorpusError("mkfifo \(setFifo) failed") }
        try setFile(setFifo, "set file is a FIFO with no writer")
        try setFile("\"\"", "set file path empty")
        try setFile(String(repeating: "d/", count: 3000) + "x", "set file path of 6,000 characters")

        // Odd things given as -c itself.
        cases.append(BadInputCase(description: "-c is a directory", path: directory + "/setdir", names: ["setdir"]))
        let fifo = directory + "/config.fifo"
        guard mkfifo(fifo, 0o600) == 0 else { throw CorpusError("mkfifo \(fifo) failed") }
        cases.append(BadInputCase(description: "-c is a FIFO with no writer", path: fifo, names: ["config.fifo"]))
        cases.append(BadInputCase(description: "-c is /dev/zero", path: "/dev/zero", names: ["/dev/zero"]))
        cases.append(BadInputCase(description: "-c is /dev/null", path: "/dev/null", names: ["/dev/null", "empty"]))
        cases.append(BadInputCase(description: "-c does not exist", path: directory + "/nothere.yaml", names: ["no such file"]))
        cases.append(BadInputCase(description: "-c is an empty string", path: "", names: ["config", "file"]))
        let unreadable = nextPath()
        try Self.base.write(toFile: unreadable, atomically: true, encoding: .utf8)
        chmod(unreadable, 0)
        cases.append(
            BadInputCase(
                description: "-c is a chmod 000 file, read as nobody", path: unreadable,
                names: [(unreadable as NSString).lastPathComponent],
                asNobody: true))
        let loop = directory + "/loop.yaml"
        try? FileManager.default.removeItem(atPath: loop)
        symlink(loop, loop)
        cases.append(BadInputCase(description: "-c is a symlink to itself", path: loop, names: ["loop.yaml"]))
        let big = nextPath()
        try write(Data(count: 64 << 20), to: big)
        cases.append(
            BadInputCase(description: "-c is a 64 MB file of NUL bytes", path: big, names: [(big as NSString).lastPathComponent]))

        // `run` with a state directory whose status socket path cannot fit in sockaddr_un (107 bytes).
        let longState = directory + "/" + String(repeating: "s", count: 120)
        cases.append(
            BadInputCase(
                description: "run with a --state-dir over 107 characters", path: validConfigPath, command: .run,
                names: ["state-dir", "socket"], extraArguments: ["--state-dir", longState], rejectionStatuses: [1, 2]))
    }
}

/// Text with control characters written as \xNN, safe to print.
func visible(_ text: String) -> String {
    text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? String(format: "\\x%02x", $0.value) : String($0) }.joined()
}

struct CorpusError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
