import BraidConfig
import BraidPlanner
import Testing

/// Braid declares its counters, maps and chains by unquoted name, so every name must match nft's
/// identifier grammar: a letter, `_` or `.` first, then letters, digits, `/`, `-`, `_` or `.`.
@Suite struct NftablesNameTests {
    static func isNftablesIdentifier(_ name: String) -> Bool {
        name.wholeMatch(of: /[A-Za-z_.][A-Za-z0-9\/\-_.]*/) != nil
    }

    static func objectNames(_ state: DesiredState) -> [String] {
        state.ruleset.counters.map(\.name) + state.ruleset.maps.map(\.name) + state.ruleset.chains.map(\.name)
    }

    @Test(arguments: GoldenScenario.all)
    func everyObjectNameIsAnIdentifier(_ scenario: GoldenScenario) throws {
        let state = try plan(scenario.yaml, linksDown: scenario.linksDown)
        for name in Self.objectNames(state) {
            #expect(Self.isNftablesIdentifier(name), "\(name) is not an nft identifier")
        }
    }

    @Test func objectNamesAreUnique() throws {
        let scenario = try #require(GoldenScenario.all.first { $0.fileName.hasPrefix("sixteen") })
        let state = try plan(scenario.yaml)
        let counterNames = state.ruleset.counters.map(\.name)
        let chainNames = state.ruleset.chains.map(\.name)
        #expect(Set(counterNames).count == counterNames.count)
        #expect(Set(chainNames).count == chainNames.count)
    }

    /// A WAN name may start with a digit (Identifiers.isValidWanName); nft 1.0.6 rejects names
    /// that do (`counter 1isp_rx {`), so every object name carries a prefix.
    @Test func wanNameStartingWithADigitGivesIdentifiers() throws {
        let state = try plan(
            """
            lan:
              interfaces: [lan0]
            wans:
              - {name: 1isp, interface: wan0, gateway: 192.0.2.1}
            """)
        for name in Self.objectNames(state) {
            #expect(Self.isNftablesIdentifier(name), "\(name) is not an nft identifier")
        }
    }
}
