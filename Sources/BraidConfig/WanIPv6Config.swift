/// A WAN's IPv6: its next hop and how LAN sources are translated when they leave by it. A WAN
/// without this section takes no IPv6 at all (it is never chosen for an IPv6 connection).
public struct WanIPv6Config: Sendable, Equatable {
    /// The IPv6 next hop: an address (link-local ones such as `fe80::1` are the usual case: they
    /// are on-link on the WAN's own interface, which the route names), `auto` (learned from router
    /// advertisements or another client's default route on the interface), or `none` (a
    /// point-to-point link: a device route). Omitted means `auto`.
    public var gateway: GatewaySetting<IPv6Address>
    public var nat: IPv6NatMode

    public init(gateway: GatewaySetting<IPv6Address> = .auto, nat: IPv6NatMode = .masquerade) {
        self.gateway = gateway
        self.nat = nat
    }
}

/// How IPv6 connections leaving by a WAN get their source address.
public enum IPv6NatMode: Sendable, Equatable, CustomStringConvertible {
    /// NAT66 to the WAN interface's current global address (mwan3's way): works with any ISP, but
    /// the LAN hosts share one address per WAN, as with IPv4.
    case masquerade
    /// Leave the source alone: the ISP routes the LAN's prefix to this WAN.
    case none
    /// Rewrite the prefix and keep the host part (`fd00:1::10` → `2001:db8:2:100::10`), the NPt of
    /// pfSense and VyOS's `snat prefix`; replies are translated back by the connection's entry.
    case prefixTranslation(PrefixTranslation)

    public var description: String {
        switch self {
        case .masquerade: "masquerade"
        case .none: "none"
        case .prefixTranslation(let translation): "prefix translation \(translation.from) → \(translation.to)"
        }
    }
}

/// A LAN prefix and the public prefix of the same length it is translated to.
public struct PrefixTranslation: Sendable, Hashable {
    public var from: IPPrefix
    public var to: IPPrefix

    public init(from: IPPrefix, to: IPPrefix) {
        self.from = from
        self.to = to
    }
}

extension IPv6Address {
    /// True for `::`, `::1`, multicast (`ff00::/8`) and IPv4-mapped addresses: none of them can be
    /// a next hop, a probe target or a forward's backend.
    public var isUnusableAsHost: Bool {
        self == .unspecified || self == IPv6Address(high: 0, low: 1) || high >> 56 == 0xff || mappedIPv4 != nil
    }

    /// `fe80::/10`: valid on one link only. Fine as a gateway, meaningless beyond the link.
    public var isLinkLocal: Bool { high >> 54 == 0xfe80 >> 6 }
}

extension WanConfig {
    /// Whether this WAN carries connections of `family`: every WAN carries IPv4, only a WAN with
    /// an `ipv6:` section carries IPv6.
    public func carries(_ family: AddressFamily) -> Bool {
        family == .ipv4 || ipv6 != nil
    }
}
