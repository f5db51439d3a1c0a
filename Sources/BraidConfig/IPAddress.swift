/// The two internet protocol families. Every route, rule and address match belongs to one; the
/// kernel keeps their rules and routes apart, and nft spells their matches differently.
public enum AddressFamily: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ipv4
    case ipv6

    /// Bits in an address: 32 or 128; also the longest prefix length.
    public var addressBits: Int {
        switch self {
        case .ipv4: 32
        case .ipv6: 128
        }
    }

    public var description: String {
        switch self {
        case .ipv4: "IPv4"
        case .ipv6: "IPv6"
        }
    }
}

/// An address of either family. Text with a colon is IPv6, anything else IPv4, so `10.0.0.1` and
/// `::ffff:10.0.0.1` stay different addresses, as they are to the kernel.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let address = IPv6Address(text) else { return nil }
            self = .v6(address)
        } else {
            guard let address = IPv4Address(text) else { return nil }
            self = .v4(address)
        }
    }

    public var family: AddressFamily {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// The IPv4 address, for the code that handles only IPv4 today.
    public var ipv4: IPv4Address? {
        if case .v4(let address) = self { address } else { nil }
    }

    public var ipv6: IPv6Address? {
        if case .v6(let address) = self { address } else { nil }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }

    /// IPv4 before IPv6, then by value.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let left), .v4(let right)): left < right
        case (.v6(let left), .v6(let right)): left < right
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    /// The address with only its first `length` bits kept.
    public func masked(toLength length: Int) -> IPAddress {
        switch self {
        case .v4(let address): .v4(IPv4Address(address.value & IPv4Prefix.mask(length)))
        case .v6(let address): .v6(address.masked(toLength: length))
        }
    }
}

/// A prefix of either family (`10.0.0.0/8`, `2001:db8::/32`); as with `IPv4Prefix`, host bits must
/// be zero so that a typo is not silently widened.
public struct IPPrefix: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        guard (0...address.family.addressBits).contains(length), address.masked(toLength: length) == address else { return nil }
        self.address = address
        self.length = length
    }

    public init(_ prefix: IPv4Prefix) {
        address = .v4(prefix.address)
        length = prefix.length
    }

    /// Parses `address/length`, or a bare address as a host prefix (/32 or /128). The length is
    /// decimal without leading zeros, as for `IPv4Prefix`.
    public init?(_ text: some StringProtocol) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let address = IPAddress(pieces[0]) else { return nil }
        var length = address.family.addressBits
        if pieces.count == 2 {
            let digits = pieces[1]
            guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                !(digits.count > 1 && digits.first == "0"), let parsed = Int(digits)
            else { return nil }
            length = parsed
        }
        self.init(address: address, length: length)
    }

    public var family: AddressFamily { address.family }

    /// The IPv4 prefix, for the code that handles only IPv4 today.
    public var ipv4: IPv4Prefix? {
        address.ipv4.flatMap { IPv4Prefix(address: $0, length: length) }
    }

    /// True for an address of the same family whose first `length` bits match.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.masked(toLength: length) == address
    }

    public var description: String { "\(address)/\(length)" }
}
