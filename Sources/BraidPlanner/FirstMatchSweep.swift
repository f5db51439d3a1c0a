/// First match over one dimension, in O(n log n): ranges with ranks, possibly overlapping, become
/// disjoint pieces that each carry the lowest rank covering them (what an nft interval map, which
/// refuses overlaps, can hold). Boundaries only occur at the ranges' ends, so n ranges give at
/// most 2n − 1 pieces. A sweep instead of `IntervalPartition`, whose inserts in the middle of an
/// array cost O(n) each: a set of 100,000 entries next to thousands of rules must stay fast.
enum FirstMatchSweep {
    struct Piece: Equatable {
        var lower: UInt128
        var upper: UInt128
        var rank: Int
    }

    static func pieces(_ input: [(range: LineRange, rank: Int)]) -> [Piece] {
        let entries = input.sorted { $0.range.lower < $1.range.lower }
        var result: [Piece] = []
        var active = MinHeap()
        var next = 0
        var position = entries.first?.range.lower ?? 0
        while next < entries.count || !active.isEmpty {
            if active.isEmpty { position = max(position, entries[next].range.lower) }
            while next < entries.count, entries[next].range.lower <= position {
                if entries[next].range.upper >= position {
                    active.push(rank: entries[next].rank, upper: entries[next].range.upper)
                }
                next += 1
            }
            // Ranges that ended before here no longer cover anything.
            while let top = active.top, top.upper < position { active.pop() }
            guard let top = active.top else { continue }
            var end = top.upper
            // A range that starts later may have a lower rank: stop just before it.
            if next < entries.count, entries[next].range.lower - 1 < end { end = entries[next].range.lower - 1 }
            if let last = result.last, last.rank == top.rank, last.upper + 1 == position {
                result[result.count - 1].upper = end
            } else {
                result.append(Piece(lower: position, upper: end, rank: top.rank))
            }
            if end == .max { break }
            position = end + 1
        }
        return result
    }

    /// A binary heap of (rank, upper), lowest rank on top.
    struct MinHeap {
        private var items: [(rank: Int, upper: UInt128)] = []
        var isEmpty: Bool { items.isEmpty }
        var top: (rank: Int, upper: UInt128)? { items.first }

        mutating func push(rank: Int, upper: UInt128) {
            items.append((rank, upper))
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                if items[parent].rank <= items[child].rank { break }
                items.swapAt(parent, child)
                child = parent
            }
        }

        mutating func pop() {
            items.swapAt(0, items.count - 1)
            items.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left].rank < items[smallest].rank { smallest = left }
                if right < items.count, items[right].rank < items[smallest].rank { smallest = right }
                if smallest == parent { return }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }
}
