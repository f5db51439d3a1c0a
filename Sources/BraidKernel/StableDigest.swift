import BraidPlanner

/// A 64-bit FNV-1a digest of strings, stable across runs (Swift's `Hasher` is seeded per process),
/// for what Braid records in its state file and compares on the next run.
struct StableDigest {
    private var hash = FNV1a64()
    private var count = 0

    mutating func add(_ text: String) {
        hash.add(text.utf8)
        // A separator, so ["ab", "c"] and ["a", "bc"] differ.
        hash.add(0x2c)
        count += 1
    }

    /// "COUNT:HEX": the count makes a collision between sets of different sizes impossible.
    var value: String { "\(count):" + String(hash.value, radix: 16) }

    static func of<Texts: Sequence<String>>(_ texts: Texts) -> String {
        var digest = StableDigest()
        for text in texts { digest.add(text) }
        return digest.value
    }
}
