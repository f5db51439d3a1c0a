import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation
import Testing

extension LabTests {
    /// `apply`, re-`apply` and `down` on a real kernel: idempotence, live reconfiguration, exact
    /// removal, refusal of bad input, and rollback.
    @Suite struct ApplyLifecycle {
        @Test("A second apply of the same config changes nothing")
        func applyIsIdempotent() async throws {
            try await Lab.with(wanCount: 2, name: "idem") { lab in
                try lab.applyExpectingSuccess(lab.configYAML(weights: [3, 1]))
                let first = try lab.routerSnapshot()
                let output = try lab.applyExpectingSuccess(lab.configYAML(weights: [3, 1]))
                #expect(output.contains("nothing changed"), "second apply output: \(output)")
                let second = try lab.routerSnapshot()
                #expect(first == second, "\(second.differences(from: first))")
            }
        }

        @Test("New weights apply while a long-lived connection keeps flowing on its WAN")
        func reweightKeepsEstablishedFlows() async throws {
            try await Lab.with(wanCount: 2, name: "rew") { lab in
                try lab.applyExpectingSuccess(lab.configYAML(weights: [1, 1]))
                // Open flows until one lands on isp1: the new weights take isp1 out of the split, so that
                // flow only survives if established connections really keep their WAN.
                var flow: LongLivedFlow?
                for _ in 0..<40 {
                    let candidate = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.01)
                    if let first = await candidate.firstAnswer(), lab.wan(forPeer: first)?.name == "isp1" {
                        flow = candidate; break
                    }
                    _ = candidate.stop()
                }
                let isp1Flow = try #require(flow, "no flow landed on isp1 in 40 tries")
                try lab.applyExpectingSuccess(lab.configYAML(weights: [0, 1]))
                let afterReweight = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 100))
                #expect(afterReweight == ["isp2": 100], "new connections after the reweight: \(afterReweight)")
                try await Task.sleep(for: .milliseconds(200))
                let answers = isp1Flow.stop()
                #expect(
                    lab.countByWan(answers) == ["isp1": answers.count],
                    "the long-lived flow moved or broke: \(lab.countByWan(answers))")
                #expect(answers.count > 15)
            }
        }

        @Test("Removing one WAN and reordering the rest leaves the other WANs' open connections where they are")
        func removingAWanKeepsTheOthersFlows() async throws {
            try await Lab.with(wanCount: 3, name: "slot") { lab in
                try lab.applyExpectingSuccess(lab.configYAML())
                // One long-lived flow on isp2 and one on isp3. Their conntrack marks name their WAN;
                // if marks followed list positions, removing isp1 would send them out the wrong
                // uplink, where the ISP's anti-spoofing filter drops them.
                var flows: [String: LongLivedFlow] = [:]
                for _ in 0..<60 where flows.count < 2 {
                    let candidate = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.01)
                    if let first = await candidate.firstAnswer(), let name = lab.wan(forPeer: first)?.name,
                        name != "isp1", flows[name] == nil
                    {
                        flows[name] = candidate
                    } else {
                        _ = candidate.stop()
                    }
                }
                try #require(flows.count == 2, "no flows on both isp2 and isp3 in 60 tries")
                try lab.applyExpectingSuccess(lab.configYAML(wanOrder: [2, 1]))
                let newConnections = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(
                    newConnections["isp1"] == nil && newConnections["failed"] == nil, "after removing isp1: \(newConnections)")
                // isp1 back, last in the list: it takes the free slot, and the flows still stay.
                try lab.applyExpectingSuccess(lab.configYAML(wanOrder: [2, 1, 0]))
                let withIsp1 = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 90))
                #expect(withIsp1["isp1", default: 0] > 10 && withIsp1["failed"] == nil, "after re-adding isp1: \(withIsp1)")
                await lab.expectFlowsStayed(flows)
            }
        }

        @Test("down restores the kernel exactly, leaving a foreign nft table and ip rule untouched")
        func downRestoresSnapshot() async throws {
            try await Lab.with(wanCount: 3, name: "down") { lab in
                try lab.router.run(
                    ["nft", "-f", "-"],
                    input: """
                        table inet foreign {
                            chain forward { type filter hook forward priority filter; policy accept; counter; }
                        }
                        """)
                try lab.router.ip([
                    ["rule", "add", "priority", "500", "from", "192.0.2.0/24", "lookup", "100"],
                    ["route", "add", "192.0.2.0/24", "dev", Lab.lanInterface, "table", "100"],
                ])
                // The kernel adds a link-local address's local route only once duplicate address
                // detection ends (about a second after the link came up): wait, or that route
                // appears between the two snapshots as if `down` had left it.
                let settled = ContinuousClock.now + .seconds(5)
                while try !lab.router.run(["ip", "-6", "address", "show", "tentative"]).isEmpty, ContinuousClock.now < settled {
                    try await Task.sleep(for: .milliseconds(50))
                }
                let before = try lab.routerSnapshot()
                try lab.applyExpectingSuccess(lab.configYAML(weights: [5, 3, 2]))
                let applied = try lab.routerSnapshot()
                #expect(applied.ruleset.contains("table inet foreign"))
                #expect(applied.rules.contains("192.0.2.0/24 lookup 100"))
                #expect(applied.sysctls.contains("net/ipv4/ip_forward=1"))
                // Traffic, so conntrack, counters and marks are in use when Braid is removed.
                _ = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)
                let result = try lab.runBraid(try BraidExecutable.path, ["down"])
                #expect(result.status == 0, "down failed: \(result.standardError)")
                let after = try lab.routerSnapshot()
                #expect(after.rules == before.rules, "\(after.differences(from: before))")
                #expect(after.routes == before.routes, "\(after.differences(from: before))")
                #expect(after.sysctls == before.sysctls, "\(after.differences(from: before))")
                // The foreign table's counter moved while traffic flowed; compare the ruleset without it.
                #expect(
                    Self.withoutCounters(after.ruleset) == Self.withoutCounters(before.ruleset),
                    "\(after.differences(from: before))")
                let again = try lab.runBraid(try BraidExecutable.path, ["down"])
                #expect(again.status == 0 && again.standardOutput.contains("nothing to remove"))
            }
        }

        static func withoutCounters(_ ruleset: String) -> String {
            ruleset.replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
        }

        @Test("A gateway that is not on-link: apply installs the other WANs, plans no route for it, and warns")
        func offLinkGatewayIsLeftOut() async throws {
            try await Lab.with(wanCount: 3, name: "offl") { lab in
                // isp3's gateway is not on wan3's subnet: the kernel would refuse its route.
                let yaml = lab.configYAML().replacingOccurrences(of: "gateway: 100.64.3.1", with: "gateway: 203.0.113.1")
                let path = try lab.writeFile("offlink.yaml", yaml)
                let result = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(result.status == 0, "\(result.standardError)")
                #expect(
                    result.standardError.contains("isp3 carries no traffic: gateway 203.0.113.1 is not on-link on wan3"),
                    "error: \(result.standardError)")
                let routes = try lab.router.run(["ip", "route", "show", "table", "all", "proto", "213"])
                #expect(
                    routes.contains("dev wan1") && routes.contains("dev wan2") && !routes.contains("203.0.113.1"), "\(routes)")
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40))
                #expect(counts["isp3"] == nil && counts["failed"] == nil, "\(counts)")
            }
        }

        @Test("A shared step the kernel refuses half-way through apply (an ip rule) rolls every earlier step back")
        func halfwayFailureRollsBack() async throws {
            try await Lab.with(wanCount: 3, name: "roll") { lab in
                let before = try lab.routerSnapshot()
                // The rules come after every WAN's route went in. (They are rtnetlink requests, not
                // `ip` processes a runner could fail: the refusal is injected at the port.)
                let applier = GatewayApplier(
                    kernel: RuleRefusingKernel(LinuxKernel(runner: lab.router.runner)),
                    store: AppliedStateStore(directory: lab.stateDirectory))
                #expect {
                    try applier.apply(try ConfigLoader.parse(lab.configYAML()))
                } throws: { error in
                    guard case ApplyError.stepFailed(.addRule, _, let rollbackFailures) = error else { return false }
                    return rollbackFailures.isEmpty
                }
                let after = try lab.routerSnapshot()
                #expect(after == before, "\(after.differences(from: before))")
            }
        }

        /// `withoutStateFile`: the state file is gone, so the table to put back is read from the kernel.
        @Test(
            "A failure at any later step (nft, sysctl) also leaves the kernel as it was, with or without a state file",
            arguments: [("nft", false), ("sysctl", false), ("sysctl", true)])
        func injectedFailureRollsBack(program: String, withoutStateFile: Bool) async throws {
            try await Lab.with(wanCount: 2, name: "inj\(program.prefix(3))\(withoutStateFile ? 1 : 0)") { lab in
                // A first config is installed, so the rollback must restore a previous Braid state, not just remove one.
                try lab.applyExpectingSuccess(lab.configYAML(weights: [1, 1]))
                if withoutStateFile { try FileManager.default.removeItem(atPath: lab.stateDirectory + "/state.json") }
                let runner = FailingRunner(base: lab.router.runner, failingProgram: program)
                let applier = GatewayApplier(
                    kernel: LinuxKernel(runner: runner), store: AppliedStateStore(directory: lab.stateDirectory))
                var changed = try ConfigLoader.parse(lab.configYAML(weights: [4, 1]))
                changed.wans[1].nat = .snat(lab.wans[1].routerAddress)
                try lab.router.sysctl("net/ipv4/ip_forward", "0")
                let beforeWithForwardingOff = try lab.routerSnapshot()
                #expect(throws: ApplyError.self) { try applier.apply(changed) }
                let after = try lab.routerSnapshot()
                #expect(after == beforeWithForwardingOff, "\(after.differences(from: beforeWithForwardingOff))")
            }
        }

        @Test("Bad configs exit 2, name the key, and change nothing", arguments: BadConfigCase.all)
        func badConfigChangesNothing(badCase: BadConfigCase) async throws {
            try await Lab.with(wanCount: 2, name: "bad") { lab in
                let before = try lab.routerSnapshot()
                let path = try lab.writeFile("bad.yaml", badCase.yaml(lab))
                let result = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(result.status == 2, "exit \(result.status): \(result.standardError)")
                #expect(
                    result.standardError.contains(badCase.key), "stderr does not name \(badCase.key): \(result.standardError)")
                let after = try lab.routerSnapshot()
                #expect(after == before, "\(after.differences(from: before))")
            }
        }
    }
}

/// Fails the first run of one program (after letting reads through), as a kernel refusing a step would.
struct FailingRunner: CommandRunner {
    let base: any CommandRunner
    let failingProgram: String

    func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
        let isWrite =
            (arguments.first == "nft" && arguments.contains("-f")) || (arguments.first == "sysctl" && arguments.contains("-w"))
        if arguments.first == failingProgram && isWrite {
            return CommandResult(status: 1, standardOutput: "", standardError: "injected failure")
        }
        return try base.run(arguments, input: input)
    }

    func withinNetworkNamespace<Result: Sendable>(_ body: @escaping @Sendable () -> Result) throws(KernelError) -> Result {
        try base.withinNetworkNamespace(body)
    }
}

/// The Linux kernel port, but every `ip rule add` is refused as the kernel would refuse it (the
/// forwarding of every other call is `TimedKernel`'s).
final class RuleRefusingKernel: TimedKernel, @unchecked Sendable {
    override func perform(_ step: KernelStep) throws(KernelError) {
        if case .addRule(let rule) = step {
            throw .refused(request: rule.command("add") + ["protocol", "213"], reason: "injected refusal")
        }
        try super.perform(step)
    }
}

/// One bad config for the lab: the YAML (which may use the lab's real interface names) and the key
/// its error must name.
struct BadConfigCase: Sendable, CustomTestStringConvertible {
    let key: String
    let transform: @Sendable (Lab) -> String

    func yaml(_ lab: Lab) -> String { transform(lab) }
    var testDescription: String { key }

    static func replacing(_ old: String, _ new: String, key: String) -> BadConfigCase {
        BadConfigCase(key: key) { $0.configYAML().replacingOccurrences(of: old, with: new) }
    }

    static let all: [BadConfigCase] = [
        replacing("gateway: 100.64.2.1", "gateway: 100.64.2.300", key: "wans[1].gateway"),
        replacing("gateway: 100.64.2.1", "gateway: dhcp", key: "wans[1].gateway"),
        replacing("interfaces: [lan0]", "interfaces: [lan7]", key: "lan.interfaces[0]"),
        replacing("interface: wan2", "interface: wan1", key: "wans[1].interface"),
        replacing("name: isp2", "name: isp1", key: "wans[1].name"),
        replacing("name: isp2", "name: ISP Two", key: "wans[1].name"),
        replacing("name: isp2", "name: main", key: "wans[1].name"),
        replacing("weight: 1\n  - name: isp2", "weight: heavy\n  - name: isp2", key: "wans[0].weight"),
        replacing("weight: 1\n  - name: isp2", "weight: -3\n  - name: isp2", key: "wans[0].weight"),
        BadConfigCase(key: "wans") { $0.configYAML().replacingOccurrences(of: "weight: 1", with: "weight: 0") },
        replacing("interface: wan2", "interface: lan0", key: "wans[1].interface"),
        replacing("    weight: 1\n  - name: isp2", "    weight: 1\n    nat: sometimes\n  - name: isp2", key: "wans[0].nat"),
        replacing("    weight: 1\n  - name: isp2", "    weight: 1\n    speed: fast\n  - name: isp2", key: "wans[0].speed"),
        replacing("lan:", "lans:", key: "lans"),
        BadConfigCase(key: "kernel.mark_mask") { $0.configYAML() + "kernel:\n  mark_mask: 0x00f0f000\n" },
        BadConfigCase(key: "kernel.first_table") { $0.configYAML() + "kernel:\n  first_table: 252\n" },
        replacing("interfaces: [lan0]", "interfaces: []", key: "lan.interfaces"),
        replacing("gateway: 100.64.1.1", "gateway: [100.64.1.1]", key: "wans[0].gateway"),
        BadConfigCase(key: "line") { $0.configYAML() + "wans: [\n" },
    ]
}
