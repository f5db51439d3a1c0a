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
