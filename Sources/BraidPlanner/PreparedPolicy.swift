import BraidConfig

/// A policy compiled as far as WAN health allows: its sets, dispatch and action chains, every
/// rule's box and pass-over group, and, when `grouped`, its rank maps and lookup rules.
///
/// Grouped, each pass-over group has rank maps of its own, which never depend on health: a rule
/// whose WANs are all down is passed over by leaving its group's lookups out of `traffic_rules`.
/// The lookups compose by keeping the lowest matching rank, so what the remaining ones find is
/// exactly the first rule still in play; the plain first lookup (no rank in its key) stays first
/// whenever it runs. A health change with 10,000 rules installed then rewrites a chain of a few
/// lines and the `use_N` chains instead of a map of thousands of elements. It costs a lookup per
/// group and shape instead of per shape, so a policy is grouped only from
/// `PolicyBounds.groupingElements` elements on (a smaller map is rewritten in a few ms) and only
/// while that keeps to `PolicyBounds.warningLookups`; otherwise a passed-over rule's elements
/// leave its map, as `output(…)` computes on each health change.
struct PreparedPolicy: Sendable {
    var output = PolicyCompiler.Output()
    var pipelines: [PolicyCompiler.FamilyPipeline] = []
    var groups: [PassOverGroup] = []
    var grouped = false
    var targets = PolicyCompiler.TargetChains()
    var actions = PolicyCompiler.ActionChains()
    var noMatch: UInt32
    var dualStack: Bool
    /// When grouped: per pipeline, its maps' `traffic_rules` lines (and set rules), each with its group.
    var lookupRules: [[(rule: NftablesRule, group: Int?)]] = []
    /// When grouped: per pipeline, its rank maps.
    var lookupMaps: [[NftablesMap]] = []

    init(noMatch: UInt32, dualStack: Bool) {
        self.noMatch = noMatch
        self.dualStack = dualStack
    }

    /// The compiled policy for this health.
    func output(
        config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>?
    ) throws(PlanError) -> PolicyCompiler.Output {
        var output = self.output
        guard !pipelines.isEmpty else { return output }
        var rules = [
            NftablesRule(
                "ct mark set \(hex(noMatch))",
                comment:
                    "A new connection's ct mark holds the best (lowest) matching rule number while the lookups run: none yet."
            )
        ]
        var dispatchRules: [NftablesRule] = []
        var problems: [PlanError.Problem] = []
        var elementCount = 0
        for (index, pipeline) in pipelines.enumerated() {
            let available = pipeline.family == .ipv6 ? usableIPv6 ?? [] : usable
            let live = groups.map { $0.isLive(available) }
            let lines: [(rule: NftablesRule, group: Int?)]
            if grouped {
                lines = lookupRules[index]
                output.maps += lookupMaps[index] + [pipeline.dispatchMap]
            } else {
                var healthy = pipeline
                healthy.passedOver = Set(zip(pipeline.rules, pipeline.ruleGroups).compactMap { live[$1] ? nil : $0.rank })
                let compiled = PolicyCompiler.compiledLookups(healthy, healthy.lookups(groups: nil))
                output.maps += compiled.maps + [pipeline.dispatchMap]
                elementCount += compiled.elementCount
                if let warning = compiled.warning { output.warnings.append(warning) }
                if let problem = compiled.problem { problems.append(problem) }
                lines = compiled.rules
            }
            rules += lines.filter { line in line.group.map { live[$0] } ?? true }.map(\.rule)
            dispatchRules.append(pipeline.dispatchRule)
        }
        if let problem = PolicyCompiler.elementProblem(elementCount, pipelines) { problems.append(problem) }
        if !problems.isEmpty { throw PlanError(problems: problems) }
        output.rules = rules + dispatchRules
        output.rules.append(
            NftablesRule(
                "ct mark set 0x00000000",
                comment: "No rule matched, or its WANs are all down: clean the scratch ct mark; the split decides."))
        output.chains = targets.chains(config: config, wans: wans, usable: usable, usableIPv6: usableIPv6) + actions.chains
        return output
    }
}
