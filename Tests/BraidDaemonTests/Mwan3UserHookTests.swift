import BraidConfig
import BraidDaemon
import Foundation
import Logging
import Testing

/// `hooks.mwan3_user`: mwan3's user script runs on WAN state changes with mwan3's variables.
@Suite struct Mwan3UserHookTests {
    @Test func stateChangesRunTheScriptWithMwan3sActions() throws {
        let out = NSTemporaryDirectory() + "braid-mwan3-user-\(UUID().uuidString)"
        let directory = try EventHookRunnerTests.directory([:])
        let script = directory + "-mwan3.user"
        try "#!/bin/sh\necho \"$ACTION $INTERFACE $DEVICE\" >> \(out)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: script)
            try? FileManager.default.removeItem(atPath: out)
        }
        let log = RecordedLog()
        let results = EventHookRunnerTests.Results()
        var settings = EventHookConfig(directory: directory, timeout: .seconds(5))
        settings.mwan3User = script
        let runner = EventHookRunner(
            settings: { [settings] in settings }, logger: Logger(label: "test") { _ in RecordedLog.Handler(log: log) },
            finished: { results.add($0) })
        func change(_ from: String?, _ to: String) -> GatewayEventRecord {
            GatewayEventRecord(kind: .state, wan: "isp1", interface: "wan1", from: from, to: to, reason: "test")
        }
        for event in [
            change("up", "down"), change("down", "up"), change("up", "no_link"), change("no_link", "probing"),
            change("probing", "up"),
        ] {
            runner.handle(event)
        }
        // Other events do not run it.
        runner.handle(GatewayEventRecord(kind: .apply, wan: "isp1", interface: "wan1", reason: "applied"))
        #expect(runner.waitUntilIdle(timeout: .seconds(10)))
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "disconnected isp1 wan1", "connected isp1 wan1", "ifdown isp1 wan1", "ifup isp1 wan1", "connected isp1 wan1",
            ])
        #expect(results[.success] == 5)
    }
}
