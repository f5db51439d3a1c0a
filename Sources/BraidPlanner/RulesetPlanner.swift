import BraidConfig

/// Builds Braid's nft table. The packet path, in short: a connection's WAN lives in its conntrack
/// mark; every packet copies it to the packet mark (which `ip rule fwmark` routes by); a new
/// connection gets a mark from the weighted split (from the LAN or the router itself) or from its
/// arrival interface (from a WAN), and NAT is per outgoing WAN.
enum RulesetPlanner {
    static func ruleset(config: Config, wans: [PlannedWan], split: WeightedSplit, routerSplit: WeightedSplit) -> NftablesRuleset {
        let mask = config.kernel.markMask
        let keep = ~mask
        let maskText = hex(mask)
        let wanInterfaces = setLiteral(config.wans.map(\.interface))
        let lanInterfaces = setLiteral(config.lan.interfaces)

        var counters: [NftablesCounter] = []
        for wan in wans {
            // Prefixed, because nft names may not start with a digit and WAN names may.
            counters.append(NftablesCounter(name: "rx_\(wan.name)", comment: wan == wans.first ? "Per-WAN packet and byte totals, read by `braid status`; objects survive re-applies." : nil))
            counters.append(NftablesCounter(name: "tx_\(wan.name)"))
        }

        let maps = [
            NftablesMap(name: "wan_by_ct_mark", type: "type mark : verdict",
                        elements: wans.map { (hex($0.mark), "goto restore_\($0.name)") },
                        comment: "A connection's WAN, from its conntrack mark."),
            NftablesMap(name: "wan_by_socket_mark", type: "type mark : verdict",
                        elements: wans.map { (hex($0.mark), "goto choose_\($0.name)") },
                        comment: "A local socket that chose its WAN itself (SO_MARK, as health probes do)."),
            NftablesMap(name: "wan_by_ingress", type: "type ifname : verdict",
                        elements: wans.map { ("\"\($0.interface)\"", "goto choose_\($0.name)") },
                        comment: "A connection that arrives on a WAN is answered by that WAN."),
            NftablesMap(name: "new_connection_split", type: "typeof numgen random mod \(split.modulus) : verdict", isInterval: true,
                        elements: split.slices.map { slice in
                            (slice.lowerBound == slice.upperBound ? "\(slice.lowerBound)" : "\(slice.lowerBound)-\(slice.upperBound)",
                             "goto choose_\(wans[slice.wanIndex].name)")
                        },
                        comment: "New connections, spread by weight over the usable WANs."),
            NftablesMap(name: "router_connection_split", type: "typeof numgen random mod \(max(routerSplit.modulus, 1)) : verdict", isInterval: true,
                        elements: routerSplit.slices.map { slice in
                            (slice.lowerBound == slice.upperBound ? "\(slice.lowerBound)" : "\(slice.lowerBound)-\(slice.upperBound)",
                             "goto choose_\(wans[slice.wanIndex].name)")
                        },
                        comment: "The router's own new connections, over the usable WANs that NAT."),
            NftablesMap(name: "rx_counters", type: "type ifname : counter",
                        elements: wans.map { ("\"\($0.interface)\"", "\"rx_\($0.name)\"") }),
            NftablesMap(name: "tx_counters", type: "type ifname : counter",
                        elements: wans.map { ("\"\($0.interface)\"", "\"tx_\($0.name)\"") }),
        ]

        var chains: [NftablesChain] = []
        chains.append(NftablesChain(
            name: "prerouting", hook: "type filter hook prerouting priority mangle; policy accept;",
            rules: [
                NftablesRule("counter name iifname map @rx_counters"),
                NftablesRule("meta nfproto != ipv4 return", comment: "Braid's policy routing is IPv4; IPv6 follows the main table."),
                NftablesRule("ct mark & \(maskText) != 0 ct mark & \(maskText) vmap @wan_by_ct_mark",
                             comment: "Every later packet of a connection, both directions, takes the connection's WAN again."),
                NftablesRule("ct state != new return"),
                NftablesRule("iifname vmap @wan_by_ingress"),
                NftablesRule("iifname \(lanInterfaces) fib daddr type { local, broadcast, multicast } return",
                             comment: "Traffic for the router itself, and LAN broadcast/multicast, needs no WAN."),
                NftablesRule("iifname \(lanInterfaces) numgen random mod \(split.modulus) vmap @new_connection_split"),
            ],
            comment: "Runs before DNAT and before the routing decision, so the mark chooses the routing table."))
        chains.append(NftablesChain(
            name: "output", hook: "type route hook output priority mangle; policy accept;",
            rules: [
                NftablesRule("meta nfproto != ipv4 return"),
                NftablesRule("ct mark & \(maskText) != 0 ct mark & \(maskText) vmap @wan_by_ct_mark",
                             comment: "Replies to connections that arrived on a WAN leave by that WAN."),
                NftablesRule("ct state != new return"),
                NftablesRule("meta mark & \(maskText) != 0 meta mark & \(maskText) vmap @wan_by_socket_mark"),
                NftablesRule("meta mark & \(maskText) != 0 return", comment: "A mark in Braid's bits that names no WAN is someone else's choice: leave it."),
            ] + (routerSplit.modulus == 0 ? [] : [
                NftablesRule("oifname \(wanInterfaces) numgen random mod \(routerSplit.modulus) vmap @router_connection_split",
                             comment: "The router's own connections towards the internet are balanced like the LAN's,\nover the WANs that rewrite the source address (a `nat: none` WAN would keep another WAN's)."),
            ]),
            comment: "A `route` chain: changing the mark here makes the kernel route the packet again."))
        chains.append(NftablesChain(
            name: "postrouting_count", hook: "type filter hook postrouting priority filter; policy accept;",
            rules: [NftablesRule("counter name oifname map @tx_counters")]))
        chains.append(NftablesChain(
            name: "postrouting_nat", hook: "type nat hook postrouting priority srcnat; policy accept;",
            rules: config.wans.compactMap { wan in
                switch wan.nat {
                case .masquerade: NftablesRule("meta nfproto ipv4 oifname \"\(wan.interface)\" masquerade")
                case .snat(let address): NftablesRule("meta nfproto ipv4 oifname \"\(wan.interface)\" snat ip to \(address)")
                case .none: nil
                }
            },
            comment: "Source NAT per WAN. It also fixes the source of router traffic re-routed by its mark."))
        for wan in wans {
            let set = "meta mark set meta mark & \(hex(keep)) | \(hex(wan.mark))"
            chains.append(NftablesChain(
                name: "choose_\(wan.name)",
                rules: [NftablesRule(set), NftablesRule("ct mark set ct mark & \(hex(keep)) | \(hex(wan.mark))")],
                comment: "\(wan.name): mark the packet and remember the choice in conntrack; mark bits outside \(maskText) are kept."))
            chains.append(NftablesChain(name: "restore_\(wan.name)", rules: [NftablesRule(set)]))
        }
        return NftablesRuleset(counters: counters, maps: maps, chains: chains)
    }

    static func setLiteral(_ names: [String]) -> String {
        "{ " + names.map { "\"\($0)\"" }.joined(separator: ", ") + " }"
    }
}
