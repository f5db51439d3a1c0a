import BraidConfig
import BraidDaemon
import BraidHealth
import BraidKernel
import BraidPlanner
import Foundation
import Testing

/// The control loop against the fake kernel, with a manual clock and scripted probe rounds: what
/// the daemon installs and reports as WANs fail and recover, links drop, the config is reloaded
/// and other programs change the kernel. No root, no sockets, no sleeping.
@Suite struct ControlLoopTests {
    static let twoWansWithHealth = DaemonHarness.yaml(weights: [70, 30], wanKeys: ["health": DaemonHarness.health])

    @Test func aHealthCheckedWanIsProbingUntilItsFirstGoodRound() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        #expect(daemon.state("isp1") == .probing)
        #expect(daemon.status("isp1")?.reason == "starting")
        #expect(daemon.split == ["isp1": 7, "isp2": 3], "a probing WAN carries traffic")
        #expect(daemon.probers.all.map(\.request.wan.name) == ["isp1", "isp2"])
        #expect(daemon.probers.all.allSatisfy { $0.isRunning == true })
        daemon.rounds("isp1", passing: true)
        #expect(daemon.state("isp1") == .up)
        #expect(daemon.state("isp2") == .probing)
    }

    @Test func aWanGoesDownAfterDownAfterFailedRoundsAndComesBackAfterUpAfterGoodOnes() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        daemon.rounds("isp1", passing: true)
        daemon.rounds("isp1", passing: false, count: 2)
        #expect(daemon.state("isp1") == .up, "two failed rounds of three")
        #expect(daemon.split == ["isp1": 7, "isp2": 3])

        daemon.rounds("isp1", passing: false)
        #expect(daemon.state("isp1") == .down, "\(daemon.log.text)")
        #expect(daemon.status("isp1")?.reason.hasPrefix("3 failed rounds in a row") == true)
        #expect(daemon.status("isp1")?.since == daemon.clock.wallNow)
        #expect(Set(daemon.split.keys) == ["isp2"])
        // Its route stays, so connections already on it are not cut by the routing.
        #expect(daemon.kernel.snapshot.routes.contains { $0.device == "wan1" })

        daemon.rounds("isp1", passing: true)
        #expect(daemon.state("isp1") == .down, "one good round of two")
        daemon.rounds("isp1", passing: true)
        #expect(daemon.state("isp1") == .up)
        #expect(daemon.status("isp1")?.reason == "2 good rounds in a row")
        #expect(daemon.split == ["isp1": 7, "isp2": 3])
    }

    @Test func roundsFromBeforeAReloadAreIgnored() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        let old = try #require(daemon.probers.latest("isp1"))
        daemon.send(
            .reload(
                .success(try ConfigLoader.parse(DaemonHarness.yaml(weights: [1, 1], wanKeys: ["health": DaemonHarness.health])))))
        #expect(old.isRunning == false)
        for sequence in 1...3 {
            old.report(ProbeRound(sequence: sequence, startedAt: daemon.clock.now, outcomes: [.failed(reason: "timed out")]))
        }
        daemon.drain()
        #expect(daemon.state("isp1") != .down)
    }

    @Test func aLinkDownTakesTheWanOutAtOnceAndALinkUpBringsItBack() throws {
        let daemon = try DaemonHarness(DaemonHarness.yaml(weights: [70, 30]))
        try daemon.start()
        #expect(daemon.state("isp1") == .up)
        #expect(daemon.status("isp1")?.reason == "no health check: up while its link is up")

        daemon.setLink(1, up: false)
        #expect(daemon.state("isp1") == .noLink)
        #expect(daemon.status("isp1")?.reason == "link down")
        #expect(Set(daemon.split.keys) == ["isp2"])
        #expect(!daemon.kernel.snapshot.routes.contains { $0.device == "wan1" }, "the kernel drops a route whose device is down")

        daemon.setLink(1, up: true)
        #expect(daemon.state("isp1") == .up)
        #expect(daemon.status("isp1")?.reason == "link up")
        #expect(daemon.split == ["isp1": 7, "isp2": 3])
        #expect(daemon.kernel.snapshot.routes.contains { $0.device == "wan1" })
    }

    @Test func aVanishedInterfaceIsNoLinkAndOneWithoutAddressIsNoAddress() throws {
        let daemon = try DaemonHarness(DaemonHarness.yaml(wans: 3))
        try daemon.start()
        daemon.kernel.removeInterface(named: "wan1")
        daemon.kernel.setInterface(InterfaceFacts(name: "wan2", isUp: true, addresses: []))
        daemon.send(.linkChanged)
        #expect(daemon.state("isp1") == .noLink)
        #expect(daemon.state("isp2") == .noAddress)
        #expect(daemon.status("isp2")?.reason == "wan2 has no IPv4 address")
        #expect(Set(daemon.split.keys) == ["isp3"])

        // An address, but not on the gateway's subnet.
        daemon.kernel.setInterface(
            InterfaceFacts(
                name: "wan2", isUp: true,
                addresses: [InterfaceAddress(address: IPv4Address("100.99.1.2")!, prefixLength: 24)]))
        daemon.send(.linkChanged)
        #expect(daemon.state("isp2") == .unusable)
        #expect(daemon.status("isp2")?.reason.contains("not on-link") == true, "\(daemon.status("isp2")?.reason ?? "")")

        daemon.kernel.setInterface(DaemonHarness.wanInterface(2))
        daemon.send(.linkChanged)
        #expect(daemon.state("isp2") == .up)
        #expect(Set(daemon.split.keys) == ["isp2", "isp3"])
    }

    @Test func aReloadWithNewWeightsChangesTheSplitAndRestartsTheProbers() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        daemon.rounds("isp1", passing: true)
        let before = daemon.probers.all
        daemon.send(
            .reload(
                .success(try ConfigLoader.parse(DaemonHarness.yaml(weights: [1, 3], wanKeys: ["health": DaemonHarness.health])))))
        #expect(daemon.split == ["isp1": 1, "isp2": 3])
        #expect(daemon.controller.config.wans.map(\.weight) == [1, 3])
        #expect(before.allSatisfy { $0.isRunning == false })
        #expect(daemon.probers.all.count == 4 && daemon.probers.latest("isp1")?.isRunning == true)
        #expect(daemon.state("isp1") == .up, "unchanged health settings keep their verdict")
        #expect(daemon.probers.latest("isp1")?.request.mark == before[0].request.mark, "a WAN keeps its mark")
    }

    @Test func aReloadWithAnInvalidConfigKeepsTheRunningOne() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        let steps = daemon.kernel.performed.count
        let table = daemon.kernel.snapshot.table
        let invalid = Result { () throws(ConfigError) -> Config in try ConfigLoader.parse("wans: nonsense") }
        guard case .failure = invalid else { Issue.record("the config parsed"); return }
        daemon.send(.reload(invalid))
        #expect(daemon.kernel.performed.count == steps)
        #expect(daemon.kernel.snapshot.table == table)
        #expect(daemon.controller.config.wans.map(\.weight) == [70, 30])
        #expect(daemon.probers.all.count == 2 && daemon.probers.all.allSatisfy { $0.isRunning == true })
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(daemon.state("isp1") == .down, "the running probers still count")
    }

    @Test func aReloadThatTheKernelRefusesRestoresThePreviousState() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        let before = daemon.kernel.snapshot
        daemon.kernel.failSteps { if case .loadRuleset = $0 { true } else { false } }
        daemon.send(
            .reload(
                .success(try ConfigLoader.parse(DaemonHarness.yaml(weights: [1, 3], wanKeys: ["health": DaemonHarness.health])))))
        daemon.kernel.failSteps(where: nil)
        #expect(daemon.kernel.snapshot == before)
        #expect(daemon.controller.config.wans.map(\.weight) == [70, 30])
        #expect(daemon.probers.latest("isp1")?.isRunning == true)
    }

    @Test func aResyncRepairsADeletedTable() throws {
        let daemon = try DaemonHarness(DaemonHarness.yaml(weights: [70, 30]))
        try daemon.start()
        let table = daemon.kernel.snapshot.table
        daemon.kernel.deleteTable()
        #expect(daemon.split.isEmpty)
        daemon.send(.resync)
        #expect(daemon.kernel.snapshot.table == table)
        #expect(daemon.split == ["isp1": 7, "isp2": 3])
        let steps = daemon.kernel.performed.count
        daemon.send(.resync)
        #expect(daemon.kernel.performed.count == steps, "nothing to repair, nothing done")
    }

    @Test func aDeletedRuleIsPutBackOnTheRoutingEventWithoutAFlush() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        let rules = daemon.kernel.snapshot.policyRules
        daemon.kernel.update { $0.policyRules.removeFirst() }
        daemon.send(.routingChanged)
        #expect(Set(daemon.kernel.snapshot.policyRules) == Set(rules))
        #expect(daemon.kernel.flushedMarks.isEmpty)
    }

    @Test func probesThatFailBecauseBraidsRuleWasMissingDoNotTakeTheWanDown() throws {
        let daemon = try DaemonHarness(Self.twoWansWithHealth)
        try daemon.start()
        daemon.rounds("isp1", passing: true)
        let routes = daemon.kernel.snapshot.routes
        daemon.kernel.update { $0.routes.removeAll { $0.device == "wan1" } }
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(Set(daemon.kernel.snapshot.routes) == Set(routes))
        #expect(daemon.state("isp1") == .up, "\(daemon.log.text)")
        #expect(daemon.split == ["isp1": 7, "isp2": 3])
        #expect(daemon.kernel.flushedMarks.isEmpty)
    }

    @Test func aLowerTierTakesEverythingAndAHigherTierOnlyWhenItIsDown() throws {
        let yaml = DaemonHarness.yaml(wans: 3, wanKeys: ["health": DaemonHarness.health], perWan: ["isp3": ["tier": "2"]])
        let daemon = try DaemonHarness(yaml)
        try daemon.start()
        #expect(Set(daemon.split.keys) == ["isp1", "isp2"])
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(Set(daemon.split.keys) == ["isp2"])
        daemon.rounds("isp2", passing: false, count: 3)
        #expect(Set(daemon.split.keys) == ["isp3"], "the backup tier takes over")
        daemon.rounds("isp2", passing: true, count: 2)
        #expect(Set(daemon.split.keys) == ["isp2"], "and hands back")
    }

    @Test(arguments: [true, false])
    func aWanThatGoesDownHasItsConnectionsFlushedOnlyWithFlushOnDown(flushOnDown: Bool) throws {
        let daemon = try DaemonHarness(
            DaemonHarness.yaml(wanKeys: ["health": DaemonHarness.health], top: ["flush_on_down: \(flushOnDown)"]))
        try daemon.start()
        let mask = daemon.controller.config.kernel.markMask
        let mark1 = try #require(daemon.mark("isp1")) & mask
        let mark2 = try #require(daemon.mark("isp2")) & mask
        daemon.kernel.update { $0.connectionsByMark = [mark1: 5, mark2: 7] }
        daemon.rounds("isp1", passing: false, count: 3)
        #expect(daemon.state("isp1") == .down)
        #expect(daemon.kernel.flushedMarks == (flushOnDown ? [mark1] : []))
        #expect(daemon.kernel.snapshot.connectionsByMark == (flushOnDown ? [mark2: 7] : [mark1: 5, mark2: 7]))
        daemon.setLink(2, up: false)
        #expect(daemon.kernel.flushedMarks == (flushOnDown ? [mark1, mark2] : []))
    }

    @Test func aRestartAdoptsTheInstalledStateAndKeepsADownWanDown() throws {
        let yaml = Self.twoWansWithHealth
        let first = try DaemonHarness(yaml)
        try first.start()
        first.rounds("isp1", passing: false, count: 3)
        #expect(first.state("isp1") == .down)
        let installed = first.kernel.snapshot
        let steps = first.kernel.performed.count

        let second = try first.restarted(yaml)
        try second.start()
        #expect(second.kernel.performed.count == steps, "adopted unchanged: \(second.kernel.performed.dropFirst(steps))")
        #expect(second.kernel.snapshot == installed)
        #expect(second.state("isp1") == .down)
        #expect(second.status("isp1")?.reason == "down before the restart; needs 2 good rounds")
        #expect(second.state("isp2") == .probing)
        second.rounds("isp1", passing: true, count: 2)
        #expect(second.state("isp1") == .up)
        #expect(Set(second.split.keys) == ["isp1", "isp2"])
    }

    @Test func aFlappingLinkIsHeldDownUntilTheHoldEnds() throws {
        let daemon = try DaemonHarness(DaemonHarness.yaml(top: ["flap_damping: { flaps: 2, window: 60s, hold: 10s }"]))
        try daemon.start()
        daemon.setLink(1, up: false)
        daemon.setLink(1, up: true)
        #expect(daemon.state("isp1") == .up, "the first recovery is used at once")
        daemon.advance(by: .seconds(1))
        daemon.setLink(1, up: false)
        daemon.setLink(1, up: true)
        #expect(daemon.state("isp1") == .held, "\(daemon.log.text)")
        #expect(
            daemon.status("isp1")?.reason.hasPrefix("flapping: 2 flaps within") == true, "\(daemon.status("isp1")?.reason ?? "")")
        #expect(Set(daemon.split.keys) == ["isp2"])
        #expect(daemon.clock.pendingEvents == 1)

        daemon.advance(by: .seconds(9))
        #expect(daemon.state("isp1") == .held)
        daemon.advance(by: .seconds(1))
        #expect(daemon.state("isp1") == .up)
        #expect(Set(daemon.split.keys) == ["isp1", "isp2"])
    }

    @Test func aFlappingUpstreamIsHeldDownUntilTheHoldEnds() throws {
        let daemon = try DaemonHarness(
            DaemonHarness.yaml(
                wanKeys: ["health": DaemonHarness.health],
                top: ["flap_damping: { flaps: 2, window: 60s, hold: 10s }"]))
        try daemon.start()
        for _ in 0..<2 {
            daemon.rounds("isp1", passing: false, count: 3)
            daemon.rounds("isp1", passing: true, count: 2)
        }
        #expect(daemon.state("isp1") == .held)
        #expect(Set(daemon.split.keys) == ["isp2"])
        daemon.advance(by: .seconds(10))
        #expect(daemon.state("isp1") == .up)
        #expect(Set(daemon.split.keys) == ["isp1", "isp2"])
    }
}
