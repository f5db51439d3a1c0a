import BraidImport
import Foundation
import Testing

/// The corpus: mwan3 configs as OpenWrt ships them and as people write them, each converted and
/// compared with its `.expected` file (the Braid config, then the notes). Re-record with
/// BRAID_RECORD_GOLDEN=1 and read the diff.
@Suite struct Mwan3ImporterTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static var corpusNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return files.filter { $0.hasSuffix(".mwan3") }.map { String($0.dropLast(".mwan3".count)) }.sorted()
    }

    static func read(_ name: String) -> String? {
        try? String(contentsOf: corpus.appendingPathComponent(name), encoding: .utf8)
    }

    static func rendered(_ result: Mwan3Import) -> String {
        result.yaml + "--- notes ---\n" + result.notes.map(\.description).joined(separator: "\n") + "\n"
    }

    @Test(arguments: corpusNames)
    func corpusConvertsAsRecorded(name: String) throws {
        let mwan3 = try #require(Self.read(name + ".mwan3"))
        // A config may name its network file on its first line: `# network: two-wan.network`.
        let networkName = mwan3.split(separator: "\n").first.flatMap { line -> String? in
            line.hasPrefix("# network: ") ? String(line.dropFirst("# network: ".count)) : nil
        }
        let network = networkName.flatMap(Self.read)
        let result = try Mwan3Importer.convert(mwan3: mwan3, file: "mwan3", network: network, networkFile: "network")
        let text = Self.rendered(result)
        let expectedURL = Self.corpus.appendingPathComponent(name + ".expected")
        if ProcessInfo.processInfo.environment["BRAID_RECORD_GOLDEN"] == "1" {
            try text.write(to: expectedURL, atomically: true, encoding: .utf8)
        }
        let expected = try #require(Self.read(name + ".expected"), "no \(name).expected; record with BRAID_RECORD_GOLDEN=1")
        #expect(text == expected)
    }

    @Test func corpusIsNotEmpty() {
        #expect(Self.corpusNames.count >= 2)
    }

    @Test func aTruncatedFileIsRefusedWithItsLine() {
        #expect {
            try Mwan3Importer.convert(mwan3: "config interface 'wan'\n\toption enabled '1\n", file: "mwan3")
        } throws: { error in
            (error as? UCIParseError)?.description.hasPrefix("mwan3:2: the quote opened here") == true
        }
    }

    @Test func aCatchAllRuleBecomesTheDefaultPolicyAndLaterRulesAreReported() throws {
        let result = try Mwan3Importer.convert(
            mwan3: Mwan3Fixture.oneWanOnePolicy + """
                config rule all
                    option dest_ip 0.0.0.0/0
                    option use_policy p
                config rule late
                    option proto tcp
                    option use_policy p
                """, file: "mwan3")
        #expect(result.yaml.contains("default_policy: p\n"))
        #expect(!result.yaml.contains("name: late"))
        #expect(result.notes.contains { $0.description.hasPrefix("mwan3:10: late: comes after 'all'") })
    }

    @Test func namesBraidDoesNotAllowAreRenamedWithoutCollisions() throws {
        let result = try Mwan3Importer.convert(
            mwan3: """
                config interface WAN
                    option enabled 1
                config interface wan
                    option enabled 1
                config interface a_very_long_interface_name
                    option enabled 1
                config interface main
                    option enabled 1
                """, file: "mwan3")
        #expect(result.yaml.contains("- name: wan\n"))
        #expect(result.yaml.contains("- name: wan_2\n"))
        #expect(result.yaml.contains("- name: a_very_long_int\n"))
        #expect(result.yaml.contains("- name: main_1\n"))
    }

    @Test func portsWithoutTcpOrUdpAndSourcePortsAreReported() throws {
        let result = try Mwan3Importer.convert(
            mwan3: Mwan3Fixture.oneWanOnePolicy + """
                config rule sport
                    option proto udp
                    option src_port 123
                    option use_policy p
                config rule ports
                    option dest_port 443
                    option use_policy p
                """, file: "mwan3")
        #expect(!result.yaml.contains("destination_port"))
        #expect(!result.yaml.contains("name: sport"))
        #expect(result.yaml.contains("default_policy: p\n"))  // a rule whose ports do not count matches everything
        let notes = result.notes.map(\.description)
        #expect(notes.contains { $0.hasPrefix("mwan3:12: ports.dest_port: ports count only with proto tcp or udp") })
        #expect(notes.contains { $0.hasPrefix("mwan3:9: sport.src_port: Braid rules do not match source ports") })
    }
}
