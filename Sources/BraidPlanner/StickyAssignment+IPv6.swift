import BraidConfig

extension StickyAssignment {
    /// The bucket nft puts an IPv6 client in: `jhash @nh,64,64 mod bucketCount seed hashSeed` is
    /// the kernel's jhash (lookup3) over the first 8 bytes of the source, its /64, in network
    /// order. Every address of one /64 (privacy addresses rotate within it) shares the bucket.
    static func bucket(for source: IPv6Address) -> Int {
        let bytes = Array(source.bytes.prefix(8)).map(UInt32.init)
        var a: UInt32 = 0xdead_beef &+ 8 &+ hashSeed
        var b = a
        var c = a
        // lookup3's tail for a length of 8: bytes 4-7 into b, 0-3 into a, least significant first.
        b &+= bytes[7] << 24
        b &+= bytes[6] << 16
        b &+= bytes[5] << 8
        b &+= bytes[4]
        a &+= bytes[3] << 24
        a &+= bytes[2] << 16
        a &+= bytes[1] << 8
        a &+= bytes[0]
        func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 { value << count | value >> (32 - count) }
        c ^= b; c &-= rotate(b, 14)
        a ^= c; a &-= rotate(c, 11)
        b ^= a; b &-= rotate(a, 25)
        c ^= b; c &-= rotate(b, 16)
        a ^= c; a &-= rotate(c, 4)
        b ^= a; b &-= rotate(a, 14)
        c ^= b; c &-= rotate(b, 24)
        return Int((UInt64(c) * UInt64(bucketCount)) >> 32)
    }

    /// The bucket of a client of either family.
    static func bucket(for source: IPAddress) -> Int {
        switch source {
        case .v4(let address): bucket(for: address)
        case .v6(let address): bucket(for: address)
        }
    }
}
