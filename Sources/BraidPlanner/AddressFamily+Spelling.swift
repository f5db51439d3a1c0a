import BraidConfig

/// How nft and iproute2 spell each family. One place, so a rule written for IPv4 is the same text
/// as before and the IPv6 rule is the same rule with these words swapped.
extension AddressFamily {
    /// The payload protocol in an nft match: `ip saddr …`, `ip6 daddr …`, `dnat ip to …`.
    public var nftFamilyKeyword: String {
        switch self {
        case .ipv4: "ip"
        case .ipv6: "ip6"
        }
    }

    /// The element type of an nft set or map key: `type ipv4_addr : verdict`.
    public var nftAddressType: String {
        switch self {
        case .ipv4: "ipv4_addr"
        case .ipv6: "ipv6_addr"
        }
    }

    /// The value of `meta nfproto` in an inet table, which sees both families' packets.
    public var nfproto: String {
        switch self {
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        }
    }

    /// iproute2's family option, before the object: `ip -6 rule add …`. Without it `ip rule`
    /// means IPv4, and `ip route` guesses from the addresses.
    public var ipOption: String {
        switch self {
        case .ipv4: "-4"
        case .ipv6: "-6"
        }
    }

    /// An nft match on this family's source or destination address: `ip saddr 10.0.0.0/8`.
    public func nftAddressMatch(_ field: NftAddressField, _ operand: String, negated: Bool = false) -> String {
        "\(nftFamilyKeyword) \(field.rawValue) \(negated ? "!= " : "")\(operand)"
    }
}

/// Which address of a packet an nft match looks at.
public enum NftAddressField: String, Sendable {
    case source = "saddr"
    case destination = "daddr"
}
