import BraidConfig
import BraidDaemon
import Foundation
import Logging
import Synchronization
import Testing

/// The hook runner with real programs (shell scripts in a temporary hooks.d).
@Suite struct EventHookRunnerTests {
    final class Results: Sendable {
        let counts = Mutex<[HookRunResult: Int]>([:])
        func add(_ result: HookRunResult) { counts.withLock { $0[result, default: 0] += 1 } }
        subscript(_ result: HookRunResult) -> Int { counts.withLock { $0[result] ?? 0 } }
    }

    static func directory(_ scripts: [String: String]) throws -> String {
        let directory = NSTemporaryDirectory() + "braid-hooks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, body) in scripts {
            let path = directory + "/" + name
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }
        return directory
    }

    static func runner(
        _ directory: String, timeout: Duration = .seconds(5), log: RecordedLog, results: Results
    ) -> EventHookRunner {
        EventHookRunner(
            settings: { EventHookConfig(directory: directory, timeout: timeout) },
            logger: Logger(label: "test") { _ in RecordedLog.Handler(log: log) }, finished: { results.add($0) })
    }

    static let event = GatewayEventRecord(
        id: 42, kind: .state, wan: "isp1", interface: "wan1", from: "up", to: "down", reason: "3 failed rounds",
        detectionSeconds: 0.4, gateway: "192.0.2.1", usableWans: ["isp2", "isp3"])

    @Test func hooksRunInLexicalOrderWithTheEventOnStdinAndInTheEnvironment() throws {
        let out = NSTemporaryDirectory() + "braid-hook-out-\(UUID().uuidString)"
        let directory = try Self.directory([
            "20-second": "echo second >> \(out)",
            "10-first":
                "echo \"first $BRAID_EVENT $BRAID_EVENT_ID $BRAID_WAN $BRAID_INTERFACE $BRAID_STATE $BRAID_PREVIOUS_STATE $BRAID_GATEWAY [$BRAID_USABLE_WANS] $BRAID_REASON\" >> \(out); cat >> \(out)",
            "9-third": "echo third >> \(out)",
            ".hidden": "echo hidden >> \(out)",
            "30-backup~": "echo backup >> \(out)",
        ])
        FileManager.default.createFile(
            atPath: directory + "/40-not-executable", contents: Data("#!/bin/sh\necho no >> \(out)\n".utf8))
        let log = RecordedLog()
        let results = Results()
        let runner = Self.runner(directory, log: log, results: results)
        runner.handle(Self.event)
        #expect(runner.waitUntilIdle(timeout: .seconds(10)))
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(lines)")
        #expect(lines[0] == "first state 42 isp1 wan1 down up 192.0.2.1 [isp2 isp3] 3 failed rounds")
        let json = try GatewayEventRecord.decoder.decode(GatewayEventRecord.self, from: Data(lines[1].utf8))
        #expect(json.id == 42 && json.detectionSeconds == 0.4)
        // Byte order: "20-second" < "9-third".
        #expect(Array(lines[2...]) == ["second", "third"])
        #expect(results[.success] == 3)
    }

    @Test func aFailingOrHangingHookIsLoggedCountedAndKilledAndTheOthersStillRun() throws {
        let out = NSTemporaryDirectory() + "braid-hook-out-\(UUID().uuidString)"
        let pidFile = out + ".pid"
        let directory = try Self.directory([
            "10-fails": "echo 'no route to the VPN' >&2; exit 3",
            "20-hangs": "sleep 30 & echo $! > \(pidFile); wait",
            "30-runs": "echo ran >> \(out)",
        ])
        let log = RecordedLog()
        let results = Results()
        let runner = Self.runner(directory, timeout: .milliseconds(300), log: log, results: results)
        let started = ContinuousClock.now
        runner.handle(Self.event)
        #expect(runner.waitUntilIdle(timeout: .seconds(10)))
        #expect(ContinuousClock.now - started < .seconds(5), "the hanging hook was killed at its timeout")
        #expect(results[.failure] == 1 && results[.timeout] == 1 && results[.success] == 1)
        #expect(log.text.contains("hook 10-fails failed: exit status 3: no route to the VPN"), "\(log.text)")
        #expect(log.text.contains("hook 20-hangs was killed after 300ms"), "\(log.text)")
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "ran\n")
        // Its process group went with it: the `sleep` it started is gone too.
        let sleeper = try #require(
            Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await_gone(sleeper)
    }

    /// Waits up to 2 s for a process to exit (a killed orphan is reaped by init).
    func await_gone(_ pid: Int32) throws {
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            if kill(pid, 0) != 0 { return }
            usleep(10_000)
        }
        Issue.record("process \(pid) is still running")
    }

    @Test func oneWansEventsRunOneAfterAnotherWhileOtherWansRunAlongside() throws {
        let out = NSTemporaryDirectory() + "braid-hook-out-\(UUID().uuidString)"
        let directory = try Self.directory([
            "10-slow":
                "echo \"start $BRAID_WAN $BRAID_EVENT_ID $(date +%s%N)\" >> \(out); sleep 0.3; echo \"end $BRAID_WAN $BRAID_EVENT_ID $(date +%s%N)\" >> \(out)"
        ])
        let log = RecordedLog()
        let results = Results()
        let runner = Self.runner(directory, log: log, results: results)
        var first = Self.event
        first.id = 1
        var second = Self.event
        second.id = 2
        var other = Self.event
        other.id = 3
        other.wan = "isp2"
        runner.handle(first)
        runner.handle(second)
        runner.handle(other)
        #expect(runner.waitUntilIdle(timeout: .seconds(10)))
        struct Mark { var kind: String; var wan: String; var id: Int; var time: Int }
        let marks = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { line in
            let words = line.split(separator: " ")
            return Mark(kind: String(words[0]), wan: String(words[1]), id: Int(words[2])!, time: Int(words[3])!)
        }
        func time(_ kind: String, _ id: Int) -> Int { marks.first { $0.kind == kind && $0.id == id }!.time }
        #expect(time("start", 2) >= time("end", 1), "isp1's second event waited for its first")
        #expect(time("start", 3) < time("end", 1), "isp2's event did not wait for isp1's")
        #expect(results[.success] == 3)
    }
}
