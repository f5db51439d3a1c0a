import BraidConfig
import BraidKernel
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply

/// A refused IPv6 piece of one WAN (its IPv6 route) takes out only that WAN's IPv6: its IPv4
/// route, sysctl and share stay, and the other WANs' IPv6 is installed.
@Suite struct IPv6IsolationTests {
    static let yaml = """
        lan:
          interfaces: [lan0]
        wans:
          - { name: isp1, interface: wan1, gateway: 192.168.1.1, ipv6: { gateway: "fe80::1" } }
          - { name: isp2, interface: wan2, gateway: 192.168.2.1, ipv6: { gateway: "fe80::1" } }
        """

    static func kernel() -> FakeKernel {
        FakeKernel(
            interfaces: [InterfaceFacts(name: "lan0")]
                + (1...2).map { number in
                    var facts = GatewayApplierTests.wanInterface(number)
                    facts.ipv6Addresses = [
                        IPv6InterfaceAddress(address: IPv6Address("2001:db8:\(number)::2")!, prefixLength: 64),
                        IPv6InterfaceAddress(address: IPv6Address("fe80::2")!, prefixLength: 64),
                    ]
                    return facts
                })
    }

    @Test func aRefusedIPv6RouteIsolatesOnlyThatWansIPv6() throws {
        let kernel = Self.kernel()
        kernel.failSteps { step in
            if case .addRoute(let route) = step { route.device == "wan1" && route.family == .ipv6 } else { false }
        }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        #expect(report.desired.unusableReasons.isEmpty, "its IPv4 is not isolated: \(report.desired.unusableReasons)")
        let reason = try #require(report.desired.ipv6UnusableReasons["isp1"])
        #expect(reason.contains("route default via fe80::1 dev wan1") && reason.contains("injected failure"), "\(reason)")
        #expect(try report.desired.wan(named: "isp1").splitShare > 0)
        #expect(try report.desired.wan(named: "isp1").ipv6SplitShare == 0)
        #expect((try report.desired.wan(named: "isp2").ipv6SplitShare ?? 0) > 0)
        let routes = kernel.snapshot.routes.map(\.description).sorted()
        #expect(routes.contains { $0.hasPrefix("default via 192.168.1.1 dev wan1") }, "\(routes)")
        #expect(routes.contains { $0.hasPrefix("default via fe80::1 dev wan2") }, "\(routes)")
        #expect(!routes.contains { $0.hasPrefix("default via fe80::1 dev wan1") }, "\(routes)")
        #expect(kernel.snapshot.sysctls["net/ipv4/conf/wan1/rp_filter"] == "2")
    }

    @Test func aRefusedIPv4RouteStillIsolatesTheWholeWan() throws {
        let kernel = Self.kernel()
        kernel.failSteps { step in
            if case .addRoute(let route) = step { route.device == "wan1" && route.family == .ipv4 } else { false }
        }
        let report = try GatewayApplierTests.makeApplier(kernel).apply(try ConfigLoader.parse(Self.yaml))
        #expect(report.desired.unusableReasons["isp1"] != nil)
        #expect(try report.desired.wan(named: "isp1").splitShare == 0)
    }
}
