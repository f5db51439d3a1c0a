import BraidConfig
import Testing

/// Loader bugs found in review and fixed: errors name the line of the offending value, and a
/// sign after `0x` is not a number.
@Suite struct LoaderRegressionTests {
    /// The duplicate-name, duplicate-interface and WAN-is-also-LAN checks report the right key
    /// path but the line where the WAN entry starts, not the line of the offending value
    /// (ConfigLoader.readWans builds the cursor from the entry's node).
    static let casesWithTheEntryLineInsteadOfTheValueLine: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "duplicate WAN interfaces",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                  - name: isp2
                    interface: wan1
                    gateway: 198.51.100.1
                """, expectedPath: "wans[1].interface", expectedLine: 8),
        InvalidConfigCase(
            problem: "duplicate WAN names with the name not first",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                  - interface: wan2
                    name: isp1
                    gateway: 198.51.100.1
                """, expectedPath: "wans[1].name", expectedLine: 8),
        InvalidConfigCase(
            problem: "WAN interface that is also a LAN interface",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: lan0
                    gateway: 192.0.2.1
                """, expectedPath: "wans[0].interface", expectedLine: 5),
    ]

    @Test(arguments: casesWithTheEntryLineInsteadOfTheValueLine)
    func crossWanCheckNamesTheValueLine(_ invalidCase: InvalidConfigCase) throws {
        let error = try #require(rejection(of: invalidCase.yaml))
        let issuesAtPath = error.issues.filter { $0.path == invalidCase.expectedPath }
        #expect(!issuesAtPath.isEmpty, "expected an issue at \(invalidCase.expectedPath); got \(error)")
        #expect(error.description.contains(invalidCase.expectedPath))
        #expect(issuesAtPath.contains { $0.line == invalidCase.expectedLine })
    }

    /// docs/config.md: "+5 … rejected as not an integer". After `0x`, `Int(_:radix:)` still
    /// accepts a sign, so `0x+5` reads as 5 (IssueCollector.integer in YAMLDocument.swift).
    @Test func signAfterHexadecimalPrefixIsRejected() {
        #expect(
            rejection(
                of: """
                    lan:
                      interfaces: [lan0]
                    wans:
                      - name: isp1
                        interface: wan1
                        gateway: 192.0.2.1
                        weight: 0x+5
                    """) != nil)
    }
}
