import BraidConfig
import BraidKernel
import BraidPlanner
import Testing

/// The `ip -j` readers take both families: IPv6 addresses into the host facts (apart from the
/// IPv4 ones the planner uses), and Braid's IPv6 rules and routes into the observed state, so
/// that `down` would find them.
@Suite struct FamilyReadTests {
    static let addresses = #"""
        [{"ifindex":2,"ifname":"wan1","flags":["BROADCAST","UP","LOWER_UP"],"addr_info":[
          {"family":"inet","local":"192.0.2.2","prefixlen":24},
          {"family":"inet6","local":"2001:db8:1::2","prefixlen":64},
          {"family":"inet6","local":"fe80::2","prefixlen":64}]},
         {"ifindex":3,"ifname":"ppp0","flags":["UP","LOWER_UP"],"addr_info":[
          {"family":"inet","local":"100.64.0.2","address":"100.64.0.1","prefixlen":32},
          {"family":"inet6","local":"fe80::1:2","address":"fe80::1:1","prefixlen":128}]}]
        """#

    @Test func hostFactsKeepEachFamilysAddressesApart() throws {
        let facts = try LinuxKernel(
            runner: CannedCommandRunner([
                "ip -j address show": Self.addresses, "ip -4 -N -j route show table all default": "[]",
                "ip -6 -N -j route show table all default": "[]",
            ])
        ).readHostFacts()
        let wan = try #require(facts.interfaces["wan1"])
        #expect(wan.addresses.map(\.description) == ["192.0.2.2/24"])
        #expect(wan.ipv6Addresses.map(\.description) == ["2001:db8:1::2/64", "fe80::2/64"])
        let ppp = try #require(facts.interfaces["ppp0"])
        #expect(ppp.addresses.first?.peer == IPv4Address("100.64.0.1"))
        #expect(ppp.ipv6Addresses.first?.peer == IPv6Address("fe80::1:1"))
    }

    @Test func rulesAndRoutesOfBothFamiliesAreRead() throws {
        let runner = CannedCommandRunner([
            "ip -4 -N -j rule show":
                #"[{"priority":0,"src":"all","table":"255"},{"priority":10001,"src":"all","fwmark":"0x10000","fwmask":"0xff0000","table":"200","protocol":"213"}]"#,
            "ip -6 -N -j rule show":
                #"[{"priority":10001,"src":"all","fwmark":"0x10000","fwmask":"0xff0000","table":"200","protocol":"213"},{"priority":32766,"src":"all","table":"254"}]"#,
            "ip -4 -N -j route show table all proto 213":
                #"[{"dst":"default","gateway":"192.0.2.1","dev":"wan1","table":"200","protocol":"213","flags":[]}]"#,
            "ip -6 -N -j route show table all proto 213":
                #"[{"dst":"default","gateway":"fe80::1","dev":"wan1","table":"200","protocol":"213","flags":[]},{"dst":"2001:db8::/32","gateway":"fe80::1","dev":"wan1","table":"200","protocol":"213","flags":[]}]"#,
        ])
        let state = try LinuxKernel(runner: runner).readRouting()
        #expect(state.policyRules.map(\.family) == [.ipv4, .ipv6])
        #expect(state.policyRules.allSatisfy { $0.priority == 10001 && $0.fwmark == 0x10000 && $0.table == 200 })
        #expect(
            state.routes.map(\.description) == [
                "default via 192.0.2.1 dev wan1 table 200", "default via fe80::1 dev wan1 table 200",
                "2001:db8::/32 via fe80::1 dev wan1 table 200",
            ])
        #expect(Set(state.routes.map(\.key)).count == 3)
    }

    @Test func aHostWithoutIPv6HasOnlyIPv4RulesAndRoutes() throws {
        let runner = IPv6DisabledRunner(
            base: CannedCommandRunner([
                "ip -4 -N -j rule show":
                    #"[{"priority":10000,"src":"all","table":"main","suppress_prefixlen":0,"protocol":"213"}]"#,
                "ip -4 -N -j route show table all proto 213": "[]",
            ]))
        let state = try LinuxKernel(runner: runner).readRouting()
        #expect(state.policyRules.map(\.description) == ["priority 10000 lookup main suppress_prefixlength 0"])
        #expect(state.routes.isEmpty)
    }

    @Test func anotherIPv6ReadFailureIsAnError() {
        // The canned runner fails unknown commands with "No such file or directory".
        let runner = CannedCommandRunner(["ip -4 -N -j rule show": "[]"])
        #expect(throws: KernelError.self) { try LinuxKernel(runner: runner).readRouting() }
    }
}

/// Answers every `ip -6` command as a kernel booted with `ipv6.disable=1` does.
struct IPv6DisabledRunner: CommandRunner {
    let base: any CommandRunner

    func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
        if arguments.starts(with: ["ip", "-6"]) {
            return CommandResult(
                status: 2, standardOutput: "", standardError: "RTNETLINK answers: Address family not supported by protocol")
        }
        return try base.run(arguments, input: input)
    }
}
