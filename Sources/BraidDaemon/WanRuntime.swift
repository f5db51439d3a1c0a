import BraidConfig
import BraidHealth
import BraidPlanner
import Foundation

/// Everything the control loop knows about one WAN between events: its link as last read, its
/// health tracker and flap damper, why it is in its state, the mark its probes carry, and why
/// the last apply could not route through it. One value per WAN, so a reload or a failed apply
/// replaces or restores a WAN's state whole.
public struct WanRuntime: Sendable {
    /// Why a WAN is in its state, and since when (wall clock, as shown by `braid status`).
    public struct Reason: Sendable, Equatable {
        public var text: String
        public var since: Date
    }

    /// The interface exists and is up.
    public var linkUp = false
    /// The interface's addresses, as last read.
    public var addresses: [InterfaceAddress] = []
    /// Probe verdicts; nil for a WAN without `health`.
    public var tracker: WanHealthTracker?
    /// Holds a WAN that keeps coming back (link or probes) out of the split.
    public var damper: FlapDamper
    /// The tracker has given a verdict since it was created: a round passed, or the WAN went down.
    public var judged = false
    public var reason: Reason?
    /// From the last successful apply (a WAN keeps its mark across config changes); nil when
    /// the plan did not include the WAN.
    public var mark: UInt32?
    /// Why the last apply could not route through it (`DesiredState.unusableReasons`).
    public var unusable: String?
    /// The last apply found no gateway for it (`auto`, nothing learned yet).
    public var waitingForGateway = false
    /// Its IPv4 gateway as the last apply resolved it; nil while none is known.
    public var gateway: ResolvedGateway?
    /// When it last got a gateway or a new one: probe rounds started before then went out with no
    /// route or by the old next hop, so they say nothing about the uplink and are ignored.
    public var gatewayChangedAt: ContinuousClock.Instant?
    /// Its IPv4 route as the last apply installed it; nil when it had none. A change of this route
    /// (a new gateway) or its loss deletes the WAN's connections: they cannot work any more.
    public var route: Route?
    /// IPv6 probe verdicts, for a WAN whose IPv6 is judged apart from its IPv4 (see `FamilyHealth`).
    public var ipv6Tracker: WanHealthTracker?
    public var ipv6Judged = false
    public var ipv6Reason: Reason?
    /// Holds its IPv6 alone out of the IPv6 split when its IPv6 keeps coming back; nil unless
    /// its IPv6 is judged apart.
    public var ipv6Damper: FlapDamper?
    /// Why the last apply could not carry IPv6 through it (`DesiredState.ipv6UnusableReasons`).
    public var ipv6Unusable: String?
    /// The interface's IPv6 facts as last read, for a WAN that takes IPv6.
    var ipv6Link: IPv6LinkFacts?
    /// The operator drained it: out of the split for new connections, nothing flushed.
    public var drained = false

    public init(damper: FlapDamper) { self.damper = damper }

    /// Its probes say it is down.
    public var isDown: Bool { tracker?.state == .down }

    /// Flap damping keeps it out of service at `now`.
    public func isHeld(at now: ContinuousClock.Instant) -> Bool { damper.isSuppressed(at: now) }

    /// What `braid status` shows for it at `now` (see `WanState` for the order).
    public func state(at now: ContinuousClock.Instant) -> WanState {
        if !linkUp { return .noLink }
        if addresses.isEmpty { return .noAddress }
        if waitingForGateway { return .noGateway }
        if unusable != nil { return .unusable }
        if drained { return .drained }
        if isDown { return .down }
        if isHeld(at: now) { return .held }
        if tracker != nil, !judged { return .probing }
        return .up
    }
}
