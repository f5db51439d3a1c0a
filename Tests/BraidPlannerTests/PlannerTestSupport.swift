import BraidConfig
import BraidPlanner
import Testing

extension HostFacts {
    /// A host that has every LAN and WAN interface `config` names, all up except `linksDown`.
    /// Each WAN has the address after its gateway on a /24 (a WAN needs an address to be usable).
    /// With `lanAddresses`, LAN interface i has 10.0.2i.1/24 (the first 10.0.0.1, the second
    /// 10.0.2.1), so health and forward targets are checked against LAN subnets.
    static func having(interfacesOf config: Config, linksDown: Set<String> = [], lanAddresses: Bool = false) -> HostFacts {
        let lan = config.lan.interfaces.enumerated().map { index, name in
            InterfaceFacts(
                name: name, isUp: true,
                addresses: lanAddresses
                    ? [InterfaceAddress(address: IPv4Address(0x0A00_0001 | UInt32(2 * index) << 8), prefixLength: 24)] : [])
        }
        let wans = config.wans.map { wan in
            InterfaceFacts(
                name: wan.interface, isUp: !linksDown.contains(wan.interface),
                addresses: [
                    InterfaceAddress(
                        address: IPv4Address((wan.gateway.fixedAddress?.value ?? 0xC000_0201) &+ 1), prefixLength: 24)
                ])
        }
        return HostFacts(interfaces: lan + wans)
    }
}

/// Parses `yaml` and plans it on a host where every interface exists and is up except `linksDown`.
func plan(
    _ yaml: String, linksDown: Set<String> = [], availability: WanAvailability = .allAvailable,
    lanAddresses: Bool = false
) throws -> DesiredState {
    let config = try ConfigLoader.parse(yaml)
    return try GatewayPlanner.plan(
        config, host: .having(interfacesOf: config, linksDown: linksDown, lanAddresses: lanAddresses),
        availability: availability)
}

extension DesiredState {
    func wan(named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> PlannedWan {
        try #require(wans.first { $0.name == name }, "no planned WAN named \(name)", sourceLocation: sourceLocation)
    }

    /// The rule with no selector that catches unmarked traffic; Braid's last rule.
    var fallbackRule: PolicyRule? { policyRules.last }
}
