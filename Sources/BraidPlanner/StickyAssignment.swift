import BraidConfig
import Foundation

/// Sticky balancing: a hash of the client address picks one of `bucketCount` buckets (in nft,
/// `jhash ip saddr mod 1024`), and each bucket belongs to one WAN. Buckets are assigned by weighted
/// rendezvous hashing, so when a WAN leaves only its own buckets move, and when it comes back it
/// takes exactly those buckets back: no other client changes public address.
enum StickyAssignment {
    static let bucketCount = 1024
    /// Fixed, so that the same client lands in the same bucket across restarts and re-plans.
    static let hashSeed: UInt32 = 0x0b4a_1d5e

    /// The WAN index for every bucket, given (wanIndex, weight, name) candidates.
    static func assign(_ candidates: [(wanIndex: Int, weight: Int, name: String)]) -> [Int] {
        (0..<bucketCount).map { bucket in
            var best = candidates[0].wanIndex
            var bestScore = -Double.infinity
            for candidate in candidates where candidate.weight > 0 {
                // Weighted rendezvous: score = -w / ln(u), u uniform in (0, 1) from a stable hash.
                let unit = (Double(stableHash("\(bucket)|\(candidate.name)") >> 11) + 0.5) / Double(1 << 53)
                let score = -Double(candidate.weight) / log(unit)
                if score > bestScore {
                    bestScore = score
                    best = candidate.wanIndex
                }
            }
            return best
        }
    }

    /// FNV-1a 64: stable across processes and platforms (Swift's Hasher is seeded per process).
    static func stableHash(_ text: String) -> UInt64 {
        var fnv = FNV1a64()
        fnv.add(text.utf8)
        var hash = fnv.value
        // A final avalanche so that nearby inputs spread over the whole range.
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}

extension StickyAssignment {
    /// The bucket nft puts `source` in: `jhash ip saddr mod bucketCount seed hashSeed` is the
    /// kernel's jhash (lookup3) over the address's four bytes in network order, scaled to the
    /// modulus with `reciprocal_scale`. Reproduced so `braid explain` can name a client's WAN.
    static func bucket(for source: IPv4Address) -> Int {
        let value = source.value
        return jhashBucket([UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)])
    }

    /// The kernel's `jhash` (Bob Jenkins' lookup3, include/linux/jhash.h) of at most 12 bytes with
    /// `hashSeed`, as nft's `jhash … mod bucketCount seed …` computes it, scaled to the modulus
    /// like `reciprocal_scale`.
    static func jhashBucket(_ bytes: [UInt8]) -> Int {
        precondition(bytes.count <= 12, "jhash of more than one block is not needed here")
        let initial: UInt32 = 0xdead_beef &+ UInt32(bytes.count) &+ hashSeed
        // The tail: bytes 0-3 into a, 4-7 into b, 8-11 into c, least significant first.
        var words: [UInt32] = [initial, initial, initial]
        for (index, byte) in bytes.enumerated() { words[index / 4] &+= UInt32(byte) << (8 * UInt32(index % 4)) }
        var (a, b, c) = (words[0], words[1], words[2])
        if !bytes.isEmpty {
            func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 { value << count | value >> (32 - count) }
            c ^= b; c &-= rotate(b, 14)
            a ^= c; a &-= rotate(c, 11)
            b ^= a; b &-= rotate(a, 25)
            c ^= b; c &-= rotate(b, 16)
            a ^= c; a &-= rotate(c, 4)
            b ^= a; b &-= rotate(a, 14)
            c ^= b; c &-= rotate(b, 24)
        }
        return Int((UInt64(c) * UInt64(bucketCount)) >> 32)
    }
}
