import BraidConfig
import BraidLab
import BraidPlanner
import CBraidLinux
import Foundation
import Testing

@testable import BraidKernel

/// The netlink readers against a real namespace (rtnetlink, and the nftables chain dump below):
/// what `ip` put there reads back as the planner needs it (point-to-point peers, foreign default routes with their protocol, metric and
/// table, Braid's rules and routes of both families), and every interface and address agrees with
/// what `ip -j address show` lists in the same namespace.
@Suite(.serialized) struct NetlinkReadLabTests {
    @Test func linksAddressesRoutesAndRulesReadBackFromTheKernel() async throws {
        try await Lab.with(wanCount: 1, name: "rtnl") { lab in
            let router = lab.router
            try router.ip([
                ["link", "add", "rtt0", "type", "veth", "peer", "name", "rtt1"],
                ["link", "set", "rtt0", "up"], ["link", "set", "rtt1", "up"],
                ["link", "add", "rtt2", "type", "veth", "peer", "name", "rtt3"],
                ["address", "add", "100.99.0.2", "peer", "100.99.0.1/32", "dev", "rtt0"],
                ["address", "add", "100.99.1.2/24", "dev", "rtt2"],
                // Foreign default routes: a device route, a DHCP one with a metric, an RA one; a
                // blackhole and a multipath route name no one interface's gateway.
                ["route", "add", "default", "dev", "rtt0", "table", "301", "proto", "static"],
                ["route", "add", "default", "via", "100.99.0.1", "dev", "rtt0", "table", "300", "metric", "7", "proto", "dhcp"],
                ["route", "add", "blackhole", "default", "table", "302", "proto", "static"],
                ["route", "add", "default", "table", "303", "nexthop", "dev", "rtt0", "nexthop", "dev", "rtt1"],
                // Braid's (protocol 213), of both families.
                ["route", "add", "198.18.0.0/15", "via", "100.99.0.1", "dev", "rtt0", "table", "310", "proto", "213"],
                ["route", "add", "default", "dev", "rtt0", "table", "311", "proto", "213"],
                ["rule", "add", "fwmark", "0x30000/0xff0000", "lookup", "310", "priority", "20001", "proto", "213"],
                ["rule", "add", "fwmark", "0x7", "lookup", "311", "priority", "20002", "proto", "213"],
                ["rule", "add", "lookup", "main", "suppress_prefixlength", "0", "priority", "20000", "proto", "213"],
                ["rule", "add", "fwmark", "0x40000", "lookup", "312", "priority", "20003"],
                // Not Braid's, though it carries its protocol number: Braid puts no route in main.
                ["route", "add", "203.0.113.0/24", "via", "100.99.0.1", "dev", "rtt0", "proto", "213"],
                // `ip route add`'s default protocol is boot (3), the kernel's own routes are 2.
                ["route", "add", "default", "via", "100.99.0.1", "dev", "rtt0", "table", "305"],
            ])
            // `ip -batch` takes no family option.
            for command in [
                ["-6", "address", "add", "2001:db8:77::2/64", "dev", "rtt0", "nodad"],
                ["-6", "route", "add", "default", "via", "fe80::99", "dev", "rtt0", "table", "304", "proto", "ra"],
                ["-6", "route", "add", "2001:db8:88::/48", "via", "2001:db8:77::1", "dev", "rtt0", "table", "310", "proto", "213"],
                ["-6", "rule", "add", "fwmark", "0x30000/0xff0000", "lookup", "310", "priority", "20001", "proto", "213"]
            ] { try router.run(["ip"] + command) }
            let kernel = LinuxKernel(runner: router.runner)
            let facts = try kernel.readHostFacts()
            let rtt0 = try #require(facts.interfaces["rtt0"])
            #expect(rtt0.isUp && rtt0.isPointToPoint)
            #expect(rtt0.peerAddresses(.ipv4) == [IPAddress("100.99.0.1")!])
            #expect(rtt0.ipv6Addresses.map(\.description).contains("2001:db8:77::2/64"))
            #expect(
                Set(rtt0.defaultRoutes) == [
                    KernelDefaultRoute(family: .ipv4, gateway: nil, table: 301, routeProtocol: "static"),
                    KernelDefaultRoute(
                        family: .ipv4, gateway: IPAddress("100.99.0.1"), table: 300, routeProtocol: "dhcp", metric: 7),
                    KernelDefaultRoute(
                        family: .ipv6, gateway: IPAddress("fe80::99"), table: 304, routeProtocol: "ra", metric: 1024),
                    KernelDefaultRoute(family: .ipv4, gateway: IPAddress("100.99.0.1"), table: 305, routeProtocol: "boot"),
                ])
            // Down (never set up): not up, not point-to-point.
            let rtt2 = try #require(facts.interfaces["rtt2"])
            #expect(!rtt2.isUp && !rtt2.isPointToPoint && rtt2.addresses.map(\.description) == ["100.99.1.2/24"])

            let routing = try kernel.readRouting()
            #expect(
                Set(routing.routes.map(\.description)) == [
                    "198.18.0.0/15 via 100.99.0.1 dev rtt0 table 310", "default dev rtt0 table 311",
                    "2001:db8:88::/48 via 2001:db8:77::1 dev rtt0 table 310",
                ])
            #expect(
                routing.policyRules.map(\.description).sorted() == [
                    "-6 priority 20001 fwmark 0x00030000/0x00ff0000 lookup 310",
                    "priority 20000 lookup main suppress_prefixlength 0",
                    "priority 20001 fwmark 0x00030000/0x00ff0000 lookup 310",
                    "priority 20002 fwmark 0x00000007/0xffffffff lookup 311",
                ])

            // A family with no route or rule dump of its own (as IPv6 is on a kernel booted with
            // ipv6.disable=1): the kernel answers routes with every family's dump, which must not
            // read as that family's; rules, with EAFNOSUPPORT.
            let decnet: Int32 = 12
            let otherFamilyRoutes: [braid_route]? = try kernel.rtnetlinkRecords(BRAID_ROUTES, family: decnet)
            #expect(otherFamilyRoutes?.isEmpty == true, "\(otherFamilyRoutes?.count ?? -1) routes")
            #expect(throws: KernelError.self) { let _: [braid_rule]? = try kernel.rtnetlinkRecords(BRAID_RULES, family: decnet) }

            // Every interface and address as `ip -j address show` lists them here.
            let listed = try JSONSerialization.jsonObject(with: Data(router.run(["ip", "-j", "address", "show"]).utf8))
            let links = try #require(listed as? [[String: Any]])
            #expect(Set(facts.interfaces.keys) == Set(links.compactMap { $0["ifname"] as? String }))
            for link in links {
                let name = try #require(link["ifname"] as? String)
                let info = link["addr_info"] as? [[String: Any]] ?? []
                let local = { (family: String) in
                    info.filter { $0["family"] as? String == family }.map { "\($0["local"] ?? "")/\($0["prefixlen"] ?? "")" }
                }
                let flags = link["flags"] as? [String] ?? []
                #expect(facts.interfaces[name]?.index == link["ifindex"] as? Int, "\(name)")
                #expect(facts.interfaces[name]?.isUp == (flags.contains("UP") && flags.contains("LOWER_UP")), "\(name)")
                #expect(facts.interfaces[name]?.addresses.map(\.description) == local("inet"), "\(name)")
                #expect(facts.interfaces[name]?.ipv6Addresses.map(\.description) == local("inet6"), "\(name)")
            }
        }
    }

    @Test func braidsChainsReadBackFromOneNetlinkDump() async throws {
        try await Lab.with(wanCount: 1, name: "chdump") { lab in
            let router = lab.router
            let kernel = LinuxKernel(runner: router.runner)
            #expect(try kernel.readState(layout: KernelLayoutConfig()).table == nil)
            try router.run(["nft", "add", "table", "inet", "braid"])
            // An empty table is still Braid's (`down` deletes it).
            #expect(try kernel.readState(layout: KernelLayoutConfig()).table?.chains == [])
            try router.run(["nft", "-f", "-"], input: """
                add chain inet braid prerouting { type filter hook prerouting priority -150; }
                add chain inet braid restore_isp1
                add table ip braid
                add chain ip braid other_family
                add table inet other
                add chain inet other other_table
                """)
            let table = try #require(try kernel.readState(layout: KernelLayoutConfig()).table)
            #expect(table.chains == ["prerouting", "restore_isp1"])
            let listed = try JSONSerialization.jsonObject(with: Data(router.run(["nft", "-j", "list", "chains", "inet"]).utf8))
            let chains = try #require((listed as? [String: Any])?["nftables"] as? [[String: Any]]).compactMap {
                $0["chain"] as? [String: Any]
            }.filter { $0["table"] as? String == "braid" }
            #expect(table.fingerprint == chains.map { "\($0["name"] ?? "")#\($0["handle"] ?? "")" }.sorted().joined(separator: ","))
        }
    }
}
