import BraidConfig
import BraidKernel
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
    /// The table text this applier parsed last, so a change parses only the new rendering.
    let loadedTables = LoadedTableCache()
    /// Each object's last rendering, so a change renders only the objects that changed.
    let renderedObjects = RenderedObjectMemo()

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
        /// Where the apply spent its time, phase by phase, for logs and benchmarks.
        public var timings = ApplyTimings()
    }

    /// The plan `apply` would install now: host facts from the kernel, WAN slots from the last apply.
    public func plan(
        _ config: Config, availability: WanAvailability = .allAvailable, missingInterfacesAreDown: Bool = false
    ) throws(ApplyError) -> DesiredState {
        let previousSlots: [String: Int]
        do {
            let observed = try kernel.readState(layout: config.kernel)
            previousSlots = Self.previousSlots(config, stored: store.load(), observed: observed)
        } catch { throw .kernel(error) }
        return try plan(
            config, availability: availability, previousSlots: previousSlots, missingInterfacesAreDown: missingInterfacesAreDown)
    }

    func plan(
        _ config: Config, availability: WanAvailability, previousSlots: [String: Int], missingInterfacesAreDown: Bool
    ) throws(ApplyError) -> DesiredState {
        let facts: HostFacts
        do { facts = try readHostFacts() } catch { throw .kernel(error) }
        do {
            return try GatewayPlanner.plan(
                config, host: facts, availability: availability, previousSlots: previousSlots,
                missingInterfacesAreDown: missingInterfacesAreDown)
        } catch { throw .plan(error) }
    }

    /// The host as the planner sees it: the kernel's facts and the client-hook reports in the
    /// state directory (what DHCP and PPP clients last said, for gateways the kernel does not show).
    public func readHostFacts() throws(KernelError) -> HostFacts {
        var facts = try kernel.readHostFacts()
        facts.leaseReports = ClientLeaseReportStore(stateDirectory: store.directory).load()
        return facts
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
    public func apply(
        _ config: Config, availability: WanAvailability = .allAvailable, missingInterfacesAreDown: Bool = false
    ) throws(ApplyError) -> Report {
        var warnings: [String] = []
        let locked = try lock(&warnings)
        defer { if locked { store.changeLock.release() } }
        // One WAN's refused route or sysctl takes out only that WAN (WanIsolation.swift).
        var report = try applyIsolatingWans(
            config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown,
            warnings: &warnings)
        // The early and the final save fail alike: say it once.
        report.stateWarnings = warnings.reduce(into: []) { unique, warning in
            if !unique.contains(warning) { unique.append(warning) }
        }
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

    /// One attempt, whole or nothing, with `availability` as given: observe → plan → diff →
    /// execute → verify and record, then flush the connections of WANs that left (and of the old
    /// marks, when the mark mask changed).
    func applyLocked(
        _ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool,
        warnings: inout [String]
    ) throws(ApplyError) -> Report {
        var prepared = try prepare(
            config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown,
            warnings: &warnings)
        let diff = prepared.diff
        // Record the originals before touching anything, so a crash half-way still lets `down` restore them.
        if let early = diff.earlyState {
            do { try store.save(early) } catch { warnings.append(error.description) }
        }
        try prepared.timings.measure(\.execute) { () throws(ApplyError) in
            try perform(diff.steps, restoringStateTo: prepared.observation.stored, warnings: &warnings)
        }
        try prepared.timings.measure(\.verify) { () throws(ApplyError) in
            try verifyAndRecord(diff, observed: prepared.observation, config: config, warnings: &warnings)
        }
        let flush = flushRemovedWans(config, desired: diff.target.desired, previousSlots: prepared.previousSlots)
        var report = Report(
            desired: diff.target.desired, performed: diff.steps, reloadedToBeSure: diff.reloadedToBeSure,
            flushedConnections: flush.flushed, flushFailures: flush.failures, renumbering: prepared.renumbering)
        report.timings = prepared.timings
        if let renumbering = prepared.renumbering {
            do { report.renumberedConnections = try renumbering.flush(kernel: kernel) } catch {
                report.renumberFailure = "\(error)"
            }
        }
        return report
    }

    /// What an apply decided before changing anything.
    struct PreparedApply {
        var observation: ApplyObservation
        /// The slots WANs held before this apply (`previousSlots`), for flushing the ones that left.
        var previousSlots: [String: Int]
        /// The mark mask changed since the last apply (see `MarkRenumbering`).
        var renumbering: MarkRenumbering?
        var diff: ApplyDiff
        var timings = ApplyTimings()
    }

    /// Observe, plan and diff: what an apply of `config` would change now. Changes nothing, the
    /// state file included; refuses a mark renumbering as `apply` would.
    func prepare(
        _ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool,
        warnings: inout [String]
    ) throws(ApplyError) -> PreparedApply {
        var timings = ApplyTimings()
        var observation = try timings.measure(\.observe) { () throws(ApplyError) in
            try observeInstalled(config, warnings: &warnings)
        }
        let renumbering = try checkMarkRenumbering(config, observed: observation.kernel)
        let previousSlots = Self.previousSlots(config, stored: observation.stored, observed: observation.kernel)
        let desired = try timings.measure(\.plan) { () throws(ApplyError) in
            try plan(
                config, availability: availability, previousSlots: previousSlots,
                missingInterfacesAreDown: missingInterfacesAreDown)
        }
        let rendering = timings.measure(\.render) { desired.ruleset.rendering(memo: renderedObjects) }
        let target = timings.measure(\.diff) {
            ApplyDiff.Target(
                desired: desired, availability: availability, stored: observation.stored,
                table: observation.kernel.table, loadedTables: loadedTables, rendering: rendering)
        }
        try timings.measure(\.observe) { () throws(ApplyError) in
            do throws(KernelError) { try observe(&observation, for: target) } catch { throw .kernel(error) }
        }
        let diff = timings.measure(\.diff) { ApplyDiff(observation, target: target) }
        return PreparedApply(
            observation: observation, previousSlots: previousSlots, renumbering: renumbering,
            diff: diff, timings: timings)
    }

    /// A removed WAN's connections can no longer leave by it (its mark is in no map): with
    /// flush_on_down they are deleted, so their clients reconnect through the remaining WANs.
    /// Returns removed WAN → entries deleted, and removed WAN → why they could not be.
    private func flushRemovedWans(
        _ config: Config, desired: DesiredState,
        previousSlots: [String: Int]
    ) -> (flushed: [String: Int], failures: [String: String]) {
        var flushed: [String: Int] = [:]
        var failures: [String: String] = [:]
        guard config.flushOnDown else { return (flushed, failures) }
        let kept = Set(desired.wans.map(\.name))
        for (name, slot) in previousSlots.sorted(by: { $0.value < $1.value }) where !kept.contains(name) {
            do {
                flushed[name] = try kernel.flushConnections(mark: config.kernel.mark(forSlot: slot), mask: config.kernel.markMask)
            } catch {
                failures[name] = "\(error)"
            }
        }
        return (flushed, failures)
    }

    /// Runs `steps` in order; on the first failure undoes the ones done, newest first.
    func perform(
        _ steps: [KernelStep], restoringStateTo previousState: AppliedState?, warnings: inout [String]
    ) throws(ApplyError) {
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
