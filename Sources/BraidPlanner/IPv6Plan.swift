import BraidConfig

/// The IPv6 half of a dual-stack plan. IPv6 uses the same WAN marks and table numbers as IPv4 (a
/// connection's WAN is one mark whatever its family; the kernel keeps each family's routes and
/// rules apart, so one table holds both defaults), but its own split, tiers and availability:
/// only WANs with an `ipv6:` section take IPv6, and each family is judged by its own health.
struct IPv6Plan {
    /// Indices (into `config.wans`) of the WANs that may take new IPv6 connections now.
    var usable: [Int]
    var split: WeightedSplit
    /// The router's own IPv6 connections: over the usable WANs that rewrite the source.
    var routerSplit: WeightedSplit
    var stickyBuckets: [(lower: Int, upper: Int, wanIndex: Int)]?
    var routes: [Route]
    var policyRules: [PolicyRule]
    var sysctls: [SysctlSetting]
    /// WAN name → why the host cannot carry its IPv6 now.
    var unusableReasons: [String: String]

    /// Nil when no WAN has an `ipv6:` section: then IPv6 follows the main table, as before Braid
    /// knew IPv6, and nothing below is planned.
    static func plan(
        _ config: Config, host: HostFacts, availability: WanAvailability, slots: [String: Int]
    ) -> IPv6Plan? {
        let carrying = config.wans.indices.filter { config.wans[$0].ipv6 != nil }
        guard !carrying.isEmpty else { return nil }
        let layout = config.kernel
        var reasons: [String: String] = [:]
        for index in carrying {
            let wan = config.wans[index]
            if let reason = availability.ipv6IsolationReason(wan.name) ?? hostProblem(wan, host: host) {
                reasons[wan.name] = reason
            }
        }
        let usable = carrying.filter { index in
            let name = config.wans[index].name
            return reasons[name] == nil && !availability.unavailableWans(for: .ipv6).contains(name)
        }
        let weights =
            usable.isEmpty ? carrying.map { ($0, config.wans[$0].weight) } : GatewayPlanner.splitWeights(config, usable: usable)
        let split = WeightedSplit(weights: weights)
        let routerSplit = WeightedSplit(weights: weights.filter { config.wans[$0.wanIndex].ipv6?.nat != IPv6NatMode.none })
        let sticky = config.sticky == .source ? GatewayPlanner.stickyBuckets(config, weights: weights) : nil
        // A route needs an up link and an on-link gateway; a WAN whose only problem is that it has
        // no global address to masquerade to still gets its route, so probes can tell when it is back.
        let routes = carrying.compactMap { index -> Route? in
            let wan = config.wans[index]
            guard availability.ipv6IsolationReason(wan.name) == nil, let facts = host.interfaces[wan.interface], facts.isUp,
                case .resolved(let gateway) = resolvedGateway(wan, host: host),
                gateway.nextHop.map(facts.hasOnLink) ?? true
            else { return nil }
            return Route(
                family: .ipv6, table: layout.table(forSlot: slots[wan.name]!), gateway: gateway.nextHop, device: wan.interface)
        }
        return IPv6Plan(
            usable: usable, split: split, routerSplit: routerSplit, stickyBuckets: sticky, routes: routes,
            policyRules: policyRules(config, slots: slots, carrying: carrying, split: split),
            sysctls: sysctls(config, host: host, isolated: Set(availability.ipv6Isolated.keys)), unusableReasons: reasons)
    }

    /// Why the host cannot carry IPv6 through `wan` now, or nil when it can: its interface must be
    /// up, its IPv6 gateway on-link, and (unless the LAN's prefix is routed to it) it needs a global
    /// IPv6 address to translate sources to.
    static func hostProblem(_ wan: WanConfig, host: HostFacts) -> String? {
        guard let ipv6 = wan.ipv6 else { return "\(wan.name) takes no IPv6 (it has no `ipv6:` section)" }
        guard let facts = host.interfaces[wan.interface] else { return "interface \(wan.interface) does not exist" }
        guard facts.isUp else { return "link \(wan.interface) is down" }
        let gateway: ResolvedGateway
        switch resolvedGateway(wan, host: host) {
        case .resolved(let resolved): gateway = resolved
        case .noGateway(let why): return "no IPv6 gateway yet: \(why)"
        }
        if let nextHop = gateway.nextHop, !facts.hasOnLink(nextHop) {
            let addresses = facts.ipv6Addresses.map(\.description).joined(separator: ", ")
            return
                "IPv6 gateway \(nextHop) is not on-link on \(wan.interface) (its IPv6 addresses: \(addresses.isEmpty ? "none" : addresses))"
        }
        if ipv6.nat != .none, !facts.isStandIn, !facts.ipv6Addresses.contains(where: { !$0.address.isLinkLocal }) {
            return "\(wan.interface) has no global IPv6 address to translate LAN sources to"
        }
        return nil
    }

    /// The WAN's IPv6 next hop: fixed, a device route, or (`auto`) the default route the kernel
    /// learned from router advertisements (`proto ra` in main) or another client put on the link.
    static func resolvedGateway(_ wan: WanConfig, host: HostFacts) -> GatewayResolution.Outcome {
        guard let ipv6 = wan.ipv6 else { return .noGateway("\(wan.name) takes no IPv6") }
        return GatewayResolution.resolve(
            ipv6.gateway, interfaceName: wan.interface, interface: host.interfaces[wan.interface],
            report: host.leaseReport(interface: wan.interface, family: .ipv6))
    }

    /// The IPv6 twins of the IPv4 rules, at the same priorities: suppress main's default, one
    /// fwmark rule per WAN that takes IPv6, the main mark, and the fallback for unmarked traffic.
    static func policyRules(_ config: Config, slots: [String: Int], carrying: [Int], split: WeightedSplit) -> [PolicyRule] {
        let layout = config.kernel
        let highestSlot = slots.values.max() ?? 0
        let slotOf = { (index: Int) in slots[config.wans[index].name]! }
        var rules = [
            PolicyRule(
                family: .ipv6, priority: layout.suppressRulePriority, table: RoutingLayout.mainTable, suppressPrefixLength: 0)
        ]
        for index in carrying.sorted(by: { slotOf($0) < slotOf($1) }) {
            let slot = slotOf(index)
            rules.append(
                PolicyRule(
                    family: .ipv6, priority: layout.fwmarkRulePriority(forSlot: slot), fwmark: layout.mark(forSlot: slot),
                    fwmask: layout.markMask, table: layout.table(forSlot: slot)))
        }
        rules.append(
            PolicyRule(
                family: .ipv6, priority: layout.mainRulePriority(highestSlot: highestSlot), fwmark: layout.mainMark,
                fwmask: layout.markMask, table: RoutingLayout.mainTable))
        let preferred =
            split.slices.max {
                $0.share < $1.share || ($0.share == $1.share && slotOf($0.wanIndex) > slotOf($1.wanIndex))
            }?.wanIndex ?? carrying[0]
        rules.append(
            PolicyRule(
                family: .ipv6, priority: layout.fallbackRulePriority(highestSlot: highestSlot),
                table: layout.table(forSlot: slotOf(preferred))))
        return rules
    }

    /// Forwarding on, and `accept_ra=2` on every WAN that learns its IPv6 gateway: with forwarding
    /// on, the kernel ignores router advertisements on an interface whose `accept_ra` is 1, so the
    /// learned default route would silently expire at its router lifetime (the RA trap). Written
    /// before forwarding, so no advertisement in between is dropped; `down` restores both.
    /// A WAN whose IPv6 is isolated (the kernel refused one of its IPv6 pieces) gets none.
    static func sysctls(_ config: Config, host: HostFacts, isolated: Set<String> = []) -> [SysctlSetting] {
        config.wans.filter {
            $0.ipv6?.gateway == .auto && host.interfaces[$0.interface] != nil && !isolated.contains($0.name)
        }.map { wan in
            SysctlSetting(
                key: "net/ipv6/conf/\(wan.interface)/accept_ra", value: "2",
                reason:
                    "\(wan.name) learns its IPv6 gateway from router advertisements, which forwarding=1 would make the kernel ignore (accept_ra=1)"
            )
        } + [
            SysctlSetting(
                key: "net/ipv6/conf/all/forwarding", value: "1",
                reason: "forward LAN IPv6 traffic to the WANs (this also sets every interface's forwarding)")
        ]
    }
}
