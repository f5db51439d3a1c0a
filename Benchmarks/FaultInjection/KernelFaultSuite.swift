import BraidConfig
import BraidKernel
import BraidLab
import Foundation

/// Part 2: faults injected into a 3-WAN lab while `braid run` health-checks every WAN and
/// long-lived TCP flows are open on every WAN. After each fault the router must come back to the
/// healthy reference (ip rules, routes, nft ruleset, sysctls) on its own — nobody runs
/// `braid down` — new connections must succeed, and no flow may break (every WAN stays healthy).
///
/// Driven by one task; the only concurrent use (fault e's two applies) reads its constants.
final class KernelFaultSuite: @unchecked Sendable {
    struct Outcome: Sendable {
        var letter: String
        var name: String
        var injected: Bool
        var recovered: Bool
        var recoveryTime: Duration?
        var flowsOpened: Int
        var flowsLost: Int
        var notes: [String]
    }

    /// Time allowed for the router to come back to the reference after a fault.
    static let recoveryDeadline = Duration.seconds(15)
    static let resyncInterval = "1s"
    static let health = "{ targets: [\(Lab.serverAddress)] }"

    let lab: Lab
    let braid: String
    let configPath: String
    let configText: String
    private(set) var daemon: LabDaemon
    private var reference: KernelSnapshot

    init(lab: Lab, braid: String) async throws {
        self.lab = lab
        self.braid = braid
        configText = lab.configYAML(extraWanKeys: ["health": Self.health])
        configPath = try lab.writeFile("braid.yaml", configText)
        daemon = try await Self.startDaemon(lab: lab, braid: braid, configPath: configPath)
        reference = try await Self.settledSnapshot(lab)
    }

    static func startDaemon(lab: Lab, braid: String, configPath: String) async throws -> LabDaemon {
        let daemon = try LabDaemon(
            lab: lab, binary: braid, configPath: configPath, extraArguments: ["--resync-interval", resyncInterval])
        try await daemon.waitForLog("running")
        return daemon
    }

    /// The router's snapshot without its IPv6 routes: Braid is IPv4-only, and the kernel adds
    /// link-local routes seconds after an interface comes up (when duplicate address detection ends).
    static func snapshot(_ lab: Lab) throws -> KernelSnapshot {
        var snapshot = try lab.routerSnapshot()
        snapshot.routes = snapshot.routes.split(separator: "\n").filter { !$0.contains(":") }.joined(separator: "\n")
        return snapshot
    }

    /// A snapshot taken twice in a row with the same result: the daemon has finished its start.
    static func settledSnapshot(_ lab: Lab) async throws -> KernelSnapshot {
        var previous = try snapshot(lab)
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(300))
            let current = try snapshot(lab)
            if current == previous { return current }
            previous = current
        }
        throw LabError("the router's kernel state never settled after `braid run` started")
    }

    // MARK: - Running one fault

    typealias Injection = (KernelFaultSuite, inout [String]) async throws -> Bool

    struct Fault {
        var letter: String
        var name: String
        /// Injects the fault and runs its own checks; false when a check failed (reasons in notes).
        var inject: Injection
    }

    func run(_ fault: Fault) async -> Outcome {
        var notes: [String] = []
        var outcome = Outcome(
            letter: fault.letter, name: fault.name, injected: false, recovered: false, recoveryTime: nil,
            flowsOpened: 0, flowsLost: 0, notes: [])
        var flows: [(flow: LongLivedFlow, wan: String)] = []
        do {
            flows = try await openFlowsOnEveryWan()
            outcome.flowsOpened = flows.count
            let injectedAt = ContinuousClock.now
            let daemonBefore = daemon, logBefore = daemon.log.count
            outcome.injected = true
            let checksPassed = try await fault.inject(self, &notes)
            let converged = try await waitForReference(since: injectedAt, notes: &notes)
            // What the daemon said about it: repairs, flushes, verdicts, errors.
            let said = (daemon === daemonBefore ? Array(daemon.log.dropFirst(logBefore)) : daemon.log).map(\.text)
                .filter { line in
                    ["repaired", "flushed", "is down", "error", "warning", "adopted"].contains { line.contains($0) }
                }
            for line in said.prefix(4) { notes.append("daemon: " + String(line.prefix(220))) }
            outcome.recoveryTime = converged
            var recovered = checksPassed && converged != nil
            if !daemon.isRunning {
                notes.append(
                    "the daemon is not running:\n\(daemon.logText.split(separator: "\n").suffix(5).joined(separator: "\n"))")
                recovered = false
            }
            let answers = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30)
            let failed = answers.filter { $0.hasPrefix("failed") }
            if !failed.isEmpty {
                notes.append("\(failed.count) of 30 new connections failed (\(failed[0]))")
                recovered = false
            }
            outcome.recovered = recovered
        } catch {
            notes.append("harness error: \(error)")
        }
        outcome.flowsLost = await lostFlows(flows, notes: &notes)
        outcome.notes = notes
        return outcome
    }

    /// Opens long-lived flows from the LAN host until every WAN carries at least one (the split is
    /// random, so a fixed number could miss a WAN).
    func openFlowsOnEveryWan() async throws -> [(flow: LongLivedFlow, wan: String)] {
        var flows: [(flow: LongLivedFlow, wan: String)] = []
        while flows.count < 30 {
            let flow = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.05)
            let wan = lab.wan(forPeer: await flow.firstAnswer() ?? "")?.name ?? "none"
            flows.append((flow, wan))
            if Set(flows.map(\.wan)).isSuperset(of: lab.wans.map(\.name)) && flows.count >= 6 { break }
        }
        return flows
    }

    /// Flows that failed, or stopped answering, since they were opened. Every WAN is healthy
    /// during these faults, so each counts as a connection lost on a healthy WAN.
    func lostFlows(_ flows: [(flow: LongLivedFlow, wan: String)], notes: inout [String]) async -> Int {
        let before = flows.map { $0.flow.answersSoFar.count }
        try? await Task.sleep(for: .milliseconds(500))
        var lost: [String] = []
        for (index, entry) in flows.enumerated() {
            let answers = entry.flow.stop()
            let broken =
                answers.contains { $0.hasPrefix("failed") } || answers.count <= before[index]
                || answers.contains { lab.wan(forPeer: $0)?.name != entry.wan }
            if broken { lost.append("\(entry.wan): \(answers.last ?? "no answer")") }
        }
        if !lost.isEmpty { notes.append("flows lost: \(lost.joined(separator: "; "))") }
        return lost.count
    }

    /// Polls the router until its state equals the healthy reference; the time since the fault.
    func waitForReference(since start: ContinuousClock.Instant, notes: inout [String]) async throws -> Duration? {
        var last = try Self.snapshot(lab)
        while ContinuousClock.now - start < Self.recoveryDeadline {
            if last == reference { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(50))
            last = try Self.snapshot(lab)
        }
        if last == reference { return ContinuousClock.now - start }
        notes.append("not back to the reference after \(Self.recoveryDeadline):\n" + Self.lineDifferences(last, reference))
        return nil
    }

    /// The lines each part of the snapshot gained (+) or lost (-) against the reference.
    static func lineDifferences(_ current: KernelSnapshot, _ reference: KernelSnapshot, limit: Int = 12) -> String {
        var out: [String] = []
        for (name, now, then) in [
            ("ruleset", current.ruleset, reference.ruleset), ("rules", current.rules, reference.rules),
            ("routes", current.routes, reference.routes), ("sysctls", current.sysctls, reference.sysctls),
        ] where now != then {
            let nowLines = now.split(separator: "\n").map(String.init), thenLines = then.split(separator: "\n").map(String.init)
            let lost = thenLines.filter { !nowLines.contains($0) }, gained = nowLines.filter { !thenLines.contains($0) }
            out.append(
                "\(name): \(lost.count) line(s) missing, \(gained.count) extra"
                    + (lost.isEmpty && gained.isEmpty ? " (same lines, other order)" : ""))
            out += lost.prefix(limit).map { "  - \($0.trimmingCharacters(in: .whitespaces))" }
            out += gained.prefix(limit).map { "  + \($0.trimmingCharacters(in: .whitespaces))" }
        }
        return out.joined(separator: "\n")
    }

    // MARK: - Helpers the faults use

    func braidCommand(_ arguments: [String], timeout: Duration = .seconds(30)) throws -> TimedCommandResult {
        try TimedCommand.run(["ip", "netns", "exec", lab.router.name, braid] + arguments, timeout: timeout)
    }

    func apply(_ path: String) throws -> TimedCommandResult {
        try braidCommand(["apply", "-c", path, "--state-dir", lab.stateDirectory])
    }

    /// `braid status --json`: its result, and whether it found the daemon.
    func status() throws -> (result: TimedCommandResult, daemonFound: Bool) {
        let result = try braidCommand(["status", "-c", configPath, "--json", "--state-dir", lab.stateDirectory])
        struct Report: Decodable { var daemon: Daemon? }
        struct Daemon: Decodable { var pid: Int32 }
        let report = try? JSONDecoder().decode(Report.self, from: Data(result.output))
        return (result, report?.daemon != nil)
    }

    /// A config other than the running one: other weights, and a 20,000-entry set so that its nft
    /// transaction takes long enough to be interrupted.
    func otherConfig(weights: [Int], file: String) throws -> String {
        let entries = (0..<20_000).map { "10.\(100 + $0 / 65536).\(($0 / 256) % 256).\($0 % 256)" }.joined(separator: "\n")
        _ = try lab.writeFile("\(file).set", entries + "\n")
        let yaml =
            lab.configYAML(weights: weights, extraWanKeys: ["health": Self.health])
            + "sets:\n  big: { file: \(file).set }\nrules:\n  - name: big\n    destination_set: big\n    use: [isp3, balance]\n"
        return try lab.writeFile("\(file).yaml", yaml)
    }

    func restartDaemon() async throws -> LabDaemon {
        daemon.kill9()
        daemon = try await Self.startDaemon(lab: lab, braid: braid, configPath: configPath)
        return daemon
    }

    // MARK: - The faults

    static var all: [Fault] {
        [
            Fault(letter: "a", name: "nft flush ruleset") { suite, _ in
                try suite.lab.router.run(["nft", "flush", "ruleset"])
                return true
            },
            Fault(letter: "b", name: "delete all of Braid's ip rules") { suite, notes in
                let priorities = try suite.braidRulePriorities()
                guard !priorities.isEmpty else {
                    notes.append("no protocol-213 ip rules found to delete")
                    return false
                }
                try suite.lab.router.ip(priorities.map { ["rule", "del", "priority", "\($0)"] })
                notes.append(
                    "deleted \(priorities.count) rules (priorities \(priorities.map(String.init).joined(separator: ",")))")
                return true
            },
            Fault(letter: "c", name: "delete a WAN's default route in its table") { suite, notes in
                let table = try suite.routeTable(of: suite.lab.wans[1])
                try suite.lab.router.ip([["route", "del", "default", "table", table]])
                notes.append("deleted the default route of table \(table) (isp2)")
                return true
            },
            Fault(letter: "d", name: "SIGKILL `braid apply` of another config during its nft load; re-apply") { suite, notes in
                try await suite.killApplyDuringNftLoad(notes: &notes)
            },
            Fault(letter: "e", name: "two `braid apply` at once, then re-apply") { suite, notes in
                let first = try suite.otherConfig(weights: [3, 1, 1], file: "concurrent1")
                let second = try suite.otherConfig(weights: [1, 1, 3], file: "concurrent2")
                async let one = Task.detached { try suite.apply(first) }.value
                async let two = Task.detached { try suite.apply(second) }.value
                let results = try await [one, two]
                var passed = true
                let waited = results.filter { $0.text.contains("waiting for") }.count
                notes.append(waited > 0 ? "one apply waited for the other's lock" : "neither apply reported waiting for the lock")
                for (index, result) in results.enumerated() where result.ending != .exited(0) {
                    notes.append("concurrent apply \(index + 1): \(result.endingDescription): \(BadInputSuite.excerpt(result))")
                    passed = false
                }
                let again = try suite.apply(suite.configPath)
                if again.ending != .exited(0) {
                    notes.append("re-apply of the running config: \(again.endingDescription): \(BadInputSuite.excerpt(again))")
                    passed = false
                }
                return passed
            },
            Fault(letter: "f", name: "garbage state.json, then SIGHUP; `braid status` must work") { suite, notes in
                let path = suite.lab.stateDirectory + "/state.json"
                try Data("{\"wans\": [\u{1b}[31m garbage \u{0}".utf8 + (0..<512).map { UInt8($0 % 256) }).write(
                    to: URL(fileURLWithPath: path))
                let skip = suite.daemon.log.count
                suite.daemon.signal(SIGHUP)
                try await suite.daemon.waitForLog("SIGHUP", after: skip, timeout: .seconds(10))
                let (result, found) = try suite.status()
                guard result.ending == .exited(0), found else {
                    notes.append(
                        "braid status: \(result.endingDescription), daemon found: \(found): \(BadInputSuite.excerpt(result))")
                    return false
                }
                return true
            },
            Fault(letter: "g", name: "rm -rf the state directory; `braid status` finds the daemon again") { suite, notes in
                try FileManager.default.removeItem(atPath: suite.lab.stateDirectory)
                let removedAt = ContinuousClock.now
                // Within the resync interval (1 s), with slack for a loaded machine.
                while ContinuousClock.now - removedAt < .seconds(5) {
                    let (result, found) = try suite.status()
                    if result.ending == .exited(0) && found {
                        notes.append("status found the daemon after \(KernelFaultSuite.format(ContinuousClock.now - removedAt))")
                        return true
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let (result, _) = try suite.status()
                notes.append(
                    "braid status did not find the daemon within 5 s: \(result.endingDescription): \(BadInputSuite.excerpt(result))"
                )
                return false
            },
            Fault(letter: "h", name: "SIGKILL the daemon and restart it") { suite, notes in
                let daemon = try await suite.restartDaemon()
                try await Task.sleep(for: .milliseconds(300))
                guard daemon.logText.contains("adopted the installed Braid state unchanged") else {
                    notes.append(
                        "the restarted daemon did not adopt unchanged:\n\(daemon.logText.split(separator: "\n").prefix(6).joined(separator: "\n"))"
                    )
                    return false
                }
                return true
            },
            Fault(letter: "i", name: "a second `braid run` on the same state directory") { suite, notes in
                let before = try KernelFaultSuite.snapshot(suite.lab)
                let second = try LabDaemon(
                    lab: suite.lab, binary: suite.braid, configPath: suite.configPath,
                    extraArguments: ["--resync-interval", KernelFaultSuite.resyncInterval])
                let started = ContinuousClock.now
                while second.isRunning && ContinuousClock.now - started < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                var passed = true
                if second.isRunning {
                    notes.append("the second daemon was still running after 10 s")
                    second.kill9()
                    passed = false
                } else {
                    let status = await second.stop()
                    let message = second.logText.split(separator: "\n").last.map(String.init) ?? ""
                    notes.append("second daemon: exit \(status): \(message.prefix(160))")
                    if status == 0 || message.isEmpty { passed = false }
                }
                if try KernelFaultSuite.snapshot(suite.lab) != before {
                    notes.append("the second daemon changed the kernel")
                    passed = false
                }
                return passed
            },
            Fault(letter: "j", name: "SIGHUP with an invalid config") { suite, notes in
                let invalid = suite.configText.replacingOccurrences(of: "weight: 1", with: "weight: heavy")
                try invalid.write(toFile: suite.configPath, atomically: true, encoding: .utf8)
                defer { try? suite.configText.write(toFile: suite.configPath, atomically: true, encoding: .utf8) }
                let skip = suite.daemon.log.count
                suite.daemon.signal(SIGHUP)
                do {
                    try await suite.daemon.waitForLog("invalid", after: skip, timeout: .seconds(10))
                } catch {
                    notes.append("the daemon did not log that the new config is invalid")
                    return false
                }
                try await Task.sleep(for: .milliseconds(300))
                return suite.daemon.isRunning
            },
        ]
    }

    /// Priorities of the ip rules Braid installed (protocol 213).
    func braidRulePriorities() throws -> [Int] {
        let json = try lab.router.run(["ip", "-j", "-N", "rule", "show"])
        guard let rules = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return [] }
        return rules.compactMap { rule -> Int? in
            let proto = rule["protocol"].map { "\($0)" }
            guard proto == "213" else { return nil }
            return rule["priority"] as? Int
        }
    }

    /// The routing table Braid gave a WAN: the table whose default route leaves by its interface.
    func routeTable(of wan: LabWan) throws -> String {
        let json = try lab.router.run(["ip", "-j", "-N", "route", "show", "table", "all", "dev", wan.routerInterface])
        let routes = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
        for route in routes where route["dst"] as? String == "default" {
            if let table = route["table"] { return "\(table)" }
        }
        throw LabError("no default route via \(wan.routerInterface) in any table")
    }

    func killApplyDuringNftLoad(notes: inout [String]) async throws -> Bool {
        let other = try otherConfig(weights: [5, 3, 2], file: "killed")
        let child = try ChildProcess(
            executable: TimedCommand.executablePath("ip"),
            arguments: ["ip", "netns", "exec", lab.router.name, braid, "apply", "-c", other, "--state-dir", lab.stateDirectory],
            mergeError: true)
        RunningChildren.add(child.pid)
        defer { RunningChildren.remove(child.pid) }
        let drain = Thread { _ = ChildProcess.readAll(child.outputDescriptor) }
        drain.start()
        let started = ContinuousClock.now
        var nftPid: Int32?
        while child.isRunning && ContinuousClock.now - started < .seconds(20) {
            // The nft run that loads the transaction (`nft -f -`), not the ones that read state first.
            if let nft = childProcesses(of: child.pid).first(where: { $0.name == "nft" && $0.arguments.contains("-f") }) {
                nftPid = nft.pid
                break
            }
            usleep(500)
        }
        let delay = Int.random(in: 0...40)
        usleep(UInt32(delay) * 1000)
        let stillRunning = child.isRunning
        child.signal(SIGKILL)
        let status = child.wait()
        notes.append(
            nftPid == nil
                ? "apply ended before any nft child was seen (exit \(status))"
                : "killed apply \(delay) ms after its nft child \(nftPid!) started\(stillRunning ? "" : " (it had already exited)")"
        )
        if let nftPid {
            let orphanDeadline = ContinuousClock.now + .seconds(10)
            while processExists(nftPid) && ContinuousClock.now < orphanDeadline { try await Task.sleep(for: .milliseconds(10)) }
        }
        let afterKill = try Self.snapshot(lab)
        notes.append(
            afterKill == reference
                ? "after the kill the kernel was still the reference"
                : "after the kill the kernel differed from the reference in: "
                    + Self.lineDifferences(afterKill, reference, limit: 0).split(separator: "\n").map {
                        $0.split(separator: ":")[0]
                    }.joined(separator: ", "))
        let again = try apply(configPath)
        guard again.ending == .exited(0) else {
            notes.append("re-apply of the running config: \(again.endingDescription): \(BadInputSuite.excerpt(again))")
            return false
        }
        return true
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.2f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
