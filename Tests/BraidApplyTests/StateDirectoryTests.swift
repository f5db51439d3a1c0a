import BraidConfig
import BraidKernel
import BraidPlanner
import Foundation
import Testing

@testable import BraidApply

/// The state directory never stands between Braid and the kernel: a corrupt, unwritable or
/// stale state file costs a warning, never a wedge; two changes never interleave.
@Suite struct StateDirectoryTests {
    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "braid-state-test-\(UUID().uuidString)"
    }

    static func config() throws -> Config { try ConfigLoader.parse(GatewayApplierTests.yaml) }

    @Test func aCorruptStateFileIsMovedAsideAndTreatedAsMissing() throws {
        let directory = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("{ this is not json".utf8).write(to: URL(fileURLWithPath: directory + "/state.json"))
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: directory))
        let report = try applier.apply(try Self.config())
        #expect(report.performed.contains { if case .loadRuleset = $0 { true } else { false } })
        #expect(report.stateWarnings.contains { $0.contains("is not valid") && $0.contains(".corrupt-") })
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.contains { $0.hasPrefix("state.json.corrupt-") })
        // The new file is good again: a second apply changes nothing and warns of nothing.
        let again = try applier.apply(try Self.config())
        #expect(again.performed.isEmpty)
        #expect(again.stateWarnings.isEmpty)
        try applier.down()
        #expect(kernel.snapshot.table == nil)
    }

    @Test func anUnwritableStateDirectoryDoesNotStopTheChange() throws {
        // A regular file where the directory should be: mkdir and every write fail, as on a full
        // or immutable /run.
        let blocker = Self.temporaryDirectory()
        try Data().write(to: URL(fileURLWithPath: blocker))
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: blocker + "/state"))
        let config = try Self.config()
        let report = try applier.apply(config)
        #expect(kernel.snapshot.table != nil)
        #expect(report.stateWarnings.contains { $0.contains("cannot lock") })
        #expect(
            report.stateWarnings.contains { $0.contains("cannot write Braid's state file") && $0.contains("Not a directory") })
        // A re-plan (a WAN going down) still takes effect.
        let failover = try applier.apply(config, availability: WanAvailability(unavailable: ["isp1"]))
        #expect(!failover.performed.isEmpty)
        #expect(failover.desired.wans.first { $0.name == "isp1" }?.splitShare == 0)
        // The process remembers the sysctls from before Braid, so `down` still restores them.
        try applier.down()
        #expect(kernel.snapshot.sysctls["net/ipv4/ip_forward"] == "0")
    }

    @Test func theStateFileIsPrivate() throws {
        let directory = Self.temporaryDirectory() + "/nested/braid"
        let applier = GatewayApplier(kernel: GatewayApplierTests.makeKernel(), store: AppliedStateStore(directory: directory))
        try applier.apply(try Self.config())
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        let fileMode = try FileManager.default.attributesOfItem(atPath: directory + "/state.json")[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        #expect(fileMode == 0o600)
    }

    @Test func aStaleStateFileDoesNotWedgeTheNextApply() throws {
        // apply small; keep its state file; apply big; put the old state file back (what a kill -9
        // after nft committed leaves); apply big again: it must converge, not fail.
        let directory = Self.temporaryDirectory()
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: directory))
        let small = try Self.config()
        let big = try ConfigLoader.parse(
            GatewayApplierTests.yaml + """

                sets:
                  streaming: [203.0.113.0/24, 198.51.100.0/24]
                rules:
                  - { name: video, destination_set: streaming, use: [isp2] }
                """)
        try applier.apply(small)
        let stale = try Data(contentsOf: URL(fileURLWithPath: directory + "/state.json"))
        try applier.apply(big)
        try stale.write(to: URL(fileURLWithPath: directory + "/state.json"))
        // A fresh process: no memory of its own.
        let next = GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: directory))
        try next.apply(big)
        let third = try next.apply(big)
        #expect(third.performed.isEmpty)
        try next.apply(small)
        #expect(kernel.snapshot.table?.contains("streaming") == false)
    }

    @Test func aSecondChangeWaitsForTheFirstAndGivesUpWithTheHolderNamed() throws {
        let directory = Self.temporaryDirectory()
        let holder = AppliedStateStore(directory: directory)
        try holder.changeLock.acquire(timeout: .seconds(1))
        var applier = GatewayApplier(
            kernel: GatewayApplierTests.makeKernel(), store: AppliedStateStore(directory: directory),
            lockTimeout: .milliseconds(200))
        let waited = WaitRecorder()
        applier.onLockWait = { waited.record($0) }
        #expect(throws: ApplyError.self) { try applier.apply(try Self.config()) }
        #expect(waited.holders == [getpid()])
        let config = try Self.config()
        do {
            try applier.apply(config)
            Issue.record("apply went ahead while another change held the lock")
        } catch {
            #expect(error.description.contains("process \(getpid())"))
            #expect(error.description.contains("nothing was changed"))
        }
        holder.changeLock.release()
        try applier.apply(try Self.config())
    }

    @Test func aLockFileReplacedUnderneathIsReopened() throws {
        let directory = Self.temporaryDirectory()
        let first = StateDirectoryLock(path: directory + "/apply.lock")
        try first.acquire(timeout: .zero)
        first.release()
        try FileManager.default.removeItem(atPath: directory)
        let second = StateDirectoryLock(path: directory + "/apply.lock")
        try second.acquire(timeout: .zero)
        // The first lock must see the new file, not its deleted one.
        #expect(try first.tryAcquire() == false)
        #expect(second.holder() == getpid())
        second.release()
        #expect(try first.tryAcquire() == true)
    }

    @Test func longNftErrorsAreCutShort() {
        let output = (1...2500).map { "line \($0): Error: Could not process rule" }.joined(separator: "\n")
        let error = KernelError.commandFailed(arguments: ["nft", "-f", "-"], status: 1, standardError: output)
        #expect(error.description.split(separator: "\n").count < 20)
        #expect(error.description.contains("2488 more line(s)"))
    }
}

final class WaitRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Int32?] = []

    func record(_ holder: Int32?) { lock.withLock { recorded.append(holder) } }
    var holders: [Int32?] { lock.withLock { recorded } }
}
