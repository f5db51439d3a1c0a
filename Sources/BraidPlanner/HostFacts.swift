import BraidConfig

/// What the planner needs to know about the host: which interfaces exist, whether they are up,
/// and their addresses. Read by the kernel port; built by hand in tests.
public struct HostFacts: Sendable, Equatable {
    public var interfaces: [String: InterfaceFacts]

    public init(interfaces: [InterfaceFacts]) {
        self.interfaces = Dictionary(interfaces.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// These facts with every interface `config` names but this host lacks filled in, and the
    /// names filled in. `assumedUp` (planning or explaining a config for another machine): a
    /// missing WAN interface is up with its gateway's address standing in for its own, a LAN one
    /// up; otherwise (showing this host's status) both are down.
    public func fillingInMissingInterfaces(
        of config: Config, assumedUp: Bool
    ) -> (facts: HostFacts, missingWans: [String], missingLans: [String]) {
        var filled = self
        var missingWans: [String] = []
        var missingLans: [String] = []
        for name in config.lan.interfaces where filled.interfaces[name] == nil {
            filled.interfaces[name] = InterfaceFacts(name: name, isUp: assumedUp)
            missingLans.append(name)
        }
        for wan in config.wans where filled.interfaces[wan.interface] == nil {
            filled.interfaces[wan.interface] =
                assumedUp
                ? InterfaceFacts(name: wan.interface, addresses: [InterfaceAddress(address: wan.gateway, prefixLength: 32)])
                : InterfaceFacts(name: wan.interface, isUp: false)
            missingWans.append(wan.interface)
        }
        return (filled, missingWans, missingLans)
    }
}

/// One network interface as the kernel reports it.
public struct InterfaceFacts: Sendable, Equatable {
    public var name: String
    public var isUp: Bool
    /// The IPv4 addresses: the ones the planner uses (NAT source, on-link gateway, LAN subnets).
    public var addresses: [InterfaceAddress]
    /// The IPv6 addresses, link-local ones included; nothing plans with them yet.
    public var ipv6Addresses: [IPv6InterfaceAddress]

    public init(name: String, isUp: Bool = true, addresses: [InterfaceAddress] = [], ipv6Addresses: [IPv6InterfaceAddress] = []) {
        self.name = name
        self.isUp = isUp
        self.addresses = addresses
        self.ipv6Addresses = ipv6Addresses
    }

    /// Whether the kernel accepts `gateway` as a next hop on this interface: an address of the
    /// gateway's family makes it on-link.
    public func hasOnLink(_ gateway: IPAddress) -> Bool {
        switch gateway {
        case .v4(let gateway): addresses.contains { $0.hasOnLink(gateway) }
        case .v6(let gateway): ipv6Addresses.contains { $0.hasOnLink(gateway) }
        }
    }
}
