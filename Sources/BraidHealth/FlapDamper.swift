import BraidConfig

/// Holds a WAN that keeps coming back out of service. Pure, clock injected: the caller feeds it
/// every change of the WAN's own up/down state (its link, and for a WAN with `health` the
/// tracker's verdicts, combined: up when both are up) and asks whether the WAN may carry traffic.
///
/// A flap is a recovery: down → up. The `flaps`-th flap within `window` makes the WAN suppressed
/// for `hold`; a further flap while suppressed starts the hold again, so a WAN is released only
/// after `hold` without a flap. Each suppression that begins less than a `window` after the
/// previous one ended doubles the hold, up to `maxHold`; each whole `window` of calm after a
/// release undoes one doubling, back to `hold`. Going down is never delayed: damping only postpones a return.
///
/// With the defaults (3 flaps in 60 s, 10 s doubling to 5 min) the first and second recoveries
/// within a minute are used at once, so a single outage fails over and comes back as fast as
/// without damping.
public struct FlapDamper: Sendable, Equatable {
    public typealias State = WanHealthTracker.State

    /// A suppression that a `record` call began.
    public struct Suppression: Sendable, Equatable, CustomStringConvertible {
        /// Flaps within the window, including the one that began it.
        public var flaps: Int
        public var window: Duration
        public var hold: Duration
        public var until: ContinuousClock.Instant

        public var description: String {
            "\(flaps) flaps within \(DurationText.format(window)); held down for \(DurationText.format(hold))"
        }
    }

    public let config: FlapDampingConfig
    /// The last state recorded; a WAN is assumed to start up.
    public private(set) var state: State
    /// Times of recent flaps, oldest first, none older than `window`.
    public private(set) var flapTimes: [ContinuousClock.Instant] = []
    /// The end of the current or most recent suppression; nil if it was never suppressed.
    public private(set) var suppressedUntil: ContinuousClock.Instant?
    /// The hold of the current or most recent suppression.
    public private(set) var lastHold: Duration?
    /// How many times the hold has doubled: the next suppression holds `hold × 2^level`, capped.
    private var level = 0

    public init(config: FlapDampingConfig, initialState: State = .up) {
        self.config = config
        self.state = initialState
    }

    /// Whether the WAN must stay out of service at `now`, whatever its links and probes say.
    public func isSuppressed(at now: ContinuousClock.Instant) -> Bool {
        guard config.enabled, let suppressedUntil else { return false }
        return now < suppressedUntil
    }

    /// Records the WAN's state at `now`; a repeated state is ignored. Returns the suppression this
    /// change began, if any. A flap while already suppressed returns nil but moves
    /// `suppressedUntil` later: callers that wake up at the end of a suppression should read
    /// `suppressedUntil` after every call.
    public mutating func record(_ newState: State, at now: ContinuousClock.Instant) -> Suppression? {
        guard newState != state else { return nil }
        state = newState
        guard config.enabled, newState == .up else { return nil }
        flapTimes.append(now)
        let window = config.window
        flapTimes.removeAll { now - $0 >= window }
        if isSuppressed(at: now) {
            suppressedUntil = now + (lastHold ?? config.hold)
            return nil
        }
        guard flapTimes.count >= config.flaps else { return nil }
        if let suppressedUntil {
            let calmWindows = Int((now - suppressedUntil) / config.window)
            level = max(0, level - calmWindows)
        }
        let hold = holdFor(level: level)
        if hold < config.maxHold { level += 1 }
        lastHold = hold
        suppressedUntil = now + hold
        return Suppression(flaps: flapTimes.count, window: config.window, hold: hold, until: now + hold)
    }

    /// `hold × 2^level`, at most `maxHold`.
    private func holdFor(level: Int) -> Duration {
        var hold = config.hold
        for _ in 0..<level {
            hold *= 2
            if hold >= config.maxHold { return config.maxHold }
        }
        return min(hold, config.maxHold)
    }
}
