import BraidKernel
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
    public static func steps(
        from observed: ObservedKernelState, to desired: DesiredState,
        sysctls currentSysctls: [String: String], rulesetUnchanged: Bool,
        keptSets: Set<String> = [], previousSource: String? = nil,
        inPlace: TableUpdate? = nil
    ) -> [KernelStep] {
        var steps: [KernelStep] = []
        var staleRoutes: [KernelStep] = []
        var staleRules: [KernelStep] = []

        let observedByKey = Dictionary(observed.routes.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let desiredKeys = Set(desired.routes.map(\.key))
        for route in desired.routes {
            switch observedByKey[route.key] {
            case nil: steps.append(.addRoute(route))
            case let existing? where existing != route: steps.append(.replaceRoute(old: existing, new: route))
            default: break
            }
        }
        var seenKeys = Set<RouteKey>()
        for route in observed.routes {
            // A second route under a key Braid keeps is a duplicate; a route under a key it no longer uses is stale.
            if !desiredKeys.contains(route.key) || !seenKeys.insert(route.key).inserted && !desired.routes.contains(route) {
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
            let undo: NftTransaction? = observed.table.map { _ in
                undoTransaction(
                    desired: desired.ruleset, keptSets: keptSets, previousSource: previousSource,
                    previousCounters: observed.table?.counters ?? [])
            }
            steps.append(
                .loadRuleset(
                    transaction: transaction(replacing: observed.table, with: desired.ruleset, keptSets: keptSets),
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
    /// those of WANs that are gone. Maps go before the chains their verdicts name, and chains
    /// before the counters their maps name: the kernel refuses to delete an object in use.
    public static func transaction(
        replacing existing: ObservedTable?, with ruleset: NftablesRuleset, keptSets: Set<String> = []
    ) -> NftTransaction {
        var operations: [NftOperation] = [.addTable]
        var kept: Set<String> = []
        if let existing {
            kept = keptSets.intersection(existing.sets)
            operations.append(.flushTable)
            operations += existing.maps.map { .deleteMap($0) }
            operations += existing.sets.filter { !kept.contains($0) }.map { .deleteSet($0) }
            operations += existing.chains.map { .deleteChain($0) }
            let keep = Set(ruleset.counters.map(\.name))
            operations += existing.counters.filter { !keep.contains($0) }.map { .deleteCounter($0) }
        }
        var body = ruleset
        body.sets.removeAll { kept.contains($0.name) }
        return NftTransaction(family: ruleset.family, table: ruleset.name, operations + NftTransaction.declarations(of: body))
    }

    /// The transaction that puts back `previousSource` once `desired` is loaded: the same
    /// flush-and-replace, with the previous table's objects declared again. Kept sets are not
    /// deleted; the previous table re-adds their (identical) elements. A previous table that is
    /// not Braid's rendering (the kernel's listing, when the state file was lost) is loaded as
    /// nft listed it. Counters the load added (a new WAN's) go too; the others keep their totals.
    static func undoTransaction(
        desired: NftablesRuleset, keptSets: Set<String>, previousSource: String?,
        previousCounters: [String]
    ) -> NftTransaction {
        var operations: [NftOperation] = [.addTable, .flushTable]
        operations += desired.maps.map { .deleteMap($0.name) }
        operations += desired.sets.filter { !keptSets.contains($0.name) }.map { .deleteSet($0.name) }
        operations += desired.chains.map { .deleteChain($0.name) }
        let previous = Set(previousCounters)
        operations += desired.counters.filter { !previous.contains($0.name) }.map { .deleteCounter($0.name) }
        if let previousSource, !previousSource.isEmpty {
            if let previous = NftablesRuleset(parsing: previousSource) {
                operations += NftTransaction.declarations(of: previous)
            } else {
                operations.append(.loadListing(previousSource))
            }
        }
        return NftTransaction(family: desired.family, table: desired.name, operations)
    }
}
