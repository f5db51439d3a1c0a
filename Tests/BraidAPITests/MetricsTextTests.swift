import BraidConfig
import BraidDaemon
import BraidKernel
import Foundation
import Testing

@testable import BraidAPI

@Suite struct MetricsTextTests {
    static let config = try! ConfigLoader.parse(
        """
        lan: { interfaces: [lan0] }
        wans:
          - { name: isp1, interface: wan1, gateway: 192.0.2.1, weight: 70, health: { targets: [203.0.113.1] } }
          - { name: isp2, interface: wan2, gateway: auto, weight: 30 }
        """)

    static func status(_ first: WanState) throws -> DaemonStatus {
        let json = """
            {"pid": 9, "configPath": "/etc/braid/braid.yaml", "startedAt": 0, "wans": [
              {"state": "\(first.rawValue)", "name": "isp1", "since": 0, "reason": "r", "gateway": "192.0.2.1", "targets": [
                {"address": "203.0.113.1", "lastRTTMilliseconds": 12.5, "loss": 0.25}]},
              {"state": "up", "name": "isp2", "since": 0, "reason": "r", "gateway": "198.51.100.77", "targets": []}]}
            """
        return try JSONDecoder().decode(DaemonStatus.self, from: Data(json.utf8))
    }

    static func render(_ first: WanState = .down, telemetry: PrometheusTelemetry = PrometheusTelemetry()) throws -> String {
        let sample = KernelSample(
            counters: [
                "rx_isp1": TrafficCounter(packets: 10, bytes: 1500), "tx_isp1": TrafficCounter(packets: 11, bytes: 1600),
                "rx_isp2": TrafficCounter(packets: 1, bytes: 64), "tx_isp2": TrafficCounter(packets: 2, bytes: 128),
            ],
            connectionsByMark: [0x0100_0000: 7, 0x0200_0000: 3, 0: 99])
        return MetricsText.render(
            .init(
                config: config, status: try status(first), marks: ["isp1": 0x0100_0000, "isp2": 0x0200_0000],
                shares: ["isp1": 0, "isp2": 1], sample: sample),
            registry: telemetry.registry.emitToString())
    }

    @Test func theGaugesShowStateConnectionsAndCountersPerWan() throws {
        let text = try Self.render()
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"braid_wan_up{wan="isp1"} 0"#, #"braid_wan_up{wan="isp2"} 1"#,
            #"braid_wan_state{wan="isp1",state="down"} 1"#, #"braid_wan_state{wan="isp1",state="up"} 0"#,
            #"braid_wan_state{wan="isp1",state="drained"} 0"#,
            #"braid_wan_info{wan="isp1",interface="wan1",gateway="192.0.2.1"} 1"#,
            // `gateway: auto`: the one the daemon learned, not the word "auto".
            #"braid_wan_info{wan="isp2",interface="wan2",gateway="198.51.100.77"} 1"#, #"braid_wan_weight{wan="isp1"} 70"#,
            #"braid_wan_share_ratio{wan="isp2"} 1"#, #"braid_wan_connections{wan="isp1"} 7"#,
            #"braid_wan_connections{wan="isp2"} 3"#, #"braid_wan_bytes_total{wan="isp1",direction="rx"} 1500"#,
            #"braid_wan_packets_total{wan="isp2",direction="tx"} 2"#,
            #"braid_probe_loss_ratio{wan="isp1",target="203.0.113.1"} 0.25"#,
            "# TYPE braid_wan_bytes_total counter", "# TYPE braid_wan_state gauge",
        ] {
            #expect(lines.contains(expected), "missing \(expected) in:\n\(text)")
        }
        // Every family has one HELP and one TYPE line, and every sample line belongs to a declared family.
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(types).count == types.count, "a TYPE line repeats")
    }

    @Test func theRegistryAddsCountersAndHistogramsInSeconds() throws {
        let telemetry = PrometheusTelemetry()
        telemetry.probed(wan: "isp1", target: "203.0.113.1", rtt: .milliseconds(12))
        telemetry.probed(wan: "isp1", target: "203.0.113.1", rtt: nil)
        telemetry.failoverDetected(after: .milliseconds(450))
        telemetry.applied(duration: .milliseconds(3), succeeded: true)
        telemetry.applied(duration: .milliseconds(3), succeeded: false)
        telemetry.transitioned(wan: "isp1", to: .down)
        telemetry.repaired(count: 2)
        telemetry.hookRan(.timeout)
        let text = try Self.render(telemetry: telemetry)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"braid_probe_rtt_seconds_bucket{wan="isp1",target="203.0.113.1",le="0.02"} 1"#,
            #"braid_probe_rtt_seconds_count{wan="isp1",target="203.0.113.1"} 1"#,
            #"braid_failover_detection_seconds_bucket{le="0.5"} 1"#, #"braid_failover_detection_seconds_bucket{le="0.25"} 0"#,
            #"braid_apply_total{result="ok"} 1"#, #"braid_apply_total{result="error"} 1"#,
            #"braid_apply_duration_seconds_count 2"#, #"braid_wan_transitions_total{wan="isp1",to="down"} 1"#,
            "braid_resync_repairs_total 2", #"braid_hook_runs_total{result="timeout"} 1"#,
            #"braid_hook_runs_total{result="success"} 0"#,
        ] {
            #expect(lines.contains(expected), "missing \(expected) in:\n\(text)")
        }
        #expect(telemetry.rttHistory(wan: "isp1", target: "203.0.113.1") == [12, nil])
    }

    @Test func promtoolAcceptsTheText() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            Issue.record("promtool is not installed (apt-get install prometheus)")
            return
        }
        let telemetry = PrometheusTelemetry()
        telemetry.probed(wan: "isp1", target: "203.0.113.1", rtt: .milliseconds(12))
        telemetry.failoverDetected(after: .milliseconds(450))
        telemetry.applied(duration: .milliseconds(3), succeeded: true)
        telemetry.transitioned(wan: "isp1", to: .down)
        let result = try Promtool.check(try Self.render(telemetry: telemetry))
        #expect(result.status == 0, "promtool check metrics: \(result.output)")
    }

    @Test func labelValuesAreEscaped() {
        #expect(MetricsText.labelText([("a", "x\"y\\z\nw")]) == #"{a="x\"y\\z\nw"}"#)
    }
}

/// `promtool check metrics` on a text, through stdin.
enum Promtool {
    static func check(_ text: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
