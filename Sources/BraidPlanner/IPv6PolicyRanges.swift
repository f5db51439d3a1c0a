import BraidConfig

/// IPv6 prefixes as the ranges the policy compiler's maps hold, and how elements write them.
enum IPv6PolicyRanges {
    /// The nft set of a config set's IPv6 entries (its IPv4 ones are `dst_NAME`).
    static func setName(_ name: String) -> String { "dst6_\(name)" }

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
