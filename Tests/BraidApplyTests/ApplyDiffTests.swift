import BraidConfig
import BraidPlanner
import Testing

@testable import BraidApply
@testable import BraidKernel

/// The apply's decisions on hand-built observations: no kernel, fake or real, only what an apply
/// would have read and what it wants.
@Suite struct ApplyDiffTests {
    static let twoWans = GatewayApplierTests.yaml
    static let threeWans = twoWans + "\n  - name: isp3\n    interface: wan3\n    gateway: 192.168.3.1\n"

    static let host = HostFacts(interfaces: [
        InterfaceFacts(name: "lan0"), GatewayApplierTests.wanInterface(1),
        GatewayApplierTests.wanInterface(2), GatewayApplierTests.wanInterface(3),
    ])

    static func desired(_ yaml: String, slots: [String: Int] = [:]) throws -> DesiredState {
        try GatewayPlanner.plan(try ConfigLoader.parse(yaml), host: host, previousSlots: slots)
    }

    static func sysctls(of desired: DesiredState) -> [String: String] {
        Dictionary(uniqueKeysWithValues: desired.sysctls.map { ($0.key, $0.value) })
    }

    /// The kernel as an apply of `desired` left it, and the state file that apply wrote (generation 7).
    static func installed(_ desired: DesiredState, originals: [String: String]) -> ApplyObservation {
        var stored = AppliedState(
            originalSysctls: originals, rulesetSource: desired.ruleset.render(), rulesetFingerprint: "chains-1",
            setDigests: ApplyDiff.setDigests(desired.ruleset))
        stored.rulesetGeneration = 7
        stored.wanSlots = Dictionary(uniqueKeysWithValues: desired.wans.map { ($0.name, $0.slot) })
        let table = ObservedTable(chains: desired.ruleset.chains.map(\.name), fingerprint: "chains-1")
        return ApplyObservation(
            stored: stored,
            kernel: ObservedKernelState(policyRules: desired.policyRules, routes: desired.routes, table: table),
            sysctls: sysctls(of: desired), generation: 7)
    }

    static let beforeBraid = [
        "net/ipv4/ip_forward": "0", "net/ipv4/conf/wan1/rp_filter": "1",
        "net/ipv4/conf/wan2/rp_filter": "1",
    ]

    @Test func aFirstInstallAddsEverythingAndSavesTheOriginalsFirst() throws {
        let desired = try Self.desired(Self.twoWans)
        let observation = ApplyObservation(stored: nil, kernel: ObservedKernelState(), sysctls: Self.beforeBraid)
        let target = ApplyDiff.Target(desired: desired, stored: nil, table: nil)
        #expect(!ApplyDiff.needsTableListing(observation, target))
        #expect(!ApplyDiff.needsObjectNames(observation, target))
        let diff = ApplyDiff(observation, target: target)
        #expect(diff.steps.count == desired.routes.count + desired.policyRules.count + 1 + desired.sysctls.count)
        #expect(
            diff.steps.contains(
                .loadRuleset(transaction: KernelChangeSet.transaction(replacing: nil, with: desired.ruleset), undo: nil)))
        #expect(diff.earlyState?.originalSysctls == Self.beforeBraid)
        #expect(diff.earlyState?.rulesetSource == nil)
        #expect(diff.stateToRecord.rulesetSource == desired.ruleset.render())
        #expect(diff.stateToRecord.wanSlots == ["isp1": 1, "isp2": 2])
    }

    @Test func anUnchangedVerifiedTableMeansNoSteps() throws {
        let desired = try Self.desired(Self.twoWans)
        let observation = Self.installed(desired, originals: Self.beforeBraid)
        let target = ApplyDiff.Target(desired: desired, stored: observation.stored, table: observation.kernel.table)
        #expect(ApplyDiff.tableLooksUnchanged(observation, target))
        #expect(target.inPlaceCandidate == nil)
        #expect(!ApplyDiff.needsTableListing(observation, target))
        #expect(!ApplyDiff.needsObjectNames(observation, target))
        let diff = ApplyDiff(observation, target: target)
        #expect(diff.steps.isEmpty)
        #expect(diff.rulesetUnchanged)
        #expect(diff.earlyState == nil)
        #expect(!diff.reloadedToBeSure)
    }

    /// A table that looks unchanged but fails verification (a rule deleted behind Braid's back) is
    /// reloaded whole; an unverifiable one is reloaded "to be sure".
    @Test(arguments: [false, true])
    func anUnchangedLookingTableThatFailsVerificationIsReloaded(unverifiable: Bool) throws {
        let desired = try Self.desired(Self.twoWans)
        var observation = Self.installed(desired, originals: Self.beforeBraid)
        observation.generation = 9
        observation.verification = TableVerification(intact: false, unverifiable: unverifiable)
        let target = ApplyDiff.Target(desired: desired, stored: observation.stored, table: observation.kernel.table)
        #expect(ApplyDiff.needsObjectNames(observation, target))
        #expect(!ApplyDiff.needsTableListing(observation, target))
        let diff = ApplyDiff(observation, target: target)
        guard case .loadRuleset(_, let undo?)? = diff.steps.first, diff.steps.count == 1 else {
            Issue.record("expected one reload, got \(diff.steps)")
            return
        }
        #expect(NftTransactionRenderer.render(undo).hasSuffix(desired.ruleset.render()))
        #expect(diff.reloadedToBeSure == unverifiable)
    }

    @Test func newWeightsLoadInPlaceWhenNoOneTransactedSinceBraidsLoad() throws {
        let old = try Self.desired(Self.twoWans)
        let new = try Self.desired(Self.twoWans.replacingOccurrences(of: "weight: 30", with: "weight: 10"))
        let observation = Self.installed(old, originals: Self.beforeBraid)
        let target = ApplyDiff.Target(desired: new, stored: observation.stored, table: observation.kernel.table)
        let update = try #require(TableUpdate.inPlace(from: old.ruleset.render(), to: new.ruleset.render()))
        #expect(target.inPlaceCandidate == update)
        #expect(!ApplyDiff.needsInPlaceVerification(observation, target))
        #expect(!ApplyDiff.needsObjectNames(observation, target))
        let diff = ApplyDiff(observation, target: target)
        #expect(diff.steps == [.loadRuleset(transaction: update.transaction, undo: update.undo)])
        #expect(diff.earlyState == nil)
    }

    /// Another program's transaction moved the generation: the in-place update is used only when
    /// the table verifies as Braid's load, else the table is reloaded whole (and its objects named).
    @Test(arguments: [true, false])
    func newWeightsAfterAForeignTransactionNeedTheTableVerified(intact: Bool) throws {
        let old = try Self.desired(Self.twoWans)
        let new = try Self.desired(Self.twoWans.replacingOccurrences(of: "weight: 30", with: "weight: 10"))
        var observation = Self.installed(old, originals: Self.beforeBraid)
        observation.generation = 8
        let target = ApplyDiff.Target(desired: new, stored: observation.stored, table: observation.kernel.table)
        #expect(ApplyDiff.needsInPlaceVerification(observation, target))
        observation.inPlaceVerification = TableVerification(intact: intact)
        #expect(ApplyDiff.needsObjectNames(observation, target) == !intact)
        let diff = ApplyDiff(observation, target: target)
        let update = try #require(target.inPlaceCandidate)
        #expect(diff.steps.count == 1)
        #expect((diff.steps.first == .loadRuleset(transaction: update.transaction, undo: update.undo)) == intact)
    }

    /// Without a state file the undo of a reload can only put back what the kernel lists.
    @Test func withoutAStateFileTheUndoIsTheTablesListing() throws {
        let desired = try Self.desired(Self.twoWans)
        var observation = Self.installed(desired, originals: Self.beforeBraid)
        observation.stored = nil
        let target = ApplyDiff.Target(desired: desired, stored: nil, table: observation.kernel.table)
        #expect(!ApplyDiff.tableLooksUnchanged(observation, target))
        #expect(ApplyDiff.needsTableListing(observation, target))
        #expect(ApplyDiff.needsObjectNames(observation, target))
        observation.tableListing = .some("table inet braid { # as listed\n}\n")
        observation.objectNames = TableObjectNames(counters: ["rx_isp1"], maps: ["wan_split"], sets: [])
        let diff = ApplyDiff(observation, target: target)
        guard case .loadRuleset(let transaction, let undo?)? = diff.steps.first else {
            Issue.record("expected a reload, got \(diff.steps)")
            return
        }
        #expect(NftTransactionRenderer.render(undo).hasSuffix("table inet braid { # as listed\n}\n"))
        // The object names read for the reload are the ones it deletes.
        #expect(NftTransactionRenderer.render(transaction).contains("delete map inet braid wan_split"))
        // What the kernel holds now becomes the originals a `down` restores.
        #expect(diff.earlyState?.originalSysctls == Self.sysctls(of: desired))
    }

    @Test func aRemovedWansSysctlIsRestoredAndForgotten() throws {
        let three = try Self.desired(Self.threeWans)
        let two = try Self.desired(Self.twoWans, slots: ["isp1": 1, "isp2": 2])
        let wan3 = "net/ipv4/conf/wan3/rp_filter"
        var observation = Self.installed(three, originals: Self.beforeBraid.merging([wan3: "1"]) { a, _ in a })
        let target = ApplyDiff.Target(desired: two, stored: observation.stored, table: observation.kernel.table)
        #expect(ApplyDiff.leftoverSysctlKeys(stored: observation.stored, desired: two) == [wan3])
        observation.sysctls = Self.sysctls(of: two)
        observation.leftoverSysctls = [wan3: "2"]
        let diff = ApplyDiff(observation, target: target)
        #expect(diff.steps.last == .setSysctl(key: wan3, value: "1", previous: "2"))
        #expect(diff.steps.contains { if case .deleteRoute(let route) = $0 { route.device == "wan3" } else { false } })
        #expect(diff.stateToRecord.originalSysctls[wan3] == nil)
        #expect(diff.stateToRecord.wanSlots == ["isp1": 1, "isp2": 2])
        // A crash before the restore must still let `down` put it back.
        #expect(diff.earlyState?.originalSysctls[wan3] == "1")
    }

    /// Its interface gone, the sysctl cannot be read (or restored): it is forgotten all the same.
    @Test func aRemovedWansUnreadableSysctlIsOnlyForgotten() throws {
        let three = try Self.desired(Self.threeWans)
        let two = try Self.desired(Self.twoWans, slots: ["isp1": 1, "isp2": 2])
        let wan3 = "net/ipv4/conf/wan3/rp_filter"
        var observation = Self.installed(three, originals: Self.beforeBraid.merging([wan3: "1"]) { a, _ in a })
        observation.sysctls = Self.sysctls(of: two)
        let diff = ApplyDiff(observation, desired: two)
        #expect(!diff.steps.contains { if case .setSysctl = $0 { true } else { false } })
        #expect(diff.stateToRecord.originalSysctls[wan3] == nil)
    }
}
