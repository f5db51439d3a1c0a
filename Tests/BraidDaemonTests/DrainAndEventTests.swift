import BraidConfig
import BraidDaemon
import Foundation
import Testing

/// Drain/undrain through the control loop, and the events it records, on the fake kernel.
@Suite struct DrainAndEventTests {
    static let yaml = DaemonHarness.yaml(weights: [70, 30], wanKeys: ["health": DaemonHarness.health])

    @Test func aDrainedWanLeavesTheSplitWithoutAFlushAndStaysDrainedAcrossARestart() throws {
        let daemon = try DaemonHarness(Self.yaml, withHub: true)
        try daemon.start()
        daemon.rounds("isp1", passing: true)
        daemon.rounds("isp2", passing: true)
        daemon.kernel.update { $0.connectionsByMark[try! #require(daemon.mark("isp1"))] = 12 }

        #expect(daemon.command(.drain(wan: "isp1")) == .done("drained isp1"))
        #expect(daemon.state("isp1") == .drained)
        #expect(Set(daemon.split.keys) == ["isp2"], "new connections avoid a drained WAN")
        #expect(daemon.kernel.flushedMarks.isEmpty, "a drain keeps the open connections")
        #expect(daemon.kernel.snapshot.routes.contains { $0.device == "wan1" }, "its route stays for the open connections")
        #expect(daemon.command(.drain(wan: "isp1")) == .done("isp1 was already drained"))
        #expect(daemon.command(.drain(wan: "nope")) == .unknownWan("nope"))
        // Probe verdicts go on underneath: a passing round does not undrain it.
        daemon.rounds("isp1", passing: true)
        #expect(daemon.state("isp1") == .drained)

        let restarted = try daemon.restarted(Self.yaml)
        try restarted.start()
        #expect(restarted.state("isp1") == .drained, "\(restarted.log.text)")
        #expect(Set(restarted.split.keys) == ["isp2"])

        #expect(restarted.command(.undrain(wan: "isp1")) == .done("undrained isp1"))
        #expect(restarted.state("isp1") != .drained)
        restarted.rounds("isp1", passing: true)
        #expect(restarted.split == ["isp1": 7, "isp2": 3])

        let events = try #require(restarted.hub).events.recent
        let kinds = events.map(\.kind)
        #expect(kinds.contains(.drain) && kinds.contains(.undrain), "\(kinds)")
        let drained = try #require(events.first { $0.kind == .state && $0.to == "drained" })
        #expect(drained.wan == "isp1" && drained.from == "up" && drained.usableWans == ["isp2"])
        // The log of the first daemon is read back by the second: ids go on.
        #expect(events.map(\.id) == Array(events.map(\.id).sorted()))
        #expect(Set(events.map(\.id)).count == events.count)
    }

    @Test func aFailoverIsAnEventWithItsDetectionTime() throws {
        let daemon = try DaemonHarness(Self.yaml, withHub: true)
        try daemon.start()
        daemon.rounds("isp1", passing: true)
        daemon.rounds("isp2", passing: true)
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(daemon.state("isp1") == .down)
        let events = try #require(daemon.hub).events.recent
        let down = try #require(events.last { $0.kind == .state && $0.wan == "isp1" })
        #expect(down.from == "up" && down.to == "down")
        #expect(down.interface == "wan1" && down.gateway == "192.168.1.1")
        #expect(down.usableWans == ["isp2"])
        // Three rounds 100 ms apart, the first failed one starting 100 ms before its report.
        let detection = try #require(down.detectionSeconds)
        #expect(abs(detection - 0.3) < 0.0001, "\(detection)")
        #expect(down.reason.contains("failed rounds"))
        #expect(events.contains { $0.kind == .apply }, "the re-plan is an event too")
    }
}
