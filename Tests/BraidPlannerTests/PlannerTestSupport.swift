import BraidConfig
import BraidPlanner
import Testing

extension HostFacts {
    /// A host that has every LAN and WAN interface `config` names, all up except `linksDown`,
    /// and none with addresses (the planner does not read them).
    static func having(interfacesOf config: Config, linksDown: Set<String> = []) -> HostFacts {
        let names = config.lan.interfaces + config.wans.map(\.interface)
        return HostFacts(interfaces: names.map { InterfaceFacts(name: $0, isUp: !linksDown.contains($0)) })
    }
}

/// Parses `yaml` and plans it on a host where every interface exists and is up except `linksDown`.
func plan(_ yaml: String, linksDown: Set<String> = [], availability: WanAvailability = .allAvailable) throws -> DesiredState {
    let config = try ConfigLoader.parse(yaml)
    return try GatewayPlanner.plan(config, host: .having(interfacesOf: config, linksDown: linksDown), availability: availability)
}

extension DesiredState {
    func wan(named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> PlannedWan {
        try #require(wans.first { $0.name == name }, "no planned WAN named \(name)", sourceLocation: sourceLocation)
    }

    /// The rule with no selector that catches unmarked traffic; Braid's last rule.
    var fallbackRule: PolicyRule? { policyRules.last }
}
