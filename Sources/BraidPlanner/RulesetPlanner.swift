import BraidConfig

/// Builds Braid's nft table. The packet path, in short: a connection's WAN lives in its conntrack
/// mark; every packet copies it to the packet mark (which `ip rule fwmark` routes by); a new
/// connection gets a mark from the weighted split (from the LAN or the router itself) or from its
/// arrival interface (from a WAN), and NAT is per outgoing WAN.
enum RulesetPlanner {
    static func ruleset(
        config: Config, wans: [PlannedWan], split: WeightedSplit, routerSplit: WeightedSplit,
        policy: PolicyCompiler.Output, stickyBuckets: [(lower: Int, upper: Int, wanIndex: Int)]?,
        forwards: PortForwardPlanner.Output, ipv6: IPv6Plan? = nil,
        namedPolicies: NamedPolicyPlanner.Output = NamedPolicyPlanner.Output()
    ) -> NftablesRuleset {
        let mask = config.kernel.markMask
        let keep = ~mask
        let maskText = hex(mask)
        let wanInterfaces = setLiteral(config.wans.map(\.interface))
        let lanInterfaces = setLiteral(config.lan.interfaces)
        // Without a WAN that takes IPv6, Braid marks, balances and NATs IPv4 only and IPv6 follows
        // the main table; with one, each family has its own split (see IPv6Plan).
        let family = AddressFamily.ipv4
        let dualStack = ipv6 != nil
        /// `meta nfproto ipv4 ` before a family's split rule in a dual-stack table, nothing otherwise.
        let only = { (family: AddressFamily) in dualStack ? family.nfprotoMatch() + " " : "" }

        var counters: [NftablesCounter] = []
        for wan in wans {
            // Prefixed, because nft names may not start with a digit and WAN names may.
            counters.append(
                NftablesCounter(
                    name: "rx_\(wan.name)",
                    comment: wan == wans.first
                        ? "Per-WAN packet and byte totals, read by `braid status`; objects survive re-applies." : nil))
            counters.append(NftablesCounter(name: "tx_\(wan.name)"))
        }

        let mainMark = hex(config.kernel.mainMark)
        var maps = [
            NftablesMap(
                name: "wan_by_ct_mark", type: "type mark : verdict",
                elements: wans.map { (hex($0.mark), "goto restore_\($0.name)") } + [(mainMark, "goto restore_main")],
                comment: "A connection's WAN, from its conntrack mark (\(mainMark): a rule sent it to the main table)."),
            NftablesMap(
                name: "wan_by_socket_mark", type: "type mark : verdict",
                elements: wans.map { (hex($0.mark), "goto choose_\($0.name)") },
                comment: "A local socket that chose its WAN itself (SO_MARK, as health probes do)."),
            NftablesMap(
                name: "wan_by_ingress", type: "type ifname : verdict",
                elements: wans.map { ("\"\($0.interface)\"", "goto choose_\($0.name)") },
                comment: "A connection that arrives on a WAN is answered by that WAN."),
            splitMap("new_connection_split", split, wans, comment: "New connections, spread by weight over the usable WANs."),
            splitMap(
                "router_connection_split", routerSplit, wans,
                comment: "The router's own new connections, over the usable WANs that NAT."),
        ]
        if let stickyBuckets {
            maps.append(
                NftablesMap(
                    // Declared by a `numgen` of the same range: nft 1.0.6 crashes listing a map declared `typeof jhash …`.
                    name: "sticky_split", type: "typeof numgen random mod \(StickyAssignment.bucketCount) : verdict",
                    isInterval: true,
                    elements: stickyBuckets.map { range in
                        (NftRange.text(range.lower, range.upper), "goto choose_\(wans[range.wanIndex].name)")
                    },
                    comment:
                        "sticky: source. A client's address hashes to one of \(StickyAssignment.bucketCount) buckets; buckets are given to WANs by\nweighted rendezvous hashing, so a WAN that leaves moves only its own clients."
                ))
        }
        if let ipv6 {
            maps.append(
                splitMap(
                    "new_connection_split_v6", ipv6.split, wans,
                    comment: "New IPv6 connections, spread by weight over the usable WANs that take IPv6."))
            maps.append(
                splitMap(
                    "router_connection_split_v6", ipv6.routerSplit, wans,
                    comment: "The router's own new IPv6 connections, over the usable IPv6 WANs that translate sources."))
            if let buckets = ipv6.stickyBuckets {
                maps.append(
                    NftablesMap(
                        name: "sticky_split_v6", type: "typeof numgen random mod \(StickyAssignment.bucketCount) : verdict",
                        isInterval: true,
                        elements: buckets.map { range in
                            (NftRange.text(range.lower, range.upper), "goto choose_\(wans[range.wanIndex].name)")
                        },
                        comment:
                            "sticky: source for IPv6 hashes the client's /64 (privacy addresses rotate inside it), over the IPv6 WANs."
                    ))
            }
        }
        maps += policy.maps + namedPolicies.maps
        maps += [
            NftablesMap(
                name: "rx_counters", type: "type ifname : counter",
                elements: wans.map { ("\"\($0.interface)\"", "\"rx_\($0.name)\"") }),
            NftablesMap(
                name: "tx_counters", type: "type ifname : counter",
                elements: wans.map { ("\"\($0.interface)\"", "\"tx_\($0.name)\"") }),
        ]

        let virtualAddressSNAT: [NftablesRule] = config.wans.flatMap { HANATRules.virtualAddressSNAT(config, $0) }
        let midStreamGuard: [NftablesRule] = HANATRules.midStreamGuard(config)
        var chains: [NftablesChain] = []
        chains.append(
            NftablesChain(
                name: "prerouting", hook: NftablesBaseChain(type: .filter, hook: .prerouting, priority: .mangle),
                rules: [
                    NftablesRule("counter name iifname map @rx_counters")
                ]
                    + (dualStack
                        ? []
                        : [
                            NftablesRule(
                                "\(family.nfprotoMatch(negated: true)) return",
                                comment: "Braid's policy routing is IPv4; IPv6 follows the main table.")
                        ])
                    + [
                        NftablesRule(
                            "ct mark & \(maskText) != 0 ct mark & \(maskText) vmap @wan_by_ct_mark",
                            comment: "Every later packet of a connection, both directions, takes the connection's WAN again."),
                        NftablesRule("ct state != new return"),
                    ]
                    + midStreamGuard
                    + [
                        NftablesRule("iifname vmap @wan_by_ingress"),
                        // IPv6 skips this lookup: the next rule's already returns its local, link-local
                        // and multicast destinations (the kernel's fib6 answers no interface for a local
                        // address, and the LAN's own for link-local and multicast ones), and a new IPv6
                        // connection then pays for one policy-routed FIB lookup instead of two. IPv4's
                        // multicast and limited broadcast would resolve to a WAN there, so it keeps it.
                        NftablesRule(
                            "\(only(.ipv4))iifname \(lanInterfaces) fib daddr type { local, broadcast, multicast } return",
                            comment: "Traffic for the router itself, and LAN broadcast/multicast, needs no WAN."),
                        // Without `. mark` the lookup sees no mark, like the connection's first routing
                        // decision would without Braid: main's specific routes first, then the fallback WAN.
                        NftablesRule(
                            "iifname \(lanInterfaces) fib daddr oifname != \(wanInterfaces) return",
                            comment:
                                "Neither does traffic main routes to a LAN, a VPN or another non-WAN interface:\nrules and the split only choose among WANs."
                        ),
                    ]
                    + (policy.rules.isEmpty
                        ? []
                        : [
                            NftablesRule(
                                "iifname \(lanInterfaces) jump traffic_rules",
                                comment: "Policy rules first; a rule that says `balance`, or no rule, lands on the split below."),
                            NftablesRule(
                                "meta mark & \(maskText) != 0 return", comment: "A rule chose (its `goto` returns here)."),
                        ])
                    + (namedPolicies.defaultPolicyRules ?? [
                        stickyBuckets != nil
                            ? NftablesRule(
                                "\(only(.ipv4))iifname \(lanInterfaces) jhash \(family.nftAddress(.source)) mod \(StickyAssignment.bucketCount) seed \(hex(StickyAssignment.hashSeed)) vmap @sticky_split"
                            )
                            : NftablesRule(
                                "\(only(.ipv4))iifname \(lanInterfaces) numgen random mod \(split.modulus) vmap @new_connection_split"
                            )
                    ]
                        + (ipv6.map { ipv6 in
                            if ipv6.stickyBuckets != nil {
                                // Bits 64-127 of the IPv6 header are the source's first 64: nft 1.0.6 cannot
                                // mask a 128-bit value inside jhash, but it can hash a raw payload slice.
                                return [
                                    NftablesRule(
                                        "\(only(.ipv6))iifname \(lanInterfaces) jhash @nh,64,64 mod \(StickyAssignment.bucketCount) seed \(hex(StickyAssignment.hashSeed)) vmap @sticky_split_v6",
                                        comment: "sticky: source keys IPv6 clients on their /64 (the header's source bits 0-63).")
                                ]
                            }
                            return ipv6.split.modulus == 0
                                ? []
                                : [
                                    NftablesRule(
                                        "\(only(.ipv6))iifname \(lanInterfaces) numgen random mod \(ipv6.split.modulus) vmap @new_connection_split_v6"
                                    )
                                ]
                        } ?? [])),
                comment: "Runs before DNAT and before the routing decision, so the mark chooses the routing table."))
        chains.append(
            NftablesChain(
                name: "output", hook: NftablesBaseChain(type: .route, hook: .output, priority: .mangle),
                rules: (dualStack ? [] : [NftablesRule("\(family.nfprotoMatch(negated: true)) return")]) + [
                    NftablesRule(
                        "ct mark & \(maskText) != 0 ct mark & \(maskText) vmap @wan_by_ct_mark",
                        comment: "Replies to connections that arrived on a WAN leave by that WAN."),
                    NftablesRule("ct state != new return"),
                ]
                    + (dualStack
                        ? [
                            NftablesRule(
                                "ip6 daddr { fe80::/10, ff00::/8 } return",
                                comment: "Link-local and multicast IPv6 (neighbour discovery, DHCPv6) stays on the link it names."
                            )
                        ] : [])
                    + [
                        NftablesRule("meta mark & \(maskText) != 0 meta mark & \(maskText) vmap @wan_by_socket_mark"),
                        NftablesRule(
                            "meta mark & \(maskText) != 0 return",
                            comment: "A mark in Braid's bits that names no WAN is someone else's choice: leave it."),
                    ]
                    + (policy.rules.isEmpty
                        ? []
                        : [
                            NftablesRule(
                                "oifname \(wanInterfaces) jump traffic_rules",
                                comment: "Rules pin the router's own traffic too (by destination, protocol, port)."),
                            NftablesRule("meta mark & \(maskText) != 0 return"),
                        ])
                    + (ipv6.map { ipv6 in
                        ipv6.routerSplit.modulus == 0
                            ? []
                            : [
                                NftablesRule(
                                    "\(only(.ipv6))oifname \(wanInterfaces) numgen random mod \(ipv6.routerSplit.modulus) vmap @router_connection_split_v6"
                                )
                            ]
                    } ?? [])
                    + (routerSplit.modulus == 0
                        ? []
                        : [
                            NftablesRule(
                                "\(only(.ipv4))oifname \(wanInterfaces) numgen random mod \(routerSplit.modulus) vmap @router_connection_split",
                                comment:
                                    "The router's own connections towards the internet are balanced like the LAN's,\nover the WANs that rewrite the source address (a `nat: none` WAN would keep another WAN's)."
                            )
                        ]),
                comment: "A `route` chain: changing the mark here makes the kernel route the packet again."))
        chains.append(
            NftablesChain(
                name: "postrouting_count", hook: NftablesBaseChain(type: .filter, hook: .postrouting, priority: .filter),
                rules: [NftablesRule("counter name oifname map @tx_counters")]))
        if !policy.rules.isEmpty {
            chains.append(
                NftablesChain(
                    name: "traffic_rules", rules: policy.rules,
                    comment:
                        "Policy rules, first match wins: one lookup per shape of rule keeps the lowest matching rule number in ct mark,\nthen the dispatch map runs that rule's action (see docs/design.md, How rules compile)."
                ))
            chains += policy.chains
        }
        chains += namedPolicies.chains
        if !forwards.prerouting.isEmpty {
            chains.append(
                NftablesChain(
                    name: "dstnat", hook: NftablesBaseChain(type: .nat, hook: .prerouting, priority: .dstnat),
                    rules: forwards.prerouting,
                    comment:
                        "Port forwards. They match the WAN addresses, so LAN clients using the public address are translated too."
                ))
        }
        if !forwards.output.isEmpty {
            chains.append(
                NftablesChain(
                    name: "output_dstnat", hook: NftablesBaseChain(type: .nat, hook: .output, priority: .number(-100)),
                    rules: forwards.output,
                    comment: "Port forwards for the router's own connections to its WAN addresses."))
        }
        chains.append(
            NftablesChain(
                name: "postrouting_nat", hook: NftablesBaseChain(type: .nat, hook: .postrouting, priority: .srcnat),
                rules: (forwards.anyHairpin
                    ? [
                        NftablesRule(
                            "iifname \(lanInterfaces) oifname \(lanInterfaces) ct status dnat masquerade",
                            comment:
                                "Hairpin: a LAN client reached a LAN backend through a public address; without this the\nbackend would answer the client directly and the client would drop the reply."
                        )
                    ]
                        + (dualStack
                            ? [
                                // IPv6 postrouting sees no input interface for forwarded packets, so the
                                // IPv4 rule above never matches them; a connection from a WAN has its
                                // WAN's mark (wan_by_ingress), one from the LAN to a public address none.
                                NftablesRule(
                                    "meta nfproto ipv6 oifname \(lanInterfaces) ct status dnat ct mark & \(maskText) == 0 masquerade",
                                    comment:
                                        "IPv6 hairpin: forwarded IPv6 has no iifname here; a connection that arrived on a WAN carries its mark."
                                )
                            ] : [])
                    : [])
                    + virtualAddressSNAT
                    + config.wans.compactMap { wan in
                        switch wan.nat {
                        case .masquerade: NftablesRule("\(family.nfprotoMatch()) oifname \"\(wan.interface)\" masquerade")
                        case .snat(let address):
                            NftablesRule(
                                "\(family.nfprotoMatch()) oifname \"\(wan.interface)\" \(family.nftNAT(.snat, to: "\(address)"))")
                        case .none: nil
                        }
                    }
                    + (dualStack ? IPv6NATRules.rules(config) : []),
                comment: "Source NAT per WAN. It also fixes the source of router traffic re-routed by its mark."))
        for wan in wans {
            let set = "meta mark set meta mark & \(hex(keep)) | \(hex(wan.mark))"
            chains.append(
                NftablesChain(
                    name: "choose_\(wan.name)",
                    rules: [NftablesRule(set), NftablesRule("ct mark set ct mark & \(hex(keep)) | \(hex(wan.mark))")],
                    comment:
                        "\(wan.name): mark the packet and remember the choice in conntrack; mark bits outside \(maskText) are kept."
                ))
            chains.append(NftablesChain(name: "restore_\(wan.name)", rules: [NftablesRule(set)]))
        }
        let setMain = "meta mark set meta mark & \(hex(keep)) | \(mainMark)"
        chains.append(
            NftablesChain(
                name: "choose_main",
                rules: [NftablesRule(setMain), NftablesRule("ct mark set ct mark & \(hex(keep)) | \(mainMark)")],
                comment: "`use: [main]`: this mark sends the connection to the main routing table."))
        chains.append(NftablesChain(name: "restore_main", rules: [NftablesRule(setMain)]))
        return NftablesRuleset(counters: counters, sets: policy.sets + namedPolicies.sets, maps: maps, chains: chains)
    }

    /// The split maps' declaration. Its `mod` only gives the key's type (a 32-bit number; the
    /// rule's own `numgen random mod N` sets the range), so it is fixed: when weights or health
    /// change the modulus, the maps are refilled in place instead of being deleted and declared
    /// again, which would also move them in the kernel's listing (and break an exact rollback).
    /// A split's slices as a verdict map: numgen value range → that WAN's choose chain.
    static func splitMap(_ name: String, _ split: WeightedSplit, _ wans: [PlannedWan], comment: String) -> NftablesMap {
        NftablesMap(
            name: name, type: splitKeyType, isInterval: true,
            elements: split.slices.map { ($0.nftRange, "goto choose_\(wans[$0.wanIndex].name)") }, comment: comment)
    }

    static let splitKeyType = "typeof numgen random mod \(splitDeclaredModulus) : verdict"
    static let splitDeclaredModulus = 65_536

    static func setLiteral(_ names: [String]) -> String {
        "{ " + names.map { "\"\($0)\"" }.joined(separator: ", ") + " }"
    }
}
