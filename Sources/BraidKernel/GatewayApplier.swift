import BraidConfig
import BraidPlanner

/// Installs a config into the kernel and removes it again: plan, read back, diff, perform the
/// steps, undo them all if one fails, and verify. The same code drives the real kernel and the fake.
public struct GatewayApplier: Sendable {
    public let kernel: any KernelPort
    public let store: AppliedStateStore
    /// How long `apply` and `down` wait for another Braid command's change to finish.
    public var lockTimeout: Duration
    /// Called once when the lock is busy, with the holder's pid when known (the CLI says whom it waits for).
    public var onLockWait: @Sendable (Int32?) -> Void = { _ in }
    /// Lets `apply` change the mark mask under open connections (`MarkRenumbering`), deleting their
    /// conntrack entries afterwards, instead of refusing.
    public var renumberMarks = false

    public init(kernel: any KernelPort, store: AppliedStateStore, lockTimeout: Duration = .seconds(60)) {
        self.kernel = kernel
        self.store = store
        self.lockTimeout = lockTimeout
    }

    /// What an apply did.
    public struct Report: Sendable {
        public var desired: DesiredState
        public var performed: [KernelStep]
        /// The table was reloaded because another program changed nftables before Braid could
        /// verify its last load, not because a difference was seen.
        public var reloadedToBeSure = false
        /// Removed WAN → how many of its conntrack entries were deleted (with `flush_on_down`).
        public var flushedConnections: [String: Int] = [:]
        /// Removed WAN → why its conntrack entries could not be deleted (the apply itself stands).
        public var flushFailures: [String: String] = [:]
        /// The mark mask changed (`renumberMarks`): the old marks, and how many of their conntrack
        /// entries were deleted (nil when none could be; `renumberFailure` says why).
        public var renumbering: MarkRenumbering?
        public var renumberedConnections: Int?
        public var renumberFailure: String?
        /// Problems with the state directory that did not stop the change (an unwritable or corrupt
        /// state file, a lock that could not be taken).
        public var stateWarnings: [String] = []
    }

    /// The plan `apply` would install now: host facts from the kernel, WAN slots from the last apply.
    public func plan(_ config: Config, availability: WanAvailability = .allAvailable, missingInterfacesAreDown: Bool = false) throws(ApplyError) -> DesiredState {
        let previousSlots: [String: Int]
        do {
            let observed = try kernel.readState(layout: config.kernel)
            previousSlots = Self.previousSlots(config, stored: store.load(), observed: observed)
        } catch { throw .kernel(error) }
        return try plan(config, availability: availability, previousSlots: previousSlots, missingInterfacesAreDown: missingInterfacesAreDown)
    }

    func plan(_ config: Config, availability: WanAvailability, previousSlots: [String: Int], missingInterfacesAreDown: Bool) throws(ApplyError) -> DesiredState {
        let facts: HostFacts
        do { facts = try kernel.readHostFacts() } catch { throw .kernel(error) }
        do {
            return try GatewayPlanner.plan(config, host: facts, availability: availability, previousSlots: previousSlots,
                                           missingInterfacesAreDown: missingInterfacesAreDown)
        } catch { throw .plan(error) }
    }

    /// The slots WANs hold now: from the state file, or else read back from Braid's routes (table
    /// → slot, device → WAN), so connections keep their WAN even when the state file was lost.
    public static func previousSlots(_ config: Config, stored: AppliedState?, observed: ObservedKernelState) -> [String: Int] {
        if let slots = stored?.wanSlots { return slots }
        var slots: [String: Int] = [:]
        for route in observed.routes where route.destination == nil && route.table >= config.kernel.firstTable {
            guard let wan = config.wans.first(where: { $0.interface == route.device }) else { continue }
            slots[wan.name] = Int(route.table - config.kernel.firstTable) + 1
        }
        return slots
    }

    /// `missingInterfacesAreDown`: see `GatewayPlanner.plan`; the daemon sets it after its first apply.
    @discardableResult
    public func apply(_ config: Config, availability: WanAvailability = .allAvailable, missingInterfacesAreDown: Bool = false) throws(ApplyError) -> Report {
        var warnings: [String] = []
        let locked = try lock(&warnings)
        defer { if locked { store.changeLock.release() } }
        // One WAN's refused route or sysctl takes out only that WAN (WanIsolation.swift).
        var report = try applyIsolatingWans(config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown,
                                            warnings: &warnings)
        // The early and the final save fail alike: say it once.
        report.stateWarnings = warnings.reduce(into: []) { unique, warning in if !unique.contains(warning) { unique.append(warning) } }
        return report
    }

    /// Takes the change lock; false (with a warning) when the state directory cannot hold one, so
    /// that a read-only or full state directory never blocks a kernel change.
    private func lock(_ warnings: inout [String]) throws(ApplyError) -> Bool {
        do {
            try store.changeLock.acquire(timeout: lockTimeout, onWait: onLockWait)
            return true
        } catch {
            if case .cannotLock = error {
                warnings.append("\(error); going ahead without it")
                return false
            }
            throw .locked(error)
        }
    }

    /// One attempt, whole or nothing, with `availability` as given.
    func applyLocked(_ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool,
                     warnings: inout [String]) throws(ApplyError) -> Report {
        let (stored, loadWarning) = store.loadReporting()
        if let loadWarning { warnings.append(loadWarning) }
        let observedBefore: ObservedKernelState
        do {
            observedBefore = try kernel.readState(layout: config.kernel)
        } catch { throw .kernel(error) }
        let renumbering = try checkMarkRenumbering(config, observed: observedBefore)
        let previousSlots = Self.previousSlots(config, stored: stored, observed: observedBefore)
        let desired = try plan(config, availability: availability, previousSlots: previousSlots,
                               missingInterfacesAreDown: missingInterfacesAreDown)
        let previousState: AppliedState?
        var state: AppliedState
        let steps: [KernelStep]
        var generationBefore: UInt64 = 0
        var verification = TableVerification()
        do {
            previousState = stored
            var observed = observedBefore
            state = previousState ?? AppliedState()
            let desiredKeys = desired.sysctls.map(\.key)
            let current = try kernel.readSysctls(desiredKeys)
            for key in desiredKeys where state.originalSysctls[key] == nil { state.originalSysctls[key] = current[key] }
            // Sysctls of WANs that left the config go back to what they were before Braid.
            var restores: [KernelStep] = []
            for (key, original) in state.originalSysctls.sorted(by: { $0.key < $1.key }) where !desiredKeys.contains(key) {
                if let now = try? kernel.readSysctls([key])[key], now != original {
                    restores.append(.setSysctl(key: key, value: original, previous: now))
                }
                state.originalSysctls[key] = nil
            }
            let source = desired.ruleset.render()
            var unchanged = observed.table != nil && previousState?.rulesetSource == source
                && previousState?.rulesetFingerprint == observed.table?.fingerprint
            // The chain fingerprint misses a deleted rule or set element; see TableVerification.
            generationBefore = try kernel.readRulesetGeneration()
            if unchanged {
                verification = try TableVerification.check(kernel: kernel, generation: generationBefore,
                                                           recordedGeneration: previousState?.rulesetGeneration,
                                                           recordedDigest: previousState?.tableDigest)
                unchanged = verification.intact
            }
            let digests = Self.setDigests(desired.ruleset)
            let keptSets = Set(digests.filter { previousState?.setDigests?[$0.key] == $0.value }.map(\.key))
            // Without a state file (lost, or another --state-dir), or with one that does not
            // describe the table installed (an `apply` killed after its nft load committed), the
            // undo of a reload has no source of Braid's: the kernel's listing stands in for it.
            var previousSource = previousState?.rulesetSource
            if observed.table != nil, !unchanged,
               previousSource == nil || previousState?.rulesetFingerprint != observed.table?.fingerprint {
                previousSource = try kernel.readTableListing()
            }
            let inPlace = try inPlaceUpdate(observed: observed, previous: previousState, desiredSource: source,
                                            unchanged: unchanged, generation: generationBefore)
            if !unchanged, inPlace == nil, observed.table != nil {
                // A full reload deletes every map and set (but kept ones) and the counters of WANs
                // that left: it needs their names, as the kernel has them.
                let names = try kernel.readObjectNames()
                observed.table?.counters = names.counters
                observed.table?.maps = names.maps
                observed.table?.sets = names.sets
            }
            steps = KernelChangeSet.steps(from: observed, to: desired, sysctls: current, rulesetUnchanged: unchanged,
                                          keptSets: keptSets, previousSource: previousSource, inPlace: inPlace) + restores
            // Record the originals before touching anything, so a crash half-way still lets `down` restore them.
            // Only when this apply learned an original the file does not hold yet: on a failover
            // re-plan it never does, and the file (with the table's source) is megabytes.
            if !steps.isEmpty, state.originalSysctls != previousState?.originalSysctls {
                var early = state
                early.originalSysctls.merge(previousState?.originalSysctls ?? [:]) { mine, _ in mine }
                do { try store.save(early) } catch { warnings.append(error.description) }
            }
        } catch {
            throw .kernel(error)
        }

        try perform(steps, restoringStateTo: previousState, warnings: &warnings)

        do {
            let objects = ["set": desired.ruleset.sets.map(\.name), "map": desired.ruleset.maps.map(\.name),
                           "counter": desired.ruleset.counters.map(\.name)]
            let after = try kernel.readState(layout: config.kernel)
            let sysctls = try kernel.readSysctls(desired.sysctls.map(\.key))
            var remaining = KernelChangeSet.steps(from: after, to: desired, sysctls: sysctls, rulesetUnchanged: true)
            if Set(after.table?.chains ?? []) != Set(desired.ruleset.chains.map(\.name)) {
                remaining.append(.loadRuleset(transaction: NftTransaction(), undo: nil))
            }
            guard remaining.isEmpty else { throw ApplyError.verificationFailed(remaining) }
            state.rulesetSource = desired.ruleset.render()
            state.rulesetFingerprint = after.table?.fingerprint
            state.objects = objects
            state.setDigests = Self.setDigests(desired.ruleset)
            state.unavailableWans = availability.unavailable.sorted()
            state.wanSlots = Dictionary(uniqueKeysWithValues: desired.wans.map { ($0.name, $0.slot) })
            let loaded = steps.contains { if case .loadRuleset = $0 { true } else { false } }
            let record = loaded
                ? try TableVerification.afterLoad(kernel: kernel, generationBefore: generationBefore, ruleset: desired.ruleset)
                : verification.record(keeping: previousState)
            state.rulesetGeneration = record.generation
            state.tableDigest = record.digest
            do { try store.save(state) } catch { warnings.append(error.description) }
        } catch let error as ApplyError {
            throw error
        } catch let error as KernelError {
            throw .kernel(error)
        } catch {
            throw .kernel(.unexpected("\(error)"))
        }
        // A removed WAN's connections can no longer leave by it (its mark is in no map): with
        // flush_on_down they are deleted, so their clients reconnect through the remaining WANs.
        var flushed: [String: Int] = [:]
        var flushFailures: [String: String] = [:]
        if config.flushOnDown {
            let kept = Set(desired.wans.map(\.name))
            for (name, slot) in previousSlots.sorted(by: { $0.value < $1.value }) where !kept.contains(name) {
                do {
                    flushed[name] = try kernel.flushConnections(mark: config.kernel.mark(forSlot: slot), mask: config.kernel.markMask)
                } catch {
                    flushFailures[name] = "\(error)"
                }
            }
        }
        var report = Report(desired: desired, performed: steps, reloadedToBeSure: verification.unverifiable && !steps.isEmpty,
                            flushedConnections: flushed, flushFailures: flushFailures, renumbering: renumbering)
        if let renumbering {
            do { report.renumberedConnections = try renumbering.flush(kernel: kernel) } catch { report.renumberFailure = "\(error)" }
        }
        return report
    }

    /// The in-place update from the table Braid loaded last, when only content differs (a WAN's
    /// health or weight) and that table is verifiably still what Braid loaded: a partial update
    /// on a table someone else changed would keep their change.
    func inPlaceUpdate(observed: ObservedKernelState, previous: AppliedState?, desiredSource: String,
                       unchanged: Bool, generation: UInt64) throws(KernelError) -> TableUpdate? {
        guard !unchanged, let table = observed.table, let previous, let loaded = previous.rulesetSource,
              previous.rulesetFingerprint == table.fingerprint,
              let update = TableUpdate.inPlace(from: loaded, to: desiredSource) else { return nil }
        // No transaction since Braid's own load: the table is that load, whether or not a digest was recorded.
        if previous.rulesetGeneration == generation { return update }
        let check = try TableVerification.check(kernel: kernel, generation: generation,
                                                recordedGeneration: previous.rulesetGeneration,
                                                recordedDigest: previous.tableDigest)
        return check.intact ? update : nil
    }

    /// Set name → digest of its elements.
    static func setDigests(_ ruleset: NftablesRuleset) -> [String: String] {
        Dictionary(uniqueKeysWithValues: ruleset.sets.map { ($0.name, StableDigest.of($0.elements)) })
    }

    /// Runs `steps` in order; on the first failure undoes the ones done, newest first.
    func perform(_ steps: [KernelStep], restoringStateTo previousState: AppliedState?, warnings: inout [String]) throws(ApplyError) {
        var done: [KernelStep] = []
        for step in steps {
            do {
                try kernel.perform(step)
                done.append(step)
            } catch {
                var rollbackFailures: [String] = []
                for completed in done.reversed() {
                    do { try kernel.perform(completed.inverse) } catch let undoError {
                        rollbackFailures.append("\(completed.inverse): \(undoError)")
                    }
                }
                do {
                    if let previousState { try store.save(previousState) } else { try store.remove() }
                } catch let storeError {
                    warnings.append(storeError.description)
                }
                throw .stepFailed(step: step, error: error, rollbackFailures: rollbackFailures)
            }
        }
    }

    /// Removes every rule, route and table Braid installed (found by its tag, not by the config, so
    /// it works after the config changed) and restores the sysctls it changed.
    @discardableResult
    public func down() throws(ApplyError) -> [KernelStep] {
        var warnings: [String] = []
        let locked = try lock(&warnings)
        defer { if locked { store.changeLock.release() } }
        let observed: ObservedKernelState
        let state = store.load()
        do {
            observed = try kernel.readState(layout: KernelLayoutConfig())
        } catch {
            throw .kernel(error)
        }
        var steps: [KernelStep] = []
        if observed.table != nil { steps.append(.deleteTable) }
        steps += observed.policyRules.map { .deleteRule($0) }
        steps += observed.routes.map { .deleteRoute($0) }
        if let state {
            let current = (try? kernel.readSysctls(Array(state.originalSysctls.keys))) ?? [:]
            for (key, original) in state.originalSysctls.sorted(by: { $0.key < $1.key }) where current[key] != original {
                steps.append(.setSysctl(key: key, value: original, previous: current[key] ?? ""))
            }
        }
        var failures: [String] = []
        for step in steps {
            do { try kernel.perform(step) } catch { failures.append("\(step): \(error)") }
        }
        if failures.isEmpty {
            do { try store.remove() } catch { failures.append("\(error)") }
        }
        guard failures.isEmpty else { throw .incompleteRemoval(failures) }
        return steps
    }
}
