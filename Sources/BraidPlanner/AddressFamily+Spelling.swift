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

    /// A packet's source or destination address of this family, as an nft expression: `ip saddr`.
    public func nftAddress(_ field: NftAddressField) -> String {
        "\(nftFamilyKeyword) \(field.rawValue)"
    }

    /// An nft match on this family's source or destination address: `ip saddr 10.0.0.0/8`.
    public func nftAddressMatch(_ field: NftAddressField, _ operand: String, negated: Bool = false) -> String {
        "\(nftAddress(field)) \(negated ? "!= " : "")\(operand)"
    }

    /// The match that an inet-table packet is (or is not) of this family: `meta nfproto ipv4`.
    public func nfprotoMatch(negated: Bool = false) -> String {
        "meta nfproto \(negated ? "!= " : "")\(nfproto)"
    }

    /// A NAT statement in an inet table, which must name the family it translates: `dnat ip to
    /// 192.168.1.10:8080`. (An IPv6 target with a port is written `[2001:db8::10]:8080`.)
    public func nftNAT(_ kind: NftNATKind, to target: String) -> String {
        "\(kind.rawValue) \(nftFamilyKeyword) to \(target)"
    }
}

/// The address-rewriting NAT statements that take a target.
public enum NftNATKind: String, Sendable {
    case snat
    case dnat
}

/// Which address of a packet an nft match looks at.
public enum NftAddressField: String, Sendable {
    case source = "saddr"
    case destination = "daddr"
}
