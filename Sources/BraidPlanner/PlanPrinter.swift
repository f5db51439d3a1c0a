import BraidConfig

/// Renders a `DesiredState` as the text `braid plan` prints: the nft table, then the ip rules,
/// routes and sysctls written as the commands that would install them.
public enum PlanPrinter {
    /// `ip`, with the family option for IPv6 only: IPv4 commands print as they always have
    /// (`ip rule` means IPv4 without one).
    static func ip(_ family: AddressFamily) -> String {
        family == .ipv4 ? "ip" : "ip \(family.ipOption)"
    }

    public static func render(_ state: DesiredState) -> String {
        var lines: [String] = []
        lines.append("# nftables: loaded as one transaction")
        lines.append(state.ruleset.render())
        lines.append("# ip rules (protocol \(RoutingLayout.protocolTag))")
        lines += state.policyRules.map {
            "\(ip($0.family)) rule add \($0.arguments.joined(separator: " ")) protocol \(RoutingLayout.protocolTag)"
        }
        lines.append("")
        lines.append("# routes (proto \(RoutingLayout.protocolTag))")
        lines += state.routes.map { "\(ip($0.family)) route add \($0) proto \(RoutingLayout.protocolTag)" }
        lines.append("")
        lines.append("# sysctls")
        lines += state.sysctls.map { "sysctl -w \($0.key)=\($0.value)  # \($0.reason)" }
        lines.append("")
        lines.append("# WANs")
        for wan in state.wans {
            let share = wan.splitModulus == 0 ? "0" : "\(wan.splitShare)/\(wan.splitModulus)"
            lines.append(
                "# \(wan.name): interface \(wan.interface), gateway \(gatewayText(wan.gateway)), mark \(hex(wan.mark)), table \(wan.table), weight \(wan.weight), share of new connections \(share), nat \(wan.nat)"
                    + IPv6PlanText.wanSuffix(wan, state: state))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A fixed gateway prints as before; a learned one says where it came from.
    static func gatewayText(_ gateway: ResolvedGateway?) -> String {
        guard let gateway else { return "not learned yet (waiting for DHCP or a client hook)" }
        switch (gateway.nextHop, gateway.source) {
        case (let hop?, .config): return "\(hop)"
        case (nil, _): return "none (device route, from \(gateway.source))"
        case (let hop?, let source): return "\(hop) (learned from \(source))"
        }
    }
}
