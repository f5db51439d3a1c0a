/// An IPv4 address, parsed strictly from dotted-quad text (no leading zeros, no shorthand).
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The address in host byte order.
    public let value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Parses `a.b.c.d`; returns nil for anything else, including `010.0.0.1`, which some
    /// parsers read as octal and others as decimal.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var result: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                !(part.count > 1 && part.first == "0"),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            result = result << 8 | octet
        }
        value = result
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    /// True for 0.0.0.0/8, 127.0.0.0/8, multicast, and the limited broadcast address:
    /// none of them can be a next hop or a NAT source.
    public var isUnusableAsHost: Bool {
        let first = value >> 24
        return first == 0 || first == 127 || first >= 224
    }
}

/// An IPv4 prefix such as `10.0.0.0/24`; host bits must be zero so that a typo is not silently widened.
public struct IPv4Prefix: Sendable, Hashable, CustomStringConvertible {
    public let address: IPv4Address
    public let length: Int

    public init?(address: IPv4Address, length: Int) {
        guard (0...32).contains(length), address.value & ~Self.mask(length) == 0 else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `a.b.c.d/len`, or a bare address as a /32.
    public init?(_ text: some StringProtocol) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let address = IPv4Address(pieces[0]) else { return nil }
        var length = 32
        if pieces.count == 2 {
            guard (1...2).contains(pieces[1].count), pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                !(pieces[1].count == 2 && pieces[1].first == "0"),
                let parsed = Int(pieces[1]), parsed <= 32
            else { return nil }
            length = parsed
        }
        guard address.value & ~Self.mask(length) == 0 else { return nil }
        self.address = address
        self.length = length
    }

    public static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    public var mask: UInt32 { Self.mask(length) }

    public func contains(_ other: IPv4Address) -> Bool {
        other.value & mask == address.value
    }

    public var description: String { "\(address)/\(length)" }
}

/// An address assigned to an interface, with the length of its on-link subnet (`192.168.1.2/24`).
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int
    /// The far end of a point-to-point address (`ip addr add A peer B/32`): then the prefix
    /// length belongs to the peer, and the peer, not `address`, is what is on-link.
    public let peer: IPv4Address?

    public init(address: IPv4Address, prefixLength: Int, peer: IPv4Address? = nil) {
        self.address = address
        self.prefixLength = prefixLength
        self.peer = peer
    }

    /// The connected subnet this address makes on-link.
    public var subnet: IPv4Prefix {
        IPv4Prefix(address: IPv4Address(address.value & IPv4Prefix.mask(prefixLength)), length: prefixLength)!
    }

    /// Whether the kernel accepts `gateway` as a next hop through this address: it must lie in
    /// the connected subnet (or the peer's prefix on a point-to-point link), else `ip route add
    /// default via GATEWAY` fails with "Nexthop has invalid gateway".
    public func hasOnLink(_ gateway: IPv4Address) -> Bool {
        let onLink = peer ?? address
        return IPv4Prefix.mask(prefixLength) & (onLink.value ^ gateway.value) == 0
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
