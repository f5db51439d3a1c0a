import BraidConfig

extension InterfaceFacts {
    /// The connected subnets of both families; IPv6 link-local ones (`fe80::/64` on every
    /// interface) are left out, as they say nothing about where a host is.
    public var subnets: [IPPrefix] {
        addresses.map { IPPrefix($0.subnet) } + ipv6Addresses.filter { !$0.address.isLinkLocal }.map(\.subnet)
    }

    /// Every address of both families, link-local ones included.
    public var ownAddresses: [IPAddress] {
        addresses.map { .v4($0.address) } + ipv6Addresses.map { .v6($0.address) }
    }

    /// The addresses the world reaches this interface on: its IPv4 addresses, or its global IPv6 ones.
    public func publicAddresses(_ family: AddressFamily) -> [IPAddress] {
        switch family {
        case .ipv4: addresses.map { .v4($0.address) }
        case .ipv6: ipv6Addresses.filter { !$0.address.isLinkLocal }.map { .v6($0.address) }
        }
    }
}

extension GatewayPlanner {
    /// Whether `wan` may take new connections of `family` now: the IPv4 test of `isUsable`, or for
    /// IPv6 a WAN with an `ipv6:` section whose IPv6 the host can route and health does not rule out.
    public static func isUsable(_ wan: WanConfig, host: HostFacts, availability: WanAvailability, family: AddressFamily) -> Bool {
        switch family {
        case .ipv4: isUsable(wan, host: host, availability: availability)
        case .ipv6:
            wan.ipv6 != nil && availability.ipv6IsolationReason(wan.name) == nil && IPv6Plan.hostProblem(wan, host: host) == nil
                && !availability.unavailableWans(for: .ipv6).contains(wan.name)
        }
    }
}
