import BraidConfig
import BraidPlanner
import Testing

/// WANs keep their marks, tables and fwmark rules across config changes, so established
/// connections of one WAN never move when another is added, removed or reordered.
@Suite struct WanSlotTests {
    static func config(_ names: [String]) throws -> Config {
        var yaml = "lan:\n  interfaces: [lan0]\nwans:\n"
        for name in names {
            let number = Int(name.dropFirst(3))!
            yaml += "  - { name: \(name), interface: wan\(number), gateway: 192.168.\(number).1 }\n"
        }
        return try ConfigLoader.parse(yaml)
    }

    static func plan(_ names: [String], previous: [String: Int] = [:]) throws -> DesiredState {
        let config = try config(names)
        return try GatewayPlanner.plan(config, host: .having(interfacesOf: config), previousSlots: previous)
    }

    static func slots(_ state: DesiredState) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: state.wans.map { ($0.name, $0.slot) })
    }

    @Test func aFreshInstallNumbersWansAsListed() throws {
        let state = try Self.plan(["isp1", "isp2", "isp3"])
        #expect(state.wans.map(\.mark) == [0x100_0000, 0x200_0000, 0x300_0000])
        #expect(state.wans.map(\.table) == [200, 201, 202])
    }

    @Test func reorderingKeepsEveryWansMarkTableAndRule() throws {
        let first = try Self.plan(["isp1", "isp2", "isp3"])
        let reordered = try Self.plan(["isp3", "isp1", "isp2"], previous: Self.slots(first))
        for wan in first.wans {
            let after = try reordered.wan(named: wan.name)
            #expect(after.mark == wan.mark && after.table == wan.table)
        }
        #expect(Set(reordered.policyRules) == Set(first.policyRules))
        #expect(Set(reordered.routes) == Set(first.routes))
    }

    @Test func removingAWanLeavesTheOthersWhereTheyWere() throws {
        let first = try Self.plan(["isp1", "isp2", "isp3"])
        let after = try Self.plan(["isp2", "isp3"], previous: Self.slots(first))
        #expect(try after.wan(named: "isp2").mark == 0x200_0000)
        #expect(try after.wan(named: "isp3").mark == 0x300_0000)
        #expect(!after.policyRules.contains { $0.fwmark == 0x100_0000 })
        #expect(!after.routes.contains { $0.table == 200 })
        // The main-table and fallback rules sit after the highest slot in use.
        #expect(after.policyRules.map(\.priority) == [10000, 10002, 10003, 10004, 10005])
        // The split's marks are the kept ones.
        #expect(after.ruleset.render().contains("0x03000000"))
    }

    @Test func aNewWanTakesTheLowestFreeSlot() throws {
        let after = try Self.plan(["isp4", "isp2", "isp3"], previous: ["isp2": 2, "isp3": 3])
        #expect(try after.wan(named: "isp4").slot == 1)
        #expect(try after.wan(named: "isp4").table == 200)
    }

    @Test func aWanAddedAsAnotherIsRemovedDoesNotInheritItsSlot() throws {
        // isp1's connections may still carry mark 1: isp4 must not take them over.
        let after = try Self.plan(["isp4", "isp2", "isp3"], previous: ["isp1": 1, "isp2": 2, "isp3": 3])
        #expect(try after.wan(named: "isp4").slot == 4)
        // With the mask full, the freed slot is better than none.
        let wans = try Self.config(["isp4", "isp2"]).wans
        #expect(WanSlotAssignment.assign(wans, previous: ["isp1": 1, "isp2": 2], capacity: 2) == ["isp4": 1, "isp2": 2])
    }

    @Test func staleOrConflictingPreviousSlotsAreIgnored() {
        let wans = (try? Self.config(["isp1", "isp2"]))?.wans ?? []
        // A slot beyond the mask's capacity, and two WANs claiming one slot.
        #expect(WanSlotAssignment.assign(wans, previous: ["isp1": 300], capacity: 254) == ["isp1": 1, "isp2": 2])
        #expect(WanSlotAssignment.assign(wans, previous: ["isp1": 2, "isp2": 2], capacity: 254) == ["isp1": 2, "isp2": 1])
    }

    @Test func aKeptSlotThatReachesAReservedTableIsRefusedWithTheFix() throws {
        let config = try ConfigLoader.parse(
            """
            kernel: { first_table: 250 }
            lan: { interfaces: [lan0] }
            wans:
              - { name: isp1, interface: wan1, gateway: 192.168.1.1 }
            """)
        #expect(throws: PlanError.self) {
            try GatewayPlanner.plan(config, host: .having(interfacesOf: config), previousSlots: ["isp1": 4])
        }
        do {
            _ = try GatewayPlanner.plan(config, host: .having(interfacesOf: config), previousSlots: ["isp1": 4])
        } catch {
            #expect(error.problems.first?.path == "kernel.first_table")
            #expect(error.description.contains("braid down"))
        }
    }
}
