import BraidConfig
import BraidDaemon
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// `braid run`'s HTTP API, metrics, events, event hooks and drain, on a real daemon in the lab.
    @Suite struct Observe {
        static let health = "{ targets: [\(Lab.serverAddress)] }"
        static let token = "lab-token-0123456789abcdef"

        /// An HTTP answer from the API, called with curl from inside the router's namespace.
        struct Answer {
            var status: Int
            var body: String
            var headers: String
        }

        static func call(
            _ lab: Lab, _ method: String, _ path: String, token: String? = nil, body: String? = nil
        ) throws -> Answer {
            let headerFile = try lab.writeFile("curl-headers-\(UUID().uuidString)", "")
            var arguments = ["curl", "-s", "-S", "--max-time", "10", "-X", method, "-D", headerFile, "-w", "\n%{http_code}"]
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            if let body { arguments += ["--data-binary", body] }
            arguments.append("http://127.0.0.1:9180\(path)")
            let result = try lab.router.runner.run(arguments)
            guard result.status == 0 else { throw LabError("curl \(path) failed: \(result.standardError)") }
            var lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
            let status = Int(lines.removeLast()) ?? 0
            return Answer(
                status: status, body: lines.joined(separator: "\n"),
                headers: (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "")
        }

        static func config(_ lab: Lab, hooks: String? = nil) throws -> String {
            let tokenFile = try lab.writeFile("api.token", Self.token + "\n")
            chmod(tokenFile, 0o600)
            var yaml = lab.configYAML(extraWanKeys: ["health": Self.health]) + "api:\n  token_file: \(tokenFile)\n"
            if let hooks { yaml += "hooks:\n  directory: \(hooks)\n  timeout: 5s\n" }
            return yaml
        }

        static func startDaemon(_ lab: Lab, yaml: String) async throws -> LabDaemon {
            let path = try lab.writeFile("braid.yaml", yaml)
            let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
            try await daemon.waitForLog("HTTP API listening", timeout: .seconds(15))
            return daemon
        }

        @Test("Metrics pass promtool; status and events are JSON; the dashboard needs nothing from outside")
        func readEndpoints() async throws {
            try await Lab.with(wanCount: 2, name: "api") { lab in
                let daemon = try await Self.startDaemon(lab, yaml: try Self.config(lab))
                try await lab.waitForWan("isp1", .up)
                try await lab.waitForWan("isp2", .up)
                _ = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 10)

                let metrics = try Self.call(lab, "GET", "/metrics")
                #expect(metrics.status == 200)
                #expect(metrics.headers.lowercased().contains("content-type: text/plain; version=0.0.4"))
                let check = try lab.router.runner.run(["promtool", "check", "metrics"], input: metrics.body)
                #expect(check.status == 0, "promtool: \(check.standardOutput)\(check.standardError)\n\(metrics.body)")
                for name in [
                    #"braid_wan_up{wan="isp1"} 1"#, #"braid_wan_state{wan="isp2",state="up"} 1"#,
                    #"braid_wan_info{wan="isp1",interface="\#(lab.wans[0].routerInterface)",gateway="100.64.1.1"} 1"#,
                    #"braid_wan_weight{wan="isp1"} 1"#, #"braid_wan_share_ratio{wan="isp1"} 0.5"#,
                    "braid_probe_rtt_seconds_bucket{", "braid_apply_total{result=\"ok\"}", "braid_apply_duration_seconds_count",
                    "braid_resync_repairs_total", "braid_hook_runs_total{result=\"success\"} 0",
                    "braid_failover_detection_seconds_count 0",
                    #"braid_wan_bytes_total{wan="isp1",direction="tx"}"#, #"braid_wan_packets_total{wan="isp2",direction="rx"}"#,
                    #"braid_probe_loss_ratio{wan="isp1",target="\#(Lab.serverAddress)"} 0"#,
                ] {
                    #expect(metrics.body.contains(name), "missing \(name):\n\(metrics.body)")
                }
                let connections = metrics.body.split(separator: "\n").filter { $0.hasPrefix("braid_wan_connections{") }
                #expect(connections.count == 2, "\(connections)")
                #expect(connections.compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +) >= 10)

                let status = try Self.call(lab, "GET", "/api/v1/status")
                #expect(status.status == 200)
                struct Report: Decodable {
                    struct Wan: Decodable { var name: String; var share: Double; var mark: String }
                    struct Daemon: Decodable { var wans: [DaemonWan] }
                    struct DaemonWan: Decodable { var name: String; var state: String }
                    var installed: Bool
                    var wans: [Wan]
                    var daemon: Daemon?
                }
                let report = try JSONDecoder().decode(Report.self, from: Data(status.body.utf8))
                #expect(report.installed && report.wans.map(\.share) == [0.5, 0.5])
                #expect(report.daemon?.wans.map(\.state) == ["up", "up"])
                // `braid status --json` prints the same document, without -c (the daemon says which config it runs).
                let cli = try lab.runBraid(try BraidExecutable.path, ["status", "--json", "--state-dir", lab.stateDirectory])
                #expect(cli.status == 0, "\(cli.standardError)")
                let fromCLI = try JSONDecoder().decode(Report.self, from: Data(cli.standardOutput.utf8))
                #expect(fromCLI.wans.map(\.mark) == report.wans.map(\.mark) && fromCLI.wans.map(\.share) == [0.5, 0.5])

                let events = try Self.call(lab, "GET", "/api/v1/events")
                #expect(events.status == 200)
                let list = try GatewayEventRecord.decoder.decode([GatewayEventRecord].self, from: Data(events.body.utf8))
                #expect(list.contains { $0.kind == .state && $0.wan == "isp1" && $0.to == "up" }, "\(events.body)")

                let page = try Self.call(lab, "GET", "/")
                #expect(page.status == 200 && page.body.contains("<title>Braid</title>"))
                #expect(!page.body.contains("src=\"http") && !page.body.contains("href=\"http") && !page.body.contains("@import"))
                for answer in [metrics, status, events, page] {
                    #expect(!answer.headers.lowercased().contains("access-control-"), "no CORS headers: \(answer.headers)")
                }
                #expect(await daemon.stop() == 0)
            }
        }

        @Test(
            "Drain and undrain need the token; a drained WAN gets no new connections, keeps its open ones and stays drained across a restart"
        )
        func drainAndUndrain() async throws {
            try await Lab.with(wanCount: 2, name: "drain") { lab in
                let yaml = try Self.config(lab)
                var daemon = try await Self.startDaemon(lab, yaml: yaml)
                try await lab.waitForWan("isp1", .up)
                try await lab.waitForWan("isp2", .up)
                // Open flows until one runs through isp1: the connection a drain must not cut.
                var flows: [LongLivedFlow] = []
                var onIsp1: LongLivedFlow?
                for _ in 0..<20 where onIsp1 == nil {
                    let flow = try await LongLivedFlow(from: lab.lanHosts[0], interval: 0.05)
                    flows.append(flow)
                    if let answer = await flow.firstAnswer(), lab.wan(forPeer: answer)?.name == "isp1" { onIsp1 = flow }
                }
                let kept = try #require(onIsp1, "no flow went through isp1")

                #expect(try Self.call(lab, "POST", "/api/v1/wans/isp1/drain").status == 401)
                #expect(try Self.call(lab, "POST", "/api/v1/wans/isp1/drain", token: "wrong-token-0123456789").status == 401)
                #expect(lab.daemonStatus()?.wans.first { $0.name == "isp1" }?.state == .up, "a refused call changed nothing")
                #expect(try Self.call(lab, "POST", "/api/v1/wans/nope/drain", token: Self.token).status == 404)
                let tooLarge = try Self.call(
                    lab, "POST", "/api/v1/wans/isp1/drain", token: Self.token, body: String(repeating: "x", count: 4096))
                #expect(tooLarge.status == 413, "\(tooLarge.status) \(tooLarge.body)")
                #expect(lab.daemonStatus()?.wans.first { $0.name == "isp1" }?.state == .up)

                let drained = try lab.runBraid(try BraidExecutable.path, ["drain", "isp1", "--state-dir", lab.stateDirectory])
                #expect(drained.status == 0, "\(drained.standardError)")
                try await lab.waitForWan("isp1", .drained, timeout: .seconds(2))
                let before = kept.answersSoFar.count
                let fresh = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 40)
                #expect(lab.countByWan(fresh) == ["isp2": 40], "new connections avoid a drained WAN")
                try await Task.sleep(for: .milliseconds(300))
                let after = kept.answersSoFar.dropFirst(before)
                #expect(after.count >= 3 && after.allSatisfy { lab.wan(forPeer: $0)?.name == "isp1" }, "\(Array(after))")

                #expect(await daemon.stop() == 0)
                daemon = try await Self.startDaemon(lab, yaml: yaml)
                try await lab.waitForWan("isp1", .drained, timeout: .seconds(5))
                let again = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 20)
                #expect(lab.countByWan(again) == ["isp2": 20], "still drained after the restart")
                let events = try lab.runBraid(try BraidExecutable.path, ["events", "--state-dir", lab.stateDirectory])
                #expect(events.status == 0 && events.standardOutput.contains("drain  isp1"), "\(events.standardOutput)")

                let undrained = try Self.call(lab, "POST", "/api/v1/wans/isp1/undrain", token: Self.token)
                #expect(undrained.status == 200, "\(undrained.body)")
                try await lab.waitForWan("isp1", .up, timeout: .seconds(5))
                let reload = try Self.call(lab, "POST", "/api/v1/reload", token: Self.token)
                #expect(reload.status == 200)
                try await daemon.waitForLog("config reloaded")
                for flow in flows { _ = flow.stop() }
                #expect(await daemon.stop() == 0)
            }
        }

        @Test("An event hook runs on a real failover with the event on stdin and in BRAID_* variables")
        func hookRunsOnFailover() async throws {
            try await Lab.with(wanCount: 2, name: "hook") { lab in
                let output = try lab.writeFile("hook-output", "")
                let hooks = (output as NSString).deletingLastPathComponent + "/hooks.d"
                try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
                let script = hooks + "/50-record"
                try """
                #!/bin/sh
                [ "$BRAID_EVENT" = state ] || exit 0
                { env | grep '^BRAID_' | sort; cat; echo; echo ---; } >> \(output)
                """.write(toFile: script, atomically: true, encoding: .utf8)
                chmod(script, 0o755)
                let daemon = try await Self.startDaemon(lab, yaml: try Self.config(lab, hooks: hooks))
                try await lab.waitForWan("isp1", .up)
                try await lab.waitForWan("isp2", .up)
                try lab.cutUpstream(lab.wans[0])
                try await lab.waitForWan("isp1", .down)
                let deadline = ContinuousClock.now + .seconds(5)
                var text = ""
                while ContinuousClock.now < deadline {
                    text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                    // The hook appends its record piece by piece: wait for the `---` that ends it.
                    if text.components(separatedBy: "---").dropLast().contains(where: { $0.contains("BRAID_STATE=down") }) { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let record = try #require(
                    text.components(separatedBy: "---").first { $0.contains("BRAID_STATE=down") }, "the hook did not run: \(text)"
                )
                for line in [
                    "BRAID_EVENT=state", "BRAID_WAN=isp1", "BRAID_PREVIOUS_STATE=up", "BRAID_USABLE_WANS=isp2",
                    "BRAID_INTERFACE=\(lab.wans[0].routerInterface)", "BRAID_GATEWAY=100.64.1.1",
                ] {
                    #expect(record.contains(line + "\n"), "missing \(line) in\n\(record)")
                }
                let json = try #require(record.split(separator: "\n").first { $0.hasPrefix("{") })
                let event = try GatewayEventRecord.decoder.decode(GatewayEventRecord.self, from: Data(json.utf8))
                #expect(event.to == "down" && (event.detectionSeconds ?? 0) > 0, "\(json)")
                let metrics = try Self.call(lab, "GET", "/metrics").body
                #expect(metrics.contains("braid_failover_detection_seconds_count 1"), "\(metrics)")
                #expect(metrics.contains(#"braid_wan_transitions_total{wan="isp1",to="down"} 1"#))
                #expect(!metrics.contains(#"braid_hook_runs_total{result="success"} 0"#), "the hook runs were counted")
                #expect(await daemon.stop() == 0)
            }
        }
    }
}
