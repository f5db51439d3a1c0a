import BraidConfig
import BraidKernel
import BraidPlanner
import Testing

/// The host facts carry what an `auto` gateway is learned from: each interface's index, whether it
/// is point-to-point, and the default routes others put on it, read with one listing per family.
@Suite struct DefaultRouteReadTests {
    static let addresses = #"""
        [{"ifindex":7,"ifname":"wan1","flags":["BROADCAST","UP","LOWER_UP"],"addr_info":[
          {"family":"inet","local":"192.0.2.2","prefixlen":24}]},
         {"ifindex":9,"ifname":"ppp0","flags":["POINTOPOINT","UP","LOWER_UP"],"addr_info":[
          {"family":"inet","local":"100.64.0.2","address":"100.64.0.1","prefixlen":32}]},
         {"ifindex":11,"ifname":"wan2","flags":["BROADCAST","UP","LOWER_UP"],"addr_info":[
          {"family":"inet","local":"198.51.100.2","prefixlen":24}]}]
        """#

    // As `ip -N -j route show table all default` prints them on this kernel: main has no "table"
    // key, `boot` no "protocol" key; protocols are numbers (16 dhcp, 4 static, 9 ra, 213 Braid's).
    static let ipv4Routes = #"""
        [{"dst":"default","gateway":"198.51.100.1","dev":"wan2","table":"300","flags":[]},
         {"dst":"default","dev":"ppp0","table":"301","protocol":"4","scope":"253","flags":[]},
         {"dst":"default","gateway":"192.0.2.1","dev":"wan1","table":"200","protocol":"213","flags":[]},
         {"dst":"default","gateway":"192.0.2.1","dev":"wan1","protocol":"16","metric":1007,"flags":[]},
         {"dst":"default","type":"unreachable","table":"302","flags":[]}]
        """#
    static let ipv6Routes = #"""
        [{"dst":"default","gateway":"fe80::1","dev":"wan1","protocol":"9","metric":1024,"flags":[]}]
        """#

    func facts() throws -> HostFacts {
        try LinuxKernel(
            runner: CannedCommandRunner([
                "ip -j address show": Self.addresses, "ip -4 -N -j route show table all default": Self.ipv4Routes,
                "ip -6 -N -j route show table all default": Self.ipv6Routes,
            ])
        ).readHostFacts()
    }

    @Test func indexAndPointToPointAreRead() throws {
        let facts = try facts()
        #expect(facts.interfaces["wan1"]?.index == 7)
        #expect(facts.interfaces["wan1"]?.isPointToPoint == false)
        #expect(facts.interfaces["ppp0"]?.isPointToPoint == true)
        #expect(facts.interfaces["ppp0"]?.peerAddresses(.ipv4) == [IPAddress("100.64.0.1")!])
    }

    @Test func defaultRoutesOfBothFamiliesExceptBraidsAreRead() throws {
        let facts = try facts()
        #expect(
            facts.interfaces["wan1"]?.defaultRoutes == [
                KernelDefaultRoute(
                    family: .ipv4, gateway: IPAddress("192.0.2.1"), table: 254, routeProtocol: "dhcp", metric: 1007),
                KernelDefaultRoute(family: .ipv6, gateway: IPAddress("fe80::1"), table: 254, routeProtocol: "ra", metric: 1024),
            ])
        #expect(
            facts.interfaces["ppp0"]?.defaultRoutes == [
                KernelDefaultRoute(family: .ipv4, gateway: nil, table: 301, routeProtocol: "static", metric: 0)
            ])
        #expect(
            facts.interfaces["wan2"]?.defaultRoutes == [
                KernelDefaultRoute(family: .ipv4, gateway: IPAddress("198.51.100.1"), table: 300, routeProtocol: "boot")
            ])
    }

    @Test func braidsDeviceRoutesReadBack() throws {
        let runner = CannedCommandRunner([
            "ip -4 -N -j rule show": "[]", "ip -6 -N -j rule show": "[]",
            "ip -4 -N -j route show table all proto 213":
                #"[{"dst":"default","dev":"ppp0","table":"201","protocol":"213","scope":"link","flags":[]}]"#,
            "ip -6 -N -j route show table all proto 213": "[]",
        ])
        let routes = try LinuxKernel(runner: runner).readRouting().routes
        #expect(routes == [Route(family: .ipv4, table: 201, gateway: nil, device: "ppp0")])
        #expect(routes.first?.description == "default dev ppp0 table 201")
    }
}
