import BraidConfig
import BraidKernelFake
import BraidPlanner
import Testing

@testable import BraidApply
@testable import BraidKernel

/// An installed Braid whose ip rules use another mark mask than the config (an upgrade from the
/// old default 0x00ff0000, or an edited `kernel.mark_mask`): `apply` must not silently move open
/// connections to other WANs.
@Suite struct MarkRenumberingTests {
    static let oldMaskYAML = GatewayApplierTests.yaml + "\nkernel:\n  mark_mask: 0x00ff0000\n"
    static let newMaskYAML = GatewayApplierTests.yaml + "\nkernel:\n  mark_mask: 0xff000000\n"

    /// Braid installed with the old default mask, and `connections` in conntrack (ct mark → count).
    static func installedWithOldMask(connections: [UInt32: Int]) throws -> (FakeKernel, GatewayApplier) {
        let kernel = GatewayApplierTests.makeKernel()
        let applier = GatewayApplierTests.makeApplier(kernel)
        try applier.apply(try ConfigLoader.parse(oldMaskYAML))
        kernel.update { $0.connectionsByMark = connections }
        return (kernel, applier)
    }

    @Test func openConnectionsWithTheOldMarksMakeApplyRefuseAndChangeNothing() throws {
        // isp1's and isp2's connections, one also carrying kube-proxy's masquerade bit (0x4000).
        let (kernel, applier) = try Self.installedWithOldMask(connections: [0x1_0000: 3, 0x1_4000: 1, 0x2_0000: 2])
        let before = kernel.snapshot
        let performedBefore = kernel.performed.count
        let error = try #require(throws: ApplyError.self) { try applier.apply(try ConfigLoader.parse(Self.newMaskYAML)) }
        guard case .markMaskChanged(let renumbering) = error else { Issue.record("unexpected error: \(error)"); return }
        #expect(renumbering.oldMasks == [0x00ff_0000])
        #expect(renumbering.newMask == 0xff00_0000)
        #expect(renumbering.openConnections == 6)
        #expect(kernel.snapshot == before)
        #expect(kernel.performed.count == performedBefore)
        let message = error.description
        #expect(message.contains("6 open connection(s)"))
        #expect(message.contains("mark_mask: 0x00ff0000"))
        #expect(message.contains("braid apply --renumber-marks"))
        #expect(message.contains("braid down && braid apply"))
        #expect(message.hasSuffix("nothing was changed"))
    }

    /// A config without `kernel.mark_mask`, written for the old default, after the upgrade.
    @Test func upgradingFromTheOldDefaultIsRefusedWithTheOldMaskToKeep() throws {
        let (kernel, applier) = try Self.installedWithOldMask(connections: [0x1_0000: 2])
        let before = kernel.snapshot
        let error = try #require(throws: ApplyError.self) { try applier.apply(try ConfigLoader.parse(GatewayApplierTests.yaml)) }
        #expect(error.description.contains("mark_mask: 0x00ff0000"))
        #expect(error.description.contains("the default mask moved from 0x00ff0000 to 0xff000000"))
        #expect(kernel.snapshot == before)
    }

    @Test func anEditedMaskIsRefusedToo() throws {
        let (kernel, applier) = try Self.installedWithOldMask(connections: [0x2_0000: 1])
        let before = kernel.snapshot
        let error = try #require(throws: ApplyError.self) {
            try applier.apply(try ConfigLoader.parse(GatewayApplierTests.yaml + "\nkernel:\n  mark_mask: 0x0000ff00\n"))
        }
        #expect(
            error.description.contains(
                "kernel.mark_mask is 0x0000ff00, but Braid's installed ip rules use 0x00ff0000, and 1 open connection(s)"))
        #expect(!error.description.contains("the default mask moved"))
        #expect(kernel.snapshot == before)
    }

    @Test func withoutOpenConnectionsTheMarksAreRenumbered() throws {
        // Unmarked connections, and Tailscale's subnet-route mark (slot 4's under the old mask, but
        // no WAN holds slot 4), are no Braid WAN's.
        let (kernel, applier) = try Self.installedWithOldMask(connections: [0x4_0000: 2, 0: 7])
        let report = try applier.apply(try ConfigLoader.parse(Self.newMaskYAML))
        #expect(report.renumbering?.oldMasks == [0x00ff_0000])
        let fwmarkRules = kernel.snapshot.policyRules.filter { $0.fwmark != nil }
        #expect(fwmarkRules.count == 3)
        #expect(fwmarkRules.allSatisfy { $0.fwmask == 0xff00_0000 })
        // Applied again, nothing is left to renumber.
        #expect(try applier.apply(try ConfigLoader.parse(Self.newMaskYAML)).renumbering == nil)
    }

    @Test func renumberMarksAcceptsAndDeletesOnlyTheOldMarksConnections() throws {
        let (kernel, installed) = try Self.installedWithOldMask(connections: [
            0x1_0000: 3, 0x1_4000: 1, 0x2_0000: 2, 0x4_0000: 5, 0: 9,
        ])
        var applier = installed
        applier.renumberMarks = true
        let report = try applier.apply(try ConfigLoader.parse(Self.newMaskYAML))
        #expect(report.renumberedConnections == 6)
        #expect(report.renumberFailure == nil)
        #expect(kernel.snapshot.connectionsByMark == [0x4_0000: 5, 0: 9])
        #expect(kernel.snapshot.policyRules.filter { $0.fwmark != nil }.allSatisfy { $0.fwmask == 0xff00_0000 })
    }

    @Test func overlappingMasksAreRenumberedWithoutDeletingConnections() throws {
        let (kernel, installed) = try Self.installedWithOldMask(connections: [0x1_0000: 3])
        var applier = installed
        applier.renumberMarks = true
        let report = try applier.apply(try ConfigLoader.parse(GatewayApplierTests.yaml + "\nkernel:\n  mark_mask: 0x0fff0000\n"))
        #expect(report.renumbering != nil)
        #expect(report.renumberedConnections == nil)
        #expect(kernel.snapshot.connectionsByMark == [0x1_0000: 3])
    }

    @Test func afterDownNothingIsRenumbered() throws {
        let (kernel, applier) = try Self.installedWithOldMask(connections: [0x1_0000: 3])
        try applier.down()
        let report = try applier.apply(try ConfigLoader.parse(Self.newMaskYAML))
        #expect(report.renumbering == nil)
        #expect(kernel.snapshot.connectionsByMark == [0x1_0000: 3])
    }

    @Test func theSameMaskIsNoRenumbering() throws {
        let (_, applier) = try Self.installedWithOldMask(connections: [0x1_0000: 3])
        #expect(try applier.apply(try ConfigLoader.parse(Self.oldMaskYAML)).renumbering == nil)
    }
}
