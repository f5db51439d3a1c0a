import BraidConfig

/// Turns a config, the host's interfaces and the WANs' availability into the complete kernel
/// state Braid wants. Pure: no I/O, same inputs give the same state, so its output is golden-tested.
public enum GatewayPlanner {
    /// `previousSlots`: WAN name → slot of the last apply (`AppliedState.wanSlots`), so WANs keep
    /// their marks when others are added, removed or reordered; empty numbers them as listed.
    /// A missing WAN interface (`ppp0` before the first dial, a USB modem not plugged in) is a WAN
    /// that is down (`no_link`, in `unusableReasons`), never an error: refusing would keep the other
    /// WANs from coming up. `missingInterfacesAreDown`: the same for LAN interfaces (the daemon
    /// re-plans while interfaces come and go); otherwise a missing LAN interface is an error.
    public static func plan(
        _ config: Config, host: HostFacts, availability: WanAvailability = .allAvailable,
        previousSlots: [String: Int] = [:], missingInterfacesAreDown: Bool = false
    ) throws(PlanError) -> DesiredState {
        if !missingInterfacesAreDown { try checkInterfaces(config, host: host) }
        let addressProblems = HostAddressCheck.problems(config, host: host)
        if !addressProblems.isEmpty { throw PlanError(problems: addressProblems) }
        let layout = config.kernel
        let slots = WanSlotAssignment.slots(config, previous: previousSlots)
        try checkSlots(slots, layout: layout)
        let slot = { (index: Int) in slots[config.wans[index].name]! }
        // A WAN the host cannot route through gets no route and no share; the others are planned
        // as usual, so one broken WAN never blocks the rest.
        let unusableReasons = Dictionary(
            uniqueKeysWithValues: config.wans.compactMap { wan in
                (availability.isolated[wan.name] ?? hostProblem(wan, host: host)).map { (wan.name, $0) }
            })
        let linkUp = { (wan: WanConfig) in unusableReasons[wan.name] == nil }
        let gateways = Dictionary(uniqueKeysWithValues: config.wans.map { ($0.name, resolveGateway($0, host: host)) })
        let usable = config.wans.indices.filter { isUsable(config.wans[$0], host: host, availability: availability) }
        let split = WeightedSplit(weights: splitWeights(config, usable: usable))
        let routerSplit = WeightedSplit(
            weights: splitWeights(config, usable: usable).filter { config.wans[$0.wanIndex].nat != .none })
        let ipv6 = IPv6Plan.plan(config, host: host, availability: availability, slots: slots)
        let wans = config.wans.enumerated().map { index, wan in
            let share = split.slices.first { $0.wanIndex == index }?.share ?? 0
            var planned = PlannedWan(
                name: wan.name, interface: wan.interface, gateway: gateways[wan.name]?.gateway, slot: slot(index),
                mark: layout.mark(forSlot: slot(index)), table: layout.table(forSlot: slot(index)),
                weight: wan.weight, splitShare: share, splitModulus: split.modulus, nat: wan.nat)
            if let ipv6, wan.ipv6 != nil {
                planned.ipv6SplitShare = ipv6.split.slices.first { $0.wanIndex == index }?.share ?? 0
                planned.ipv6SplitModulus = ipv6.split.modulus
            }
            return planned
        }
        let usableNames = Set(usable.map { config.wans[$0].name })
        let usableIPv6Names = ipv6.map { Set($0.usable.map { config.wans[$0].name }) }
        let policy = try PolicyCompileMemo.shared.output(
            for: .init(config, wans: wans, usable: usableNames, usableIPv6: usableIPv6Names)
        ) { () throws(PlanError) in
            try PolicyCompiler.compile(config, wans: wans, usable: usableNames, usableIPv6: usableIPv6Names)
        }
        let namedPolicies = NamedPolicyPlanner.compile(
            config, wans: wans, usable: usableNames, usableIPv6: usableIPv6Names,
            lanInterfaces: RulesetPlanner.setLiteral(config.lan.interfaces))
        let sticky = config.sticky == .source ? stickyBuckets(config, weights: splitWeights(config, usable: usable)) : nil
        return DesiredState(
            ruleset: RulesetPlanner.ruleset(
                config: config, wans: wans, split: split, routerSplit: routerSplit, policy: policy,
                stickyBuckets: sticky, forwards: PortForwardPlanner.plan(config, host: host), ipv6: ipv6,
                namedPolicies: namedPolicies),
            policyRules: policyRules(config, slots: slots, usable: usable, split: split) + (ipv6?.policyRules ?? []),
            routes: config.wans.enumerated().compactMap { index, wan in
                // The kernel refuses a gateway route through a link that is down or a gateway that is
                // off-link; such a WAN's table stays empty, so its mark falls through to the fallback
                // rule until the link returns.
                guard linkUp(wan), let gateway = gateways[wan.name]?.gateway else { return nil }
                return Route(
                    family: .ipv4, table: layout.table(forSlot: slot(index)), gateway: gateway.nextHop, device: wan.interface)
            } + (ipv6?.routes ?? []),
            sysctls: sysctls(config, host: host, isolated: Set(availability.isolated.keys)) + (ipv6?.sysctls ?? []),
            wans: wans,
            unusableReasons: unusableReasons,
            // Only a WAN whose link and address are there waits for its gateway; one without
            // them is no_link or no_address first.
            wansWithoutGateway: Set(
                config.wans.filter { wan in
                    guard availability.isolated[wan.name] == nil, let facts = host.interfaces[wan.interface], facts.isUp,
                        !facts.addresses.isEmpty, case .noGateway = gateways[wan.name]
                    else { return false }
                    return true
                }.map(\.name)),
            ipv6UnusableReasons: ipv6?.unusableReasons ?? [:],
            warnings: policy.warnings
        )
    }

    /// Whether `wan` may take new connections: the host can route through it and health (or
    /// isolation) does not keep it out. The one test the planner and `braid explain` share.
    public static func isUsable(_ wan: WanConfig, host: HostFacts, availability: WanAvailability) -> Bool {
        availability.isolated[wan.name] == nil && hostProblem(wan, host: host) == nil
            && !availability.unavailable.contains(wan.name)
    }

    /// Why the host cannot route through `wan` now, or nil when it can: its interface must exist,
    /// be up, hold an IPv4 address, and have a gateway (fixed, learned, or none on a point-to-point
    /// link) that is on-link.
    static func hostProblem(_ wan: WanConfig, host: HostFacts) -> String? {
        guard let facts = host.interfaces[wan.interface] else { return "interface \(wan.interface) does not exist" }
        guard facts.isUp else { return "link \(wan.interface) is down" }
        guard !facts.addresses.isEmpty else { return "\(wan.interface) has no IPv4 address" }
        switch resolveGateway(wan, host: host) {
        case .noGateway(let reason): return "no gateway yet: \(reason)"
        case .resolved(let gateway):
            guard let nextHop = gateway.nextHop else { return nil }
            guard facts.hasOnLink(nextHop) else {
                return
                    "gateway \(nextHop) is not on-link on \(wan.interface) (its addresses: \(facts.addresses.map(\.description).joined(separator: ", ")))"
            }
            return nil
        }
    }

    /// The WAN's IPv4 next hop from its `gateway` setting, the interface's facts and the last
    /// client-hook report for it (`HostFacts.leaseReports`).
    public static func resolveGateway(_ wan: WanConfig, host: HostFacts) -> GatewayResolution.Outcome {
        GatewayResolution.resolve(
            wan.gateway, interfaceName: wan.interface, interface: host.interfaces[wan.interface],
            report: host.leaseReport(interface: wan.interface, family: .ipv4))
    }

    /// Only the lowest tier that has a usable WAN carries new connections. Within it, weighted WANs
    /// share by weight; weight-0 WANs are standbys that share equally only when no weighted WAN of
    /// that tier is usable. When no WAN is usable at all, the configured weights stay in force:
    /// sending connections somewhere (the first WAN to recover takes them at once) beats dropping all.
    static func splitWeights(_ config: Config, usable: [Int]) -> [(wanIndex: Int, weight: Int)] {
        guard let lowestTier = usable.map({ config.wans[$0].tier }).min() else {
            return config.wans.indices.map { ($0, config.wans[$0].weight) }
        }
        let tier = usable.filter { config.wans[$0].tier == lowestTier }
        let weighted = tier.filter { config.wans[$0].weight > 0 }
        if !weighted.isEmpty { return weighted.map { ($0, config.wans[$0].weight) } }
        return tier.map { ($0, 1) }
    }

    /// Bucket → WAN for sticky balancing, as contiguous bucket ranges.
    static func stickyBuckets(
        _ config: Config, weights: [(wanIndex: Int, weight: Int)]
    ) -> [(lower: Int, upper: Int, wanIndex: Int)] {
        let candidates = weights.filter { $0.weight > 0 }.map { ($0.wanIndex, $0.weight, config.wans[$0.wanIndex].name) }
        guard !candidates.isEmpty else { return [] }
        var ranges: [(lower: Int, upper: Int, wanIndex: Int)] = []
        for (bucket, wanIndex) in StickyAssignment.assign(candidates).enumerated() {
            if let last = ranges.last, last.wanIndex == wanIndex, last.upper == bucket - 1 {
                ranges[ranges.count - 1].upper = bucket
            } else {
                ranges.append((bucket, bucket, wanIndex))
            }
        }
        return ranges
    }

    static func policyRules(_ config: Config, slots: [String: Int], usable: [Int], split: WeightedSplit) -> [PolicyRule] {
        let layout = config.kernel
        let highestSlot = slots.values.max() ?? 0
        var rules = [PolicyRule(priority: layout.suppressRulePriority, table: RoutingLayout.mainTable, suppressPrefixLength: 0)]
        for slot in slots.values.sorted() {
            rules.append(
                PolicyRule(
                    priority: layout.fwmarkRulePriority(forSlot: slot), fwmark: layout.mark(forSlot: slot),
                    fwmask: layout.markMask, table: layout.table(forSlot: slot)))
        }
        rules.append(
            PolicyRule(
                priority: layout.mainRulePriority(highestSlot: highestSlot), fwmark: layout.mainMark,
                fwmask: layout.markMask, table: RoutingLayout.mainTable))
        // Unmarked traffic (the router's own, before its output chain picks a WAN, and anything
        // from interfaces Braid does not manage) still needs a default route even when main has
        // none: it uses the usable WAN with the largest share (ties: the lowest slot, so that
        // reordering the config changes nothing).
        let slotOf = { (index: Int) in slots[config.wans[index].name]! }
        let preferred =
            split.slices.max {
                $0.share < $1.share || ($0.share == $1.share && slotOf($0.wanIndex) > slotOf($1.wanIndex))
            }?.wanIndex ?? usable.first ?? 0
        rules.append(
            PolicyRule(
                priority: layout.fallbackRulePriority(highestSlot: highestSlot),
                table: layout.table(forSlot: slots[config.wans[preferred].name]!)))
        return rules
    }

    /// The loader checks the tables and priorities of WANs numbered 1…count; a WAN that kept a
    /// higher slot after others left can reach past them, which only this check can see.
    static func checkSlots(_ slots: [String: Int], layout: KernelLayoutConfig) throws(PlanError) {
        guard let highest = slots.values.max() else { return }
        let lastTable = layout.lastTable(highestSlot: highest)
        if !layout.tablesFit(highestSlot: highest) {
            throw PlanError(problems: [
                .init(
                    path: "kernel.first_table",
                    message:
                        "WANs keep their numbers across config changes, and the highest in use (\(highest)) needs table \(lastTable), which is reserved or out of range; to renumber them, stop the daemon, run `braid down` and apply again (this drops open connections), or pick another first_table"
                )
            ])
        }
        if !layout.rulePrioritiesFit(highestSlot: highest) {
            throw PlanError(problems: [
                .init(
                    path: "kernel.first_rule_priority",
                    message:
                        "WANs keep their numbers across config changes, and the highest in use (\(highest)) needs rule priority \(layout.lastRulePriority(highestSlot: highest)), at or above main's 32766; to renumber them, stop the daemon, run `braid down` and apply again (this drops open connections), or lower first_rule_priority"
                )
            ])
        }
    }

    /// A missing interface has no sysctls to set (its /proc/sys directory went with it: a PPP link
    /// that dropped, a modem unplugged), and an isolated WAN's refused one is left alone: either
    /// would fail the whole apply, and with it every other WAN's failover.
    static func sysctls(_ config: Config, host: HostFacts, isolated: Set<String>) -> [SysctlSetting] {
        [SysctlSetting(key: "net/ipv4/ip_forward", value: "1", reason: "forward LAN traffic to the WANs")]
            + config.wans.filter { host.interfaces[$0.interface] != nil && !isolated.contains($0.name) }.map { wan in
                SysctlSetting(
                    key: "net/ipv4/conf/\(wan.interface)/rp_filter", value: RoutingLayout.looseReversePathFilter,
                    reason:
                        "loose reverse-path filtering: strict mode drops replies that arrive on \(wan.name) when the main table's default route points elsewhere"
                )
            }
    }

    static func checkInterfaces(_ config: Config, host: HostFacts) throws(PlanError) {
        var problems: [PlanError.Problem] = []
        for (index, name) in config.lan.interfaces.enumerated() where host.interfaces[name] == nil {
            problems.append(.init(path: "lan.interfaces[\(index)]", message: "\"\(name)\" does not exist on this host"))
        }
        if !problems.isEmpty { throw PlanError(problems: problems) }
    }
}
