import BraidConfig
import BraidPlanner
import Testing

/// Tiers: only the lowest tier that has a usable WAN takes new connections; higher tiers are backups.
@Suite struct TierTests {
    static let twoTiersYAML = """
        lan:
          interfaces: [lan0]
        wans:
          - {name: primary-a, interface: wan0, gateway: 192.0.2.1, weight: 3}
          - {name: primary-b, interface: wan1, gateway: 198.51.100.1, weight: 1}
          - {name: standby, interface: wan2, gateway: 203.0.113.1, weight: 0}
          - {name: backup, interface: wan3, gateway: 100.64.0.1, weight: 5, tier: 2}
        """

    func shares(_ state: DesiredState) -> [String: String] {
        Dictionary(uniqueKeysWithValues: state.wans.map { ($0.name, "\($0.splitShare)/\($0.splitModulus)") })
    }

    @Test func lowestTierTakesEverythingWhileItHasAWeightedWan() throws {
        let state = try plan(Self.twoTiersYAML)
        #expect(shares(state) == ["primary-a": "3/4", "primary-b": "1/4", "standby": "0/4", "backup": "0/4"])
        #expect(state.fallbackRule?.table == (try state.wan(named: "primary-a").table))
    }

    @Test func standbyOfTheLowestTierComesBeforeTheNextTier() throws {
        let state = try plan(Self.twoTiersYAML, availability: WanAvailability(unavailable: ["primary-a", "primary-b"]))
        #expect(shares(state) == ["primary-a": "0/1", "primary-b": "0/1", "standby": "1/1", "backup": "0/1"])
    }

    @Test func nextTierTakesOverWhenTheLowestTierHasNoUsableWan() throws {
        let state = try plan(Self.twoTiersYAML, linksDown: ["wan0", "wan1", "wan2"])
        #expect(shares(state) == ["primary-a": "0/1", "primary-b": "0/1", "standby": "0/1", "backup": "1/1"])
        #expect(state.fallbackRule?.table == (try state.wan(named: "backup").table))
        #expect(state.routes.map(\.device) == ["wan3"])
    }

    @Test func configuredWeightsOfEveryTierStayWhenNoWanIsUsable() throws {
        let state = try plan(Self.twoTiersYAML, linksDown: ["wan0", "wan1", "wan2", "wan3"])
        #expect(shares(state) == ["primary-a": "3/9", "primary-b": "1/9", "standby": "0/9", "backup": "5/9"])
    }
}
