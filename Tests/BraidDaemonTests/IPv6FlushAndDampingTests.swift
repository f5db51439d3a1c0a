import BraidConfig
import BraidDaemon
import BraidHealth
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

/// A WAN whose IPv6 alone fails: only its IPv6 conntrack entries are flushed (with
/// `flush_on_down`), and a flapping IPv6 is held down alone; its IPv4 is left as it is.
@Suite struct IPv6FlushAndDampingTests {
    static func harness(top: [String]) throws -> DaemonHarness {
        try DaemonHarness(
            DaemonHarness.yaml(
                wanKeys: ["health": DualStackHealthTests.health, "ipv6": "{ gateway: \"fe80::1\" }"], top: top),
            kernel: DualStackHealthTests.kernel())
    }

    @Test(arguments: [true, false])
    func deadIPv6FlushesOnlyItsIPv6Connections(flushOnDown: Bool) throws {
        let harness = try Self.harness(top: ["flush_on_down: \(flushOnDown)"])
        try harness.start()
        let mask = harness.controller.config.kernel.markMask
        let mark1 = try #require(harness.mark("isp1")) & mask
        let mark2 = try #require(harness.mark("isp2")) & mask
        harness.kernel.update {
            $0.connectionsByMark = [mark1: 5, mark2: 7]
            $0.ipv6ConnectionsByMark = [mark1: 3, mark2: 4]
        }
        let tests = DualStackHealthTests()
        for _ in 0..<3 {
            try tests.round(harness, "isp1", ipv4: true, ipv6: false)
            try tests.round(harness, "isp2", ipv4: true, ipv6: true)
        }
        #expect(harness.status("isp1")?.ipv6State == .down && harness.state("isp1") == .up)
        let state = harness.kernel.snapshot
        #expect(state.connectionsByMark == [mark1: 5, mark2: 7], "its IPv4 connections stay: \(harness.log.text)")
        #expect(state.ipv6ConnectionsByMark == (flushOnDown ? [mark2: 4] : [mark1: 3, mark2: 4]), "\(harness.log.text)")
        #expect(harness.kernel.flushedMarks.isEmpty, "no whole-WAN flush")
        #expect(harness.kernel.flushedFamilyMarks == (flushOnDown ? [.init(mark: mark1, family: .ipv6)] : []))
    }

    @Test func aFlappingIPv6IsHeldDownAloneUntilTheHoldEnds() throws {
        let harness = try Self.harness(top: ["flap_damping: { flaps: 2, window: 60s, hold: 10s }"])
        try harness.start()
        let tests = DualStackHealthTests()
        for _ in 0..<2 {
            for _ in 0..<3 { try tests.round(harness, "isp1", ipv4: true, ipv6: false) }
            for _ in 0..<2 { try tests.round(harness, "isp1", ipv4: true, ipv6: true) }
        }
        #expect(harness.status("isp1")?.ipv6State == .held, "\(harness.log.text)")
        #expect(harness.state("isp1") == .up, "its IPv4 is not held")
        #expect(try tests.split(harness, "new_connection_split_v6").keys.sorted() == ["isp2"])
        #expect(try tests.split(harness, "new_connection_split").keys.sorted() == ["isp1", "isp2"])
        #expect(harness.log.text.contains("isp1 IPv6 is held down"))
        harness.advance(by: .seconds(10))
        harness.drain()
        #expect(harness.status("isp1")?.ipv6State == .up, "\(harness.log.text)")
        #expect(try tests.split(harness, "new_connection_split_v6").keys.sorted() == ["isp1", "isp2"])
    }
}
