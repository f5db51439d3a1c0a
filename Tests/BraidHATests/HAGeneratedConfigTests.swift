import BraidConfig
import BraidHA
import BraidPlanner
import Testing

/// keepalived's and conntrackd's generated configs, the notify FIFO's lines, readiness.
@Suite struct HAGeneratedConfigTests {
    static let paths = HAPaths(stateDirectory: "/var/lib/braid")

    @Test func keepalivedHasOneSyncGroupVRRPv3SubSecondAndNoPreempt() throws {
        let config = HAPlanTests.config
        let text = KeepalivedConfig.render(config, ha: try #require(config.ha), paths: Self.paths)
        #expect(text.contains("vrrp_version 3"))
        #expect(text.contains("notify_fifo /var/lib/braid/ha/keepalived.fifo"))
        #expect(text.contains("file /var/lib/braid/ha/ready"))
        #expect(text.components(separatedBy: "vrrp_sync_group").count == 2, "exactly one sync group")
        #expect(text.contains("        braid_lan0\n        braid_wan1\n        braid_wan2\n"))
        #expect(text.components(separatedBy: "advert_int 0.1").count == 4)
        #expect(text.components(separatedBy: "nopreempt").count == 4)
        for (id, line) in [(51, "10.0.0.1/24 dev lan0"), (52, "203.0.113.2/24 dev wan1"), (53, "198.51.100.2/24 dev wan2")] {
            #expect(text.contains("virtual_router_id \(id)"))
            #expect(text.contains(line))
        }
        #expect(text.contains(HASlotLayout.digest(config)), "the slot layout digest is carried in the config")
        var preempting = try #require(config.ha)
        preempting.preempt = true
        #expect(!KeepalivedConfig.render(config, ha: preempting, paths: Self.paths).contains("nopreempt"))
    }

    @Test func conntrackdKeepsItsFilesInTheStateDirectory() throws {
        let ha = try #require(HAPlanTests.config.ha)
        let text = ConntrackdConfig.render(ha: ha, localSyncAddress: IPv4Address("10.99.0.1")!, paths: Self.paths)
        #expect(text.contains("LockFile /var/lib/braid/ha/conntrackd.lock"))
        #expect(text.contains("Path /var/lib/braid/ha/conntrackd.ctl"))
        #expect(text.contains("IPv4_address 10.99.0.1\n"))
        #expect(text.contains("IPv4_Destination_Address 10.99.0.2"))
        #expect(text.contains("Interface sync0"))
        #expect(text.contains("Mode FTFW"))
        #expect(text.contains("DisableExternalCache Off"))
    }

    @Test(arguments: [
        ("GROUP \"braid\" MASTER 0", KeepalivedNotification(scope: .group, name: "braid", role: .active)),
        ("GROUP \"braid\" BACKUP 0", KeepalivedNotification(scope: .group, name: "braid", role: .backup)),
        ("GROUP \"braid\" FAULT 0", KeepalivedNotification(scope: .group, name: "braid", role: .fault)),
        ("INSTANCE \"braid_lan0\" MASTER 200", KeepalivedNotification(scope: .instance, name: "braid_lan0", role: .active)),
    ])
    func parsesNotifyFifoLines(line: String, expected: KeepalivedNotification) {
        #expect(KeepalivedNotification(line: line) == expected)
    }

    @Test(arguments: ["", "GROUP", "VS 10.0.0.1:80 UP", "GROUP \"braid\" SOMETHING 0", "CHECKER x UP"])
    func ignoresOtherLines(line: String) {
        #expect(KeepalivedNotification(line: line) == nil)
    }

    /// Feeds `steps` (usable WANs, seconds since start) and returns after each whether `ready` changed and its value.
    static func run(
        _ readiness: inout HAReadiness, _ steps: [(Int, Double)], peer: String? = "a", active: Bool = false
    ) -> [(changed: Bool, ready: Bool)] {
        let start = ContinuousClock.now
        return steps.map { usable, seconds in
            let changed = readiness.update(
                usableWans: usable, layoutDigest: "a", peerLayoutDigest: peer, active: active, at: start + .seconds(seconds))
            return (changed, readiness.ready)
        }
    }

    @Test func noUsableWanGivesUpAtOnceAndComesBackOnlyWhenStable() {
        var readiness = HAReadiness(stableAfter: .seconds(10), usableWans: 2)
        #expect(readiness.ready)
        let results = Self.run(&readiness, [(0, 0), (1, 1), (1, 10), (0, 10.5), (1, 11), (1, 20), (1, 21)])
        #expect(results.map(\.ready) == [false, false, false, false, false, false, true], "a flap restarts the wait")
        #expect(results.map(\.changed) == [true, false, false, false, false, false, true])
        #expect(readiness.reason.contains("usable WAN"))
        var down = HAReadiness(stableAfter: .seconds(10), usableWans: 0)
        #expect(!down.ready && down.reason == "no usable WAN")
    }

    @Test func aDifferentPeerLayoutKeepsABackupFromBecomingActive() {
        var backup = HAReadiness(stableAfter: .zero, usableWans: 2)
        #expect(Self.run(&backup, [(2, 0)], peer: "b").map(\.ready) == [false])
        #expect(backup.reason.contains("slot layout"))
        var active = HAReadiness(stableAfter: .zero, usableWans: 2)
        #expect(Self.run(&active, [(2, 0)], peer: "b", active: true).map(\.ready) == [true], "the active one keeps its role")
        #expect(Self.run(&backup, [(2, 1)], peer: nil).map(\.ready) == [true], "an unknown peer layout does not block")
    }

    @Test func readsConntrackdCacheCounts() {
        let text = """
            cache internal:
            current active connections:               12
            connections created:                      40    failed:            0
            cache external:
            current active connections:                7
            connections created:                       9    failed:            0
            traffic processed:
            """
        let counts = HASupervisor.cacheCounts(text)
        #expect(counts.internal == 12 && counts.external == 7)
    }
}
