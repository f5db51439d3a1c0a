import BraidDaemon
import Foundation
import Testing

/// The states `braid status` shows, and which one wins when several apply.
@Suite struct WanStateTests {
    @Test func theStatusJSONUsesTheDocumentedWords() throws {
        #expect(
            WanState.allCases.map(\.rawValue) == [
                "up", "probing", "down", "no_link", "no_address", "no_gateway", "unusable", "held", "drained",
            ])
        let daemon = try DaemonHarness(DaemonHarness.yaml())
        try daemon.start()
        daemon.setLink(1, up: false)
        let json = String(decoding: try JSONEncoder().encode(daemon.status.snapshot), as: UTF8.self)
        #expect(json.contains(#""state":"no_link""#), "\(json)")
        #expect(json.contains(#""state":"up""#), "\(json)")
    }

    @Test func onlyUpAndProbingCarryTraffic() {
        #expect(WanState.allCases.filter(\.carriesTraffic) == [.up, .probing])
    }

    @Test func theLinkCheckWinsOverTheProbesAndTheProbesStillCountAfterwards() throws {
        let daemon = try DaemonHarness(ControlLoopTests.twoWansWithHealth)
        try daemon.start()
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(daemon.state("isp1") == .down)
        daemon.setLink(1, up: false)
        #expect(daemon.state("isp1") == .noLink)
        daemon.setLink(1, up: true)
        #expect(daemon.state("isp1") == .down, "the link is back, the probes have not passed yet")
        #expect(Set(daemon.split.keys) == ["isp2"])
        daemon.rounds("isp1", passing: true, count: 2)
        #expect(daemon.state("isp1") == .up)
    }

    @Test func aProbingWanThatLosesItsLinkIsNoLinkAndProbingAgainWhenItReturns() throws {
        let daemon = try DaemonHarness(ControlLoopTests.twoWansWithHealth)
        try daemon.start()
        daemon.setLink(2, up: false)
        #expect(daemon.state("isp2") == .noLink)
        daemon.setLink(2, up: true)
        #expect(daemon.state("isp2") == .probing)
        #expect(daemon.split == ["isp1": 7, "isp2": 3])
    }
}
