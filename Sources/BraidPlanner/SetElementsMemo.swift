import BraidConfig
import Synchronization

/// A destination set's entries of one family, merged into disjoint ranges and rendered as nft
/// elements: a memo of that pure function, for the few sets planned last. Sorting, merging and
/// printing 100,000 prefixes was a third of every plan, and a weight or health change re-plans a
/// config whose sets have not changed (the daemon's config even shares the entries' storage, so
/// the comparison is one pointer).
final class SetElementsMemo: Sendable {
    static let shared = SetElementsMemo()

    struct Elements: Sendable {
        var merged: [LineRange]
        var rendered: [String]
    }

    private struct Entry: Sendable {
        var entries: [IPPrefix]
        var family: AddressFamily
        var elements: Elements
    }

    /// Enough for a config's sets in both families; more sets are simply planned again.
    private static let capacity = 8
    private let recent = Mutex<[Entry]>([])

    func elements(of entries: [IPPrefix], family: AddressFamily) -> Elements {
        if let known = recent.withLock({ $0.first { $0.family == family && $0.entries == entries } }) {
            return known.elements
        }
        let merged = RuleBox.merged(entries.filter { $0.family == family }.map(RuleBox.range))
        let rendered =
            family == .ipv4
            ? merged.map { PolicyCompiler.rangeText(UInt32($0.lower), UInt32($0.upper)) }
            : merged.map { IPv6PolicyRanges.text(IPv6Address($0.lower), IPv6Address($0.upper)) }
        let elements = Elements(merged: merged, rendered: rendered)
        recent.withLock { recent in
            recent.insert(Entry(entries: entries, family: family, elements: elements), at: 0)
            if recent.count > Self.capacity { recent.removeLast() }
        }
        return elements
    }
}
