import BraidConfig
import Testing

/// The `ha:` section: what it reads, and what `braid check` refuses (key path and line).
@Suite struct HAConfigTests {
    static func yaml(wan1Gateway: String = "203.0.113.1", ha: String) -> String {
        """
        lan:
          interfaces: [lan0]
        wans:
          - name: wan1
            interface: wan1
            gateway: \(wan1Gateway)
            weight: 2
          - name: wan2
            interface: wan2
            gateway: 198.51.100.1
        ha:
        \(ha.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    static let complete = """
        priority: 200
        sync_interface: sync0
        peer: 10.99.0.2
        virtual_addresses:
          lan0: [10.0.0.1/24]
          wan1: [203.0.113.2/24]
          wan2: [198.51.100.2/24]
        """

    static func issues(_ text: String) -> [ConfigIssue] {
        do {
            _ = try ConfigLoader.parse(text)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func readsTheDocumentedExample() throws {
        let config = try ConfigLoader.parse(Self.yaml(ha: Self.complete))
        let ha = try #require(config.ha)
        #expect(ha.priority == 200)
        #expect(ha.syncInterface == "sync0")
        #expect(ha.peer == IPv4Address("10.99.0.2"))
        #expect(ha.virtualRouterId == 51)
        #expect(ha.preempt == false)
        #expect(ha.stableAfter == .seconds(10))
        #expect(ha.virtualAddresses.map(\.interface) == ["lan0", "wan1", "wan2"])
        #expect(ha.natAddress(interface: "wan1") == IPv4Address("203.0.113.2"))
        #expect(ha.natAddress(interface: "lan0") == IPv4Address("10.0.0.1"))
    }

    @Test func noHASectionMeansNoPair() throws {
        let text = Self.yaml(ha: Self.complete).components(separatedBy: "\nha:")[0]
        #expect(try ConfigLoader.parse(text).ha == nil)
    }

    @Test func refusesAMissingSyncInterface() {
        let issues = Self.issues(Self.yaml(ha: Self.complete.replacingOccurrences(of: "sync_interface: sync0\n", with: "")))
        #expect(issues.map(\.path) == ["ha.sync_interface"], "\(issues)")
        #expect(issues.first?.message.contains("missing") == true)
        #expect(issues.first?.line != nil)
    }

    @Test(arguments: ["auto", "none"])
    func refusesAWanWithoutAFixedGateway(gateway: String) {
        let issues = Self.issues(Self.yaml(wan1Gateway: gateway, ha: Self.complete))
        #expect(issues.map(\.path) == ["wans[0].gateway"], "\(issues)")
        #expect(issues.first?.message.contains("fixed gateway") == true)
        #expect(issues.first?.line == 6)
    }

    @Test func refusesAVirtualAddressOnAnInterfaceBraidDoesNotKnow() {
        let issues = Self.issues(Self.yaml(ha: Self.complete + "\n  eth9: [192.0.2.1/24]"))
        #expect(issues.map(\.path) == ["ha.virtual_addresses.eth9"], "\(issues)")
        #expect(issues.first?.message.contains("not an interface Braid knows") == true)
    }

    @Test func refusesAMasqueradingWanWithoutAVirtualAddress() {
        let issues = Self.issues(Self.yaml(ha: Self.complete.replacingOccurrences(of: "\n  wan2: [198.51.100.2/24]", with: "")))
        #expect(issues.map(\.path) == ["wans[1]"], "\(issues)")
    }

    @Test func refusesAnIPv6Wan() {
        let text = Self.yaml(ha: Self.complete).replacingOccurrences(
            of: "    gateway: 198.51.100.1\n", with: "    gateway: 198.51.100.1\n    ipv6: { gateway: \"fe80::1\" }\n")
        let issues = Self.issues(text)
        #expect(issues.map(\.path) == ["wans[1].ipv6"], "\(issues)")
    }

    @Test func refusesASyncInterfaceThatCarriesTraffic() {
        let issues = Self.issues(Self.yaml(ha: Self.complete.replacingOccurrences(of: "sync0", with: "lan0")))
        #expect(issues.map(\.path) == ["ha.sync_interface"], "\(issues)")
    }

    @Test(arguments: [
        ("priority: 255", "ha.priority"), ("peer: 10.99.0", "ha.peer"), ("virtual_router_id: 0", "ha.virtual_router_id"),
        ("preempt: yes", "ha.preempt"),
    ])
    func refusesBadValues(line: String, path: String) {
        let key = line.split(separator: ":")[0]
        let base = Self.complete.split(separator: "\n").filter { !$0.hasPrefix(key + ":") }.joined(separator: "\n")
        let issues = Self.issues(Self.yaml(ha: line + "\n" + base))
        #expect(issues.map(\.path) == [path], "\(issues)")
    }

    @Test func refusesAnAddressWithoutPrefixLength() {
        let issues = Self.issues(Self.yaml(ha: Self.complete.replacingOccurrences(of: "[10.0.0.1/24]", with: "[10.0.0.1]")))
        #expect(issues.map(\.path) == ["ha.virtual_addresses.lan0[0]"], "\(issues)")
    }
}
