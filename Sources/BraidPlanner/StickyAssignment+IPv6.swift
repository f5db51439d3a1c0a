import BraidConfig

extension StickyAssignment {
    /// The bucket nft puts an IPv6 client in: `jhash @nh,64,64 mod bucketCount seed hashSeed` is
    /// the kernel's jhash (lookup3) over the first 8 bytes of the source, its /64, in network
    /// order. Every address of one /64 (privacy addresses rotate within it) shares the bucket.
    static func bucket(for source: IPv6Address) -> Int { jhashBucket(Array(source.bytes.prefix(8))) }

    /// The bucket of a client of either family.
    static func bucket(for source: IPAddress) -> Int {
        switch source {
        case .v4(let address): bucket(for: address)
        case .v6(let address): bucket(for: address)
        }
    }
}
