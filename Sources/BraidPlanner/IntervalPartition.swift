import BraidConfig

/// Turns an ordered list of possibly overlapping ranges, each with a value, into disjoint ranges
/// where every point keeps the value of the first range that covered it: first-match-wins
/// semantics that an nft interval map (which refuses overlaps) can hold. `Bound` is the key:
/// a 32-bit IPv4 address or port key, or an IPv6 address.
struct IntervalPartition<Bound: IntervalBound, Value: Equatable> {
    struct Piece {
        var lower: Bound
        var upper: Bound
        var value: Value
    }

    /// Disjoint, sorted by `lower`.
    private(set) var pieces: [Piece] = []

    /// Paints `lower...upper` with `value` wherever nothing earlier painted.
    mutating func add(_ lower: Bound, _ upper: Bound, _ value: Value) {
        var start = lower
        // First piece that ends at or after `start`.
        var index = firstIndex(endingAtOrAfter: start)
        var inserts: [Piece] = []
        while start <= upper {
            if index < pieces.count, pieces[index].lower <= start {
                // Covered by an earlier rule: skip past it.
                if pieces[index].upper >= upper { break }
                start = pieces[index].upper.successor
                index += 1
                continue
            }
            let gapEnd = index < pieces.count ? min(upper, pieces[index].lower.predecessor) : upper
            inserts.append(Piece(lower: start, upper: gapEnd, value: value))
            if gapEnd == Bound.maximum || gapEnd >= upper { break }
            start = gapEnd.successor
        }
        for piece in inserts {
            var low = 0, high = pieces.count
            while low < high {
                let middle = (low + high) / 2
                if pieces[middle].lower < piece.lower { low = middle + 1 } else { high = middle }
            }
            pieces.insert(piece, at: low)
        }
    }

    /// Paints `lower...upper` with `value` where nothing earlier painted, and where something did,
    /// with `combine(earlier, value)`: splitting the earlier pieces at the range's ends. For policy
    /// rules whose WANs may all be down, the earlier rule's value carries the later one as its fallback.
    mutating func add(_ lower: Bound, _ upper: Bound, _ value: Value, combining combine: (Value, Value) -> Value) {
        let first = firstIndex(endingAtOrAfter: lower)
        var index = first
        var replacement: [Piece] = []
        var start = lower
        while true {
            if index < pieces.count, pieces[index].lower <= start {
                let piece = pieces[index]
                if piece.lower < start {
                    replacement.append(Piece(lower: piece.lower, upper: start.predecessor, value: piece.value))
                }
                let end = min(piece.upper, upper)
                replacement.append(Piece(lower: start, upper: end, value: combine(piece.value, value)))
                if piece.upper > upper {
                    replacement.append(Piece(lower: upper.successor, upper: piece.upper, value: piece.value))
                }
                index += 1
                if end >= upper { break }
                start = end.successor
            } else {
                let gapEnd = index < pieces.count ? min(upper, pieces[index].lower.predecessor) : upper
                replacement.append(Piece(lower: start, upper: gapEnd, value: value))
                if gapEnd >= upper { break }
                start = gapEnd.successor
            }
        }
        pieces.replaceSubrange(first..<index, with: replacement)
    }

    /// The pieces with neighbours of equal value merged.
    var merged: [Piece] {
        var result: [Piece] = []
        for piece in pieces {
            if let last = result.last, last.value == piece.value, last.upper != Bound.maximum, last.upper.successor == piece.lower
            {
                result[result.count - 1].upper = piece.upper
            } else {
                result.append(piece)
            }
        }
        return result
    }

    private func firstIndex(endingAtOrAfter point: Bound) -> Int {
        var low = 0, high = pieces.count
        while low < high {
            let middle = (low + high) / 2
            if pieces[middle].upper < point { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A point on a partitioned line: totally ordered, with a largest value and neighbours. The
/// partition only asks for a neighbour away from the ends it has checked.
protocol IntervalBound: Comparable {
    static var maximum: Self { get }
    /// The next value up; never asked of `maximum`.
    var successor: Self { get }
    /// The next value down; never asked of the smallest value.
    var predecessor: Self { get }
}

extension UInt32: IntervalBound {
    static var maximum: UInt32 { .max }
    var successor: UInt32 { self + 1 }
    var predecessor: UInt32 { self - 1 }
}

extension IPv6Address: IntervalBound {
    static var maximum: IPv6Address { IPv6Address(high: .max, low: .max) }
    var successor: IPv6Address {
        low == .max ? IPv6Address(high: high + 1, low: 0) : IPv6Address(high: high, low: low + 1)
    }
    var predecessor: IPv6Address {
        low == 0 ? IPv6Address(high: high - 1, low: .max) : IPv6Address(high: high, low: low - 1)
    }
}
