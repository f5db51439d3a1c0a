import BraidConfig
import BraidKernel
import BraidPlanner
import Foundation
import Synchronization
import Testing

@testable import BraidApply

/// One WAN's broken piece (its sysctl, its route) takes that WAN out, never the others: the
/// applier installs the rest and reports the WAN. Against the fake kernel, no root needed.
@Suite struct WanIsolationTests {
    static let threeWans =
        GatewayApplierTests.yaml + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n    weight: 10\n"

    @Test func aRefusedRpFilterSysctlIsolatesOnlyItsWan() throws {
        let kernel = GatewayApplierTests.makeKernel()
        kernel.failSteps { step in if case .setSysctl(let key, _, _) = step { key.contains("wan2") } else { false } }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.threeWans))
        let reason = try #require(report.desired.unusableReasons["isp2"])
        #expect(reason.contains("sysctl net/ipv4/conf/wan2/rp_filter = 2") && reason.contains("injected failure"), "\(reason)")
        #expect(report.desired.unusableReasons.count == 1)
        #expect(try report.desired.wan(named: "isp2").splitShare == 0)
        #expect(try report.desired.wan(named: "isp1").splitShare > 0 && report.desired.wan(named: "isp3").splitShare > 0)
        let state = kernel.snapshot
        #expect(state.routes.map(\.device).sorted() == ["wan1", "wan3"])
        #expect(state.sysctls["net/ipv4/conf/wan1/rp_filter"] == "2" && state.sysctls["net/ipv4/conf/wan3/rp_filter"] == "2")
        #expect(state.sysctls["net/ipv4/ip_forward"] == "1")
        #expect(state.table?.contains("goto restore_isp2") == true, "isp2 keeps its chains for its existing connections")
    }

    @Test func aRefusedRouteIsolatesOnlyItsWan() throws {
        let kernel = GatewayApplierTests.makeKernel()
        kernel.failSteps { step in if case .addRoute(let route) = step { route.device == "wan1" } else { false } }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.threeWans))
        #expect(report.desired.unusableReasons["isp1"]?.contains("route default via 192.168.1.1 dev wan1 table 200") == true)
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan2", "wan3"])
        // The fallback rule for unmarked traffic points at a WAN that has a route.
        #expect(report.desired.fallbackTable != 200)
    }

    @Test func aRouteAnotherProgramDeletesOnceDuringTheApplyIsPutBackNotIsolated() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let deletions = Mutex(0)
        kernel.afterEachStep { step, state in
            guard case .addRoute(let route) = step, route.device == "wan1" else { return }
            deletions.withLock { count in
                guard count < 2 else { return }
                count += 1
                state.routes.removeAll { $0.key == route.key }
            }
        }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.threeWans))
        #expect(deletions.withLock { $0 } == 2)
        #expect(report.desired.unusableReasons.isEmpty, "\(report.desired.unusableReasons)")
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan1", "wan2", "wan3"])
    }

    /// The lab's repair race: an admin deletes Braid's ip rules one by one (each deletion lands
    /// while the previous repair is being verified) and then a WAN's route. Every read-back misses
    /// something, but nothing is missed twice in a row, so no WAN is blamed.
    @Test func aStreamOfDeletionsEndingWithARouteIsRepairedNotIsolated() throws {
        let kernel = GatewayApplierTests.makeKernel()
        struct Adversary { var deletedRules: [PolicyRule] = []; var deletedRoute = false }
        let adversary = Mutex(Adversary())
        kernel.afterEachStep { step, state in
            adversary.withLock { adversary in
                let reAdded: Bool
                if case .addRule(let rule) = step { reAdded = rule == adversary.deletedRules.last } else { reAdded = false }
                guard adversary.deletedRules.isEmpty || reAdded else { return }
                if adversary.deletedRules.count < 5,
                    let victim = state.policyRules.first(where: { !adversary.deletedRules.contains($0) })
                {
                    state.policyRules.removeAll { $0 == victim }
                    adversary.deletedRules.append(victim)
                } else if !adversary.deletedRoute {
                    adversary.deletedRoute = true
                    state.routes.removeAll { $0.device == "wan1" }
                }
            }
        }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.threeWans))
        let seen = adversary.withLock { $0 }
        // More failed read-backs in a row than a fixed retry count of three would have allowed.
        #expect(seen.deletedRules.count >= 4 && seen.deletedRoute, "\(seen.deletedRules.count) rules")
        #expect(report.desired.unusableReasons.isEmpty, "\(report.desired.unusableReasons)")
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan1", "wan2", "wan3"])
        #expect(Set(kernel.snapshot.policyRules) == Set(report.desired.policyRules))
    }

    @Test func readBacksRefuseAPieceOnlyAfterFourMissesInARowAndGiveUpAfterTwelve() {
        let route = Route(table: 200, gateway: IPv4Address("192.168.1.1")!, device: "wan1")
        let moved = Route(table: 200, gateway: IPv4Address("192.168.1.9")!, device: "wan1")
        // An add and a replace of the same route are one piece, whichever the diff chose.
        var streaks = GatewayApplier.VerificationStreaks()
        let misses: [KernelStep] = [.addRoute(route), .replaceRoute(old: moved, new: route), .addRoute(route)]
        for step in misses { #expect(streaks.judge(missing: [step]) == .retry) }
        #expect(streaks.judge(missing: [.replaceRoute(old: moved, new: route)]) == .refused([.replaceRoute(old: moved, new: route)]))
        // A different rule missing each time never builds a streak: twelve applies, then no one is blamed.
        var stream = GatewayApplier.VerificationStreaks()
        for priority in 0..<11 {
            #expect(stream.judge(missing: [.addRule(PolicyRule(priority: UInt32(10_000 + priority), table: 200))]) == .retry)
        }
        #expect(stream.judge(missing: [.addRule(PolicyRule(priority: 10_011, table: 200)), .addRoute(route)]) == .givenUp)
    }

    @Test func aRouteTheKernelKeepsDroppingIsolatesItsWan() throws {
        let kernel = GatewayApplierTests.makeKernel()
        kernel.afterEachStep { step, state in
            guard case .addRoute(let route) = step, route.device == "wan1" else { return }
            state.routes.removeAll { $0.key == route.key }
        }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.threeWans))
        #expect(report.desired.unusableReasons["isp1"]?.contains("still lacks its route default via 192.168.1.1") == true)
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan2", "wan3"])
    }

    @Test func aRefusedTableStillFailsTheWholeApplyAndChangesNothing() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(GatewayApplierTests.yaml))
        let before = kernel.snapshot
        kernel.failSteps { step in if case .loadRuleset = step { true } else { false } }
        #expect(throws: ApplyError.self) { try applier.apply(try ConfigLoader.parse(Self.threeWans)) }
        kernel.failSteps(where: nil)
        #expect(kernel.snapshot == before)
    }

    @Test func aVanishedInterfaceDoesNotBlockTheOtherWans() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try ConfigLoader.parse(Self.threeWans)
        try applier.apply(config)
        // A PPP link drops: the interface, its routes and its /proc/sys directory are gone.
        kernel.update { state in
            state.interfaces.removeAll { $0.name == "wan1" }
            state.routes.removeAll { $0.device == "wan1" }
            state.sysctls["net/ipv4/conf/wan1/rp_filter"] = nil
        }
        let report = try applier.apply(
            config, availability: WanAvailability(unavailable: ["isp2"]), missingInterfacesAreDown: true)
        #expect(report.desired.unusableReasons == ["isp1": "interface wan1 does not exist"])
        #expect(!report.desired.sysctls.contains { $0.key.contains("wan1") })
        #expect(try report.desired.wan(named: "isp3").splitShare == report.desired.wans[0].splitModulus)
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan2", "wan3"])
    }

    @Test func anOffLinkGatewayIsPlannedWithoutItsRouteAndTheRestIsInstalled() throws {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        let config = try ConfigLoader.parse(Self.threeWans)
        try applier.apply(config)
        // wan1's address moved to another subnet: the kernel flushed its routes and would refuse
        // `default via 192.168.1.1` now.
        kernel.update { state in
            let index = state.interfaces.firstIndex { $0.name == "wan1" }!
            state.interfaces[index].addresses = [InterfaceAddress(address: IPv4Address("10.9.0.2")!, prefixLength: 24)]
            state.routes.removeAll { $0.device == "wan1" }
        }
        let report = try applier.apply(
            config, availability: WanAvailability(unavailable: ["isp2"]), missingInterfacesAreDown: true)
        #expect(
            report.desired.unusableReasons["isp1"]?.hasPrefix("gateway 192.168.1.1 is not on-link on wan1") == true,
            "\(report.desired.unusableReasons)")
        #expect(try report.desired.wan(named: "isp3").splitShare == report.desired.wans[0].splitModulus)
        #expect(kernel.snapshot.routes.map(\.device).sorted() == ["wan2", "wan3"])
    }
}

extension DesiredState {
    func wan(named name: String) throws -> PlannedWan {
        try #require(wans.first { $0.name == name })
    }

    /// The table of the rule with no selector that catches unmarked traffic.
    var fallbackTable: UInt32? { policyRules.last?.table }
}
