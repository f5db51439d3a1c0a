import BraidKernel
import BraidPlanner

/// What one apply changes, decided from an `ApplyObservation` and the desired state alone. Pure:
/// the kernel steps in order, the state to record once they are verified, and why the table was or
/// was not reloaded. The predicates that decide the observation's conditional reads live here too,
/// so what is read and what is decided from it cannot drift apart.
struct ApplyDiff: Sendable {
    /// What the apply wants, prepared once: rendering 10,000 rules and parsing two tables for an
    /// in-place update cost a failover real time, and the observe step needs both too.
    struct Target: Sendable {
        var desired: DesiredState
        var availability: WanAvailability
        /// `desired.ruleset.render()`.
        var source: String
        /// The in-place update from the table Braid loaded last to `source`, when the table the
        /// kernel has looks like that load (same chain fingerprint) and only content differs. Still
        /// to be verified before use; see `ApplyDiff.inPlaceUpdate`.
        var inPlaceCandidate: TableUpdate?

        init(
            desired: DesiredState, availability: WanAvailability = .allAvailable, stored: AppliedState?, table: ObservedTable?,
            loadedTables: LoadedTableCache = LoadedTableCache(), rendering: RulesetRendering? = nil
        ) {
            self.desired = desired
            self.availability = availability
            let rendering = rendering ?? desired.ruleset.rendering()
            source = rendering.source
            // The same text needs no update (and parsing it twice would slow every unchanged re-apply).
            if table != nil, let stored, let loaded = stored.rulesetSource, !loaded.isSameText(as: source),
                stored.rulesetFingerprint == table?.fingerprint
            {
                inPlaceCandidate = loadedTables.update(from: loaded, to: rendering)
            } else {
                loadedTables.remember(rendering)
            }
        }
    }

    var target: Target
    /// The kernel steps, in the order `KernelChangeSet` gives them, then the restores of sysctls
    /// whose WAN left the config.
    var steps: [KernelStep]
    /// The table is left alone: Braid loaded this very table and no one has changed it since.
    var rulesetUnchanged: Bool
    /// The table is reloaded only because nothing vouched for it, not because a difference was seen.
    var reloadedToBeSure: Bool
    /// The state to save before any step, when this apply learned sysctl originals the file lacks
    /// (so a crash half-way still lets `down` restore them); nil when there is nothing to learn.
    var earlyState: AppliedState?
    /// The state to record once the steps are verified; the table's fingerprint, generation and
    /// digest are read after the steps and filled in then.
    var stateToRecord: AppliedState
    /// Whether the steps load the nft table (so the generation to record is the one after that load).
    var loadsRuleset: Bool { steps.contains { if case .loadRuleset = $0 { true } else { false } } }

    init(_ observation: ApplyObservation, desired: DesiredState, availability: WanAvailability = .allAvailable) {
        self.init(
            observation,
            target: Target(
                desired: desired, availability: availability, stored: observation.stored,
                table: observation.kernel.table))
    }

    init(_ observation: ApplyObservation, target: Target) {
        self.target = target
        let desired = target.desired
        let stored = observation.stored
        var state = stored ?? AppliedState()
        let desiredKeys = desired.sysctls.map(\.key)
        for key in desiredKeys where state.originalSysctls[key] == nil { state.originalSysctls[key] = observation.sysctls[key] }
        // Sysctls of WANs that left the config go back to what they were before Braid.
        var restores: [KernelStep] = []
        for key in Self.leftoverSysctlKeys(stored: stored, desired: desired) {
            if let original = state.originalSysctls[key], let now = observation.leftoverSysctls[key], now != original {
                restores.append(.setSysctl(key: key, value: original, previous: now))
            }
            state.originalSysctls[key] = nil
        }

        rulesetUnchanged = Self.rulesetUnchanged(observation, target)
        let inPlace = Self.inPlaceUpdate(observation, target)
        let digests = Self.setDigests(desired.ruleset, reusing: Self.reusableSetDigests(stored, target, inPlace))
        let keptSets = Set(digests.filter { stored?.setDigests?[$0.key] == $0.value }.map(\.key))
        let previousSource = observation.tableListing ?? stored?.rulesetSource
        var kernel = observation.kernel
        if let names = observation.objectNames {
            kernel.table?.counters = names.counters
            kernel.table?.maps = names.maps
            kernel.table?.sets = names.sets
        }
        steps =
            KernelChangeSet.steps(
                from: kernel, to: desired, sysctls: observation.sysctls, rulesetUnchanged: rulesetUnchanged,
                keptSets: keptSets, previousSource: previousSource,
                inPlace: inPlace) + restores
        reloadedToBeSure = observation.verification.unverifiable && !steps.isEmpty

        // Only when this apply learned an original the file does not hold yet: on a failover
        // re-plan it never does, and the file (with the table's source) is megabytes.
        if !steps.isEmpty, state.originalSysctls != stored?.originalSysctls {
            var early = state
            early.originalSysctls.merge(stored?.originalSysctls ?? [:]) { mine, _ in mine }
            earlyState = early
        }

        state.rulesetSource = target.source
        state.objects = [
            "set": desired.ruleset.sets.map(\.name), "map": desired.ruleset.maps.map(\.name),
            "counter": desired.ruleset.counters.map(\.name),
        ]
        state.setDigests = digests
        state.unavailableWans = target.availability.unavailable.sorted()
        state.wanSlots = Dictionary(uniqueKeysWithValues: desired.wans.map { ($0.name, $0.slot) })
        stateToRecord = state
    }

    /// Sysctls Braid recorded an original for that the desired state no longer sets, in key order.
    static func leftoverSysctlKeys(stored: AppliedState?, desired: DesiredState) -> [String] {
        let desiredKeys = Set(desired.sysctls.map(\.key))
        return (stored?.originalSysctls.keys.sorted() ?? []).filter { !desiredKeys.contains($0) }
    }

    /// The table holds what Braid loaded last (by its chains) and that is what it wants now; still
    /// to be verified (`ApplyObservation.verification`).
    static func tableLooksUnchanged(_ observation: ApplyObservation, _ target: Target) -> Bool {
        let table = observation.kernel.table
        return table != nil && observation.stored?.rulesetSource.isSameText(as: target.source) == true
            && observation.stored?.rulesetFingerprint == table?.fingerprint
    }

    static func rulesetUnchanged(_ observation: ApplyObservation, _ target: Target) -> Bool {
        tableLooksUnchanged(observation, target) && observation.verification.intact
    }

    /// Without a state file (lost, or another --state-dir), or with one that does not describe the
    /// table installed (an `apply` killed after its nft load committed), the undo of a reload has no
    /// source of Braid's: the kernel's listing stands in for it.
    static func needsTableListing(_ observation: ApplyObservation, _ target: Target) -> Bool {
        guard let table = observation.kernel.table, !rulesetUnchanged(observation, target) else { return false }
        return observation.stored?.rulesetSource == nil || observation.stored?.rulesetFingerprint != table.fingerprint
    }

    /// An in-place update on a table someone else changed would keep their change: with the
    /// generation moved since Braid's load, the table must be verified first.
    static func needsInPlaceVerification(_ observation: ApplyObservation, _ target: Target) -> Bool {
        target.inPlaceCandidate != nil && !rulesetUnchanged(observation, target)
            && observation.stored?.rulesetGeneration != observation.generation
    }

    /// The in-place update to use, when only content differs (a WAN's health or weight) and the
    /// table is verifiably still what Braid loaded.
    static func inPlaceUpdate(_ observation: ApplyObservation, _ target: Target) -> TableUpdate? {
        guard let update = target.inPlaceCandidate, observation.kernel.table != nil,
            !rulesetUnchanged(observation, target)
        else { return nil }
        // No transaction since Braid's own load: the table is that load, whether or not a digest was recorded.
        if observation.stored?.rulesetGeneration == observation.generation { return update }
        return observation.inPlaceVerification?.intact == true ? update : nil
    }

    /// A full reload deletes every map and set (but kept ones) and the counters of WANs that left:
    /// it needs their names, as the kernel has them.
    static func needsObjectNames(_ observation: ApplyObservation, _ target: Target) -> Bool {
        observation.kernel.table != nil && !rulesetUnchanged(observation, target) && inPlaceUpdate(observation, target) == nil
    }

    /// Set name → digest of its elements; `reusing` holds digests known to be current (hashing
    /// 100,000 prefixes on every failover is the cost to avoid).
    static func setDigests(_ ruleset: NftablesRuleset, reusing known: [String: String] = [:]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: ruleset.sets.map { ($0.name, known[$0.name] ?? StableDigest.of($0.elements)) })
    }

    /// The recorded set digests that still hold for the desired table: all of them when it renders
    /// as the table recorded, those of the sets an in-place update leaves alone otherwise.
    static func reusableSetDigests(_ stored: AppliedState?, _ target: Target, _ inPlace: TableUpdate?) -> [String: String] {
        guard let stored, let recorded = stored.setDigests else { return [:] }
        if stored.rulesetSource.isSameText(as: target.source) { return recorded }
        guard let inPlace else { return [:] }
        let rewritten = Set(inPlace.rewritten)
        return recorded.filter { !rewritten.contains("set \($0.key)") }
    }
}
