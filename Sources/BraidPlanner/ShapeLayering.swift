/// Puts the rules of one multi-dimensional shape into layers: a rule goes into the first layer
/// where its box overlaps no box of a rule already there (greedy colouring in rank order). An nft
/// interval map refuses overlapping keys, and first match over several dimensions cannot be cut
/// into disjoint boxes without blowing up (alternating rules made 445,000 of them); one lookup per
/// layer, composed by "keep the lowest rank", is exact and stays linear in the rules' boxes.
///
/// Layers are computed over every rule of the shape whatever the WANs' health, so a health change
/// never adds or removes a map: it only leaves a passed-over rule's elements out of its layer.
///
/// Finding the earlier rules a rule may overlap goes through a static interval index on one
/// dimension (the one with the most distinct ranges, usually an address), so a policy of
/// thousands of disjoint rules costs O(n log n), not O(n²).
enum ShapeLayering {
    struct Result {
        /// `layers[i]`: the layer (0-based) of `rules[i]`.
        var layers: [Int]
        /// For a rule beyond the first layer: an earlier rule it overlaps (an index into `rules`).
        var pushedBy: [Int: Int]
        var layerCount: Int { (layers.max() ?? -1) + 1 }
    }

    /// More layers than this in one shape are not looked for: the policy is refused long before.
    static let layerSearchLimit = 64

    /// `rules`: of one shape, in rank order.
    static func layers(_ rules: [RuleBox]) -> Result {
        guard let first = rules.first else { return Result(layers: [], pushedBy: [:]) }
        let dimensionCount = first.ranges.count
        // The dimension whose ranges are most distinct narrows the candidates most.
        var indexDimension = 0, bestDistinct = -1
        for dimension in 0..<dimensionCount {
            var distinct = Set<UInt128>()
            for rule in rules {
                for range in rule.ranges[dimension] { distinct.insert(range.lower ^ (range.upper &* 0x9e37_79b9)) }
            }
            if distinct.count > bestDistinct { (indexDimension, bestDistinct) = (dimension, distinct.count) }
        }
        let index = IntervalIndex(
            rules.enumerated().flatMap { ruleIndex, rule in rule.ranges[indexDimension].map { ($0, ruleIndex) } })
        var layers = [Int](repeating: 0, count: rules.count)
        var pushedBy: [Int: Int] = [:]
        var seenBy = [Int](repeating: -1, count: rules.count)
        for (ruleIndex, rule) in rules.enumerated() {
            var blocked: UInt64 = 0
            var blocker: Int?
            for range in rule.ranges[indexDimension] {
                index.forEachOverlap(range) { other in
                    // Only earlier rules have layers yet; each is looked at once per rule.
                    guard other < ruleIndex, seenBy[other] != ruleIndex else { return }
                    seenBy[other] = ruleIndex
                    let bit: UInt64 = layers[other] < layerSearchLimit ? 1 << UInt64(layers[other]) : 0
                    guard blocked & bit == 0, rule.overlaps(rules[other]) else { return }
                    blocked |= bit
                    if blocker == nil || layers[other] >= layers[blocker!] { blocker = other }
                }
            }
            let layer = blocked == .max ? layerSearchLimit : (~blocked).trailingZeroBitCount
            layers[ruleIndex] = layer
            if layer > 0, let blocker { pushedBy[ruleIndex] = blocker }
        }
        return Result(layers: layers, pushedBy: pushedBy)
    }
}

/// Ranges of one line, each tagged, answering "which ranges meet this one" in O(log n + k):
/// sorted by lower end, with a segment tree of the largest upper end under each node.
struct IntervalIndex {
    private let entries: [(range: LineRange, tag: Int)]
    private var maxUpper: [UInt128]

    init(_ input: [(LineRange, Int)]) {
        entries = input.map { (range: $0.0, tag: $0.1) }.sorted { $0.range.lower < $1.range.lower }
        maxUpper = [UInt128](repeating: 0, count: max(1, 2 * entries.count))
        // A bottom-up tree over positions [n, 2n): node i covers children 2i and 2i+1.
        let count = entries.count
        for (position, entry) in entries.enumerated() { maxUpper[count + position] = entry.range.upper }
        if count > 1 {
            for node in stride(from: count - 1, through: 1, by: -1) {
                maxUpper[node] = max(maxUpper[2 * node], maxUpper[2 * node + 1])
            }
        }
    }

    /// Calls `body` with the tag of every range that shares a point with `query`.
    func forEachOverlap(_ query: LineRange, _ body: (Int) -> Void) {
        let count = entries.count
        guard count > 0 else { return }
        // Ranges starting after `query` ends cannot meet it: only positions [0, end) qualify.
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].range.lower <= query.upper { low = middle + 1 } else { high = middle }
        }
        let end = low
        guard end > 0 else { return }
        // Walk the tree nodes that cover [0, end), descending only where some upper end reaches
        // `query.lower`.
        var stack: [Int] = []
        var left = count, right = count + end
        while left < right {
            if left & 1 == 1 { stack.append(left); left += 1 }
            if right & 1 == 1 { right -= 1; stack.append(right) }
            left >>= 1
            right >>= 1
        }
        while let node = stack.popLast() {
            guard maxUpper[node] >= query.lower else { continue }
            if node >= count {
                body(entries[node - count].tag)
            } else {
                stack.append(2 * node)
                stack.append(2 * node + 1)
            }
        }
    }
}
