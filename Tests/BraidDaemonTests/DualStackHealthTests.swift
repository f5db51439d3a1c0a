import BraidConfig
import BraidDaemon
import BraidHealth
import BraidKernelFake
import BraidPlanner
import Foundation
import Testing

/// Each family of a WAN is judged by its own targets: a dead IPv6 upstream takes the WAN out of
/// the IPv6 split only, and its IPv4 keeps carrying new connections (and the other way round).
@Suite struct DualStackHealthTests {
    static let health =
        "{ targets: [203.0.113.1, \"2001:db8:ffff::1\"], interval: 100ms, timeout: 200ms, down_after: 3, up_after: 2 }"

    static func kernel() -> FakeKernel {
        FakeKernel(
            interfaces: [InterfaceFacts(name: "lan0")]
                + (1...2).map { number in
                    var facts = DaemonHarness.wanInterface(number)
                    facts.ipv6Addresses = [
                        IPv6InterfaceAddress(address: IPv6Address("2001:db8:\(number)::2")!, prefixLength: 64),
                        IPv6InterfaceAddress(address: IPv6Address("fe80::2")!, prefixLength: 64),
                    ]
                    return facts
                })
    }

    static func harness(health: String = health) throws -> DaemonHarness {
        try DaemonHarness(
            DaemonHarness.yaml(wanKeys: ["health": health, "ipv6": "{ gateway: \"fe80::1\" }"]), kernel: kernel())
    }

    /// One round of `wanName`'s prober where each target answers when its family passes.
    func round(_ harness: DaemonHarness, _ wanName: String, ipv4: Bool, ipv6: Bool) throws {
        let prober = try #require(harness.probers.latest(wanName))
        harness.advance(by: prober.request.check.interval)
        let outcomes = prober.request.check.targets.map { target in
            (target.family == .ipv4 ? ipv4 : ipv6) ? ProbeOutcome.answered(rtt: .milliseconds(5)) : .failed(reason: "timed out")
        }
        prober.report(ProbeRound(sequence: 0, startedAt: harness.clock.now - prober.request.check.interval, outcomes: outcomes))
        harness.drain()
    }

    /// WAN → buckets of the installed map `name`.
    func split(_ harness: DaemonHarness, _ name: String) throws -> [String: Int] {
        let table = try #require(harness.kernel.snapshot.table)
        let start = try #require(table.range(of: "map \(name) {"))
        let body = table[start.upperBound...].prefix { $0 != "}" }
        var buckets: [String: Int] = [:]
        for line in body.split(separator: "\n") {
            let words = line.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",\t")) }
            guard let goto = words.firstIndex(of: "goto"), goto + 1 < words.count else { continue }
            let bounds = words[0].split(separator: "-").compactMap { Int($0) }
            guard let low = bounds.first else { continue }
            buckets[String(words[goto + 1].dropFirst("choose_".count)), default: 0] += (bounds.last ?? low) - low + 1
        }
        return buckets
    }

    @Test func deadIPv6TakesTheWanOutOfTheIPv6SplitOnly() throws {
        let harness = try Self.harness()
        try harness.start()
        #expect(try split(harness, "new_connection_split_v6").keys.sorted() == ["isp1", "isp2"])
        for _ in 0..<3 {
            try round(harness, "isp1", ipv4: true, ipv6: false)
            try round(harness, "isp2", ipv4: true, ipv6: true)
        }
        #expect(try split(harness, "new_connection_split_v6").keys.sorted() == ["isp2"], "\(harness.log.text)")
        #expect(try split(harness, "new_connection_split").keys.sorted() == ["isp1", "isp2"])
        #expect(harness.state("isp1") == .up)
        #expect(harness.status("isp1")?.ipv6State == .down)
        #expect(harness.status("isp1")?.targets.map(\.address) == ["203.0.113.1", "2001:db8:ffff::1"])
        // It comes back after up_after good IPv6 rounds.
        for _ in 0..<2 { try round(harness, "isp1", ipv4: true, ipv6: true) }
        #expect(try split(harness, "new_connection_split_v6").keys.sorted() == ["isp1", "isp2"])
        #expect(harness.status("isp1")?.ipv6State == .up)
    }

    @Test func deadIPv4KeepsTheWansIPv6() throws {
        let harness = try Self.harness()
        try harness.start()
        for _ in 0..<3 {
            try round(harness, "isp1", ipv4: false, ipv6: true)
            try round(harness, "isp2", ipv4: true, ipv6: true)
        }
        #expect(try split(harness, "new_connection_split").keys.sorted() == ["isp2"])
        #expect(try split(harness, "new_connection_split_v6").keys.sorted() == ["isp1", "isp2"])
        #expect(harness.state("isp1") == .down)
    }

    @Test func withTargetsOfOneFamilyBothFamiliesShareTheVerdict() throws {
        let harness = try Self.harness(health: DaemonHarness.health)
        try harness.start()
        for _ in 0..<3 {
            try round(harness, "isp1", ipv4: false, ipv6: false)
            try round(harness, "isp2", ipv4: true, ipv6: true)
        }
        #expect(try split(harness, "new_connection_split").keys.sorted() == ["isp2"])
        #expect(try split(harness, "new_connection_split_v6").keys.sorted() == ["isp2"])
        #expect(harness.status("isp1")?.ipv6State == nil)
    }
}
