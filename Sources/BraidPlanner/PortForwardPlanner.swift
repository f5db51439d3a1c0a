import BraidConfig

/// Turns port forwards into DNAT rules. A forward matches the current addresses of its WANs (read
/// from the host, re-planned when they change), so it works from the internet, from the LAN using
/// the public address (hairpin), and from the router itself.
enum PortForwardPlanner {
    struct Output {
        /// Rules for the `type nat hook prerouting priority dstnat` chain.
        var prerouting: [NftablesRule] = []
        /// Rules for the `type nat hook output priority dstnat` chain (the router's own connections).
        var output: [NftablesRule] = []
        var anyHairpin = false
    }

    static func plan(_ config: Config, host: HostFacts) -> Output {
        var output = Output()
        for forward in config.portForwards {
            for family in AddressFamily.allCases {
                plan(forward, family: family, config: config, host: host, into: &output)
            }
        }
        return output
    }

    /// The addresses a forward on `wan` listens on for `family`: its IPv4 addresses, or the global
    /// IPv6 ones of a WAN that takes IPv6.
    static func addresses(of wan: WanConfig, family: AddressFamily, host: HostFacts) -> [IPAddress] {
        guard wan.carries(family) else { return [] }
        return host.interfaces[wan.interface]?.publicAddresses(family) ?? []
    }

    /// One family's DNAT rules of `forward`: its targets of that family, on its WANs' addresses of
    /// that family. An IPv4-only forward makes no IPv6 rule, and the other way round.
    private static func plan(
        _ forward: PortForwardConfig, family: AddressFamily, config: Config, host: HostFacts, into output: inout Output
    ) {
        var forward = forward
        forward.targets = forward.targets.filter { $0.address.family == family }
        guard !forward.targets.isEmpty else { return }
        let wans = forward.wans.isEmpty ? config.wans : config.wans.filter { forward.wans.contains($0.name) }
        let addresses = wans.flatMap { Self.addresses(of: $0, family: family, host: host) }
        // A WAN without an address yet (DHCP pending) has nothing to forward from; the daemon
        // re-plans when the address arrives.
        guard !addresses.isEmpty else { return }
        let addressList =
            addresses.count == 1 ? "\(addresses[0])" : "{ " + addresses.map(\.description).joined(separator: ", ") + " }"
        let ports = forward.ports.description
        let match =
            "\(family.nftAddressMatch(.destination, addressList)) meta l4proto \(forward.transport.rawValue) th dport \(ports)"
        let action = family.nftNAT(.dnat, to: destination(forward))
        let note =
            "port forward \"\(forward.name)\": \(forward.transport.rawValue) \(ports) on \(wans.map(\.name).joined(separator: ", ")) → \(forward.targets.map(\.description).joined(separator: ", "))"
        if forward.hairpin {
            output.anyHairpin = true
            output.prerouting.append(NftablesRule("\(match) \(action)", comment: note))
            output.output.append(NftablesRule("\(match) \(action)", comment: note))
        } else {
            let interfaces = "{ " + wans.map { "\"\($0.interface)\"" }.joined(separator: ", ") + " }"
            output.prerouting.append(NftablesRule("iifname \(interfaces) \(match) \(action)", comment: note))
        }
    }

    /// The DNAT target: one backend, or a weighted random choice among several.
    static func destination(_ forward: PortForwardConfig) -> String {
        func text(_ target: ForwardTarget, concatenated: Bool) -> String {
            guard let port = target.port else { return "\(target.address)" }
            // nft's IPv6 address-and-port is `[addr]:port`, as in the config.
            if concatenated { return "\(target.address) . \(port)" }
            return target.address.family == .ipv6 ? "[\(target.address)]:\(port)" : "\(target.address):\(port)"
        }
        if forward.targets.count == 1 { return text(forward.targets[0], concatenated: false) }
        let split = WeightedSplit(weights: forward.targets.enumerated().map { ($0.offset, $0.element.weight) })
        let elements = split.slices.map { slice in
            slice.nftRange + " : " + text(forward.targets[slice.wanIndex], concatenated: true)
        }
        // nft needs every element in the same form: all with ports, or all without.
        return "numgen random mod \(split.modulus) map { \(elements.joined(separator: ", ")) }"
    }
}
