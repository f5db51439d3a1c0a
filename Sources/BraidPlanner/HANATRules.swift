import BraidConfig

/// The rules an HA pair (`ha:`) adds to Braid's table.
enum HANATRules {
    /// Forwarded LAN traffic leaving by a masquerading WAN takes the WAN's virtual address, not this
    /// gateway's own: masquerade would pick the interface's primary (own) address, which the peer
    /// does not have, so every connection would break on takeover. The router's own traffic
    /// (probes, DNS) keeps falling through to masquerade: on the backup the virtual address is
    /// not here, and answers to it would go to the active gateway.
    static func virtualAddressSNAT(_ config: Config, _ wan: WanConfig) -> [NftablesRule] {
        guard let ha = config.ha, wan.nat == .masquerade, let address = ha.natAddress(interface: wan.interface) else {
            return []
        }
        let lans = RulesetPlanner.setLiteral(config.lan.interfaces)
        return [
            NftablesRule(
                "meta nfproto ipv4 iifname \(lans) oifname \"\(wan.interface)\" snat ip to \(address)",
                comment: wan
                    == config.wans.first(where: { ha.natAddress(interface: $0.interface) != nil && $0.nat == .masquerade })
                    ? "ha: LAN traffic takes the WAN's virtual address, which moves to the peer on takeover." : nil)
        ]
    }

    /// A TCP packet that opens a conntrack entry without being a SYN is a connection picked up
    /// mid-stream (the kernel's loose TCP tracking): on a gateway that just took over, one whose
    /// synced entry conntrackd has not committed yet. Balanced as new, it could leave by another
    /// WAN with another source address, and the far end would reset it; dropped, its sender
    /// retransmits, and by then the committed entry (with its mark and NAT) carries it on.
    static func midStreamGuard(_ config: Config) -> [NftablesRule] {
        guard config.ha != nil else { return [] }
        return [
            NftablesRule(
                "tcp flags & (fin | syn | rst | ack) != syn drop",
                comment:
                    "ha: a TCP connection seen mid-stream without its synced state is not balanced anew;\nits retransmission finds the entry conntrackd commits on takeover."
            )
        ]
    }
}
