/// Divides the range `0 ..< modulus` of `numgen random mod modulus` into one contiguous slice per
/// WAN, proportional to the weights. Weights are reduced by their greatest common divisor so
/// the ruleset stays readable (70/30 becomes 7/3 of 10) without changing any probability.
public struct WeightedSplit: Sendable, Equatable {
    public struct Slice: Sendable, Equatable {
        public var wanIndex: Int
        public var lowerBound: Int
        public var upperBound: Int
        public var share: Int { upperBound - lowerBound + 1 }
        /// The slice as an nft interval map key: `3` or `0-6`.
        public var nftRange: String { NftRange.text(lowerBound, upperBound) }
    }

    public var modulus: Int
    public var slices: [Slice]

    /// `weights` pairs a WAN index with a positive weight.
    public init(weights: [(wanIndex: Int, weight: Int)]) {
        let positive = weights.filter { $0.weight > 0 }
        let divisor = positive.map(\.weight).reduce(0, Self.greatestCommonDivisor)
        var next = 0
        var slices: [Slice] = []
        for entry in positive {
            let share = entry.weight / max(divisor, 1)
            slices.append(Slice(wanIndex: entry.wanIndex, lowerBound: next, upperBound: next + share - 1))
            next += share
        }
        self.modulus = next
        self.slices = slices
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
        b == 0 ? a : greatestCommonDivisor(b, a % b)
    }
}

/// How nft writes a range of integers as a set or map key.
enum NftRange {
    static func text(_ lower: Int, _ upper: Int) -> String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}
