import BraidConfig

/// Compiles the ordered policy rules into a rank pipeline whose cost per new connection is
/// bounded by the number of rule *shapes* (which criteria a rule uses), not by the number of rules:
///
/// - every rule has a rank, its 1-based position in the config; lower wins (first match);
/// - `traffic_rules` sets `ct mark` to NOMATCH (all ones in as few bits as hold every rank), then
///   looks the connection up once per shape (and layer, see `ShapeLayering`) in a map
///   `<shape's key> . ct mark → ct mark` whose elements read "if the packet is in this box and the
///   best rank so far is worse than r, the best is now r": `box . r+1-NOMATCH : r`. A miss leaves
///   ct mark alone. The first lookup meets NOMATCH anyway, so it is a plain `<shape's key>` map
///   (the biggest one goes first: nft loads it several times faster);
/// - a `destination_set` rule is one rule of its own, `ct mark > R … ip daddr @dst_SET ct mark set R`:
///   nft 1.0.6 loads large plain sets quickly, but the same prefixes in a concatenated map not;
/// - `ct mark vmap @rule_verdicts` dispatches the winning rank to a small `rule_action_N` chain
///   that cleans ct mark and does what the rule says; a miss cleans ct mark and the split decides.
///
/// One-dimensional shapes (only sources, only destinations, only a protocol, or protocol and
/// ports) are resolved first-match-wins into disjoint intervals (`FirstMatchSweep`); shapes of
/// several dimensions go into layers of non-overlapping boxes. docs/design.md ("How rules
/// compile") has the bounds and trade-offs.
///
/// WAN health is kept out of the rule maps: a rule whose `use` list starts with a WAN goes to a
/// small `use_N` chain, one per distinct list, and only those chains say which WAN is usable now.
/// The one exception is a rule whose `use` list has only WANs and none of them is usable: it is
/// passed over (the next matching rule applies), so its elements leave the rank maps (a failover
/// touches exactly those elements and the ones of rules they shadowed; a set rule's own pipeline
/// rule leaves `traffic_rules`). A list that may fall
/// through is entered by `jump`, so a chosen WAN ends with `accept`; a list that ends with
/// `balance`, `main` or `drop` is entered by `goto`, so its `return` lands on the split.
enum PolicyCompiler {
    /// What a rule does with the connections it matches, resolved against WAN availability.
    enum Action: Equatable, Hashable {
        case wan(Int)
        case balance
        case main
        case drop
        /// A named policy (and its sticky timeout): `NamedPolicyPlanner` compiles its chains.
        case policy(String, stickySeconds: Int?)
    }

    struct Output: Sendable {
        var sets: [NftablesSet] = []
        var maps: [NftablesMap] = []
        /// The body of the `traffic_rules` chain.
        var rules: [NftablesRule] = []
        /// The `use_N` chains (the only chains that depend on WAN health) and the `rule_action_N` chains.
        var chains: [NftablesChain] = []
        var usesMain = false
        /// Policies that compile but cost more lookups per new connection than is comfortable.
        var warnings: [String] = []
    }

    /// A rule's `use` list up to its first target that never falls through.
    static func fallbackList(_ targets: [RuleTarget]) -> [RuleTarget] {
        guard let terminal = targets.firstIndex(where: { if case .wan = $0 { false } else { true } }) else { return targets }
        return Array(targets[...terminal])
    }

    /// The verdict for `targets` that does not depend on health, and the `use_N` chains it needs.
    struct TargetChains {
        /// A `use` list and the family whose availability its chain follows: IPv4 and IPv6 of one
        /// WAN can be up and down independently, so one list gets a chain per family.
        struct Key: Hashable {
            var family: AddressFamily
            var targets: [RuleTarget]
        }
        var lists: [Key] = []
        var index: [Key: Int] = [:]

        mutating func verdict(_ targets: [RuleTarget], wans: [PlannedWan], family: AddressFamily = .ipv4) -> String {
            switch targets.first {
            case .balance?: return PolicyCompiler.verdict(.balance, wans: wans)
            case .main?: return PolicyCompiler.verdict(.main, wans: wans)
            case .drop?: return PolicyCompiler.verdict(.drop, wans: wans)
            case .policy(let name, let sticky)?:
                return NamedPolicyPlanner.verdict(name, stickySeconds: sticky, family: family)
            case .wan?, nil: break
            }
            let number: Int
            let key = Key(family: family, targets: targets)
            if let known = index[key] {
                number = known
            } else {
                lists.append(key)
                number = lists.count
                index[key] = number
            }
            guard case .wan = targets.last else { return "goto use_\(number)" }
            return "jump use_\(number)"
        }

        func chains(config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>?) -> [NftablesChain] {
            lists.enumerated().map { offset, key in
                let targets = key.targets
                let summary =
                    "use: [" + targets.map(\.description).joined(separator: ", ") + "]"
                    + (key.family == .ipv6 ? " for IPv6" : "")
                let canFallThrough: Bool = { if case .wan = targets.last { true } else { false } }()
                let rules: [NftablesRule]
                let available = key.family == .ipv6 ? usableIPv6 ?? [] : usable
                switch PolicyCompiler.resolve(targets, config: config, usable: available) {
                case .wan(let index)? where canFallThrough:
                    rules = [NftablesRule("jump choose_\(wans[index].name)"), NftablesRule("accept")]
                case let action?:
                    rules = [NftablesRule(PolicyCompiler.verdict(action, wans: wans))]
                case nil:
                    rules = []
                }
                return NftablesChain(
                    name: "use_\(offset + 1)", rules: rules,
                    comment: offset == 0
                        ? "\(summary): the first usable target. Only these chains change with WAN health;\nempty: none is usable and the rule is passed over."
                        : summary)
            }
        }
    }

    static func resolve(_ targets: [RuleTarget], config: Config, usable: Set<String>) -> Action? {
        resolve(TrafficRuleConfig(name: "", use: targets), config: config, usable: usable)
    }

    static func resolve(_ rule: TrafficRuleConfig, config: Config, usable: Set<String>) -> Action? {
        for target in rule.use {
            switch target {
            case .wan(let name):
                if usable.contains(name), let index = config.wans.firstIndex(where: { $0.name == name }) { return .wan(index) }
            case .balance: return .balance
            case .main: return .main
            case .drop: return .drop
            case .policy(let name, let sticky): return .policy(name, stickySeconds: sticky)
            }
        }
        return nil
    }

    static func verdict(_ action: Action, wans: [PlannedWan]) -> String {
        switch action {
        case .wan(let index): "goto choose_\(wans[index].name)"
        // Leaving the traffic_rules chain lands on the caller's weighted split.
        case .balance: "return"
        case .main: "goto choose_main"
        case .drop: "drop"
        case .policy(let name, let sticky): NamedPolicyPlanner.verdict(name, stickySeconds: sticky, family: .ipv4)
        }
    }

    /// `usableIPv6`: the WANs that may take new IPv6 connections, nil when no WAN takes IPv6 (then
    /// only IPv4 is compiled, and the table lets IPv6 pass to the main table). Throws when the
    /// policy would need more lookups or elements than `PolicyBounds` allows, naming the rules.
    ///
    /// Everything that does not depend on WAN health is prepared once per policy and remembered
    /// (`PreparedPolicyMemo`); with pass-over groups (see `PreparedPolicy`) a health change only
    /// picks which lookups `traffic_rules` runs.
    static func compile(
        _ config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>? = nil
    ) throws(PlanError) -> Output {
        let dualStack = usableIPv6 != nil
        let key = PreparedPolicyMemo.Key(config, wans: wans, dualStack: dualStack, grouping: grouping)
        let prepared = try PreparedPolicyMemo.shared.prepared(for: key) { () throws(PlanError) in
            try prepare(config, wans: wans, dualStack: dualStack)
        }
        return try prepared.output(config: config, wans: wans, usable: usable, usableIPv6: usableIPv6)
    }

    /// Whether a policy's rank maps are split by pass-over group (`PreparedPolicy`).
    enum Grouping: Sendable, Equatable {
        /// From `PolicyBounds.groupingElements` elements on, while the pipeline stays within
        /// `PolicyBounds.warningLookups`.
        case automatic
        /// Always, or never: for tests, which compile small policies both ways.
        case always, never
    }

    /// A task-local so that tests can choose; planning uses `.automatic`.
    @TaskLocal static var grouping = Grouping.automatic

    /// The health-independent part of `compile`: sets, dispatch and action chains, every rule's
    /// box and pass-over group, and (when grouped) the rank maps and their lookup rules.
    static func prepare(_ config: Config, wans: [PlannedWan], dualStack: Bool) throws(PlanError) -> PreparedPolicy {
        var output = Output()
        let families: [AddressFamily] = dualStack ? [.ipv4, .ipv6] : [.ipv4]
        // Each set is one nft set per family, looked up by its rules' own pipeline rule: nft 1.0.6
        // loads a plain interval set of 100,000 prefixes in seconds, but the same prefixes as
        // elements of a concatenated interval map would take minutes.
        // Each set's entries merged and rendered once per family, and remembered across plans.
        var elements: [String: [AddressFamily: SetElementsMemo.Elements]] = [:]
        for set in config.sets where elements[set.name] == nil {
            var byFamily: [AddressFamily: SetElementsMemo.Elements] = [:]
            for family in families { byFamily[family] = SetElementsMemo.shared.elements(of: set.entries, family: family) }
            elements[set.name] = byFamily
        }
        let sets = elements.mapValues { $0.mapValues(\.merged) }
        output.sets = config.sets.map { set in
            NftablesSet(
                name: "dst_\(set.name)", type: AddressFamily.ipv4.nftAddressType, isInterval: true,
                elements: elements[set.name]?[.ipv4]?.rendered ?? [],
                comment: set.name == config.sets.first?.name
                    ? "Destination sets from the config, merged into disjoint ranges." : nil)
        }
        if dualStack {
            output.sets += config.sets.map { set in
                NftablesSet(
                    name: IPv6PolicyRanges.setName(set.name), type: AddressFamily.ipv6.nftAddressType, isInterval: true,
                    elements: elements[set.name]?[.ipv6]?.rendered ?? [],
                    comment: set.name == config.sets.first?.name ? "The sets' IPv6 entries." : nil)
            }
        }
        // Only whether a set has entries of a family matters to the boxes: set rules are not
        // folded into the rank maps (see `setRule`).
        let noMatch = noMatch(ruleCount: config.rules.count)
        var prepared = PreparedPolicy(noMatch: noMatch, dualStack: dualStack)
        var groupIndex: [PassOverGroup: Int] = [:]
        for family in families {
            var pipeline = FamilyPipeline(family: family, noMatch: noMatch, dualStack: dualStack)
            for (index, rule) in config.rules.enumerated() {
                // Known WANs only, as `resolve` does; validation already refuses unknown names.
                let list = fallbackList(
                    rule.use.filter { target in
                        if case .wan(let name) = target { config.wans.contains { $0.name == name } } else { true }
                    })
                if list.isEmpty { continue }
                guard let box = RuleBox(rule, rank: index + 1, family: family, sets: sets) else { continue }
                if list.contains(.main) { output.usesMain = true }
                let action = prepared.actions.chain(for: prepared.targets.verdict(list, wans: wans, family: family))
                pipeline.dispatch.append((hex(UInt32(box.rank)), "goto \(action)"))
                let group = PassOverGroup(list)
                let number: Int
                if let known = groupIndex[group] {
                    number = known
                } else {
                    number = prepared.groups.count
                    prepared.groups.append(group)
                    groupIndex[group] = number
                }
                if rule.destinationSet != nil {
                    pipeline.setRules.append((box, rule.restricted(to: family), number))
                    continue
                }
                pipeline.rules.append(box)
                pipeline.ruleGroups.append(number)
            }
            if !pipeline.rules.isEmpty || !pipeline.dispatch.isEmpty { prepared.pipelines.append(pipeline) }
        }
        // Grouping costs a lookup per group and shape: worth it only where a health change would
        // otherwise rewrite large maps, and only while the pipeline stays short.
        let elementTotal = prepared.pipelines.reduce(0) { total, pipeline in total + pipeline.rules.reduce(0) { $0 + $1.boxCount } }
        let groupedLookups = prepared.pipelines.map { pipeline in
            Set(zip(pipeline.rules, pipeline.ruleGroups).map { GroupShape(group: $1, shape: $0.shape) }).count
                + pipeline.setRules.count
        }
        switch grouping {
        case .always: prepared.grouped = true
        case .never: prepared.grouped = false
        case .automatic:
            prepared.grouped =
                prepared.groups.count <= 1
                || (elementTotal >= PolicyBounds.groupingElements
                    && (groupedLookups.max() ?? 0) <= PolicyBounds.warningLookups)
        }
        output.chains = prepared.actions.chains
        if prepared.grouped {
            var problems: [PlanError.Problem] = []
            var elementCount = 0
            for pipeline in prepared.pipelines {
                let compiled = compiledLookups(pipeline, pipeline.lookups(groups: prepared.groups))
                prepared.lookupMaps.append(compiled.maps)
                prepared.lookupRules.append(compiled.rules)
                elementCount += compiled.elementCount
                if let warning = compiled.warning { output.warnings.append(warning) }
                if let problem = compiled.problem { problems.append(problem) }
            }
            if let problem = elementProblem(elementCount, prepared.pipelines) { problems.append(problem) }
            if !problems.isEmpty { throw PlanError(problems: problems) }
        }
        prepared.output = output
        return prepared
    }

    /// Which pipelines share a lookup when grouped.
    private struct GroupShape: Hashable {
        var group: Int
        var shape: PolicyShape
    }

    /// One family's lookups as maps and `traffic_rules` lines (each with its pass-over group, nil
    /// when ungrouped), with the warning or refusal their number earns.
    static func compiledLookups(_ pipeline: FamilyPipeline, _ ordered: [FamilyPipeline.Lookup]) -> (
        maps: [NftablesMap], rules: [(rule: NftablesRule, group: Int?)], elementCount: Int, warning: String?,
        problem: PlanError.Problem?
    ) {
        let only = pipeline.dualStack ? pipeline.family.nfprotoMatch() + " " : ""
        let suffix = pipeline.family == .ipv6 ? "_v6" : ""
        var lookups = ordered
        // The first lookup meets the register at "no match", so it needs no rank in its key:
        // the biggest map (counted over all rules, so the choice does not follow health) goes
        // first as a plain map, which nft loads several times faster.
        if let biggest = lookups.indices.filter({ !lookups[$0].shape.dimensions.isEmpty }).max(by: {
            (lookups[$0].size, $1) < (lookups[$1].size, $0)
        }) {
            lookups.insert(lookups.remove(at: biggest), at: 0)
            lookups[0].first = true
        }
        var maps: [NftablesMap] = []
        var rules: [(rule: NftablesRule, group: Int?)] = []
        var elementCount = 0
        for lookup in lookups {
            let name = lookup.name + suffix
            elementCount += lookup.elements.count
            let key = lookup.key(pipeline.family)
            maps.append(
                NftablesMap(
                    name: name, type: "typeof \(key) : ct mark", isInterval: true,
                    elements: lookup.elements.map { box, rank in
                        (lookup.first ? box : (box.isEmpty ? "" : box + " . ") + pipeline.rankRange(rank), hex(UInt32(rank)))
                    }, comment: lookup.comment))
            let addressless = !lookup.shape.source && !lookup.shape.destination
            rules.append((NftablesRule("\(addressless ? only : "")ct mark set \(key) map @\(name)"), lookup.group))
        }
        for (box, rule, group) in pipeline.setRules {
            rules.append(
                (NftablesRule(setRule(rule, rank: box.rank, family: pipeline.family), comment: "rule \"\(rule.name)\""), group))
        }
        let familyName = pipeline.dualStack ? "\(pipeline.family) " : ""
        let lookupCount = lookups.count + pipeline.setRules.count
        var warning: String?
        var problem: PlanError.Problem?
        if lookupCount > PolicyBounds.warningLookups {
            warning =
                "rules: the \(familyName)policy needs \(lookupCount) lookups per new connection (more than \(PolicyBounds.warningLookups)); "
                + pipeline.layerReasons(lookups)
        }
        if lookupCount > PolicyBounds.maximumLookups {
            problem = .init(
                path: "rules",
                message:
                    "the \(familyName)policy would need \(lookupCount) lookups per new connection, more than the \(PolicyBounds.maximumLookups) Braid allows: "
                    + pipeline.layerReasons(lookups)
                    + "; rules of one shape (the same kinds of criteria) that overlap need a lookup each, so reorder or merge them")
        }
        return (maps, rules, elementCount, warning, problem)
    }

    static func elementProblem(_ elementCount: Int, _ pipelines: [FamilyPipeline]) -> PlanError.Problem? {
        guard elementCount > PolicyBounds.maximumElements else { return nil }
        return .init(
            path: "rules",
            message:
                "the policy would need \(elementCount) map elements, more than the \(PolicyBounds.maximumElements) Braid allows: "
                + PolicyBounds.largestRules(pipelines.flatMap(\.rules)))
    }

    /// "No rule matched yet": the worst rank, all ones in as few bits as hold every rank. A rank
    /// range `r+1-NOMATCH` then splits into at most that many prefixes in the kernel's pipapo
    /// tables, instead of up to 32 (it costs load time and memory per element).
    static func noMatch(ruleCount: Int) -> UInt32 {
        let bits = min(32, (UInt64(ruleCount) + 1).bitWidth - (UInt64(ruleCount) + 1).leadingZeroBitCount)
        return bits >= 32 ? .max : UInt32((1 << bits) - 1)
    }

    /// A `destination_set` rule as one pipeline rule: `ct mark > R <criteria> ct mark set R`, "if
    /// the best so far is worse than R and the connection matches, the best is R".
    static func setRule(_ rule: TrafficRuleConfig, rank: Int, family: AddressFamily) -> String {
        func list(_ items: [String]) -> String { items.count == 1 ? items[0] : "{ " + items.joined(separator: ", ") + " }" }
        var matches = ["ct mark > \(hex(UInt32(rank)))"]
        if !rule.sources.isEmpty { matches.append(family.nftAddressMatch(.source, list(rule.sources.map(\.description)))) }
        if !rule.destinations.isEmpty {
            matches.append(family.nftAddressMatch(.destination, list(rule.destinations.map(\.description))))
        }
        if let set = rule.destinationSet {
            matches.append(
                family.nftAddressMatch(.destination, family == .ipv6 ? "@\(IPv6PolicyRanges.setName(set))" : "@dst_\(set)"))
        }
        if let transport = rule.transport {
            matches.append("meta l4proto \(PolicyDimension.protocolName(protocolNumber(transport, family: family)))")
            if !rule.destinationPorts.isEmpty { matches.append("th dport \(list(rule.destinationPorts.map(\.description)))") }
        }
        return (matches + ["ct mark set \(hex(UInt32(rank)))"]).joined(separator: " ")
    }

    /// One small chain per distinct action of the matched rule: it cleans the scratch ct mark
    /// (the `choose_*` chains OR the WAN's mark into the bits outside Braid's mask, which must
    /// not hold a rule number) and then does what the rule says.
    struct ActionChains {
        private var verdicts: [String] = []
        private var index: [String: Int] = [:]

        mutating func chain(for verdict: String) -> String {
            if let known = index[verdict] { return "rule_action_\(known)" }
            verdicts.append(verdict)
            index[verdict] = verdicts.count
            return "rule_action_\(verdicts.count)"
        }

        var chains: [NftablesChain] {
            verdicts.enumerated().map { offset, verdict in
                NftablesChain(
                    name: "rule_action_\(offset + 1)",
                    rules: [NftablesRule("ct mark set 0x00000000"), NftablesRule(verdict)],
                    comment: offset == 0
                        ? "A matched rule's action: clean the scratch ct mark, then the rule's verdict (one chain per distinct verdict)."
                        : nil)
            }
        }
    }

    /// One family's rules, as the rank pipeline sees them.
    struct FamilyPipeline {
        struct Lookup {
            var name: String
            var shape: PolicyShape
            /// Each element's box (its dimensions' texts) and rank.
            var elements: [(box: String, rank: Int)]
            var comment: String
            /// The rules in this map, and for a layer beyond the first, which earlier rule pushed each there.
            var ruleNames: [String]
            var pushed: [(rule: String, by: String)] = []
            /// The boxes of all its rules whatever their health: what decides which map goes first.
            var size = 0
            /// The pipeline's first lookup: keyed without the rank (the register is at "no match").
            var first = false
            /// The pass-over group whose lookups this is one of; nil when the policy is not grouped.
            var group: Int?

            /// The key after `ct mark set`: the shape's dimensions, then (except for the first
            /// lookup) the rank so far. The rank goes last: nft 1.0.6 loads a concatenated
            /// interval map whose first field is a wide range (every element's `r+1-NOMATCH`
            /// overlaps every other's) several times slower.
            func key(_ family: AddressFamily) -> String {
                (shape.dimensions.map { $0.key(family) } + (first ? [] : ["ct mark"])).joined(separator: " . ")
            }
        }

        var family: AddressFamily
        var noMatch: UInt32
        /// Whether the table holds both families (then addressless lookups name theirs).
        var dualStack = false
        var rules: [RuleBox] = []
        /// Each rule's pass-over group (an index into `PreparedPolicy.groups`), in `rules`' order.
        var ruleGroups: [Int] = []
        var dispatch: [(key: String, value: String)] = []
        /// `destination_set` rules, each one pipeline rule of its own, with its pass-over group.
        var setRules: [(box: RuleBox, rule: TrafficRuleConfig, group: Int)] = []
        /// Ranks of rules whose WANs are all unusable for this family now (ungrouped policies only).
        var passedOver: Set<Int> = []

        init(family: AddressFamily, noMatch: UInt32, dualStack: Bool) {
            self.family = family
            self.noMatch = noMatch
            self.dualStack = dualStack
        }

        /// `r+1-NOMATCH`: "the best so far is worse than r".
        func rankRange(_ rank: Int) -> String { hex(UInt32(rank + 1)) + "-" + hex(noMatch) }

        var dispatchName: String { "rule_verdicts" + (family == .ipv6 ? "_v6" : "") }

        /// The winning rank → its `rule_action_N` chain.
        var dispatchMap: NftablesMap {
            NftablesMap(
                name: dispatchName, type: "typeof ct mark : verdict", elements: dispatch,
                comment: "The matching rule with the lowest number → its action" + (family == .ipv6 ? " (IPv6)" : "") + ".")
        }

        var dispatchRule: NftablesRule {
            NftablesRule("\(dualStack ? family.nfprotoMatch() + " " : "")ct mark vmap @\(dispatchName)")
        }

        /// The lookups of all rules (`groups` nil), or one set per pass-over group, each lookup
        /// tagged with its group.
        func lookups(groups: [PassOverGroup]?) -> [Lookup] {
            guard let groups else { return lookups(of: rules, group: nil) }
            var byGroup: [Int: [RuleBox]] = [:]
            for (rule, group) in zip(rules, ruleGroups) { byGroup[group, default: []].append(rule) }
            return byGroup.keys.sorted().flatMap { group in
                lookups(of: byGroup[group]!, group: group).map { lookup in
                    var tagged = lookup
                    tagged.group = group
                    if groups.count > 1 {
                        tagged.name += "_g\(group + 1)"
                        tagged.comment += "; \(groups[group].note)"
                    }
                    return tagged
                }
            }
        }

        private func lookups(of rules: [RuleBox], group: Int?) -> [Lookup] {
            var byShape: [PolicyShape: [RuleBox]] = [:]
            for rule in rules { byShape[rule.shape, default: []].append(rule) }
            var result: [Lookup] = []
            for shape in byShape.keys.sorted() {
                let members = byShape[shape]!
                let dimensions = shape.dimensions
                let live = members.filter { !passedOver.contains($0.rank) }
                let size = members.reduce(0) { $0 + $1.boxCount }
                switch dimensions.count {
                case 0:
                    // Rules that match everything: only the first one still in play can win.
                    result.append(
                        Lookup(
                            name: shape.nameStem, shape: shape, elements: live.first.map { [("", $0.rank)] } ?? [],
                            comment: PolicyCompiler.summary(members.map(\.name)), ruleNames: members.map(\.name), size: size))
                case 1:
                    let dimension = dimensions[0]
                    let pieces = FirstMatchSweep.pieces(live.flatMap { rule in rule.ranges[0].map { ($0, rule.rank) } })
                    var elements: [(box: String, rank: Int)] = []
                    elements.reserveCapacity(pieces.count)
                    for piece in pieces {
                        elements.append((dimension.text(piece.lower, piece.upper, family: family), piece.rank))
                    }
                    result.append(
                        Lookup(
                            name: shape.nameStem, shape: shape, elements: elements,
                            comment: PolicyCompiler.summary(members.map(\.name)), ruleNames: members.map(\.name), size: size))
                default:
                    let layering = ShapeLayering.layers(members)
                    var layers = [Lookup](
                        repeating: Lookup(name: "", shape: shape, elements: [], comment: "", ruleNames: []),
                        count: layering.layerCount)
                    for (memberIndex, rule) in members.enumerated() {
                        let layer = layering.layers[memberIndex]
                        layers[layer].ruleNames.append(rule.name)
                        layers[layer].size += rule.boxCount
                        if let by = layering.pushedBy[memberIndex] { layers[layer].pushed.append((rule.name, members[by].name)) }
                        guard !passedOver.contains(rule.rank) else { continue }
                        PolicyCompiler.appendProduct(
                            of: rule, dimensions: dimensions, family: family, to: &layers[layer].elements)
                    }
                    for layer in layers.indices {
                        layers[layer].name = shape.nameStem + (layer == 0 ? "" : "_\(layer + 1)")
                        layers[layer].comment =
                            PolicyCompiler.summary(layers[layer].ruleNames)
                            + (layer == 0 ? "" : "; layer \(layer + 1): each overlaps a rule of the layer before")
                    }
                    result += layers
                }
            }
            return result
        }

        /// Which rules forced the layers beyond the first, for a warning or refusal.
        func layerReasons(_ lookups: [Lookup]) -> String {
            let pushed = lookups.flatMap(\.pushed)
            let shapes = Set(lookups.map(\.shape)).count
            let groups = Set(lookups.compactMap(\.group)).count
            let grouping = groups > 1 ? " in \(groups) pass-over groups" : ""
            let sets = setRules.isEmpty ? "" : ", \(setRules.count) destination-set rules (one lookup each)"
            guard !pushed.isEmpty else { return "\(shapes) shapes of rules\(grouping), one lookup each\(sets)" }
            let shown = pushed.prefix(5).map { "\"\($0.rule)\" overlaps \"\($0.by)\"" }.joined(separator: ", ")
            return "\(shapes) shapes of rules\(grouping)\(sets), and extra layers because \(shown)"
                + (pushed.count > 5 ? " (and \(pushed.count - 5) more)" : "")
        }
    }

    static func summary(_ names: [String]) -> String {
        names.count == 1 ? "rule \"\(names[0])\"" : "rules \"\(names.first!)\" … \"\(names.last!)\" (\(names.count))"
    }

    /// The rule's box as elements: the cartesian product of its dimensions' ranges, each text built once.
    static func appendProduct(
        of rule: RuleBox, dimensions: [PolicyDimension], family: AddressFamily, to elements: inout [(box: String, rank: Int)]
    ) {
        let texts = zip(dimensions, rule.ranges).map { dimension, ranges in
            ranges.map { dimension.text($0.lower, $0.upper, family: family) }
        }
        elements.reserveCapacity(elements.count + rule.boxCount)
        func extend(_ prefix: String, _ dimension: Int) {
            if dimension == texts.count {
                elements.append((prefix, rule.rank))
                return
            }
            for text in texts[dimension] { extend(prefix.isEmpty ? text : prefix + " . " + text, dimension + 1) }
        }
        extend("", 0)
    }

    /// ICMP for IPv6 is its own protocol (58): a ping rule means ICMPv6 for IPv6 connections.
    static func protocolNumber(_ transport: TransportProtocol, family: AddressFamily = .ipv4) -> UInt32 {
        switch transport {
        case .tcp: 6
        case .udp: 17
        case .icmp: family == .ipv6 ? 58 : 1
        }
    }

    static func rangeText(_ range: (UInt32, UInt32)) -> String { rangeText(range.0, range.1) }

    static func rangeText(_ lower: UInt32, _ upper: UInt32) -> String {
        if lower == upper { return "\(IPv4Address(lower))" }
        // A range that is exactly one prefix reads better as a prefix.
        let size = UInt64(upper) - UInt64(lower) + 1
        if size & (size - 1) == 0, UInt64(lower) % size == 0 {
            return "\(IPv4Address(lower))/\(32 - (size.trailingZeroBitCount))"
        }
        return "\(IPv4Address(lower))-\(IPv4Address(upper))"
    }
}
