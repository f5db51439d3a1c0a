import BraidPlanner

/// The ordered steps that take the kernel from what Braid observed to what it desires. Pure.
///
/// Order matters for traffic while the steps run: routes first (a rule must never point at an
/// empty table), then rules, then the nft table that starts marking packets, then sysctls (so
/// forwarding starts only when everything is in place); stale rules and routes go last, after
/// nothing marks packets for them any more.
public enum KernelChangeSet {
    /// `keptSets`: sets whose content is already in the kernel (same digest as last applied), left
    /// in place so a re-plan does not reload 100,000 prefixes. `previousSource`: the table Braid
    /// loaded last, for the undo transaction. `inPlace`: the update from the table Braid loaded last
    /// (verified intact) to the desired one, when it needs no full reload; see `TableUpdate`.
    public static func steps(from observed: ObservedKernelState, to desired: DesiredState,
                             sysctls currentSysctls: [String: String], rulesetUnchanged: Bool,
                             keptSets: Set<String> = [], previousSource: String? = nil,
                             inPlace: TableUpdate? = nil) -> [KernelStep] {
        var steps: [KernelStep] = []
        var staleRoutes: [KernelStep] = []
        var staleRules: [KernelStep] = []

        let observedBySlot = Dictionary(observed.routes.map { ($0.slot, $0) }, uniquingKeysWith: { first, _ in first })
        let desiredSlots = Set(desired.routes.map(\.slot))
        for route in desired.routes {
            switch observedBySlot[route.slot] {
            case nil: steps.append(.addRoute(route))
            case let existing? where existing != route: steps.append(.replaceRoute(old: existing, new: route))
            default: break
            }
        }
        var seenSlots = Set<RouteSlot>()
        for route in observed.routes {
            // A second route in a slot Braid keeps is a duplicate; a route in a slot it no longer uses is stale.
            if !desiredSlots.contains(route.slot) || !seenSlots.insert(route.slot).inserted && !desired.routes.contains(route) {
                staleRoutes.append(.deleteRoute(route))
            }
        }

        let observedRules = Set(observed.policyRules)
        for rule in desired.policyRules where !observedRules.contains(rule) { steps.append(.addRule(rule)) }
        let desiredRules = Set(desired.policyRules)
        var keptRules = Set<PolicyRule>()
        for rule in observed.policyRules where !desiredRules.contains(rule) || !keptRules.insert(rule).inserted {
            staleRules.append(.deleteRule(rule))
        }

        if !rulesetUnchanged, let inPlace, observed.table != nil {
            steps.append(.loadRuleset(transaction: inPlace.transaction, undo: inPlace.undo))
        } else if !rulesetUnchanged {
            let undo: String? = observed.table.map { _ in
                undoTransaction(desired: desired.ruleset, keptSets: keptSets, previousSource: previousSource ?? "",
                                previousCounters: observed.table?.counters ?? [])
            }
            steps.append(.loadRuleset(transaction: transaction(replacing: observed.table, with: desired.ruleset, keptSets: keptSets),
                                      undo: undo))
        }

        for setting in desired.sysctls {
            let current = currentSysctls[setting.key] ?? ""
            if current != setting.value { steps.append(.setSysctl(key: setting.key, value: setting.value, previous: current)) }
        }
        // Rules before routes, so no rule points at an emptied table even for a moment.
        return steps + staleRules + staleRoutes
    }

    /// One nft transaction that turns whatever Braid's table holds into `ruleset`. Rules and maps
    /// are rebuilt; counters are kept (their totals are the history `braid status` shows), except
    /// those of WANs that are gone.
    public static func transaction(replacing existing: ObservedTable?, with ruleset: NftablesRuleset, keptSets: Set<String> = []) -> String {
        let table = "\(ruleset.family) \(ruleset.name)"
        var lines = ["add table \(table)"]
        var kept: Set<String> = []
        if let existing {
            kept = keptSets.intersection(existing.sets)
            lines.append("flush table \(table)")
            lines += existing.maps.map { "delete map \(table) \($0)" }
            lines += existing.sets.filter { !kept.contains($0) }.map { "delete set \(table) \($0)" }
            lines += existing.chains.map { "delete chain \(table) \($0)" }
            let keep = Set(ruleset.counters.map(\.name))
            lines += existing.counters.filter { !keep.contains($0) }.map { "delete counter \(table) \($0)" }
        }
        var body = ruleset
        body.sets.removeAll { kept.contains($0.name) }
        return lines.joined(separator: "\n") + "\n" + body.render()
    }

    /// The transaction that puts back `previousSource` once `desired` is loaded: the same
    /// flush-and-replace, with the previous declarative text as the new body. Kept sets are not
    /// deleted; the previous text re-adds their (identical) elements. Counters the load added (a
    /// new WAN's) are deleted too; the others keep their totals.
    static func undoTransaction(desired: NftablesRuleset, keptSets: Set<String>, previousSource: String,
                                previousCounters: [String]) -> String {
        let table = "\(desired.family) \(desired.name)"
        var lines = ["add table \(table)", "flush table \(table)"]
        lines += desired.maps.map { "delete map \(table) \($0.name)" }
        lines += desired.sets.filter { !keptSets.contains($0.name) }.map { "delete set \(table) \($0.name)" }
        lines += desired.chains.map { "delete chain \(table) \($0.name)" }
        let previous = Set(previousCounters)
        lines += desired.counters.filter { !previous.contains($0.name) }.map { "delete counter \(table) \($0.name)" }
        return lines.joined(separator: "\n") + "\n" + previousSource
    }
}
