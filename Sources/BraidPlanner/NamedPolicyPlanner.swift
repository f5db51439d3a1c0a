import BraidConfig

/// Compiles the named policies (`policies`) into nft objects, one set per policy and family:
///
/// - a chain `policy_NAME` (`policy_NAME_v6`) that rules and `default_policy` enter by `goto`: it
///   holds one rule, `numgen random mod M vmap @policy_NAME_split` over the usable members of the
///   lowest tier that has one, or the policy's `last_resort` when none is usable;
/// - its split map, declared like the global split (fixed key type) so that a health change
///   refills its elements in place;
/// - for every (policy, sticky timeout) that rules use, a chain `sticky_NAME_SECONDS` and one
///   dynamic set per member WAN: a client found in a usable member's set keeps that WAN (the
///   lookup refreshes the timeout, so it counts from the last new connection, as mwan3's sticky
///   ipsets do); otherwise the policy chooses and the client is remembered under the WAN it got.
///   IPv6 clients are remembered by their /64, since privacy addresses rotate inside it.
///
/// Per packet, a rule's verdict leads straight to its own policy's chain, so the cost does not
/// grow with the number of policies. Only the policy and sticky chains and the split maps depend
/// on health; the rule maps never name a WAN of a policy, so a failover never touches them.
enum NamedPolicyPlanner {
    struct Output {
        var sets: [NftablesSet] = []
        var maps: [NftablesMap] = []
        var chains: [NftablesChain] = []
        /// The `goto` rules that send unmatched LAN traffic to `default_policy`, per family; nil
        /// without a default policy (the global split then decides, as before policies existed).
        var defaultPolicyRules: [NftablesRule]?
    }

    /// The members that carry new connections now: the lowest tier with a usable member, shared
    /// by weight (weight-0 members equally, only when the tier has no usable weighted one).
    struct ActiveTier: Equatable {
        var tier: Int
        /// (index into `config.wans`, weight) of the members that share new connections.
        var weights: [(wanIndex: Int, weight: Int)]

        static func == (lhs: ActiveTier, rhs: ActiveTier) -> Bool {
            lhs.tier == rhs.tier && lhs.weights.map(\.wanIndex) == rhs.weights.map(\.wanIndex)
                && lhs.weights.map(\.weight) == rhs.weights.map(\.weight)
        }
    }

    static func activeTier(_ policy: NamedPolicyConfig, config: Config, usable: Set<String>) -> ActiveTier? {
        let candidates = policy.members.filter { usable.contains($0.wan) }
        guard let lowest = candidates.map(\.tier).min() else { return nil }
        let tier = candidates.filter { $0.tier == lowest }
        let weighted = tier.filter { $0.weight > 0 }
        let chosen = weighted.isEmpty ? tier.map { ($0, 1) } : weighted.map { ($0, $0.weight) }
        let weights = chosen.compactMap { member, weight in
            config.wans.firstIndex { $0.name == member.wan }.map { (wanIndex: $0, weight: weight) }
        }
        return weights.isEmpty ? nil : ActiveTier(tier: lowest, weights: weights)
    }

    static func chainName(_ policy: String, family: AddressFamily) -> String {
        "policy_\(policy)" + (family == .ipv6 ? "_v6" : "")
    }

    static func stickyChainName(_ policy: String, seconds: Int, family: AddressFamily) -> String {
        "sticky_\(policy)_\(seconds)" + (family == .ipv6 ? "_v6" : "")
    }

    static func stickySetName(_ policy: String, seconds: Int, wan: String, family: AddressFamily) -> String {
        "sticky_\(policy)_\(seconds)_\(wan)" + (family == .ipv6 ? "_v6" : "")
    }

    /// The verdict a rule (or the default policy) gives to send a new connection to `policy`.
    static func verdict(_ policy: String, stickySeconds: Int?, family: AddressFamily) -> String {
        if let stickySeconds { return "goto \(stickyChainName(policy, seconds: stickySeconds, family: family))" }
        return "goto \(chainName(policy, family: family))"
    }

    /// The verdict when no member is usable.
    static func lastResortVerdict(_ lastResort: PolicyLastResort) -> String {
        switch lastResort {
        case .main: "goto choose_main"
        case .drop: "drop"
        // icmpx no-route: ICMP network unreachable / ICMPv6 no route, as mwan3's unreachable route answers.
        case .unreachable: "reject with icmpx type no-route"
        }
    }

    /// The (policy, sticky timeout) pairs the rules use, in first-use order.
    static func stickyUses(_ config: Config) -> [(policy: String, seconds: Int)] {
        var seen: Set<String> = []
        var uses: [(policy: String, seconds: Int)] = []
        for rule in config.rules {
            for case .policy(let name, let seconds?) in rule.use where seen.insert("\(name)/\(seconds)").inserted {
                uses.append((name, seconds))
            }
        }
        return uses
    }

    /// `usableIPv6`: nil when no WAN takes IPv6 (a single-stack table: IPv4 only).
    static func compile(
        _ config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>?, lanInterfaces: String
    ) -> Output {
        var output = Output()
        guard !config.policies.isEmpty else { return output }
        let families: [AddressFamily] = usableIPv6 == nil ? [.ipv4] : [.ipv4, .ipv6]
        let mask = hex(config.kernel.markMask)
        for family in families {
            let available = family == .ipv4 ? usable : (usableIPv6 ?? [])
            // A member whose WAN has no `ipv6:` section never carries IPv6.
            let carrying = Set(config.wans.filter { family == .ipv4 || $0.ipv6 != nil }.map(\.name))
            for (index, policy) in config.policies.enumerated() {
                let chain = chainName(policy.name, family: family)
                let active = activeTier(policy, config: config, usable: available.intersection(carrying))
                let split = WeightedSplit(weights: active?.weights ?? [])
                let summary =
                    "policy \(policy.name)" + (family == .ipv6 ? " for IPv6" : "") + ": "
                    + policy.members.map { "\($0.wan) (weight \($0.weight), tier \($0.tier))" }.joined(separator: ", ")
                    + "; last resort \(policy.lastResort.rawValue)"
                var map = RulesetPlanner.splitMap("\(chain)_split", split, wans, comment: "")
                map.comment =
                    index == 0 && family == .ipv4
                    ? "Each named policy's split over its usable members of the lowest tier; refilled on health changes." : nil
                output.maps.append(map)
                let rule =
                    active == nil
                    ? NftablesRule(
                        lastResortVerdict(policy.lastResort), comment: "No member is usable: the policy's last resort.")
                    : NftablesRule("numgen random mod \(split.modulus) vmap @\(chain)_split")
                output.chains.append(
                    NftablesChain(
                        name: chain, rules: [rule],
                        comment: index == 0 && family == .ipv4
                            ? "\(summary).\nOnly these chains, the sticky chains and the policy splits change with WAN health."
                            : summary))
            }
            for use in stickyUses(config) {
                guard let policy = config.policy(named: use.policy) else { continue }
                output.sets += stickySets(policy, seconds: use.seconds, family: family, carrying: carrying)
                output.chains.append(
                    stickyChain(
                        policy, seconds: use.seconds, family: family, config: config, wans: wans,
                        usable: available.intersection(carrying), carrying: carrying, mask: mask))
            }
        }
        if let name = config.defaultPolicy {
            output.defaultPolicyRules = families.map { family in
                let only = usableIPv6 == nil ? "" : family.nfprotoMatch() + " "
                return NftablesRule(
                    "\(only)iifname \(lanInterfaces) goto \(chainName(name, family: family))",
                    comment: family == .ipv4 ? "default_policy: new connections no rule decided go by policy \(name)." : nil)
            }
        }
        return output
    }

    static func stickySets(
        _ policy: NamedPolicyConfig, seconds: Int, family: AddressFamily, carrying: Set<String>
    ) -> [NftablesSet] {
        policy.members.filter { carrying.contains($0.wan) }.map { member in
            NftablesSet(
                name: stickySetName(policy.name, seconds: seconds, wan: member.wan, family: family),
                type: family.nftAddressType, isInterval: false, elements: [], timeoutSeconds: seconds,
                comment: member.wan == policy.members.first?.wan
                    ? "Clients that got \(member.wan) from policy \(policy.name)" + (family == .ipv6 ? " (their /64)" : "")
                        + ", kept \(seconds)s since their last new connection; filled by the packet path." : nil)
        }
    }

    /// The client key a sticky set holds: the address, or for IPv6 its /64.
    static func stickyKey(_ family: AddressFamily) -> String {
        family == .ipv6 ? "ip6 saddr & ffff:ffff:ffff:ffff::" : "ip saddr"
    }

    static func stickyChain(
        _ policy: NamedPolicyConfig, seconds: Int, family: AddressFamily, config: Config, wans: [PlannedWan],
        usable: Set<String>, carrying: Set<String>, mask: String
    ) -> NftablesChain {
        let key = stickyKey(family)
        let active = activeTier(policy, config: config, usable: usable)
        let activeNames = Set((active?.weights ?? []).map { config.wans[$0.wanIndex].name })
        var rules: [NftablesRule] = []
        // Only members of the tier in use keep their clients: when a better tier comes back, or a
        // member goes down, its remembered clients are placed again, as mwan3 does.
        for member in policy.members where activeNames.contains(member.wan) {
            let set = stickySetName(policy.name, seconds: seconds, wan: member.wan, family: family)
            rules.append(NftablesRule("\(key) @\(set) update @\(set) { \(key) } goto choose_\(member.wan)"))
        }
        rules.append(
            NftablesRule(
                "jump \(chainName(policy.name, family: family))",
                comment: "A client not remembered (or whose WAN is out): the policy chooses, then it is remembered."))
        for member in policy.members where carrying.contains(member.wan) {
            guard let wan = wans.first(where: { $0.name == member.wan }) else { continue }
            let set = stickySetName(policy.name, seconds: seconds, wan: member.wan, family: family)
            rules.append(NftablesRule("meta mark & \(mask) == \(hex(wan.mark)) update @\(set) { \(key) }"))
            rules.append(NftablesRule("meta mark & \(mask) != \(hex(wan.mark)) delete @\(set) { \(key) }"))
        }
        return NftablesChain(
            name: stickyChainName(policy.name, seconds: seconds, family: family), rules: rules,
            comment: "sticky \(seconds)s over policy \(policy.name)" + (family == .ipv6 ? " for IPv6, keyed on the /64" : ""))
    }
}
