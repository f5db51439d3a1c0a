import BraidConfig
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply
@testable import BraidKernel

/// The applier against the fake kernel: what `apply` and `down` do, in which order, and that any
/// failure leaves the kernel exactly as it was. No root needed.
@Suite struct GatewayApplierTests {
    static let yaml = """
        lan:
          interfaces: [lan0]
        wans:
          - name: isp1
            interface: wan1
            gateway: 192.168.1.1
            weight: 70
          - name: isp2
            interface: wan2
            gateway: 192.168.2.1
            weight: 30
        """

    static func wanInterface(_ number: Int, isUp: Bool = true) -> InterfaceFacts {
        InterfaceFacts(
            name: "wan\(number)", isUp: isUp,
            addresses: [InterfaceAddress(address: IPv4Address("192.168.\(number).2")!, prefixLength: 24)])
    }

    static func makeKernel() -> FakeKernel {
        FakeKernel(interfaces: [InterfaceFacts(name: "lan0"), wanInterface(1), wanInterface(2), wanInterface(3)])
    }

    static func makeApplier(_ kernel: FakeKernel) -> GatewayApplier {
        let directory = NSTemporaryDirectory() + "braid-applier-test-\(UUID().uuidString)"
        return GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: directory))
    }

    @Test func firstApplyInstallsRoutesRulesTableAndSysctlsInThatOrder() throws {
        let kernel = Self.makeKernel()
        let report = try Self.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        let kinds = report.performed.map { step -> String in
            switch step {
            case .addRoute: "route"
            case .addRule: "rule"
            case .loadRuleset: "nft"
            case .setSysctl: "sysctl"
            default: "other"
            }
        }
        #expect(kinds == ["route", "route", "rule", "rule", "rule", "rule", "rule", "nft", "sysctl", "sysctl", "sysctl"])
        let state = kernel.snapshot
        #expect(state.routes.count == 2)
        #expect(state.policyRules.count == 5)
        #expect(state.sysctls["net/ipv4/ip_forward"] == "1")
        #expect(state.sysctls["net/ipv4/conf/wan1/rp_filter"] == "2")
        #expect(state.table?.contains("numgen random mod 10") == true)
    }

    @Test func reapplyingTheSameConfigPerformsNoStep() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let config = try ConfigLoader.parse(Self.yaml)
        try applier.apply(config)
        let before = kernel.performed.count
        let report = try applier.apply(config)
        #expect(report.performed.isEmpty)
        #expect(kernel.performed.count == before)
    }

    /// `afterVerifiedApply`: whether an unchanged apply ran between the load and the edit (it
    /// records the table's digest; before that, any foreign transaction means a reload).
    @Test(arguments: [false, true])
    func aRuleChangedBehindBraidsBackIsReloaded(afterVerifiedApply: Bool) throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let config = try ConfigLoader.parse(Self.yaml)
        try applier.apply(config)
        if afterVerifiedApply { #expect(try applier.apply(config).performed.isEmpty) }
        let installed = try #require(kernel.snapshot.table)
        // A deleted rule: the chains are all still there, only the generation tells.
        kernel.commitForeignTransaction {
            $0 = $0?.replacingOccurrences(of: "\t\tmeta nfproto ipv4 oifname \"wan2\" masquerade\n", with: "")
        }
        #expect(kernel.snapshot.table != installed)
        let report = try applier.apply(config)
        #expect(report.performed.count == 1)
        if case .loadRuleset = report.performed.first {} else { Issue.record("expected a reload, got \(report.performed)") }
        #expect(kernel.snapshot.table == installed)
    }

    @Test func anotherProgramsTransactionElsewhereChangesNothing() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let config = try ConfigLoader.parse(Self.yaml)
        try applier.apply(config)
        try applier.apply(config)
        kernel.commitForeignTransaction()
        #expect(try applier.apply(config).performed.isEmpty)
        // And the new generation is recorded: the next apply does not list the table again.
        #expect(try applier.store.load()?.rulesetGeneration == kernel.readRulesetGeneration())
    }

    @Test func newWeightsChangeOnlyTheRuleset() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        let report = try applier.apply(
            try ConfigLoader.parse(Self.yaml.replacingOccurrences(of: "weight: 30", with: "weight: 10")))
        #expect(report.performed.count == 1)
        #expect(kernel.snapshot.table?.contains("numgen random mod 8") == true)
    }

    @Test func aNewGatewayReplacesTheRouteInPlace() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        let report = try applier.apply(
            try ConfigLoader.parse(Self.yaml.replacingOccurrences(of: "192.168.2.1", with: "192.168.2.254")))
        #expect(report.performed.contains { if case .replaceRoute = $0 { true } else { false } })
        #expect(kernel.snapshot.routes.contains { $0.gateway == IPAddress("192.168.2.254") })
        #expect(kernel.snapshot.routes.count == 2)
    }

    @Test func removingAWanRemovesItsRouteRuleAndRestoresItsSysctl() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        try applier.apply(try ConfigLoader.parse(threeWans))
        #expect(kernel.snapshot.sysctls["net/ipv4/conf/wan3/rp_filter"] == "2")
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        let state = kernel.snapshot
        #expect(state.routes.count == 2)
        #expect(!state.policyRules.contains { $0.table == 202 })
        #expect(state.sysctls["net/ipv4/conf/wan3/rp_filter"] == "1")
        #expect(state.counters.keys.sorted() == ["rx_isp1", "rx_isp2", "tx_isp1", "tx_isp2"])
    }

    @Test func removingTheFirstWanLeavesTheOthersRoutesAndRulesUntouched() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        try applier.apply(try ConfigLoader.parse(threeWans))
        let before = kernel.snapshot
        // isp1 gone, the other two swapped: isp3 keeps mark 3 and table 202, isp2 mark 2 and table 201.
        let report = try applier.apply(
            try ConfigLoader.parse(
                """
                lan: { interfaces: [lan0] }
                wans:
                  - { name: isp3, interface: wan3, gateway: 192.168.3.1 }
                  - { name: isp2, interface: wan2, gateway: 192.168.2.1, weight: 30 }
                """))
        let after = kernel.snapshot
        #expect(Set(after.routes) == Set(before.routes.filter { $0.table != 200 }))
        #expect(
            Set(after.policyRules.filter { $0.fwmark != nil && $0.fwmark != 0xff00_0000 })
                == Set(before.policyRules.filter { $0.fwmark == 0x200_0000 || $0.fwmark == 0x300_0000 }))
        #expect(!report.performed.contains { if case .addRoute = $0 { true } else { false } })
        #expect(try applier.store.load()?.wanSlots == ["isp2": 2, "isp3": 3])
    }

    @Test(arguments: [true, false])
    func aRemovedWansConnectionsAreFlushedOnlyWithFlushOnDown(flushOnDown: Bool) throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        try applier.apply(try ConfigLoader.parse(threeWans))
        kernel.update { $0.connectionsByMark = [0x100_0000: 4, 0x300_0000: 5] }
        let report = try applier.apply(try ConfigLoader.parse("flush_on_down: \(flushOnDown)\n" + Self.yaml))
        #expect(report.flushedConnections == (flushOnDown ? ["isp3": 5] : [:]))
        #expect(kernel.snapshot.connectionsByMark == (flushOnDown ? [0x100_0000: 4] : [0x100_0000: 4, 0x300_0000: 5]))
    }

    @Test func withoutAStateFileTheSlotsAreReadBackFromBraidsRoutes() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        try applier.apply(try ConfigLoader.parse(threeWans))
        try applier.store.remove()
        let state = try applier.plan(
            try ConfigLoader.parse(
                """
                lan: { interfaces: [lan0] }
                wans:
                  - { name: isp3, interface: wan3, gateway: 192.168.3.1 }
                """))
        #expect(try #require(state.wans.first).mark == 0x300_0000)
    }

    @Test func withoutAStateFileAFailedReloadPutsBackTheTableTheKernelHad() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        let before = kernel.snapshot
        try applier.store.remove()
        // A third WAN: routes, rules, the reload, then its rp_filter, which fails after the reload.
        kernel.failSteps { step in if case .setSysctl(let key, _, _) = step { key.contains("wan3") } else { false } }
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        // One attempt: `apply` would isolate isp3 and retry (see WanIsolationTests).
        #expect(throws: ApplyError.self) {
            try applier.applyOnce(try ConfigLoader.parse(threeWans), availability: .allAvailable, missingInterfacesAreDown: false)
        }
        #expect(
            kernel.performed.contains {
                if case .restoreRuleset(let undo) = $0 { undo.declared.contains("chain prerouting") } else { false }
            })
        #expect(kernel.snapshot == before)
    }

    /// A load that added a WAN added its counters; they are objects of their own, which flushing
    /// and re-declaring the old table would leave behind.
    @Test func theUndoOfAReloadDeletesTheCountersItAdded() throws {
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        kernel.failSteps { step in if case .setSysctl(let key, _, _) = step { key.contains("wan3") } else { false } }
        let threeWans = Self.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
        #expect(throws: ApplyError.self) {
            try applier.applyOnce(try ConfigLoader.parse(threeWans), availability: .allAvailable, missingInterfacesAreDown: false)
        }
        let undo = kernel.performed.compactMap { step -> NftTransaction? in
            if case .restoreRuleset(let undo) = step { undo } else { nil }
        }
        #expect(
            undo.count == 1 && undo[0].operations.contains(.deleteCounter("rx_isp3"))
                && !undo[0].operations.contains(.deleteCounter("rx_isp1")))
        #expect(kernel.snapshot.counters.keys.sorted() == ["rx_isp1", "rx_isp2", "tx_isp1", "tx_isp2"])
    }

    /// Fails each step of a first install in turn, then each step of a reconfiguration: every
    /// attempt is whole or nothing (`apply` then retries without a WAN that failed its own step).
    /// The steps are the ones the applier computes for that very change, so a change set that
    /// grows or shrinks is still covered step by step.
    @Test(arguments: [false, true])
    func aFailureAtAnyStepLeavesTheKernelAsItWas(existing: Bool) throws {
        let changed = try ConfigLoader.parse(
            existing
                ? Self.yaml.replacingOccurrences(of: "192.168.2.1", with: "192.168.2.9").replacingOccurrences(
                    of: "weight: 30", with: "weight: 5")
                    + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"
                : Self.yaml)
        func installed() throws -> (FakeKernel, GatewayApplier) {
            let kernel = Self.makeKernel()
            let applier = Self.makeApplier(kernel)
            if existing { try applier.apply(try ConfigLoader.parse(Self.yaml)) }
            return (kernel, applier)
        }
        let steps = try installed().1.plannedSteps(changed)
        // A first install has routes, rules, the table and sysctls (11 steps today); the
        // reconfiguration a new route, a replaced one, rules, the table and a sysctl (9).
        #expect(steps.count >= (existing ? 5 : 4))
        for (failingStep, expectedStep) in steps.enumerated() {
            let (kernel, applier) = try installed()
            let before = kernel.snapshot
            let counter = StepCounter(failAt: failingStep)
            kernel.failSteps { _ in counter.next() }
            #expect {
                try applier.applyOnce(changed, availability: .allAvailable, missingInterfacesAreDown: false)
            } throws: { error in
                guard case .stepFailed(let step, _, let rollbackFailures) = error as? ApplyError else { return false }
                #expect(step == expectedStep, "step \(failingStep) (existing: \(existing)) is not the one planned")
                #expect(rollbackFailures.isEmpty)
                return true
            }
            kernel.failSteps(where: nil)
            #expect(kernel.snapshot == before, "step \(failingStep) (existing: \(existing)) left the kernel changed")
            // And the store still describes the old state: a retry or a `down` works.
            try applier.apply(changed)
            try applier.down()
        }
    }

    @Test func downRemovesEverythingAndRestoresSysctls() throws {
        let kernel = Self.makeKernel()
        let before = kernel.snapshot
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        try applier.down()
        var after = kernel.snapshot
        after.counters = [:]
        #expect(after == before)
        #expect(try applier.down().isEmpty)
    }

    @Test func downLeavesForeignRulesAndRoutesAlone() throws {
        // The fake stores only what Braid adds, so this checks the applier's selection: it deletes
        // by what it observed (its own protocol tag), never by config.
        let kernel = Self.makeKernel()
        let applier = Self.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(Self.yaml))
        let steps = try applier.down()
        #expect(
            steps.allSatisfy { step in
                switch step {
                case .deleteRule, .deleteRoute, .deleteTable, .setSysctl: true
                default: false
                }
            })
    }

    @Test func aMissingWanInterfaceIsInstalledWithoutItsRouteAndNamed() throws {
        let kernel = FakeKernel(interfaces: [InterfaceFacts(name: "lan0"), Self.wanInterface(1)])
        let report = try Self.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        #expect(report.desired.unusableReasons["isp2"] == "interface wan2 does not exist")
        #expect(kernel.snapshot.routes.map(\.device) == ["wan1"])
        #expect(kernel.snapshot.table != nil)
    }

    @Test func aMissingLanInterfaceIsReportedBeforeAnyChange() throws {
        let kernel = FakeKernel(interfaces: [Self.wanInterface(1), Self.wanInterface(2)])
        #expect {
            try Self.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        } throws: { error in
            guard let error = error as? ApplyError, case .plan(let planError) = error else { return false }
            return planError.description.contains("lan.interfaces[0]: \"lan0\" does not exist")
        }
        #expect(kernel.performed.isEmpty)
    }

    @Test func aWanWithItsLinkDownGetsNoRouteAndNoShare() throws {
        let kernel = FakeKernel(interfaces: [
            InterfaceFacts(name: "lan0"), Self.wanInterface(1), Self.wanInterface(2, isUp: false),
        ])
        let report = try Self.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        #expect(kernel.snapshot.routes.map(\.device) == ["wan1"])
        #expect(report.desired.wans[1].splitShare == 0)
    }
}

/// Counts steps across the fake's failure hook and fails exactly one of them.
final class StepCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    let failAt: Int

    init(failAt: Int) { self.failAt = failAt }

    func next() -> Bool {
        lock.withLock {
            defer { count += 1 }
            return count == failAt
        }
    }
}

extension GatewayApplier {
    /// One attempt of `apply`, without the retry that isolates a WAN whose own step failed.
    @discardableResult
    func applyOnce(_ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool) throws(ApplyError) -> Report {
        var warnings: [String] = []
        return try applyLocked(
            config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown, warnings: &warnings)
    }

    /// The steps one attempt of `apply` would perform now, performing none of them.
    func plannedSteps(_ config: Config, availability: WanAvailability = .allAvailable) throws(ApplyError) -> [KernelStep] {
        var warnings: [String] = []
        return try prepare(config, availability: availability, missingInterfacesAreDown: false, warnings: &warnings).diff.steps
    }
}
