import BraidConfig

/// Checks of health and port-forward targets that need the host's addresses, which the config
/// loader cannot see. Each check runs only on the facts that are present: the daemon plans while
/// interfaces come and go, and a missing interface must not turn into a false refusal.
enum HostAddressCheck {
    static func problems(_ config: Config, host: HostFacts) -> [PlanError.Problem] {
        let own = ownAddresses(host)
        let lanSubnets = config.lan.interfaces.flatMap { name in
            (host.interfaces[name]?.addresses ?? []).map { (interface: name, subnet: IPPrefix($0.subnet)) }
                + (host.interfaces[name]?.ipv6Addresses ?? []).filter { !$0.address.isLinkLocal }.map {
                    (interface: name, subnet: $0.subnet)
                }
        }
        var problems: [PlanError.Problem] = []
        for (wanIndex, wan) in config.wans.enumerated() {
            for (targetIndex, target) in (wan.health?.targets ?? []).enumerated() {
                let path = "wans[\(wanIndex)].health.targets[\(targetIndex)]"
                if let interface = own[target] {
                    // The router answers its own address through the local table, whatever the WAN does.
                    problems.append(
                        .init(
                            path: path,
                            message:
                                "\(target) is this router's own address (on \(interface)): it always answers, so \(wan.name) would never be marked down; probe a host beyond the WAN's gateway"
                        ))
                } else if let lan = lanSubnets.first(where: { $0.subnet.contains(target) }) {
                    // Probes are routed out of the WAN; a LAN host is never reached that way.
                    problems.append(
                        .init(
                            path: path,
                            message:
                                "\(target) is on the LAN (\(lan.interface), \(lan.subnet)): probes leave by \(wan.name), so they would never reach it and \(wan.name) would always be down; probe a host beyond the WAN's gateway"
                        ))
                }
            }
        }
        // Forward targets must be LAN hosts. Checked only when every LAN interface is known and has
        // an address: otherwise a target on a LAN whose address is not up yet would be refused.
        let everyLanKnown = config.lan.interfaces.allSatisfy { !(host.interfaces[$0]?.addresses.isEmpty ?? true) }
        // IPv6 forward targets are checked against the LAN's IPv6 prefixes only once one is known.
        let lanIPv6Known = lanSubnets.contains { $0.subnet.family == .ipv6 }
        for (wanIndex, wan) in config.wans.enumerated() {
            guard case .prefixTranslation(let translation)? = wan.ipv6?.nat, lanIPv6Known else { continue }
            let lanIPv6 = lanSubnets.filter { $0.subnet.family == .ipv6 }
            // Either side may be the wider: a /48 translation over /64 LANs, or a /64 inside a /56 LAN.
            if !lanIPv6.contains(where: {
                $0.subnet.contains(translation.from.address) || translation.from.contains($0.subnet.address)
            }) {
                problems.append(
                    .init(
                        path: "wans[\(wanIndex)].ipv6.nat.from",
                        message:
                            "\(translation.from) is not a LAN prefix (the LAN's IPv6 prefixes: \(lanIPv6.map { "\($0.interface) \($0.subnet)" }.joined(separator: ", "))); \(wan.name) would translate no LAN host's connections"
                    ))
            }
        }
        for (forwardIndex, forward) in config.portForwards.enumerated() {
            for (targetIndex, target) in forward.targets.enumerated() {
                let path =
                    forward.targets.count == 1
                    ? "port_forwards[\(forwardIndex)].to" : "port_forwards[\(forwardIndex)].to[\(targetIndex)]"
                if let interface = own[target.address] {
                    problems.append(
                        .init(
                            path: path,
                            message:
                                "\(target.address) is this router's own address (on \(interface)); forward \"\(forward.name)\" must send connections to a host on the LAN"
                        ))
                } else if target.address.family == .ipv4 ? everyLanKnown : lanIPv6Known,
                    !lanSubnets.contains(where: { $0.subnet.contains(target.address) })
                {
                    // DNAT to a host beyond a WAN would make the router relay (reflect) the
                    // internet's connections to it, with the router's address as the apparent peer.
                    problems.append(
                        .init(
                            path: path,
                            message:
                                "\(target.address) is not on a LAN subnet (\(lanSubnets.map { "\($0.interface) \($0.subnet)" }.joined(separator: ", "))); forward \"\(forward.name)\" would relay connections from the internet to a host outside the LAN"
                        ))
                }
            }
        }
        return problems
    }

    /// Every address of the host, both families, with the interface it is on.
    private static func ownAddresses(_ host: HostFacts) -> [IPAddress: String] {
        var own: [IPAddress: String] = [:]
        for facts in host.interfaces.values.sorted(by: { $0.name < $1.name }) {
            for address in facts.addresses where own[.v4(address.address)] == nil { own[.v4(address.address)] = facts.name }
            for address in facts.ipv6Addresses where own[.v6(address.address)] == nil { own[.v6(address.address)] = facts.name }
        }
        return own
    }
}
