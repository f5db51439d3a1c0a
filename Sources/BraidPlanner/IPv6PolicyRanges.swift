import BraidConfig

/// The IPv6 side of policy compilation: how rules of both families are laid out in one table, and
/// IPv6 prefixes as the disjoint ranges nft interval maps and sets hold.
enum IPv6PolicyRanges {
    /// The nft set of a config set's IPv6 entries (its IPv4 ones are `dst_NAME`).
    static func setName(_ name: String) -> String { "dst6_\(name)" }

    /// Each config rule as the per-family rules the ruleset matches, in an order that keeps first
    /// match wins: a rule with addresses of one family is that family's rule; a rule with both is
    /// one rule per family; a rule without addresses matches every family, and in a dual-stack table
    /// is compiled once per family (its WANs can be usable for one family and not the other).
    /// Within a stretch between rules without addresses, IPv4 rules come before IPv6 ones: a packet
    /// is of one family, so their order across families never changes a verdict, and grouping them
    /// keeps runs of same-kind rules (one map lookup each) long. In a single-stack table only the
    /// IPv4 parts exist; a rule without addresses keeps a nil family there.
    static func expand(
        _ rules: [TrafficRuleConfig], dualStack: Bool, setFamilies: [String: Set<AddressFamily>]
    ) -> [(TrafficRuleConfig, AddressFamily?)] {
        var result: [(TrafficRuleConfig, AddressFamily?)] = []
        var ipv4: [(TrafficRuleConfig, AddressFamily?)] = []
        var ipv6: [(TrafficRuleConfig, AddressFamily?)] = []
        for rule in rules {
            guard let families = rule.addressFamilies(setFamilies: rule.destinationSet.flatMap { setFamilies[$0] }) else {
                result += ipv4 + ipv6
                ipv4 = []
                ipv6 = []
                result += dualStack ? [(rule, .ipv4), (rule, .ipv6)] : [(rule, nil)]
                continue
            }
            if families.contains(.ipv4) { ipv4.append((rule.restricted(to: .ipv4), .ipv4)) }
            if dualStack, families.contains(.ipv6) { ipv6.append((rule.restricted(to: .ipv6), .ipv6)) }
        }
        return result + ipv4 + ipv6
    }

    static func range(_ prefix: IPPrefix) -> (lower: IPv6Address, upper: IPv6Address)? {
        guard let lower = prefix.address.ipv6 else { return nil }
        let mask = IPv6Address.mask(prefix.length)
        return (lower, IPv6Address(high: lower.high | ~mask.high, low: lower.low | ~mask.low))
    }

    /// Sorted, disjoint, merged ranges covering exactly the given IPv6 prefixes.
    static func merged(_ prefixes: [IPPrefix]) -> [(IPv6Address, IPv6Address)] {
        var partition = IntervalPartition<IPv6Address, Bool>()
        for prefix in prefixes { if let range = range(prefix) { partition.add(range.lower, range.upper, true) } }
        return partition.merged.map { ($0.lower, $0.upper) }
    }

    static func text(_ range: (IPv6Address, IPv6Address)) -> String { text(range.0, range.1) }

    /// A single address, a prefix when the range is exactly one, else `a-b`.
    static func text(_ lower: IPv6Address, _ upper: IPv6Address) -> String {
        if lower == upper { return "\(lower)" }
        for length in 0...127 {
            let mask = IPv6Address.mask(length)
            if lower.masked(toLength: length) == lower,
                IPv6Address(high: lower.high | ~mask.high, low: lower.low | ~mask.low) == upper
            {
                return "\(lower)/\(length)"
            }
        }
        return "\(lower)-\(upper)"
    }
}
