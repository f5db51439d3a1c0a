import BraidConfig

/// One inclusive range of a dimension's line.
struct LineRange: Equatable, Sendable {
    var lower: UInt128
    var upper: UInt128
}

/// A rule as one family's pipeline matches it: its rank (config position, 1-based: lower wins),
/// its shape, and per dimension of the shape the sorted, disjoint ranges it covers. The rule's box
/// is the cartesian product of those lists; two rules overlap exactly when every dimension's lists
/// intersect.
struct RuleBox: Sendable {
    var rank: Int
    var name: String
    var shape: PolicyShape
    /// One list per `shape.dimensions`, each sorted, disjoint and not empty.
    var ranges: [[LineRange]]

    /// The cartesian product's size: how many map elements the rule needs in a layer.
    var boxCount: Int { ranges.reduce(1) { $0 * $1.count } }

    /// `rule` restricted to `family`, or nil when it cannot match a connection of that family (an
    /// address criterion without an address of the family, or an empty set). `sets`: the config's
    /// sets by name, already as merged ranges per family.
    init?(
        _ rule: TrafficRuleConfig, rank: Int, family: AddressFamily, sets: [String: [AddressFamily: [LineRange]]]
    ) {
        self.rank = rank
        name = rule.name
        var ranges: [[LineRange]] = []
        if !rule.sources.isEmpty {
            let own = RuleBox.merged(rule.sources.filter { $0.family == family }.map(RuleBox.range))
            if own.isEmpty { return nil }
            ranges.append(own)
        }
        var destinations: [LineRange]?
        if !rule.destinations.isEmpty {
            destinations = RuleBox.merged(rule.destinations.filter { $0.family == family }.map(RuleBox.range))
        }
        if let setName = rule.destinationSet {
            let entries = sets[setName]?[family] ?? []
            destinations = destinations.map { RuleBox.intersection($0, entries) } ?? entries
        }
        if let destinations {
            if destinations.isEmpty { return nil }
            ranges.append(destinations)
        }
        var transport = PolicyShape.Transport.none
        if let protocolKind = rule.transport {
            let number = UInt128(PolicyCompiler.protocolNumber(protocolKind, family: family))
            if rule.destinationPorts.isEmpty {
                transport = .protocol
                ranges.append([LineRange(lower: number, upper: number)])
            } else {
                transport = .service
                ranges.append(
                    RuleBox.merged(
                        rule.destinationPorts.map {
                            LineRange(lower: number << 16 | UInt128($0.first), upper: number << 16 | UInt128($0.last))
                        }))
            }
        }
        shape = PolicyShape(source: !rule.sources.isEmpty, destination: destinations != nil, transport: transport)
        self.ranges = ranges
    }

    static func range(_ prefix: IPPrefix) -> LineRange {
        if let prefix = prefix.ipv4 {
            return LineRange(lower: UInt128(prefix.address.value), upper: UInt128(prefix.address.value | ~prefix.mask))
        }
        // `IPv6PolicyRanges.range` answers every IPv6 prefix.
        let range = IPv6PolicyRanges.range(prefix)!
        return LineRange(lower: range.lower.line, upper: range.upper.line)
    }

    /// Sorted, disjoint, with touching neighbours joined.
    static func merged(_ ranges: [LineRange]) -> [LineRange] {
        var result: [LineRange] = []
        result.reserveCapacity(ranges.count)
        for range in ranges.sorted(by: { $0.lower < $1.lower }) {
            if let last = result.last, last.upper == .max || range.lower <= last.upper + 1 {
                result[result.count - 1].upper = max(last.upper, range.upper)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// The points in both of two sorted, disjoint lists.
    static func intersection(_ left: [LineRange], _ right: [LineRange]) -> [LineRange] {
        var result: [LineRange] = []
        var i = 0, j = 0
        while i < left.count, j < right.count {
            let lower = max(left[i].lower, right[j].lower), upper = min(left[i].upper, right[j].upper)
            if lower <= upper { result.append(LineRange(lower: lower, upper: upper)) }
            if left[i].upper < right[j].upper { i += 1 } else { j += 1 }
        }
        return result
    }

    /// Whether two sorted, disjoint lists share a point: each range of the shorter one is looked
    /// up in the longer one, so a rule of 100,000 set entries costs a rule of one prefix log(n).
    static func intersects(_ left: [LineRange], _ right: [LineRange]) -> Bool {
        let (short, long) = left.count <= right.count ? (left, right) : (right, left)
        for range in short {
            // First range of `long` that ends at or after `range.lower`.
            var low = 0, high = long.count
            while low < high {
                let middle = (low + high) / 2
                if long[middle].upper < range.lower { low = middle + 1 } else { high = middle }
            }
            if low < long.count, long[low].lower <= range.upper { return true }
        }
        return false
    }

    /// Whether the two rules' boxes share a point (both of one shape).
    func overlaps(_ other: RuleBox) -> Bool {
        zip(ranges, other.ranges).allSatisfy { RuleBox.intersects($0, $1) }
    }
}
