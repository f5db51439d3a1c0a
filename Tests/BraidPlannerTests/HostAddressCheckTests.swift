import BraidConfig
import BraidPlanner
import Testing

/// Health and forward targets that only the host's addresses show to be wrong: refused by the
/// planner, naming the WAN or forward, and only when the facts needed are present.
@Suite struct HostAddressCheckTests {
    static let base = """
        lan: { interfaces: [lan0] }
        wans:
          - name: isp1
            interface: wan1
            gateway: 192.0.2.1

        """

    /// lan0 is 10.0.0.1/24; wan1 is 192.0.2.2/24 (see HostFacts.having).
    private func problems(
        _ yaml: String, host: ((Config) -> HostFacts)? = nil,
        missingInterfacesAreDown: Bool = false
    ) throws -> [PlanError.Problem] {
        let config = try ConfigLoader.parse(yaml)
        do {
            _ = try GatewayPlanner.plan(
                config, host: host?(config) ?? .having(interfacesOf: config, lanAddresses: true),
                missingInterfacesAreDown: missingInterfacesAreDown)
            return []
        } catch {
            return error.problems
        }
    }

    @Test(arguments: ["192.0.2.2", "10.0.0.1"])
    func healthTargetThatIsTheRoutersOwnAddressIsRefused(_ target: String) throws {
        let found = try problems(Self.base + "    health: { targets: [198.51.100.7, \(target)] }\n")
        #expect(found.map(\.path) == ["wans[0].health.targets[1]"], "\(found)")
        #expect(found.first?.message.contains("own address") == true, "\(found)")
        #expect(found.first?.message.contains("isp1") == true, "\(found)")
    }

    @Test func healthTargetOnTheLanIsRefused() throws {
        let found = try problems(Self.base + "    health: { targets: [10.0.0.9] }\n")
        #expect(found.map(\.path) == ["wans[0].health.targets[0]"], "\(found)")
        #expect(found.first?.message.contains("on the LAN (lan0, 10.0.0.0/24)") == true, "\(found)")
    }

    @Test func healthTargetBeyondTheWanIncludingItsGatewayIsAccepted() throws {
        #expect(try problems(Self.base + "    health: { targets: [192.0.2.1, 198.51.100.7] }\n").isEmpty)
    }

    @Test(arguments: ["192.0.2.1", "198.51.100.7", "10.0.1.5"])
    func forwardTargetOutsideTheLanIsRefused(_ target: String) throws {
        let found = try problems(Self.base + "port_forwards:\n  - { name: web, port: 443, to: \(target) }\n")
        #expect(found.map(\.path) == ["port_forwards[0].to"], "\(found)")
        #expect(found.first?.message.contains("not on a LAN subnet (lan0 10.0.0.0/24)") == true, "\(found)")
        #expect(found.first?.message.contains("\"web\"") == true, "\(found)")
    }

    @Test(arguments: ["10.0.0.1", "192.0.2.2"])
    func forwardTargetThatIsTheRoutersOwnAddressIsRefused(_ target: String) throws {
        let found = try problems(Self.base + "port_forwards:\n  - { name: web, port: 443, to: [10.0.0.5, \(target)] }\n")
        #expect(found.map(\.path) == ["port_forwards[0].to[1]"], "\(found)")
        #expect(found.first?.message.contains("own address") == true, "\(found)")
    }

    @Test func forwardTargetOnTheLanIsAccepted() throws {
        #expect(try problems(Self.base + "port_forwards:\n  - { name: web, port: 443, to: [10.0.0.5, 10.0.0.6@2] }\n").isEmpty)
    }

    /// The daemon plans with interfaces missing; a LAN whose address is unknown cannot refuse a forward.
    @Test func forwardTargetIsNotCheckedWhileALanInterfaceIsMissingOrHasNoAddress() throws {
        let yaml = Self.base + "port_forwards:\n  - { name: web, port: 443, to: 198.51.100.7 }\n"
        let missing = try problems(
            yaml,
            host: { config in
                HostFacts(
                    interfaces: HostFacts.having(interfacesOf: config, lanAddresses: true).interfaces.values.filter {
                        $0.name != "lan0"
                    })
            }, missingInterfacesAreDown: true)
        #expect(missing.isEmpty, "\(missing)")
        let unaddressed = try problems(
            yaml,
            host: { config in
                var host = HostFacts.having(interfacesOf: config, lanAddresses: true)
                host.interfaces["lan0"]?.addresses = []
                return host
            })
        #expect(unaddressed.isEmpty, "\(unaddressed)")
    }

    @Test func healthTargetIsNotCheckedAgainstAMissingLan() throws {
        let found = try problems(
            Self.base + "    health: { targets: [10.0.0.9] }\n",
            host: { config in
                HostFacts(
                    interfaces: HostFacts.having(interfacesOf: config, lanAddresses: true).interfaces.values.filter {
                        $0.name != "lan0"
                    })
            }, missingInterfacesAreDown: true)
        #expect(found.isEmpty, "\(found)")
    }
}
