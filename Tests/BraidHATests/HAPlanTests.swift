import BraidConfig
import BraidHA
import BraidPlanner
import Testing

/// What `ha:` changes in the plan: slots from config order, SNAT to the virtual addresses, the
/// mid-stream guard; and the slot-layout digest both gateways compare.
@Suite struct HAPlanTests {
    static let config = try! ConfigLoader.parse(HAConfigTests.yaml(ha: HAConfigTests.complete))

    static func host(_ config: Config) -> HostFacts {
        HostFacts(
            interfaces: [
                InterfaceFacts(
                    name: "lan0", isUp: true, addresses: [InterfaceAddress(address: IPv4Address("10.0.0.2")!, prefixLength: 24)])
            ]
                + config.wans.map { wan in
                    InterfaceFacts(
                        name: wan.interface, isUp: true,
                        addresses: [InterfaceAddress(address: IPv4Address(wan.gateway.fixedAddress!.value + 2), prefixLength: 24)]
                    )
                })
    }

    @Test func slotsFollowConfigOrderWhateverTheHistory() throws {
        let state = try GatewayPlanner.plan(Self.config, host: Self.host(Self.config), previousSlots: ["wan1": 5, "wan2": 1])
        #expect(try #require(state.wans.first { $0.name == "wan1" }).slot == 1)
        #expect(try #require(state.wans.first { $0.name == "wan2" }).slot == 2)
        var single = Self.config
        single.ha = nil
        let kept = try GatewayPlanner.plan(single, host: Self.host(single), previousSlots: ["wan1": 5, "wan2": 1])
        #expect(kept.wans.first { $0.name == "wan1" }?.slot == 5, "without ha: slots keep their history")
    }

    @Test func forwardedTrafficTakesTheVirtualAddressAndTheRoutersOwnMasquerades() throws {
        let text = try GatewayPlanner.plan(Self.config, host: Self.host(Self.config)).ruleset.render()
        #expect(text.contains("meta nfproto ipv4 iifname { \"lan0\" } oifname \"wan1\" snat ip to 203.0.113.2"))
        #expect(text.contains("meta nfproto ipv4 iifname { \"lan0\" } oifname \"wan2\" snat ip to 198.51.100.2"))
        #expect(text.contains("meta nfproto ipv4 oifname \"wan1\" masquerade"))
        let snat = try #require(text.range(of: "snat ip to 203.0.113.2"))
        let masquerade = try #require(text.range(of: "oifname \"wan1\" masquerade"))
        #expect(snat.lowerBound < masquerade.lowerBound, "the LAN's SNAT must come before the router's masquerade")
    }

    @Test func midStreamTCPIsNotBalancedAnew() throws {
        let text = try GatewayPlanner.plan(Self.config, host: Self.host(Self.config)).ruleset.render()
        let guardRule = try #require(text.range(of: "tcp flags & (fin | syn | rst | ack) != syn drop"))
        let newReturn = try #require(text.range(of: "ct state != new return"))
        let split = try #require(text.range(of: "vmap @new_connection_split"))
        #expect(newReturn.lowerBound < guardRule.lowerBound && guardRule.lowerBound < split.lowerBound)
        var single = Self.config
        single.ha = nil
        let plain = try GatewayPlanner.plan(single, host: Self.host(single)).ruleset.render()
        #expect(!plain.contains("!= syn drop") && !plain.contains("snat ip to 203.0.113.2"))
    }

    @Test func layoutDigestChangesWithOrderMaskAndNames() {
        var reordered = Self.config
        reordered.wans.reverse()
        var masked = Self.config
        masked.kernel.markMask = 0x00ff_0000
        var renamed = Self.config
        renamed.wans[0].name = "fiber"
        let digests = [Self.config, reordered, masked, renamed].map(HASlotLayout.digest)
        #expect(Set(digests).count == 4)
        #expect(HASlotLayout.digest(Self.config) == HASlotLayout.digest(Self.config))
        #expect(HASlotLayout.digest(Self.config).count == 16)
        #expect(HASlotLayout.text(Self.config) == "mask=0xff000000 table=200 wan1@wan1=1,wan2@wan2=2")
    }
}
