import BraidConfig

/// Compiles the ordered policy rules into nft maps, so that matching costs one lookup per run of
/// rules of the same kind instead of one comparison per rule:
///
/// - rules that match only sources become one `ip saddr` interval map per run,
/// - rules that match only destinations become one `ip daddr` interval map per run,
/// - rules that match only a protocol and ports become one `meta l4proto . th dport` map per run,
/// - any other rule (several criteria, a destination set, ICMP) is one nft rule.
///
/// Overlaps are resolved first-match-wins before the maps are written (nft interval maps refuse
/// overlapping keys). A rule whose WANs are all unusable is passed over, so traffic falls through
/// to the next rule — unless its `use` list ends with `balance`, `main` or `drop`.
///
/// WAN health is kept out of the rule maps: a rule whose `use` list starts with a WAN sends its
/// traffic to a small `use_N` chain, one per distinct list, and only those chains say which WAN is
/// usable now. A failover rewrites a few `use_N` chains and the split, never 10,000 map elements.
/// A list that may fall through (WANs only) is entered by `jump`, so an empty `use_N` returns to the
/// next rule and a chosen WAN ends with `accept` (what the base chain does next anyway); a list
/// that ends with `balance`, `main` or `drop` is entered by `goto`, so its `return` lands on the split.
/// Where rules of one map overlap, the earlier rule's list carries the later one's as its fallback.
enum PolicyCompiler {
    /// What a rule does with the connections it matches, resolved against WAN availability.
    enum Action: Equatable, Hashable {
        case wan(Int)
        case balance
        case main
        case drop
    }

    struct Output {
        var sets: [NftablesSet] = []
        var maps: [NftablesMap] = []
        /// The body of the `traffic_rules` chain.
        var rules: [NftablesRule] = []
        /// The `use_N` chains: the only part of the policy that depends on WAN health.
        var chains: [NftablesChain] = []
        var usesMain = false
    }

    /// A rule's `use` list up to its first target that never falls through; with the lists of
    /// later overlapping rules appended as fallbacks.
    static func fallbackList(_ targets: [RuleTarget]) -> [RuleTarget] {
        guard let terminal = targets.firstIndex(where: { if case .wan = $0 { false } else { true } }) else { return targets }
        return Array(targets[...terminal])
    }

    static func combine(_ earlier: [RuleTarget], _ later: [RuleTarget]) -> [RuleTarget] {
        guard case .wan = earlier.last else { return earlier }
        return fallbackList(earlier + later)
    }

    /// The verdict for `targets` that does not depend on health, and the `use_N` chains it needs.
    struct TargetChains {
        var lists: [[RuleTarget]] = []
        var index: [[RuleTarget]: Int] = [:]

        mutating func verdict(_ targets: [RuleTarget], wans: [PlannedWan]) -> String {
            switch targets.first {
            case .balance?: return PolicyCompiler.verdict(.balance, wans: wans)
            case .main?: return PolicyCompiler.verdict(.main, wans: wans)
            case .drop?: return PolicyCompiler.verdict(.drop, wans: wans)
            case .wan?, nil: break
            }
            let number: Int
            if let known = index[targets] {
                number = known
            } else {
                lists.append(targets)
                number = lists.count
                index[targets] = number
            }
            guard case .wan = targets.last else { return "goto use_\(number)" }
            return "jump use_\(number)"
        }

        func chains(config: Config, wans: [PlannedWan], usable: Set<String>) -> [NftablesChain] {
            lists.enumerated().map { offset, targets in
                let summary = "use: [" + targets.map(\.description).joined(separator: ", ") + "]"
                let canFallThrough: Bool = { if case .wan = targets.last { true } else { false } }()
                let rules: [NftablesRule]
                switch PolicyCompiler.resolve(targets, config: config, usable: usable) {
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
        }
    }

    /// How a run of rules is looked up. An address map is of one family (its key type says
    /// which), so runs of rules of different families are different runs.
    private enum Kind: Equatable {
        case sources(AddressFamily), destinations(AddressFamily), ports, single
    }

    static func compile(_ config: Config, wans: [PlannedWan], usable: Set<String>) -> Output {
        var output = Output()
        output.sets = config.sets.map { set in
            // Sets hold IPv4 entries only: the config reads no other.
            NftablesSet(
                name: "dst_\(set.name)", type: AddressFamily.ipv4.nftAddressType, isInterval: true,
                elements: mergedRanges(set.entries).map(rangeText),
                comment: set.name == config.sets.first?.name
                    ? "Destination sets from the config, merged into disjoint ranges." : nil)
        }
        var blockIndex = 0
        var targets = TargetChains()
        var pending: (kind: Kind, rules: [(TrafficRuleConfig, [RuleTarget])])?

        func flush() {
            guard let block = pending, !block.rules.isEmpty else { return }
            pending = nil
            blockIndex += 1
            let name = "rules_\(blockIndex)"
            let names = block.rules.map(\.0.name)
            let summary =
                names.count == 1 ? "rule \"\(names[0])\"" : "rules \"\(names.first!)\" … \"\(names.last!)\" (\(names.count))"
            var partition = IntervalPartition<UInt32, [RuleTarget]>()
            for (rule, list) in block.rules {
                switch block.kind {
                case .sources:
                    for prefix in rule.sources {
                        partition.add(prefix.address.value, prefix.address.value | ~prefix.mask, list, combining: combine)
                    }
                case .destinations:
                    for prefix in rule.destinations {
                        partition.add(prefix.address.value, prefix.address.value | ~prefix.mask, list, combining: combine)
                    }
                case .ports:
                    let number = protocolNumber(rule.transport!)
                    for range in rule.destinationPorts {
                        partition.add(
                            number << 16 | UInt32(range.first), number << 16 | UInt32(range.last), list, combining: combine)
                    }
                case .single: break
                }
            }
            let pieces = partition.merged
            let (type, key): (String, String)
            switch block.kind {
            case .sources(let family): (type, key) = ("type \(family.nftAddressType) : verdict", family.nftAddress(.source))
            case .destinations(let family):
                (type, key) = ("type \(family.nftAddressType) : verdict", family.nftAddress(.destination))
            default: (type, key) = ("typeof meta l4proto . th dport : verdict", "meta l4proto . th dport")
            }
            let elements = pieces.map { piece -> (key: String, value: String) in
                let keyText: String
                switch block.kind {
                case .ports:
                    let transport = piece.lower >> 16 == 6 ? "tcp" : "udp"
                    let first = piece.lower & 0xffff, last = piece.upper & 0xffff
                    keyText = "\(transport) . " + (first == last ? "\(first)" : "\(first)-\(last)")
                default:
                    keyText = rangeText(piece.lower, piece.upper)
                }
                return (keyText, targets.verdict(piece.value, wans: wans))
            }
            output.maps.append(NftablesMap(name: name, type: type, isInterval: true, elements: elements, comment: summary))
            output.rules.append(NftablesRule("\(key) vmap @\(name)"))
        }

        for rule in config.rules {
            // Known WANs only, as `resolve` does; validation already refuses unknown names.
            let list = fallbackList(
                rule.use.filter { target in
                    if case .wan(let name) = target { config.wans.contains { $0.name == name } } else { true }
                })
            if list.isEmpty { continue }
            if list.contains(.main) { output.usesMain = true }
            let kind = kind(of: rule)
            if kind == .single {
                flush()
                output.rules.append(
                    NftablesRule(singleRule(rule, verdict: targets.verdict(list, wans: wans)), comment: "rule \"\(rule.name)\""))
                continue
            }
            if pending?.kind != kind { flush(); pending = (kind, []) }
            pending!.rules.append((rule, list))
        }
        flush()
        output.chains = targets.chains(config: config, wans: wans, usable: usable)
        return output
    }

    private static func kind(of rule: TrafficRuleConfig) -> Kind {
        let hasSources = !rule.sources.isEmpty, hasDestinations = !rule.destinations.isEmpty
        let hasPorts = !rule.destinationPorts.isEmpty, hasSet = rule.destinationSet != nil
        let family = rule.addressFamily ?? .ipv4
        if hasSources && !hasDestinations && !hasPorts && !hasSet && rule.transport == nil { return .sources(family) }
        if hasDestinations && !hasSources && !hasPorts && !hasSet && rule.transport == nil { return .destinations(family) }
        if hasPorts && !hasSources && !hasDestinations && !hasSet && (rule.transport == .tcp || rule.transport == .udp) {
            return .ports
        }
        return .single
    }

    private static func singleRule(_ rule: TrafficRuleConfig, verdict: String) -> String {
        var matches: [String] = []
        func list(_ items: [String]) -> String { items.count == 1 ? items[0] : "{ " + items.joined(separator: ", ") + " }" }
        // A rule without addresses (protocol and ports only) needs no family in its match.
        let family = rule.addressFamily ?? .ipv4
        if !rule.sources.isEmpty { matches.append(family.nftAddressMatch(.source, list(rule.sources.map(\.description)))) }
        if !rule.destinations.isEmpty {
            matches.append(family.nftAddressMatch(.destination, list(rule.destinations.map(\.description))))
        }
        if let set = rule.destinationSet { matches.append(family.nftAddressMatch(.destination, "@dst_\(set)")) }
        if let transport = rule.transport {
            matches.append("meta l4proto \(transport.rawValue)")
            if !rule.destinationPorts.isEmpty { matches.append("th dport \(list(rule.destinationPorts.map(\.description)))") }
        }
        return (matches + [verdict]).joined(separator: " ")
    }

    static func protocolNumber(_ transport: TransportProtocol) -> UInt32 {
        switch transport {
        case .tcp: 6
        case .udp: 17
        case .icmp: 1
        }
    }

    /// Sorted, disjoint, merged ranges covering exactly the given prefixes.
    static func mergedRanges(_ prefixes: [IPv4Prefix]) -> [(UInt32, UInt32)] {
        let ranges = prefixes.map { ($0.address.value, $0.address.value | ~$0.mask) }.sorted { $0.0 < $1.0 }
        var merged: [(UInt32, UInt32)] = []
        for range in ranges {
            if let last = merged.last, last.1 == UInt32.max || range.0 <= last.1 + 1 {
                merged[merged.count - 1].1 = max(last.1, range.1)
            } else {
                merged.append(range)
            }
        }
        return merged
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
