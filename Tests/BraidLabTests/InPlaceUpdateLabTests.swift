import BraidApply
import BraidConfig
import BraidKernel
import BraidLab
import BraidPlanner
import Foundation
import Testing

extension LabTests.Policy {
    @Test(
        "With 10,000 alternating rules installed, a health change is an in-place update that nft accepts, and packets follow it")
    func healthChangeWithALargePolicyIsInPlace() async throws {
        try await Lab.with(wanCount: 2, name: "inpl") { lab in
            // The lab host is pinned to isp1; 10,000 rules of alternating kinds (none matches it) follow.
            var lines = ["rules:", "  - {name: pinned, source: \(lab.lanHostAddress(0)), use: [isp1]}"]
            for index in 0..<10_000 {
                lines.append(
                    index % 2 == 0
                        ? "  - {name: host-\(index), source: \(IPv4Address(0x0a64_0000 + UInt32(index))), use: [isp1]}"
                        : "  - {name: site-\(index), destination: \(IPv4Address(0xc612_0000 + UInt32(index))), use: [isp2, balance]}"
                )
            }
            let config = try ConfigLoader.parse(lab.configYAML() + lines.joined(separator: "\n") + "\n")
            let kernel = TimedKernel(LinuxKernel(runner: lab.router.runner))
            let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: lab.stateDirectory))
            var started = ContinuousClock.now
            try applier.apply(config)
            let cold = ContinuousClock.now - started
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp1": 20])

            kernel.reset()
            started = ContinuousClock.now
            let down = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
            let failover = ContinuousClock.now - started
            print("failover apply: \(kernel.summary)")
            let transaction = down.performed.compactMap { step -> NftTransaction? in
                if case .loadRuleset(let transaction, _) = step { transaction } else { nil }
            }
            #expect(
                transaction.count == 1 && !transaction[0].operations.contains(.flushTable),
                "\(transaction.map { $0.declared.prefix(10) })")
            // The pinned rule is passed over (its use chain is empty): the split, now isp2 only.
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp2": 20])

            started = ContinuousClock.now
            try applier.apply(config)
            let recovery = ContinuousClock.now - started
            #expect(try await Self.counts(lab, from: lab.lanHosts[0], count: 20) == ["isp1": 20])
            // The state file recorded what the in-place update left: nothing to do, and the table verifies.
            #expect(try applier.apply(config).performed.isEmpty)
            print("10,000 alternating rules: cold apply \(cold), failover apply \(failover), recovery apply \(recovery)")
            // A debug build on a shared machine plans slowly; release figures: policy-scale-benchmark.
            #expect(failover < .seconds(3) && recovery < .seconds(3), "failover \(failover), recovery \(recovery)")
            try applier.down()
        }
    }
}

/// Forwards to a kernel and adds up how long each kind of call took, to see where an apply spends its time.
final class TimedKernel: KernelPort, @unchecked Sendable {
    let kernel: any KernelPort
    private let lock = NSLock()
    private var totals: [String: Duration] = [:]

    init(_ kernel: any KernelPort) { self.kernel = kernel }

    func reset() { lock.withLock { totals = [:] } }
    var summary: String {
        lock.withLock { totals.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
    }

    private func timed<T>(_ name: String, _ body: () throws(KernelError) -> T) throws(KernelError) -> T {
        let started = ContinuousClock.now
        defer { let elapsed = ContinuousClock.now - started; lock.withLock { totals[name, default: .zero] += elapsed } }
        return try body()
    }

    func readHostFacts() throws(KernelError) -> HostFacts {
        try timed("readHostFacts") { () throws(KernelError) in try kernel.readHostFacts() }
    }
    func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState {
        try timed("readState") { () throws(KernelError) in try kernel.readState(layout: layout) }
    }
    func readRouting() throws(KernelError) -> ObservedKernelState {
        try timed("readRouting") { () throws(KernelError) in try kernel.readRouting() }
    }
    func readForeignRuleset() throws(KernelError) -> ForeignRuleset { try kernel.readForeignRuleset() }
    func readObjectNames() throws(KernelError) -> TableObjectNames {
        try timed("readObjectNames") { () throws(KernelError) in try kernel.readObjectNames() }
    }
    func readSysctls(_ keys: [String]) throws(KernelError) -> [String: String] {
        try timed("readSysctls") { () throws(KernelError) in try kernel.readSysctls(keys) }
    }
    func perform(_ step: KernelStep) throws(KernelError) {
        try timed("perform \(step)") { () throws(KernelError) in try kernel.perform(step) }
    }
    func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        try kernel.countConnections(mark: mark, mask: mask)
    }
    func countConnectionsByMark(mask: UInt32) throws(KernelError) -> [UInt32: Int] {
        try kernel.countConnectionsByMark(mask: mask)
    }
    func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        try kernel.flushConnections(mark: mark, mask: mask)
    }
    func readCounters() throws(KernelError) -> [String: TrafficCounter] { try kernel.readCounters() }
    func readRulesetGeneration() throws(KernelError) -> UInt64 {
        try timed("readRulesetGeneration") { () throws(KernelError) in try kernel.readRulesetGeneration() }
    }
    func readTableListing() throws(KernelError) -> String? {
        try timed("readTableListing") { () throws(KernelError) in try kernel.readTableListing() }
    }
}
