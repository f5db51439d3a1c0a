/// Turns an ordered list of possibly overlapping ranges, each with a value, into disjoint ranges
/// where every point keeps the value of the first range that covered it: first-match-wins
/// semantics that an nft interval map (which refuses overlaps) can hold.
struct IntervalPartition<Value: Equatable> {
    struct Piece {
        var lower: UInt32
        var upper: UInt32
        var value: Value
    }

    /// Disjoint, sorted by `lower`.
    private(set) var pieces: [Piece] = []

    /// Paints `lower...upper` with `value` wherever nothing earlier painted.
    mutating func add(_ lower: UInt32, _ upper: UInt32, _ value: Value) {
        var start = lower
        // First piece that ends at or after `start`.
        var index = firstIndex(endingAtOrAfter: start)
        var inserts: [Piece] = []
        while start <= upper {
            if index < pieces.count, pieces[index].lower <= start {
                // Covered by an earlier rule: skip past it.
                if pieces[index].upper >= upper { break }
                start = pieces[index].upper + 1
                index += 1
                continue
            }
            let gapEnd = index < pieces.count ? min(upper, pieces[index].lower - 1) : upper
            inserts.append(Piece(lower: start, upper: gapEnd, value: value))
            if gapEnd == UInt32.max || gapEnd >= upper { break }
            start = gapEnd + 1
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
    mutating func add(_ lower: UInt32, _ upper: UInt32, _ value: Value, combining combine: (Value, Value) -> Value) {
        let first = firstIndex(endingAtOrAfter: lower)
        var index = first
        var replacement: [Piece] = []
        var start = lower
        while true {
            if index < pieces.count, pieces[index].lower <= start {
                let piece = pieces[index]
                if piece.lower < start { replacement.append(Piece(lower: piece.lower, upper: start - 1, value: piece.value)) }
                let end = min(piece.upper, upper)
                replacement.append(Piece(lower: start, upper: end, value: combine(piece.value, value)))
                if piece.upper > upper { replacement.append(Piece(lower: upper + 1, upper: piece.upper, value: piece.value)) }
                index += 1
                if end >= upper { break }
                start = end + 1
            } else {
                let gapEnd = index < pieces.count ? min(upper, pieces[index].lower - 1) : upper
                replacement.append(Piece(lower: start, upper: gapEnd, value: value))
                if gapEnd >= upper { break }
                start = gapEnd + 1
            }
        }
        pieces.replaceSubrange(first..<index, with: replacement)
    }

    /// The pieces with neighbours of equal value merged.
    var merged: [Piece] {
        var result: [Piece] = []
        for piece in pieces {
            if let last = result.last, last.value == piece.value, last.upper &+ 1 == piece.lower, last.upper != UInt32.max {
                result[result.count - 1].upper = piece.upper
            } else {
                result.append(piece)
            }
        }
        return result
    }

    private func firstIndex(endingAtOrAfter point: UInt32) -> Int {
        var low = 0, high = pieces.count
        while low < high {
            let middle = (low + high) / 2
            if pieces[middle].upper < point { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
