import BraidConfig
import BraidDaemon
import BraidHA
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Two Braid gateways as an HA pair with real keepalived and conntrackd: takeover on power
    /// loss with long-lived flows, no preemption on return, hand-over when all WANs die.
    @Suite(.serialized) struct HighAvailability {
        /// The daemon's status, as `braid status` reads it, but given up after 2 s: a test must not
        /// hang on a daemon that accepted the connection and never answered (one run of this suite
        /// hung somewhere for 5 minutes, not reproduced since).
        static func status(_ lab: HALab, _ router: Int) -> DaemonStatus? {
            let path = GatewayDaemon.statusSocketPath(stateDirectory: lab.stateDirectories[router])
            let result = LockedBox<DaemonStatus?>(nil)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                result.value = StatusSocketServer.read(path: path)
                done.signal()
            }
            return done.wait(timeout: .now() + 2) == .success ? result.value : nil
        }

        /// `because`: only a role whose reason contains this counts (keepalived may report a
        /// passing fault of its own, "an interface is down", while it starts).
        static func waitForRole(
            _ lab: HALab, _ router: Int, _ role: HARole, because: String? = nil, timeout: Duration = .seconds(15)
        ) async throws -> HAStatus {
            let deadline = ContinuousClock.now + timeout
            var last: HAStatus?
            while ContinuousClock.now < deadline {
                last = status(lab, router)?.ha
                if let last, last.role == role, because.map({ last.reason.contains($0) }) ?? true { return last }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw LabError(
                "router\(router + 1) did not become \(role.rawValue) within \(timeout); last: "
                    + (last.map { "\($0.role.rawValue) (\($0.reason))" } ?? "no status"))
        }

        /// Starts router 1 (the higher priority) and waits for it to be active, then router 2 as
        /// backup. One after the other: without preempt, whichever keepalived starts first by more
        /// than the priority skew (a few tens of ms) becomes master and keeps it.
        static func startPair(
            _ lab: HALab, weights: [Int] = [2, 1], preempt: Bool = false, stableAfter: String = "2s"
        ) async throws -> [LabDaemon] {
            let binary = try BraidExecutable.path
            var daemons: [LabDaemon] = []
            for (router, priority) in [(0, 200), (1, 100)] {
                let yaml = lab.configYAML(
                    router: router, priority: priority, weights: weights, preempt: preempt, stableAfter: stableAfter)
                let daemon = try lab.startBraid(router: router, binary: binary, yaml: yaml)
                try await daemon.waitForLog("running", timeout: .seconds(15))
                try await waitForRole(lab, router, router == 0 ? .active : .backup)
                daemons.append(daemon)
            }
            return daemons
        }

        /// Opens flows from the LAN host until each WAN carries at least `perWan` and there are at
        /// least `minimum` (the split is random: a fixed count could land all on one WAN).
        static func openFlows(
            _ lab: HALab, perWan: Int = 3, minimum: Int = 8, readTimeout: Double = 30
        ) async throws -> [TimedFlow] {
            var flows: [TimedFlow] = []
            var perWanCount: [Int: Int] = [:]
            while flows.count < 40 {
                let flow = try await TimedFlow(from: lab.lanHosts[0], readTimeout: readTimeout)
                let answer = try #require(await flow.firstAnswer(), "a flow got no first answer")
                let wan = try #require(lab.wan(forPeer: answer), "the server saw \(answer), not a virtual address")
                perWanCount[wan, default: 0] += 1
                flows.append(flow)
                if flows.count >= minimum, (1...lab.wanCount).allSatisfy({ perWanCount[$0, default: 0] >= perWan }) { break }
            }
            return flows
        }

        @Test(
            "Power loss on the active gateway: the backup takes over within 1 s, long-lived flows survive, the old active returns without preempting"
        )
        func powerLossTakeover() async throws {
            try await HALab.with(name: "hapower") { lab in
                let daemons = try await Self.startPair(lab)
                #expect(lab.activeRouter() == 0, "router1 (priority 200) should hold the virtual addresses")
                let flows = try await Self.openFlows(lab)
                // conntrackd on the backup holds every flow in its external cache before the power cut.
                let deadline = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < deadline, (Self.status(lab, 1)?.ha?.externalCacheEntries ?? 0) < flows.count {
                    try await Task.sleep(for: .milliseconds(100))
                }
                let synced = Self.status(lab, 1)?.ha?.externalCacheEntries ?? 0
                #expect(synced >= flows.count, "the backup's external cache has \(synced) entries for \(flows.count) flows")
                #expect(Self.status(lab, 1)?.ha?.peerReachable == true)
                let addressesBefore = flows.map(\.distinctAnswers)

                let cutAt = ContinuousClock.now
                try lab.powerOff(0)
                let sampler = ConnectionSampler(from: lab.lanHosts[0], interval: .milliseconds(50), timeout: 1)
                let tookOver = try await lab.waitForVirtualAddresses(on: 1, timeout: .seconds(5))
                let takeover = tookOver - cutAt
                try await Task.sleep(for: .seconds(3))
                let samples = await sampler.stop()
                let firstNew = try #require(samples.first { !$0.failed }, "no new connection succeeded after the power cut")
                let firstNewConnection = firstNew.finishedAt - cutAt
                print("ha: takeover \(takeover), first new connection \(firstNewConnection)")
                #expect(takeover <= .seconds(1), "the backup took the virtual addresses \(takeover) after the power cut")
                #expect(firstNewConnection <= .milliseconds(1500), "first new connection \(firstNewConnection) after the cut")
                #expect(samples.filter { $0.startedAt > firstNew.finishedAt }.allSatisfy { !$0.failed })
                for (index, flow) in flows.enumerated() {
                    #expect(!flow.failed, "flow \(index) broke: \(flow.answersSoFar.last?.text ?? "")")
                    #expect(
                        flow.longestSilence(since: cutAt + .seconds(2)) < .milliseconds(500),
                        "flow \(index) stopped after the takeover")
                    #expect(flow.distinctAnswers == addressesBefore[index], "flow \(index) changed its public address")
                }
                let active = try await Self.waitForRole(lab, 1, .active)
                #expect(active.lastCommitMilliseconds != nil)

                // Power back on: router1 comes back as backup (no preempt), the flows do not notice.
                let returnAt = ContinuousClock.now
                try lab.powerOn(0)
                daemons[0].kill9()
                let restarted = try lab.startBraid(
                    router: 0, binary: try BraidExecutable.path, yaml: lab.configYAML(router: 0, priority: 200, weights: [2, 1]))
                try await restarted.waitForLog("running", timeout: .seconds(15))
                try await Self.waitForRole(lab, 0, .backup)
                try await Task.sleep(for: .seconds(3))
                #expect(lab.activeRouter() == 1, "router1 took the virtual addresses back without preempt")
                for (index, flow) in flows.enumerated() {
                    #expect(!flow.failed, "flow \(index) broke after router1 returned")
                    #expect(
                        flow.longestSilence(since: returnAt) < .milliseconds(500),
                        "flow \(index) was interrupted when router1 returned (\(flow.longestSilence(since: returnAt)))")
                }
                for flow in flows { flow.stop() }
                let events = try String(contentsOfFile: lab.stateDirectories[1] + "/events.jsonl", encoding: .utf8)
                #expect(events.contains("\"event\":\"role\"") && events.contains("\"to\":\"active\""), "no role event: \(events)")
                for daemon in [daemons[1], restarted] { #expect(await daemon.stop(grace: .seconds(10)) == 0) }
            }
        }

        @Test("Flows the backup never got from conntrackd are not balanced anew after a takeover: they stall, none moves WAN")
        func unsyncedFlowsAreNotBalancedAnew() async throws {
            try await HALab.with(name: "hanosync") { lab in
                let daemons = try await Self.startPair(lab)
                let flows = try await Self.openFlows(lab, readTimeout: 6)
                let addresses = flows.map(\.distinctAnswers)
                // The backup forgets what conntrackd synced: these flows reach it mid-stream, unknown.
                let backupConfig = HAPaths(stateDirectory: lab.stateDirectories[1]).conntrackdConfig
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {
                    _ = try lab.routers[1].runner.run(["/usr/sbin/conntrackd", "-C", backupConfig, "-f", "external"])
                    let shown = try lab.routers[1].runner.run(["/usr/sbin/conntrackd", "-C", backupConfig, "-s"])
                    if HASupervisor.cacheCounts(shown.standardOutput).external == 0 { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let cutAt = ContinuousClock.now
                try lab.powerOff(0)
                try await lab.waitForVirtualAddresses(on: 1, timeout: .seconds(2))
                try await Task.sleep(for: .seconds(3))
                for (index, flow) in flows.enumerated() {
                    let after = flow.answersSoFar.filter { $0.at > cutAt }
                    #expect(!flow.failed, "flow \(index) was reset: \(flow.answersSoFar.last?.text ?? "")")
                    #expect(
                        after.allSatisfy { addresses[index].contains($0.text) },
                        "flow \(index) answered from another public address: \(after.map(\.text))")
                }
                #expect(
                    flows.contains { $0.longestSilence(since: cutAt) > .seconds(2) },
                    "no flow stalled: the backup had their state after all, so this test shows nothing")
                // New connections are balanced as usual.
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 4)
                #expect(answers.allSatisfy { lab.wan(forPeer: $0) != nil }, "\(answers)")
                for flow in flows { flow.stop() }
                #expect(await daemons[1].stop(grace: .seconds(10)) == 0)
            }
        }

        @Test("A gateway whose WANs all die hands the active role to its peer, and does not take it back")
        func allWansDeadHandsOver() async throws {
            try await HALab.with(name: "hawans") { lab in
                let daemons = try await Self.startPair(lab, stableAfter: "1s")
                try lab.failWans(of: 0)
                let fault = try await Self.waitForRole(lab, 0, .fault, timeout: .seconds(5))
                #expect(fault.reason.contains("no usable WAN"), "\(fault.reason)")
                try await lab.waitForVirtualAddresses(on: 1, timeout: .seconds(2))
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 6)
                #expect(answers.allSatisfy { lab.wan(forPeer: $0) != nil }, "\(answers)")
                try await Self.waitForRole(lab, 1, .active, timeout: .seconds(2))
                try await Task.sleep(for: .milliseconds(500))
                // What an operator sees: `braid status` on the gateway that gave up.
                let shown = try lab.routers[0].runner.run([
                    try BraidExecutable.path, "status", "--state-dir", lab.stateDirectories[0], "-c",
                    lab.filesDirectory + "/router1.yaml",
                ])
                #expect(shown.standardOutput.contains("HA: fault since"), "\(shown.standardOutput)\n\(shown.standardError)")
                #expect(shown.standardOutput.contains("peer 10.99.0.2: reachable, active"), "\(shown.standardOutput)")
                #expect(shown.standardOutput.contains("will not become active: no usable WAN"), "\(shown.standardOutput)")
                let json = try lab.routers[0].runner.run([
                    try BraidExecutable.path, "status", "--json", "--state-dir", lab.stateDirectories[0], "-c",
                    lab.filesDirectory + "/router1.yaml",
                ])
                let report = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
                let ha = (report?["daemon"] as? [String: Any])?["ha"] as? [String: Any]
                #expect(ha?["role"] as? String == "fault" && ha?["peerReachable"] as? Bool == true, "\(json.standardOutput)")
                #expect(ha?["syncState"] as? String == "running")
                try lab.healWans()
                try await Self.waitForRole(lab, 0, .backup, timeout: .seconds(10))
                try await Task.sleep(for: .seconds(1))
                #expect(lab.activeRouter() == 1)
                for daemon in daemons { #expect(await daemon.stop(grace: .seconds(10)) == 0) }
            }
        }
        @Test("A backup whose WAN order differs from the active's refuses the active role, even when the active dies")
        func slotLayoutMismatchRefusesTakeover() async throws {
            try await HALab.with(name: "halayout") { lab in
                let binary = try BraidExecutable.path
                let first = try lab.startBraid(router: 0, binary: binary, yaml: lab.configYAML(router: 0, priority: 200))
                try await first.waitForLog("running", timeout: .seconds(15))
                try await Self.waitForRole(lab, 0, .active)
                let second = try lab.startBraid(
                    router: 1, binary: binary, yaml: lab.configYAML(router: 1, priority: 100, wanOrder: [2, 1]))
                try await second.waitForLog("running", timeout: .seconds(15))
                // Refused for its layout, which it can know only once it heard the active's: a
                // backup that never heard its peer takes over when the active dies, as it should.
                let refused = try await Self.waitForRole(lab, 1, .fault, because: "slot layout")
                #expect(!refused.ready && refused.peerLayoutDigest != refused.layoutDigest)
                #expect(Self.status(lab, 0)?.ha?.role == .active, "the active gateway keeps its role")
                try lab.powerOff(0)
                try await Task.sleep(for: .seconds(2))
                #expect(!lab.holdsVirtualAddresses(1), "the backup with another slot layout took over")
                #expect(Self.status(lab, 1)?.ha?.role == .fault)
                #expect(await second.stop(grace: .seconds(10)) == 0)
            }
        }

        @Test("keepalived and conntrackd are restarted when they die; a dead keepalived's addresses are removed")
        func childrenAreSupervised() async throws {
            try await HALab.with(name: "hakids") { lab in
                let daemons = try await Self.startPair(lab)
                let paths = HAPaths(stateDirectory: lab.stateDirectories[0])
                func pid(_ file: String) -> Int32? {
                    (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
                        Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                }
                let conntrackd = try #require(
                    try ProcessCommandRunner().check(["pgrep", "-f", "conntrackd -C \(paths.conntrackdConfig)"])
                        .split(separator: "\n").first.flatMap { Int32($0) })
                kill(conntrackd, SIGKILL)
                let keepalived = try #require(pid(paths.keepalivedPid))
                kill(keepalived, SIGKILL)
                // The backup takes over: the active's keepalived is gone, and with it its addresses.
                try await lab.waitForVirtualAddresses(on: 1, timeout: .seconds(3))
                try await lab.waitForVirtualAddresses(on: 0, held: false, timeout: .seconds(3))
                try await Self.waitForRole(lab, 0, .backup, timeout: .seconds(10))
                let restarted = try #require(pid(paths.keepalivedPid))
                #expect(restarted != keepalived)
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline, Self.status(lab, 0)?.ha?.syncState != "running" {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(Self.status(lab, 0)?.ha?.syncState == "running")
                let newConntrackd = try ProcessCommandRunner().check(["pgrep", "-f", "conntrackd -C \(paths.conntrackdConfig)"])
                #expect(!newConntrackd.contains("\(conntrackd)\n"))
                #expect(lab.activeRouter() == 1)
                let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 4)
                #expect(answers.allSatisfy { lab.wan(forPeer: $0) != nil }, "\(answers)")
                for daemon in daemons { #expect(await daemon.stop(grace: .seconds(10)) == 0) }
                #expect(try ProcessCommandRunner().run(["pgrep", "-f", paths.directory]).status != 0, "children left running")
            }
        }

        @Test("Braid killed with SIGKILL and started again replaces the keepalived and conntrackd it left behind")
        func restartAfterKillReplacesOrphans() async throws {
            try await HALab.with(name: "haorphan") { lab in
                let daemons = try await Self.startPair(lab)
                let directory = HAPaths(stateDirectory: lab.stateDirectories[1]).directory
                // keepalived and the conntrackd daemon (its command line ends with its config), not the
                // short-lived `conntrackd -C … -s` status clients.
                func children() throws -> [String] {
                    try ProcessCommandRunner().check(["pgrep", "-a", "-f", directory]).split(separator: "\n").map(String.init)
                        .filter { $0.contains("keepalived") || $0.hasSuffix("conntrackd.conf") }
                }
                let before = try children()
                daemons[1].kill9()
                #expect(try children() == before, "keepalived and conntrackd outlive a Braid killed with SIGKILL")
                let restarted = try lab.startBraid(
                    router: 1, binary: try BraidExecutable.path, yaml: lab.configYAML(router: 1, priority: 100, weights: [2, 1]))
                try await restarted.waitForLog("running", timeout: .seconds(15))
                try await Self.waitForRole(lab, 1, .backup)
                let after = try children()
                #expect(Set(after).isDisjoint(with: before), "the old children still run: \(before) / \(after)")
                #expect(after.filter { $0.contains("conntrackd -C") }.count == 1, "\(after)")
                #expect(lab.activeRouter() == 0, "a backup's restart moved the active role")
                for daemon in [daemons[0], restarted] { #expect(await daemon.stop(grace: .seconds(10)) == 0) }
            }
        }

        @Test("With preempt: true the higher-priority gateway takes the active role back when it returns")
        func preemptTakesTheRoleBack() async throws {
            try await HALab.with(name: "hapreempt") { lab in
                let daemons = try await Self.startPair(lab, preempt: true)
                try lab.powerOff(0)
                daemons[0].kill9()
                try await lab.waitForVirtualAddresses(on: 1, timeout: .seconds(2))
                try lab.powerOn(0)
                let restarted = try lab.startBraid(
                    router: 0, binary: try BraidExecutable.path,
                    yaml: lab.configYAML(router: 0, priority: 200, weights: [2, 1], preempt: true))
                try await restarted.waitForLog("running", timeout: .seconds(15))
                try await Self.waitForRole(lab, 0, .active, timeout: .seconds(10))
                try await Self.waitForRole(lab, 1, .backup, timeout: .seconds(5))
                #expect(lab.activeRouter() == 0)
                for daemon in [daemons[1], restarted] {
                    let stoppedAt = ContinuousClock.now
                    let status = await daemon.stop(grace: .seconds(10))
                    #expect(
                        status == 0, "exit \(status) after \(ContinuousClock.now - stoppedAt):\n\(daemon.logText.suffix(3000))")
                }
            }
        }
    }
}
