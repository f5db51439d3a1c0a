import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Named policies with IPv6: a sticky rule remembers an IPv6 client by its /64.
    @Suite struct NamedPolicyIPv6 {
        @Test("A sticky policy rule keeps every address of one IPv6 /64 on one WAN; /64s spread over the policy")
        func stickyIPv6KeysOnTheSlash64() async throws {
            try await DualStackLab.with(lanHostCount: 1, name: "v6pol") { dual in
                let lab = dual.lab
                try dual.waitForRouterAdvertisement()
                let prefixes = 1...8
                try dual.addLanPrefixes(prefixes)
                let yaml = dual.configYAML(
                    tail: """
                        policies:
                          pair: { members: [{ wan: isp1 }, { wan: isp2 }] }
                        rules:
                          - { name: web, protocol: tcp, destination_port: \(Lab.serverPort), policy: pair, sticky: 10m }

                        """)
                try lab.applyExpectingSuccess(yaml)
                var seen: Set<String> = []
                for number in prefixes {
                    var wans: Set<String> = []
                    for source in ["fd00:\(number)::10", "fd00:\(number)::beef:1"] {
                        let answers = try await LabTraffic.newIPv6Connections(
                            from: lab.lanHosts[0], count: 8, to: DualStackLab.serverAddress, source: IPv6Address(source)!)
                        wans.formUnion(answers.map { dual.wanNumber(forPeer: $0).map { "isp\($0)" } ?? $0 })
                    }
                    #expect(wans.count == 1, "fd00:\(number)::/64 went to \(wans)")
                    seen.formUnion(wans)
                }
                // Eight /64s over two members: both are used (all on one would be 1 in 128 by chance).
                #expect(seen == ["isp1", "isp2"], "\(seen)")
            }
        }
    }
}
