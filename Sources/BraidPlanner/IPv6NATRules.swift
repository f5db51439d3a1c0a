import BraidConfig

/// The IPv6 source NAT of each WAN, for the `postrouting_nat` chain. Masquerade is NAT66 to the
/// WAN's address; prefix translation (NPt-style) rewrites only the prefix of the LAN's sources, so
/// `fd00:1::10` leaves as `2001:db8:2:100::10`, and conntrack translates the replies back.
enum IPv6NATRules {
    static func rules(_ config: Config) -> [NftablesRule] {
        config.wans.flatMap { wan -> [NftablesRule] in
            guard let ipv6 = wan.ipv6 else { return [] }
            let family = AddressFamily.ipv6
            let masquerade = NftablesRule("\(family.nfprotoMatch()) oifname \"\(wan.interface)\" masquerade")
            switch ipv6.nat {
            case .masquerade: return [masquerade]
            case .none: return []
            case .prefixTranslation(let translation):
                return [
                    NftablesRule(
                        "oifname \"\(wan.interface)\" \(family.nftAddressMatch(.source, "\(translation.from)")) snat ip6 prefix to \(translation.to)",
                        comment: "\(wan.name): prefix translation \(translation.from) → \(translation.to); the host part is kept."
                    ),
                    // Any other source (the router's own traffic, re-routed here by its mark with
                    // another WAN's address; another LAN prefix) would die at the ISP's BCP 38 filter.
                    masquerade,
                ]
            }
        }
    }
}
