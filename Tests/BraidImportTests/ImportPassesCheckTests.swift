import BraidConfig
import BraidImport
import Foundation
import Testing

/// What `braid import mwan3` writes must pass `braid check` (the same `ConfigLoader`), for every
/// corpus file: an import the user cannot load would only move the work to them.
@Suite struct ImportPassesCheckTests {
    @Test(arguments: Mwan3ImporterTests.corpusNames)
    func everyCorpusFileImportsAndPassesCheck(name: String) throws {
        let mwan3 = try #require(Mwan3ImporterTests.read(name + ".mwan3"))
        let networkName = mwan3.split(separator: "\n").first.flatMap { line -> String? in
            line.hasPrefix("# network: ") ? String(line.dropFirst("# network: ".count)) : nil
        }
        let result = try Mwan3Importer.convert(
            mwan3: mwan3, file: "mwan3", network: networkName.flatMap(Mwan3ImporterTests.read), networkFile: "network")
        do {
            _ = try ConfigLoader.parse(result.yaml)
        } catch {
            Issue.record("\(name): the imported config fails `braid check`:\n\(error.description)\n\(result.yaml)")
        }
    }

    @Test func theImportedPoliciesAreThePlannersPolicies() throws {
        let mwan3 = try #require(Mwan3ImporterTests.read("hand-edited.mwan3"))
        let network = try #require(Mwan3ImporterTests.read("hand-edited.network"))
        let config = try ConfigLoader.parse(
            try Mwan3Importer.convert(mwan3: mwan3, file: "mwan3", network: network, networkFile: "network").yaml)
        #expect(config.defaultPolicy == "balanced")
        #expect(
            config.policy(named: "isp1_isp2")
                == NamedPolicyConfig(
                    name: "isp1_isp2",
                    members: [PolicyMemberConfig(wan: "isp1", weight: 3), PolicyMemberConfig(wan: "isp2", weight: 2, tier: 2)],
                    lastResort: .unreachable))
        #expect(config.rules.first?.use == [.policy("isp1_isp2", stickySeconds: 300)])
    }

    /// The bad inputs of the issue: each is reported with its line, and the rest still converts.
    @Test func badSectionsAreReportedWithTheirLineAndTheRestConverts() throws {
        let result = try Mwan3Importer.convert(
            mwan3: """
                config interface wan
                    option enabled 1
                config member m
                    option interface wan
                config member ghost
                    option interface nowhere
                config policy p
                    list use_member m
                config policy empty
                config frobnicate x
                config rule r1
                    option use_policy missing
                config rule r2
                    option proto tcp
                    option dest_port 443
                    option use_policy p
                """, file: "mwan3")
        let notes = result.notes.map(\.description)
        #expect(notes.contains { $0.hasPrefix("mwan3:5: ghost") })
        #expect(notes.contains { $0.hasPrefix("mwan3:9: empty") })
        #expect(notes.contains { $0.hasPrefix("mwan3:10: x") })
        #expect(notes.contains { $0.hasPrefix("mwan3:11: r1.use_policy") })
        let config = try ConfigLoader.parse(result.yaml)
        #expect(config.rules.map(\.name) == ["r2", "mwan3_unmatched"])
        // A section with no type cannot be parsed: the importer stops at its line.
        #expect {
            try Mwan3Importer.convert(mwan3: "config interface wan\nconfig\n", file: "mwan3")
        } throws: { error in
            (error as? UCIParseError)?.line == 2
        }
    }
}
