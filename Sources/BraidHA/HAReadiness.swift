/// Whether this gateway may hold the active role, decided from its WANs and its peer. Pure, with
/// time as an input, so the hold-off is tested without waiting.
///
/// A gateway with no usable WAN gives the role up at once. It becomes ready again only after its
/// WANs have stayed usable for `stableAfter` without a break, so a WAN that flaps does not pull
/// the role back and forth between the two gateways. A slot layout that differs from the peer's
/// makes it not ready whatever its WANs: its marks would send synced connections out other WANs.
public struct HAReadiness: Sendable, Equatable {
    public let stableAfter: Duration
    public private(set) var ready: Bool
    public private(set) var reason: String
    /// When the WANs last became usable while not ready.
    private var usableSince: ContinuousClock.Instant?

    public init(stableAfter: Duration, usableWans: Int) {
        self.stableAfter = stableAfter
        ready = usableWans > 0
        reason = usableWans > 0 ? "\(usableWans) usable WAN(s)" : "no usable WAN"
    }

    /// Feeds the current facts; returns true when `ready` changed.
    /// `active`: this gateway holds the role now. An active gateway keeps it when the peer's layout
    /// differs (its marks are the ones on the wire; the peer is the one that must not take over).
    public mutating func update(
        usableWans: Int, layoutDigest: String, peerLayoutDigest: String?, active: Bool = false,
        at now: ContinuousClock.Instant
    ) -> Bool {
        let before = ready
        if let peerLayoutDigest, peerLayoutDigest != layoutDigest, !active {
            ready = false
            usableSince = nil
            reason =
                "the peer's slot layout (\(peerLayoutDigest)) differs from this one (\(layoutDigest)): list the same WANs in the same order, with the same kernel settings, on both gateways"
        } else if usableWans == 0 {
            ready = false
            usableSince = nil
            reason = "no usable WAN"
        } else if !ready {
            let since = usableSince ?? now
            usableSince = since
            if now - since >= stableAfter {
                ready = true
                usableSince = nil
                reason = "\(usableWans) usable WAN(s)"
            } else {
                reason = "WANs usable again; waiting for them to stay up (ha.stable_after)"
            }
        } else {
            reason = "\(usableWans) usable WAN(s)"
        }
        return ready != before
    }
}
