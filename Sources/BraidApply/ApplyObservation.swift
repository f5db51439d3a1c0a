import BraidConfig
import BraidKernel
import BraidPlanner

/// Everything one apply read before deciding what to change: the state file, what Braid has
/// installed, the sysctls it sets, and the checks that say whether its nft table is still its own.
///
/// Only values read, nothing decided: `ApplyDiff` turns an observation and the desired state into
/// steps, so the decisions can be tested on hand-built observations without a kernel.
struct ApplyObservation: Sendable {
    /// The state file (nil when missing, unreadable or corrupt).
    var stored: AppliedState?
    /// Braid's rules, routes and table, as the kernel has them (object names only in `objectNames`).
    var kernel: ObservedKernelState
    /// The current value of every sysctl the desired state sets.
    var sysctls: [String: String] = [:]
    /// The current value of each sysctl Braid recorded an original for but no longer sets (a WAN
    /// that left the config); missing when it could not be read (its interface is gone).
    var leftoverSysctls: [String: String] = [:]
    /// The nftables generation before anything is changed.
    var generation: UInt64 = 0
    /// Whether the table is still Braid's load, checked only when it looks unchanged (the chain
    /// fingerprint misses a deleted rule or set element; see `TableVerification`).
    var verification = TableVerification()
    /// The table as the kernel lists it, read only when the state file cannot undo a reload (see
    /// `ApplyDiff.needsTableListing`); `.some(nil)` when the table was gone by then.
    var tableListing: String?? = nil
    /// Whether the table is still Braid's load, checked only before an in-place update when the
    /// generation moved since that load.
    var inPlaceVerification: TableVerification?
    /// The counters, maps and sets in the table, read only for a full reload (which deletes them).
    var objectNames: TableObjectNames?
}

extension GatewayApplier {
    /// What Braid has installed, and what it recorded of it: all the planner needs (the WANs' slots).
    func observeInstalled(_ config: Config, warnings: inout [String]) throws(ApplyError) -> ApplyObservation {
        let (stored, loadWarning) = store.loadReporting()
        if let loadWarning { warnings.append(loadWarning) }
        do {
            return ApplyObservation(stored: stored, kernel: try kernel.readState(layout: config.kernel))
        } catch { throw .kernel(error) }
    }

    /// The rest of the observation, once the plan is known: each conditional read happens only when
    /// `ApplyDiff`'s predicate says the diff needs it, in the order that keeps every listing after
    /// the generation it is compared with.
    func observe(_ observation: inout ApplyObservation, for target: ApplyDiff.Target) throws(KernelError) {
        let desiredKeys = target.desired.sysctls.map(\.key)
        observation.sysctls = try kernel.readSysctls(desiredKeys)
        for key in ApplyDiff.leftoverSysctlKeys(stored: observation.stored, desired: target.desired) {
            if let now = try? kernel.readSysctls([key])[key] { observation.leftoverSysctls[key] = now }
        }
        observation.generation = try kernel.readRulesetGeneration()
        // Whether the table is still what Braid recorded (see TableVerification), asked for only when
        // an unchanged table or an in-place update depends on it.
        let verifyTable = { [observation] () throws(KernelError) -> TableVerification in
            try TableVerification.check(
                kernel: kernel, generation: observation.generation,
                recordedGeneration: observation.stored?.rulesetGeneration,
                recordedDigest: observation.stored?.tableDigest)
        }
        if ApplyDiff.tableLooksUnchanged(observation, target) {
            observation.verification = try verifyTable()
        }
        if ApplyDiff.needsTableListing(observation, target) {
            observation.tableListing = .some(try kernel.readTableListing())
        }
        if ApplyDiff.needsInPlaceVerification(observation, target) {
            observation.inPlaceVerification = try verifyTable()
        }
        if ApplyDiff.needsObjectNames(observation, target) {
            observation.objectNames = try kernel.readObjectNames()
        }
    }
}
