import BraidPlanner
import Testing

/// How `WeightedSplit` cuts `numgen random mod N` into one contiguous slice per WAN.
@Suite struct WeightedSplitTests {
    /// The slices as (WAN index, lower bound, upper bound), which reads better in failures.
    func bounds(_ split: WeightedSplit) -> [[Int]] {
        split.slices.map { [$0.wanIndex, $0.lowerBound, $0.upperBound] }
    }

    @Test func weightsAreReducedByTheirGreatestCommonDivisor() {
        let split = WeightedSplit(weights: [(wanIndex: 0, weight: 70), (wanIndex: 1, weight: 30)])
        #expect(split.modulus == 10)
        #expect(bounds(split) == [[0, 0, 6], [1, 7, 9]])
        #expect(split.slices.map(\.share) == [7, 3])
    }

    @Test func reductionUsesTheDivisorOfAllWeights() {
        let split = WeightedSplit(weights: [(wanIndex: 0, weight: 4), (wanIndex: 1, weight: 6), (wanIndex: 2, weight: 8)])
        #expect(split.modulus == 9)
        #expect(bounds(split) == [[0, 0, 1], [1, 2, 4], [2, 5, 8]])
    }

    @Test func coprimeWeightsAreKeptAsTheyAre() {
        let split = WeightedSplit(weights: [(wanIndex: 0, weight: 3), (wanIndex: 1, weight: 5)])
        #expect(split.modulus == 8)
        #expect(bounds(split) == [[0, 0, 2], [1, 3, 7]])
    }

    @Test func zeroWeightGetsNoSlice() {
        let split = WeightedSplit(weights: [(wanIndex: 0, weight: 5), (wanIndex: 1, weight: 0), (wanIndex: 2, weight: 10)])
        #expect(split.modulus == 3)
        #expect(bounds(split) == [[0, 0, 0], [2, 1, 2]])
        #expect(!split.slices.contains { $0.wanIndex == 1 })
    }

    @Test(arguments: [1, 7, 1_000_000])
    func singleWanTakesTheWholeRangeOfOne(_ weight: Int) {
        let split = WeightedSplit(weights: [(wanIndex: 3, weight: weight)])
        #expect(split.modulus == 1)
        #expect(bounds(split) == [[3, 0, 0]])
    }

    @Test func equalWeightsSplitEvenly() {
        let split = WeightedSplit(weights: (0..<4).map { (wanIndex: $0, weight: 25) })
        #expect(split.modulus == 4)
        #expect(split.slices.map(\.share) == [1, 1, 1, 1])
    }

    @Test func noPositiveWeightGivesAnEmptySplit() {
        let split = WeightedSplit(weights: [(wanIndex: 0, weight: 0)])
        #expect(split.modulus == 0)
        #expect(split.slices.isEmpty)
    }

    @Test(arguments: [[1, 2, 3], [70, 30], [1_000_000, 999_999], [12, 18, 0, 30], [5]])
    func slicesAreContiguousAndCoverTheModulus(_ weights: [Int]) {
        let split = WeightedSplit(weights: weights.enumerated().map { (wanIndex: $0.offset, weight: $0.element) })
        var next = 0
        for slice in split.slices {
            #expect(slice.lowerBound == next)
            #expect(slice.upperBound >= slice.lowerBound)
            next = slice.upperBound + 1
        }
        #expect(next == split.modulus)
        // Each share keeps its weight's proportion: share / modulus == weight / total.
        let total = weights.reduce(0, +)
        for slice in split.slices {
            #expect(slice.share * total == weights[slice.wanIndex] * split.modulus)
        }
    }
}
