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
        /// A named policy (and its sticky timeout): `NamedPolicyPlanner` compiles its chains.
        case policy(String, stickySeconds: Int?)
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

    /// How a run of rules is looked up. An address map is of one family (its key type says
    /// which), so runs of rules of different families are different runs.
    private enum Kind: Equatable {
        /// `ports(nil)`: a port rule of a single-stack table, which sees IPv4 only.
        case sources(AddressFamily), destinations(AddressFamily), ports(AddressFamily?), single
    }

    /// `usableIPv6`: the WANs that may take new IPv6 connections, nil when no WAN takes IPv6 (then
    /// only IPv4 is compiled, and the table lets IPv6 pass to the main table).
    static func compile(
        _ config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>? = nil
    ) -> Output {
        var output = Output()
        let dualStack = usableIPv6 != nil
        output.sets = config.sets.map { set in
            NftablesSet(
                name: "dst_\(set.name)", type: AddressFamily.ipv4.nftAddressType, isInterval: true,
                elements: mergedRanges(set.entries.compactMap(\.ipv4)).map(rangeText),
                comment: set.name == config.sets.first?.name
                    ? "Destination sets from the config, merged into disjoint ranges." : nil)
        }
        if dualStack {
            // A set may mix families; its IPv6 entries are a set of their own (an nft set has one key type).
            output.sets += config.sets.map { set in
                NftablesSet(
                    name: IPv6PolicyRanges.setName(set.name), type: AddressFamily.ipv6.nftAddressType, isInterval: true,
                    elements: IPv6PolicyRanges.merged(set.entries.filter { $0.family == .ipv6 }).map(IPv6PolicyRanges.text),
                    comment: set.name == config.sets.first?.name ? "The sets' IPv6 entries." : nil)
            }
        }
        var blockIndex = 0
        var targets = TargetChains()
        var pending: (kind: Kind, rules: [(TrafficRuleConfig, [RuleTarget])])?
        /// The family whose WAN availability a rule's verdicts follow.
        func family(of kind: Kind) -> AddressFamily {
            switch kind {
            case .sources(let family), .destinations(let family): family
            case .ports(let family): family ?? .ipv4
            case .single: .ipv4
            }
        }

        func flush() {
            guard let block = pending, !block.rules.isEmpty else { return }
            pending = nil
            blockIndex += 1
            let name = "rules_\(blockIndex)"
            let names = block.rules.map(\.0.name)
            let summary =
                names.count == 1 ? "rule \"\(names[0])\"" : "rules \"\(names.first!)\" … \"\(names.last!)\" (\(names.count))"
            if case .sources(.ipv6) = block.kind {
                flushIPv6(block.rules.map { ($0.0.sources, $0.1) }, field: .source, name: name, summary: summary)
                return
            }
            if case .destinations(.ipv6) = block.kind {
                flushIPv6(block.rules.map { ($0.0.destinations, $0.1) }, field: .destination, name: name, summary: summary)
                return
            }
            var partition = IntervalPartition<UInt32, [RuleTarget]>()
            for (rule, list) in block.rules {
                switch block.kind {
                case .sources:
                    for prefix in rule.sources.compactMap(\.ipv4) {
                        partition.add(prefix.address.value, prefix.address.value | ~prefix.mask, list, combining: combine)
                    }
                case .destinations:
                    for prefix in rule.destinations.compactMap(\.ipv4) {
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
                return (keyText, targets.verdict(piece.value, wans: wans, family: family(of: block.kind)))
            }
            output.maps.append(NftablesMap(name: name, type: type, isInterval: true, elements: elements, comment: summary))
            let prefix: String = if case .ports(let family?) = block.kind { family.nfprotoMatch() + " " } else { "" }
            output.rules.append(NftablesRule("\(prefix)\(key) vmap @\(name)"))
        }

        func flushIPv6(_ entries: [([IPPrefix], [RuleTarget])], field: NftAddressField, name: String, summary: String) {
            var partition = IntervalPartition<IPv6Address, [RuleTarget]>()
            for (prefixes, list) in entries {
                for prefix in prefixes {
                    guard let range = IPv6PolicyRanges.range(prefix) else { continue }
                    partition.add(range.lower, range.upper, list, combining: combine)
                }
            }
            let elements = partition.merged.map { piece in
                (IPv6PolicyRanges.text(piece.lower, piece.upper), targets.verdict(piece.value, wans: wans, family: .ipv6))
            }
            output.maps.append(
                NftablesMap(
                    name: name, type: "type \(AddressFamily.ipv6.nftAddressType) : verdict", isInterval: true, elements: elements,
                    comment: summary))
            output.rules.append(NftablesRule("\(AddressFamily.ipv6.nftAddress(field)) vmap @\(name)"))
        }

        let setFamilies = Dictionary(
            config.sets.map { set in
                (set.name, set.entries.isEmpty ? Set(AddressFamily.allCases) : Set(set.entries.map(\.family)))
            }, uniquingKeysWith: { first, _ in first })
        for (rule, family) in IPv6PolicyRanges.expand(config.rules, dualStack: dualStack, setFamilies: setFamilies) {
            // Known WANs only, as `resolve` does; validation already refuses unknown names.
            let list = fallbackList(
                rule.use.filter { target in
                    if case .wan(let name) = target { config.wans.contains { $0.name == name } } else { true }
                })
            if list.isEmpty { continue }
            if list.contains(.main) { output.usesMain = true }
            let kind = kind(of: rule, family: family)
            if kind == .single {
                flush()
                output.rules.append(
                    NftablesRule(
                        singleRule(rule, family: family, verdict: targets.verdict(list, wans: wans, family: family ?? .ipv4)),
                        comment: "rule \"\(rule.name)\""))
                continue
            }
            if pending?.kind != kind { flush(); pending = (kind, []) }
            pending!.rules.append((rule, list))
        }
        flush()
        output.chains = targets.chains(config: config, wans: wans, usable: usable, usableIPv6: usableIPv6)
        return output
    }

    /// `family`: the one family this (restricted) rule is compiled for; nil in a single-stack table
    /// for a rule without addresses.
    private static func kind(of rule: TrafficRuleConfig, family: AddressFamily?) -> Kind {
        let hasSources = !rule.sources.isEmpty, hasDestinations = !rule.destinations.isEmpty
        let hasPorts = !rule.destinationPorts.isEmpty, hasSet = rule.destinationSet != nil
        let addressFamily = family ?? .ipv4
        if hasSources && !hasDestinations && !hasPorts && !hasSet && rule.transport == nil { return .sources(addressFamily) }
        if hasDestinations && !hasSources && !hasPorts && !hasSet && rule.transport == nil { return .destinations(addressFamily) }
        if hasPorts && !hasSources && !hasDestinations && !hasSet && (rule.transport == .tcp || rule.transport == .udp) {
            return .ports(family)
        }
        return .single
    }

    private static func singleRule(_ rule: TrafficRuleConfig, family compiledFamily: AddressFamily?, verdict: String) -> String {
        var matches: [String] = []
        func list(_ items: [String]) -> String { items.count == 1 ? items[0] : "{ " + items.joined(separator: ", ") + " }" }
        let family = compiledFamily ?? .ipv4
        // A rule without addresses (protocol and ports only) names its family only in a dual-stack
        // table, where it is compiled once per family.
        if let compiledFamily, rule.sources.isEmpty, rule.destinations.isEmpty, rule.destinationSet == nil {
            matches.append(compiledFamily.nfprotoMatch())
        }
        if !rule.sources.isEmpty { matches.append(family.nftAddressMatch(.source, list(rule.sources.map(\.description)))) }
        if !rule.destinations.isEmpty {
            matches.append(family.nftAddressMatch(.destination, list(rule.destinations.map(\.description))))
        }
        if let set = rule.destinationSet {
            matches.append(
                family.nftAddressMatch(.destination, family == .ipv6 ? "@\(IPv6PolicyRanges.setName(set))" : "@dst_\(set)"))
        }
        if let transport = rule.transport {
            // ICMP for IPv6 is its own protocol (58): a ping rule means ICMPv6 for IPv6 connections.
            matches.append("meta l4proto \(transport == .icmp && family == .ipv6 ? "ipv6-icmp" : transport.rawValue)")
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
