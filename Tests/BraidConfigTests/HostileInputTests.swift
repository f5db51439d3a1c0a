import BraidConfig
import Foundation
import Testing

/// Inputs from the reliability review that crashed, hung or misled `braid check`: each must now
/// end in a clean `ConfigError` that names the key (and line) to fix.

/// One LAN and one WAN on lines 1-5, so the key under test is on line 6 or later.
private let baseYAML = """
    lan: { interfaces: [lan0] }
    wans:
      - name: isp1
        interface: wan1
        gateway: 192.0.2.1

    """

private func withTemporaryDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "braid-hostile-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

private func describe(_ issues: [ConfigIssue]) -> String {
    issues.map { "\($0.path) line \($0.line.map(String.init) ?? "nil"): \($0.message)" }.joined(separator: "\n")
}

@Suite struct HugeDurationTests {
    /// Int64(_:) trapped (SIGILL) on the milliseconds of a 20-digit number of seconds.
    @Test(arguments: ["interval", "timeout"])
    func hugeDurationIsOutOfRangeAtItsKey(_ key: String) throws {
        let error = try #require(
            rejection(
                of: baseYAML + """
                        health:
                          targets: [192.0.2.1]
                          \(key): 99999999999999999999s
                    """))
        let issue = error.issues.first { $0.path == "wans[0].health.\(key)" }
        #expect(issue?.line == 8, "\(describe(error.issues))")
        #expect(issue?.message.contains("out of range") == true, "\(describe(error.issues))")
    }

    /// The CLI's --resync-interval goes through the same parser.
    @Test(arguments: ["99999999999999999999s", "99999999999999999999ms", "99999999999999999999m", "86401s", "1441m"])
    func durationAboveTheMaximumIsTooLong(_ text: String) {
        #expect(DurationText.read(text) == .failure(.tooLong))
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationUpToTheMaximumIsRead() {
        #expect(DurationText.read("86400s") == .success(.seconds(86_400)))
        #expect(DurationText.read("1440m") == .success(.seconds(86_400)))
        #expect(DurationText.read("1.5s") == .success(.milliseconds(1500)))
        #expect(DurationText.read("12x") == .failure(.notADuration))
        #expect(DurationText.read("1e3s") == .failure(.notADuration))
    }
}

@Suite struct AliasExpansionTests {
    /// One anchored list of 2,000 addresses reused by 2,000 rules: 170 KB of YAML that expands to
    /// 4,000,000 entries and took 12.7 s to check.
    @Test func aliasReusedTooOftenIsRefusedQuickly() throws {
        let addresses = (0..<2000).map { "10.\($0 / 250).\($0 % 250).1" }.joined(separator: ", ")
        var yaml = baseYAML + "rules:\n"
        yaml += "  - { name: r0, source: &src [\(addresses)], use: [isp1] }\n"
        for index in 1..<2000 { yaml += "  - { name: r\(index), source: *src, use: [isp1] }\n" }
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(rejection(of: yaml))
        #expect(clock.now - start < .seconds(5))
        guard case .invalid(let issues) = error else {
            Issue.record("expected ConfigError.invalid, got \(error)")
            return
        }
        #expect(issues.count == 1, "\(describe(issues))")
        let issue = try #require(issues.first)
        // 100,000 nodes / 2,001 per use: the 50th use (rules[50]) crosses the bound; rules[i] is on line 7 + i.
        #expect(issue.path == "rules[50].source", "\(describe(issues))")
        #expect(issue.line == 57, "\(describe(issues))")
        #expect(issue.message.contains("*src") && issue.message.contains("line 7"), "\(issue.message)")
    }

    @Test func nestedAliasesCountTheirWholeExpansion() throws {
        // Each level multiplies by 10: *l5 stands for 10^5 scalars.
        var yaml =
            baseYAML
            + "sets:\n  x: &l0 [10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1, 10.0.0.1]\n"
        yaml += "extra:\n"
        for level in 1...5 {
            yaml += "  - &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = try #require(rejection(of: yaml))
        #expect(error.issues.count == 1 && error.issues[0].message.contains("aliases"), "\(describe(error.issues))")
    }

    /// Yams hashes mapping keys whole while composing: a key that stands for 10^9 scalars hung
    /// `check` before any validation ran, so the bound is checked before composing.
    @Test(.timeLimit(.minutes(1)))
    func nestedAliasAsAMappingKeyIsRefusedBeforeComposing() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        yaml += "k:\n  ? *a8\n  : 1\n"
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(rejection(of: yaml))
        #expect(clock.now - start < .seconds(5))
        #expect(error.issues.count == 1 && error.issues[0].message.contains("added by aliases"), "\(describe(error.issues))")
        #expect(error.issues.first?.line == 5, "\(describe(error.issues))")
    }

    @Test func modestAliasReuseIsAccepted() throws {
        let config = try ConfigLoader.parse(
            baseYAML + """
                rules:
                  - { name: a, source: &office [10.0.0.0/24, 10.0.1.0/24], use: [isp1] }
                  - { name: b, source: *office, protocol: tcp, destination_port: 22, use: [main] }
                """)
        #expect(config.rules.map(\.sources) == [config.rules[0].sources, config.rules[0].sources])
        #expect(config.rules[1].sources.count == 2)
    }
}

@Suite struct ControlCharacterTests {
    /// YAML escapes that put a control character in a scalar: NUL, ESC, DEL, NEL (C1), a tab.
    static let controls = [#"\0"#, #"\e"#, #"\x7f"#, #"\N"#, #"\t"#]

    static let namedPlaces: [(String, String)] = [
        ("rules[0].name", "rules:\n  - { name: \"ok~NAME\", use: [isp1] }\n"),
        ("wans[1].name", "  - { name: \"ok~NAME\", interface: wan2, gateway: 192.0.2.9 }\n"),
        ("sets.ok~NAME", "sets:\n  \"ok~NAME\": [10.0.0.0/8]\n"),
        ("port_forwards[0].name", "port_forwards:\n  - { name: \"ok~NAME\", port: 80, to: 10.0.0.2 }\n"),
    ]

    @Test(arguments: namedPlaces, controls)
    func nameWithAControlCharacterIsRefusedAndEscapedInTheError(_ place: (String, String), _ control: String) throws {
        // `wans` is the base's last key, so a WAN item appended to it joins the list.
        let yaml = baseYAML + place.1.replacingOccurrences(of: "~NAME", with: control)
        let error = try #require(rejection(of: yaml))
        let text = error.description
        #expect(
            !text.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" },
            "raw control character in: \(text.debugDescription)")
        #expect(text.contains("\\u{"), "\(text.debugDescription)")
        #expect(!error.issues.isEmpty)
    }

    @Test func escapeSequenceInARuleNameIsShownEscaped() throws {
        let error = try #require(rejection(of: baseYAML + "rules:\n  - { name: \"red\\e[31m\", use: [isp1] }\n"))
        let issue = try #require(error.issues.first { $0.path == "rules[0].name" })
        #expect(issue.line == 7)
        #expect(issue.message.contains(#""red\u{1B}[31m""#), "\(issue.message)")
    }

    /// U+2028 is a line break without being a control character: still refused in a rule name.
    @Test func lineSeparatorInARuleNameIsRefused() throws {
        let error = try #require(rejection(of: baseYAML + "rules:\n  - { name: \"a\\Lb\", use: [isp1] }\n"))
        #expect(error.issues.map(\.path) == ["rules[0].name"], "\(describe(error.issues))")
    }

    @Test func unknownKeyWithAControlCharacterIsEscapedInThePath() throws {
        let error = try #require(rejection(of: baseYAML + "\"log\\ein\": 1\n"))
        #expect(error.issues.map(\.path) == [#"log\u{1B}in"#])
        #expect(!error.description.contains("\u{1B}"))
    }

    @Test func httpPathWithAControlCharacterIsRefused() throws {
        let error = try #require(
            rejection(
                of: baseYAML + """
                        health: { targets: [192.0.2.1], method: "http://example.com/a\\eb" }
                    """))
        #expect(error.issues.contains { $0.path == "wans[0].health.method" }, "\(describe(error.issues))")
        #expect(!error.description.contains("\u{1B}"))
    }

    @Test func escapingWritesEachControlAsAUnicodeEscape() {
        #expect(ControlCharacters.escaped("a\u{0}b\u{1B}c\u{7F}d\u{85}") == #"a\u{0}b\u{1B}c\u{7F}d\u{85}"#)
        #expect(ControlCharacters.escaped("plain é") == "plain é")
    }
}

@Suite struct UnreadableFileTests {
    /// What `load` and a set file say for `path`.
    private func reasons(for path: String) throws -> (config: String, set: String) {
        let configError: ConfigError
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("\(path) was read as a config")
            return ("", "")
        } catch {
            configError = error
        }
        let setError = try #require(rejection(of: baseYAML + "sets:\n  x: { file: \"\(path)\" }\n"))
        let setIssue = try #require(setError.issues.first { $0.path == "sets.x.file" }, "\(describe(setError.issues))")
        #expect(setIssue.line == 7)
        return (configError.description, setIssue.message)
    }

    @Test func directoryIsNamedAsADirectory() throws {
        try withTemporaryDirectory { directory in
            let (config, set) = try reasons(for: directory.path)
            #expect(config.contains("is a directory"), "\(config)")
            #expect(set.contains("is a directory"), "\(set)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func fifoIsRefusedWithoutWaitingForAWriter() throws {
        try withTemporaryDirectory { directory in
            let fifo = directory.appendingPathComponent("pipe").path
            #expect(mkfifo(fifo, 0o600) == 0)
            let (config, set) = try reasons(for: fifo)
            #expect(config.contains("not a regular file"), "\(config)")
            #expect(set.contains("not a regular file"), "\(set)")
        }
    }

    @Test func deviceIsRefusedWithoutReadingIt() throws {
        let (config, set) = try reasons(for: "/dev/zero")
        #expect(config.contains("not a regular file"), "\(config)")
        #expect(set.contains("not a regular file"), "\(set)")
    }

    @Test func fileAboveTheSizeLimitIsRefused() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("big.yaml").path
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(truncate(path, 65 << 20) == 0)  // sparse: no disk used
            let (config, set) = try reasons(for: path)
            #expect(config.contains("8 MiB"), "\(config)")
            #expect(set.contains("64 MiB"), "\(set)")
        }
    }

    @Test func fileWithANulByteIsRefusedBeforeParsing() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nul.yaml").path
            // 6 MiB of NUL bytes: under the size limit, and slow for a YAML parser.
            #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 6 << 20)))
            let started = ContinuousClock.now
            let (config, set) = try reasons(for: path)
            #expect(config.contains("NUL byte at offset 0"), "\(config)")
            #expect(set.contains("NUL byte at offset 0"), "\(set)")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test(.enabled(if: geteuid() != 0, "root reads a file whatever its mode"))
    func unreadableFileSaysPermissionDenied() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("secret.yaml").path
            #expect(
                FileManager.default.createFile(atPath: path, contents: Data("lan: {}\n".utf8), attributes: [.posixPermissions: 0])
            )
            let (config, set) = try reasons(for: path)
            #expect(config.contains("permission denied"), "\(config)")
            #expect(set.contains("permission denied"), "\(set)")
        }
    }

    @Test func missingFileAndNonUTF8FileKeepTheirMessages() throws {
        try withTemporaryDirectory { directory in
            let missing = try reasons(for: directory.appendingPathComponent("none.yaml").path)
            #expect(missing.config.contains("no such file") && missing.set.contains("no such file"))
            let latin1 = directory.appendingPathComponent("latin1.txt").path
            #expect(FileManager.default.createFile(atPath: latin1, contents: Data([0x63, 0x61, 0x66, 0xE9, 0x0A])))
            let bad = try reasons(for: latin1)
            #expect(bad.config.contains("not UTF-8 text") && bad.set.contains("not UTF-8 text"))
        }
    }
}

/// What the file alone shows a health or forward target cannot be (the planner checks the rest
/// against the host's addresses).
@Suite struct UnusableTargetTests {
    static let unusable = [
        "0.0.0.0", "0.1.2.3", "127.0.0.1", "127.8.9.10", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    ]

    @Test(arguments: unusable)
    func healthTargetThatNoProbeCanReachIsRefused(_ address: String) throws {
        let error = try #require(rejection(of: baseYAML + "    health: { targets: [\(address)] }\n"))
        #expect(error.issues.map(\.path) == ["wans[0].health.targets[0]"], "\(describe(error.issues))")
        #expect(error.issues.first?.line == 6)
    }

    @Test(arguments: unusable)
    func forwardTargetThatIsNoHostIsRefused(_ address: String) throws {
        let error = try #require(rejection(of: baseYAML + "port_forwards:\n  - { name: web, port: 80, to: \(address) }\n"))
        #expect(error.issues.map(\.path) == ["port_forwards[0].to"], "\(describe(error.issues))")
        #expect(error.issues.first?.line == 7)
    }
}
