import BraidConfig
import BraidKernel
import BraidPlanner

/// Braid's installed fwmark rules use another mask than the config's `kernel.mark_mask`: the mark
/// layout changed since the last apply (a new default after an upgrade, or an edited mask).
///
/// A connection keeps its WAN because its ct mark, under the mask, names the WAN's slot. Under a
/// new mask those bits mean nothing: the connection's packets are placed again as if new, most
/// likely on another WAN, where its NAT binding (the old WAN's source address) is wrong and the
/// far end drops or resets it. So `apply` counts the connections carrying the old marks, and with
/// any open refuses (`ApplyError.markMaskChanged`) unless told to renumber; renumbering then deletes
/// their conntrack entries, so clients reconnect at once instead of stalling until a timeout.
public struct MarkRenumbering: Sendable, Equatable {
    /// One installed fwmark rule's mark and mask, and the conntrack entries carrying that mark.
    public struct OldMark: Sendable, Equatable {
        public var mark: UInt32
        public var mask: UInt32
        public var connections: Int
    }

    public var newMask: UInt32
    public var oldMarks: [OldMark]

    public var oldMasks: [UInt32] {
        oldMarks.map(\.mask).reduce(into: []) { masks, mask in if !masks.contains(mask) { masks.append(mask) } }
    }
    public var openConnections: Int { oldMarks.map(\.connections).reduce(0, +) }

    /// The change from what is installed to `layout`, or nil when every installed fwmark rule
    /// already uses `layout.markMask` (or none is installed: after `down`, nothing is renumbered).
    public static func find(
        observed: ObservedKernelState, layout: KernelLayoutConfig,
        kernel: any KernelPort
    ) throws(KernelError) -> MarkRenumbering? {
        var oldMarks: [OldMark] = []
        for rule in observed.policyRules {
            guard let mark = rule.fwmark, let mask = rule.fwmask, mask != layout.markMask,
                !oldMarks.contains(where: { $0.mark == mark && $0.mask == mask })
            else { continue }
            oldMarks.append(OldMark(mark: mark, mask: mask, connections: try kernel.countConnections(mark: mark, mask: mask)))
        }
        return oldMarks.isEmpty ? nil : MarkRenumbering(newMask: layout.markMask, oldMarks: oldMarks)
    }

    /// Deletes the conntrack entries of every old mark; returns how many. Skipped (nil) when an
    /// old mask shares bits with the new one: an entry made since the new table went in could
    /// then match an old mark and be deleted too; those old connections time out instead.
    func flush(kernel: any KernelPort) throws(KernelError) -> Int? {
        guard oldMasks.allSatisfy({ $0 & newMask == 0 }) else { return nil }
        var deleted = 0
        for old in oldMarks where old.connections > 0 {
            deleted += try kernel.flushConnections(mark: old.mark, mask: old.mask)
        }
        return deleted
    }

    /// The refusal: what would break, and the two ways forward.
    var refusal: String {
        let old = oldMasks.map(hex).joined(separator: ", ")
        var text = """
            kernel.mark_mask is \(hex(newMask)), but Braid's installed ip rules use \(old), and \(openConnections) \
            open connection(s) carry those marks; applying would renumber the marks and move those connections \
            to another WAN, which breaks them
            to keep them, set the mask they use in the config:
              kernel:
                mark_mask: \(hex(oldMasks[0]))
            to accept that they reconnect, run `braid apply --renumber-marks` (it deletes their conntrack \
            entries, so clients reconnect at once), or `braid down && braid apply`
            """
        if oldMasks == [Self.earlierDefaultMask], newMask == KernelLayoutConfig.defaultMarkMask {
            text +=
                "\n(the default mask moved from \(hex(Self.earlierDefaultMask)) to \(hex(newMask)), off Tailscale's bits; "
                + "see \"Upgrading\" in docs/operations.md)"
        }
        return text
    }

    /// `kernel.mark_mask`'s default in earlier releases (Tailscale's byte), named in the refusal.
    static let earlierDefaultMask: UInt32 = 0x00ff_0000
}

extension GatewayApplier {
    /// The mark renumbering this apply makes, refused while connections carry the old marks
    /// unless `renumberMarks` is set.
    func checkMarkRenumbering(_ config: Config, observed: ObservedKernelState) throws(ApplyError) -> MarkRenumbering? {
        let renumbering: MarkRenumbering?
        do { renumbering = try MarkRenumbering.find(observed: observed, layout: config.kernel, kernel: kernel) } catch {
            throw .kernel(error)
        }
        if let renumbering, renumbering.openConnections > 0, !renumberMarks { throw .markMaskChanged(renumbering) }
        return renumbering
    }
}
