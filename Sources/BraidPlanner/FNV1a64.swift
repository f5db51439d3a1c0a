/// The 64-bit FNV-1a hash: stable across processes and platforms, unlike Swift's `Hasher`, which is
/// seeded per process. Braid uses it where a value must be the same on the next run (sticky
/// buckets, the digests in its state file).
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        for byte in bytes { add(byte) }
    }

    public mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
}
