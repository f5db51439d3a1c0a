import BraidConfig
import Testing

/// `gateway:` takes `auto` (also what an omitted key means), `none` (point-to-point) or an IPv4
/// address; anything else names the key and says what to write instead.
@Suite struct GatewaySettingTests {
    func wan(_ gatewayLine: String?) throws -> WanConfig {
        let config = try ConfigLoader.parse(
            """
            lan: { interfaces: [lan0] }
            wans:
              - name: isp1
                interface: wan1
            \(gatewayLine.map { "    " + $0 } ?? "")
            """)
        return try #require(config.wans.first)
    }

    @Test func omittedMeansAuto() throws {
        #expect(try wan(nil).gateway == .auto)
    }

    @Test func wordsAndAddressesAreRead() throws {
        #expect(try wan("gateway: auto").gateway == .auto)
        #expect(try wan("gateway: none").gateway == .pointToPoint)
        #expect(try wan("gateway: 203.0.113.1").gateway == .fixed(IPv4Address("203.0.113.1")!))
    }

    @Test func otherWordsSuggestAuto() {
        let error = #expect(throws: ConfigError.self) { try wan("gateway: dhcp") }
        let issue = error?.issues.first
        #expect(issue?.path == "wans[0].gateway")
        #expect(issue?.line == 5)
        #expect(issue?.message.contains("`auto`") == true, "\(String(describing: issue))")
    }

    @Test func anIPv6AddressPointsAtTheIPv6Key() {
        let error = #expect(throws: ConfigError.self) { try wan("gateway: 2001:db8::1") }
        #expect(error?.issues.first?.message.contains("wans[0].ipv6.gateway") == true, "\(String(describing: error))")
    }

    @Test func theSettingIsFamilyNeutral() {
        #expect(
            GatewaySetting<IPv6Address>.parse("fe80::1", otherFamilyKey: "gateway") == .success(.fixed(IPv6Address("fe80::1")!)))
        #expect(GatewaySetting<IPv6Address>.parse("auto", otherFamilyKey: "gateway") == .success(.auto))
        guard case .failure(let error) = GatewaySetting<IPv6Address>.parse("192.0.2.1", otherFamilyKey: "gateway") else {
            Issue.record("an IPv4 address was accepted as an IPv6 gateway")
            return
        }
        #expect(error.message.contains("under gateway"))
        #expect(
            GatewaySetting<IPv4Address>.parse("127.0.0.1", otherFamilyKey: "x") != .success(.fixed(IPv4Address("127.0.0.1")!)))
        #expect(GatewaySetting<IPv4Address>.pointToPoint.description == "none")
    }
}
