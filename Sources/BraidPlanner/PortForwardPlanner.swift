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
            let wans = forward.wans.isEmpty ? config.wans : config.wans.filter { forward.wans.contains($0.name) }
            let addresses = wans.flatMap { host.interfaces[$0.interface]?.addresses.map(\.address) ?? [] }
            // A WAN without an address yet (DHCP pending) has nothing to forward from; the daemon
            // re-plans when the address arrives.
            guard !addresses.isEmpty else { continue }
            let addressList =
                addresses.count == 1 ? "\(addresses[0])" : "{ " + addresses.map(\.description).joined(separator: ", ") + " }"
            let ports = forward.ports.description
            // The WAN addresses and the targets are IPv4 (the config allows no other).
            let family = AddressFamily.ipv4
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
        return output
    }

    /// The DNAT target: one backend, or a weighted random choice among several.
    static func destination(_ forward: PortForwardConfig) -> String {
        func text(_ target: ForwardTarget, concatenated: Bool) -> String {
            guard let port = target.port else { return "\(target.address)" }
            return concatenated ? "\(target.address) . \(port)" : "\(target.address):\(port)"
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
