/// An IPv6 address, parsed strictly from RFC 4291 text and printed in RFC 5952 canonical form.
///
/// Accepted: eight groups of one to four hex digits (either case), at most one `::` standing for
/// one or more zero groups, and a dotted quad in the last 32 bits (`::ffff:192.0.2.1`) that follows
/// `IPv4Address`'s rules. Rejected: a group of five or more digits (even `00001`, which some parsers
/// read as `1`), a second `::`, more than eight groups, zone ids (`fe80::1%eth0`: a zone names a
/// host's interface and has no meaning in a config or an nft script), and any space or sign.
public struct IPv6Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first 64 bits, most significant first.
    public let high: UInt64
    /// The last 64 bits.
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The address of eight 16-bit groups, most significant first; nil unless there are exactly eight.
    public init?(groups: [UInt16]) {
        guard groups.count == 8 else { return nil }
        let words = groups.map(UInt64.init)
        high = words[0] << 48 | words[1] << 32 | words[2] << 16 | words[3]
        low = words[4] << 48 | words[5] << 32 | words[6] << 16 | words[7]
    }

    /// The address of 16 bytes in network order (`in6_addr`); nil unless there are exactly 16.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let words = bytes.reduce(into: (high: UInt64(0), low: UInt64(0))) { words, byte in
            words.high = words.high << 8 | words.low >> 56
            words.low = words.low << 8 | UInt64(byte)
        }
        self.init(high: words.high, low: words.low)
    }

    /// The 16 bytes in network order, as `in6_addr` holds them.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// `::ffff:a.b.c.d`, how a dual-stack socket shows an IPv4 peer.
    public init(mapping ipv4: IPv4Address) {
        high = 0
        low = 0xffff_0000_0000 | UInt64(ipv4.value)
    }

    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        var head = text[...], tail: Substring? = nil
        if let gap = text.range(of: "::") {
            head = text[..<gap.lowerBound]
            tail = text[gap.upperBound...]
            // A second `::`, or `:::`, leaves a colon at the start of the tail or inside it.
            if tail!.contains("::") || tail!.hasPrefix(":") { return nil }
        }
        // The last 32 bits may be a dotted quad, only at the very end of the text.
        guard var headGroups = Self.groups(head, dottedQuadAllowed: tail == nil) else { return nil }
        if let tail {
            guard let tailGroups = Self.groups(tail, dottedQuadAllowed: true),
                headGroups.count + tailGroups.count <= 7
            else { return nil }
            headGroups += Array(repeating: 0, count: 8 - headGroups.count - tailGroups.count) + tailGroups
        }
        self.init(groups: headGroups)
    }

    /// The groups of one side of `::` (or of the whole text); nil on any malformed group.
    private static func groups(_ text: Substring, dottedQuadAllowed: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if dottedQuadAllowed, index == parts.count - 1, part.contains(".") {
                guard let ipv4 = IPv4Address(part) else { return nil }
                groups += [UInt16(ipv4.value >> 16), UInt16(ipv4.value & 0xffff)]
                continue
            }
            guard (1...4).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isHexDigit }),
                let group = UInt16(part, radix: 16)
            else { return nil }
            groups.append(group)
        }
        return groups
    }

    /// The eight 16-bit groups, most significant first.
    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * $0)) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * $0)) }
    }

    /// The IPv4 address of an IPv4-mapped address (`::ffff:0:0/96`), else nil.
    public var mappedIPv4: IPv4Address? {
        high == 0 && low >> 32 == 0xffff ? IPv4Address(UInt32(truncatingIfNeeded: low)) : nil
    }

    /// RFC 5952: lowercase, no leading zeros, the longest run of two or more zero groups (the first
    /// of equal runs) as `::`, and an IPv4-mapped address with its last 32 bits as a dotted quad.
    public var description: String {
        if let ipv4 = mappedIPv4 { return "::ffff:\(ipv4)" }
        let groups = groups
        var best: Range<Int>? = nil
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            let start = index
            while index < 8, groups[index] == 0 { index += 1 }
            if index - start >= 2, index - start > best?.count ?? 0 { best = start..<index }
        }
        func text(_ slice: ArraySlice<UInt16>) -> String { slice.map { String($0, radix: 16) }.joined(separator: ":") }
        guard let best else { return text(groups[...]) }
        return text(groups[..<best.lowerBound]) + "::" + text(groups[best.upperBound...])
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The address with only its first `length` bits kept (0...128).
    public func masked(toLength length: Int) -> IPv6Address {
        let mask = Self.mask(length)
        return IPv6Address(high: high & mask.high, low: low & mask.low)
    }

    /// The netmask of a prefix length (0...128): `length` one bits, then zeros.
    public static func mask(_ length: Int) -> IPv6Address {
        let high: UInt64 = length <= 0 ? 0 : length >= 64 ? .max : .max << UInt64(64 - length)
        let low: UInt64 = length <= 64 ? 0 : length >= 128 ? .max : .max << UInt64(128 - length)
        return IPv6Address(high: high, low: low)
    }

    /// `::`, the unspecified address.
    public static let unspecified = IPv6Address(high: 0, low: 0)
}

/// An IPv6 address assigned to an interface, with its on-link prefix length (`2001:db8::2/64`).
/// The IPv6 counterpart of `InterfaceAddress`; kept apart so that code reading a WAN's IPv4
/// address (NAT source, on-link gateway) cannot pick up a link-local IPv6 one by accident.
public struct IPv6InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: IPv6Address
    public let prefixLength: Int
    /// The far end of a point-to-point address, as for `InterfaceAddress.peer`.
    public let peer: IPv6Address?

    public init(address: IPv6Address, prefixLength: Int, peer: IPv6Address? = nil) {
        self.address = address
        self.prefixLength = prefixLength
        self.peer = peer
    }

    /// The connected subnet this address makes on-link.
    public var subnet: IPPrefix {
        IPPrefix(address: .v6(address.masked(toLength: prefixLength)), length: prefixLength)!
    }

    /// Whether the kernel accepts `gateway` as a next hop through this address. Link-local
    /// gateways (`fe80::/10`, the usual IPv6 next hop) are on-link on every interface.
    public func hasOnLink(_ gateway: IPv6Address) -> Bool {
        if gateway.masked(toLength: 10) == IPv6Address(high: 0xfe80 << 48, low: 0) { return true }
        let onLink = peer ?? address
        return onLink.masked(toLength: prefixLength) == gateway.masked(toLength: prefixLength)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
