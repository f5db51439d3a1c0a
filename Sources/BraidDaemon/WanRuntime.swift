import BraidConfig
import BraidHealth
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
        if unusable != nil { return .unusable }
        if drained { return .drained }
        if isDown { return .down }
        if isHeld(at: now) { return .held }
        if tracker != nil, !judged { return .probing }
        return .up
    }
}
