import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// A gateway that never wedges: killed applies, concurrent changes, a broken state directory
    /// and other programs deleting Braid's pieces all end in a working gateway without `braid down`.
    @Suite struct Reliability {
        static let health = LabTests.Failover.health

        /// `braid …` on the router as a child process (so it can be killed mid-way).
        static func spawnBraid(_ lab: Lab, _ arguments: [String]) throws -> ChildProcess {
            let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
            return try ChildProcess(
                executable: ip,
                arguments: ["ip", "netns", "exec", lab.router.name, try BraidExecutable.path]
                    + arguments + ["--state-dir", lab.stateDirectory], mergeError: true)
        }

        /// A config with `count` source rules that alternate between the WANs (10,000 by default:
        /// an nft load that takes long enough to be killed in the middle).
        static func bigConfig(_ lab: Lab, count: Int = 10_000) -> String {
            var lines = [lab.configYAML(), "rules:"]
            for index in 0..<count {
                let wan = lab.wans[index % lab.wans.count].name
                lines.append(
                    "  - { name: r\(index), source: 172.\(16 + index / 65536 % 16).\(index / 256 % 256).\(index % 256), use: [\(wan)] }"
                )
            }
            return lines.joined(separator: "\n") + "\n"
        }

        @Test("An upstream cut and healed every 300 ms is taken out by its loss: at least 95 % of new connections succeed")
        func flappingUpstreamIsTakenOut() async throws {
            try await Lab.with(wanCount: 2, name: "flap") { lab in
                let yaml = lab.configYAML(extraWanKeys: ["health": Self.health]).replacingOccurrences(
                    of: "wans:", with: "flush_on_down: true\nwans:")
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: yaml)
                try await Task.sleep(for: .milliseconds(500))
                let sampler = ConnectionSampler(from: lab.lanHosts[0], interval: .milliseconds(25))
                let wan = lab.wans[0]
                let flapping = LockedBox(true)
                let flapper = Task.detached {
                    while flapping.value {
                        try? lab.cutUpstream(wan)
                        try? await Task.sleep(for: .milliseconds(300))
                        try? lab.healUpstream(wan)
                        try? await Task.sleep(for: .milliseconds(300))
                    }
                }
                try await Task.sleep(for: .seconds(10))
                let samples = await sampler.stop()
                flapping.value = false
                await flapper.value
                let failed = samples.filter(\.failed).count
                let success = Double(samples.count - failed) / Double(samples.count)
                #expect(success >= 0.95, "\(failed) of \(samples.count) new connections failed while isp1 flapped")
                #expect(daemon.logText.contains("isp1 is down: loss"), "\(daemon.logText)")
                // Still flapping? It must not have come back in between.
                let returns = daemon.log.filter { $0.text.contains("isp1 is up") }.count
                #expect(returns == 0, "isp1 came back \(returns) time(s) while it flapped:\n\(daemon.logText)")
            }
        }

        @Test("A link flapping on a WAN without health checks is held down, then released once calm")
        func flappingLinkIsHeldDown() async throws {
            try await Lab.with(wanCount: 2, name: "lflap") { lab in
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: lab.configYAML())
                for _ in 0..<4 {
                    try lab.setRouterLink(lab.wans[0], up: false)
                    try await Task.sleep(for: .milliseconds(150))
                    try lab.setRouterLink(lab.wans[0], up: true)
                    try await Task.sleep(for: .milliseconds(150))
                }
                let held = try await daemon.waitForLog("isp1 is held down")
                #expect(held.text.contains("flaps within"), "\(held.text)")
                try await Task.sleep(for: .milliseconds(300))
                let whileHeld = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40))
                #expect(whileHeld == ["isp2": 40], "while isp1 is held down: \(whileHeld)")
                // The default hold is 10 s from the last flap.
                try await lab.waitForWan("isp1", .up, timeout: .seconds(15))
                let released = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(released["isp1", default: 0] > 10 && released["failed"] == nil, "after the hold: \(released)")
            }
        }

        @Test("A deleted ip rule or WAN route of Braid's is put back at once; no WAN is declared down, nothing is flushed")
        func deletedRoutingIsRepairedAtOnce() async throws {
            try await Lab.with(wanCount: 2, name: "rep") { lab in
                // The default resync (10 s) is far too slow to explain a repair within a second.
                let yaml = lab.configYAML(extraWanKeys: ["health": Self.health]).replacingOccurrences(
                    of: "wans:", with: "flush_on_down: true\nwans:")
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: yaml)
                let healthy = try lab.routerSnapshot()
                let skip = daemon.log.count
                let rules = try lab.router.run(["ip", "-j", "rule", "show"])
                // `ip rule show` has no protocol filter: pick Braid's (protocol 213) out of the listing.
                let priorities = try #require(try JSONSerialization.jsonObject(with: Data(rules.utf8)) as? [[String: Any]])
                    .filter { "\($0["protocol"] ?? "")" == "213" }.compactMap { $0["priority"] as? Int }
                #expect(priorities.count >= 4)
                let deletedAt = ContinuousClock.now
                for priority in priorities { try lab.router.ip([["rule", "del", "priority", "\(priority)"]]) }
                let table = try lab.router.run([
                    "ip", "-j", "route", "show", "table", "all", "proto", "213", "dev", lab.wans[0].routerInterface,
                ])
                let tableNumber = try #require(
                    (try JSONSerialization.jsonObject(with: Data(table.utf8)) as? [[String: Any]])?.first?["table"] as? String)
                try lab.router.ip([["route", "del", "default", "table", tableNumber]])
                let repaired = try await daemon.waitForLog("repaired", after: skip, timeout: .seconds(3))
                #expect(repaired.arrivedAt - deletedAt < .seconds(1), "repaired after \(repaired.arrivedAt - deletedAt)")
                try await Task.sleep(for: .milliseconds(300))
                let now = try lab.routerSnapshot()
                #expect(now.rules == healthy.rules && now.routes == healthy.routes, "\(now.differences(from: healthy))")
                // Probes must not have judged a WAN down for Braid's own missing rules.
                try await Task.sleep(for: .seconds(1))
                let later = daemon.log.dropFirst(skip).map(\.text)
                #expect(!later.contains { $0.contains(" is down") || $0.contains("flushed") }, "\(later)")
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40))
                #expect(counts["failed"] == nil && counts.count == 2, "after the repair: \(counts)")
            }
        }

        @Test("`braid apply` killed with SIGKILL at random moments of a 10,000-rule load: the next apply always converges")
        func killedAppliesRecover() async throws {
            try await Lab.with(wanCount: 2, name: "kill") { lab in
                let small = try lab.writeFile("small.yaml", lab.configYAML(weights: [3, 1]))
                let big = try lab.writeFile("big.yaml", Self.bigConfig(lab))
                // The reference kernel state of each config, and how long a big load takes.
                guard try lab.runBraid(try BraidExecutable.path, ["apply", "-c", small]).status == 0 else {
                    throw LabError("small apply failed")
                }
                let smallState = try lab.routerSnapshot()
                let started = ContinuousClock.now
                let bigApply = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", big])
                guard bigApply.status == 0 else { throw LabError("big apply failed: \(bigApply.standardError)") }
                let loadTime = ContinuousClock.now - started
                let bigState = try lab.routerSnapshot()
                let kills = Int(ProcessInfo.processInfo.environment["BRAID_KILL_LOOP"] ?? "") ?? 8
                var generator = SystemRandomNumberGenerator()
                var current = big
                for round in 0..<kills {
                    let target = current == big ? small : big
                    let child = try Self.spawnBraid(lab, ["apply", "-c", target])
                    let delay =
                        Double.random(in: 0...1, using: &generator)
                        * Double(
                            loadTime.components.seconds * 1000
                                + loadTime.components.attoseconds / 1_000_000_000_000_000)
                    try await Task.sleep(for: .milliseconds(Int(delay)))
                    child.signal(SIGKILL)
                    child.wait()
                    // The orphaned `nft -f -` may still be committing; the next apply must cope with either outcome.
                    let recovery = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", target])
                    #expect(recovery.status == 0, "round \(round) (killed after \(Int(delay)) ms): \(recovery.standardError)")
                    let expected = target == big ? bigState : smallState
                    let now = try lab.routerSnapshot()
                    // Routes: Braid's only (IPv6 link-local routes appear as addresses finish DAD).
                    #expect(
                        now.ruleset == expected.ruleset && now.rules == expected.rules && now.sysctls == expected.sysctls
                            && now.braidRoutes == expected.braidRoutes, "round \(round): \(now.differences(from: expected))")
                    let again = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", target])
                    #expect(again.standardOutput.contains("nothing changed"), "round \(round): \(again.standardOutput)")
                    current = target
                }
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40))
                #expect(counts["failed"] == nil, "\(counts)")
            }
        }

        @Test("Two applies at once take turns: both succeed and the kernel holds exactly one of the two configs")
        func concurrentAppliesTakeTurns() async throws {
            try await Lab.with(wanCount: 2, name: "conc") { lab in
                let first = try lab.writeFile("a.yaml", Self.bigConfig(lab, count: 3000))
                let second = try lab.writeFile("b.yaml", lab.configYAML(weights: [1, 3]))
                for _ in 0..<3 {
                    let one = try Self.spawnBraid(lab, ["apply", "-c", first])
                    let two = try Self.spawnBraid(lab, ["apply", "-c", second])
                    #expect(one.wait() == 0)
                    #expect(two.wait() == 0)
                    // Whichever finished last is installed, whole; a re-apply of it changes nothing.
                    let afterBoth = try lab.routerSnapshot()
                    let candidates = [first, second]
                    var matched = false
                    for path in candidates {
                        let result = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                        #expect(result.status == 0, "\(result.standardError)")
                        if result.standardOutput.contains("nothing changed") { matched = true; break }
                        // Not this one: put the state back for the next candidate.
                        _ = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", candidates.first { $0 != path }!])
                        let restored = try lab.routerSnapshot()
                        #expect(
                            restored.ruleset == afterBoth.ruleset && restored.rules == afterBoth.rules
                                && restored.braidRoutes == afterBoth.braidRoutes)
                    }
                    #expect(matched, "the kernel held neither config after two concurrent applies")
                }
            }
        }

        @Test("An apply while the daemon re-plans: both finish, the daemon warns nothing is lost and keeps failing over")
        func applyDuringDaemonReplan() async throws {
            try await Lab.with(wanCount: 2, name: "race") { lab in
                let yaml = lab.configYAML(extraWanKeys: ["health": Self.health])
                let daemon = try await LabTests.Failover.startDaemon(lab, yaml: yaml)
                let other = try lab.writeFile("other.yaml", Self.bigConfig(lab, count: 3000))
                let apply = try Self.spawnBraid(lab, ["apply", "-c", other])
                try lab.cutUpstream(lab.wans[0])
                #expect(apply.wait() == 0)
                try await lab.waitForWan("isp1", .down)
                // The daemon converges on its own config at the next change or resync.
                try lab.healUpstream(lab.wans[0])
                try await lab.waitForWan("isp1", .up, timeout: .seconds(15))
                let text = daemon.logText
                #expect(!text.contains("re-plan failed") && !text.contains("resync failed"), "\(text)")
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(counts["failed"] == nil && counts.count == 2, "\(counts)")
            }
        }

        @Test("A second daemon on the same state directory refuses; so does a state directory too long for the socket")
        func secondDaemonAndLongStateDirectoryRefuse() async throws {
            try await Lab.with(wanCount: 2, name: "two") { lab in
                let yaml = lab.configYAML(extraWanKeys: ["health": Self.health])
                let path = try lab.writeFile("braid.yaml", yaml)
                // Too long a state directory: refused before anything is installed.
                let long = lab.stateDirectory + "/" + String(repeating: "d", count: 120)
                let before = try lab.routerSnapshot()
                let refused = try lab.router.runner.run([try BraidExecutable.path, "run", "-c", path, "--state-dir", long])
                #expect(refused.status != 0)
                #expect(refused.standardError.contains("use a shorter --state-dir"), "\(refused.standardError)")
                #expect(try lab.routerSnapshot() == before)

                let first = try await LabTests.Failover.startDaemon(lab, yaml: yaml)
                let installed = try lab.routerSnapshot()
                let second = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
                let line = try await second.waitForLog("already uses the state directory")
                #expect(line.text.contains("pid \(first.pid)"), "\(line.text)")
                #expect(await second.stop() != 0)
                #expect(first.isRunning)
                #expect(try lab.routerSnapshot() == installed)
            }
        }

        @Test("A garbage state file in a read-only state directory does not stop the daemon or its failover")
        func brokenStateDirectoryDoesNotStopFailover() async throws {
            try await Lab.with(wanCount: 2, name: "ro") { lab in
                let path = try lab.writeFile("braid.yaml", lab.configYAML(extraWanKeys: ["health": Self.health]))
                try FileManager.default.createDirectory(atPath: lab.stateDirectory, withIntermediateDirectories: true)
                try "\u{0}garbage{".write(toFile: lab.stateDirectory + "/state.json", atomically: false, encoding: .utf8)
                // Read-only, as a full or immutable /run would be (tmpfs has no `chattr +i`). Mounted
                // before the daemon starts: `ip netns exec` gives it a copy of this mount namespace.
                let host = ProcessCommandRunner()
                _ = try host.check(["mount", "--bind", lab.stateDirectory, lab.stateDirectory])
                defer { _ = try? host.run(["umount", lab.stateDirectory]) }
                _ = try host.check(["mount", "-o", "remount,bind,ro", lab.stateDirectory])
                let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
                try await daemon.waitForLog("running")
                let status = try lab.router.runner.run([
                    try BraidExecutable.path, "status", "-c", path, "--state-dir", lab.stateDirectory,
                ])
                #expect(status.status == 0, "\(status.standardError)")
                try lab.cutUpstream(lab.wans[0])
                try await daemon.waitForLog("isp1 is down")
                let counts = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40))
                #expect(counts == ["isp2": 40], "with a broken state directory: \(counts)")
                try lab.healUpstream(lab.wans[0])
                try await daemon.waitForLog("isp1 is up", timeout: .seconds(15))
                let text = daemon.logText
                #expect(text.contains("is not valid"), "\(text)")
                #expect(text.contains("cannot write Braid's state file"), "\(text)")
                // Warned once, not on every re-plan.
                #expect(text.components(separatedBy: "cannot write Braid's state file").count == 2, "\(text)")
                #expect(await daemon.stop() == 0)
            }
        }

        @Test(
            "The state directory removed under a running daemon: the status socket comes back, `down` still restores the sysctls")
        func removedStateDirectoryIsRebuilt() async throws {
            try await Lab.with(wanCount: 2, name: "rmst") { lab in
                let pristine = try lab.routerSnapshot()
                let path = try lab.writeFile("braid.yaml", lab.configYAML(extraWanKeys: ["health": Self.health]))
                let daemon = try LabDaemon(
                    lab: lab, binary: try BraidExecutable.path, configPath: path,
                    extraArguments: ["--resync-interval", "500ms"])
                try await daemon.waitForLog("running")
                try FileManager.default.removeItem(atPath: lab.stateDirectory)
                try await daemon.waitForLog("listening again", timeout: .seconds(5))
                let status = try lab.router.runner.run([
                    try BraidExecutable.path, "status", "-c", path, "--json",
                    "--state-dir", lab.stateDirectory,
                ])
                #expect(
                    status.status == 0 && status.standardOutput.contains("\"pid\" : \(daemon.pid)"), "\(status.standardOutput)")
                // Another re-plan (a WAN going down) rewrites the state file from the daemon's memory.
                try lab.cutUpstream(lab.wans[0])
                try await daemon.waitForLog("isp1 is down")
                #expect(await daemon.stop() == 0)
                let down = try lab.runBraid(try BraidExecutable.path, ["down"])
                #expect(down.status == 0, "\(down.standardError)")
                let after = try lab.routerSnapshot()
                #expect(after.sysctls == pristine.sysctls, "\(after.differences(from: pristine))")
            }
        }
    }
}

extension KernelSnapshot {
    /// The routes Braid installed (protocol 213), in every table.
    var braidRoutes: [Substring] { routes.split(separator: "\n").filter { $0.contains("proto 213") } }
}
