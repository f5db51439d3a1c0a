/// A 64-bit FNV-1a digest of strings, stable across runs (Swift's `Hasher` is seeded per process),
/// for what Braid records in its state file and compares on the next run.
struct StableDigest {
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    private var count = 0

    mutating func add(_ text: String) {
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        // A separator, so ["ab", "c"] and ["a", "bc"] differ.
        hash = (hash ^ 0x2c) &* 0x0000_0100_0000_01b3
        count += 1
    }

    /// "COUNT:HEX": the count makes a collision between sets of different sizes impossible.
    var value: String { "\(count):" + String(hash, radix: 16) }

    static func of<Texts: Sequence<String>>(_ texts: Texts) -> String {
        var digest = StableDigest()
        for text in texts { digest.add(text) }
        return digest.value
    }
}
