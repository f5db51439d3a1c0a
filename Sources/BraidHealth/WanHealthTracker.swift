import BraidConfig

/// The up/down state machine of one WAN, fed with probe rounds in order. Pure: the caller supplies
/// the rounds and the clock readings, so tests drive it deterministically.
///
/// A WAN starts up (a gateway that just booted should carry traffic at once, not after `upAfter`
/// rounds); `downAfter` failed rounds in a row take it down and `upAfter` passing rounds in a row
/// bring it back. A single lost probe therefore never flips a WAN unless `downAfter` is 1.
public struct WanHealthTracker: Sendable {
    public enum State: String, Sendable, Codable { case up, down }

    /// A change of state and the evidence for it.
    public struct Transition: Sendable, Equatable {
        public var state: State
        /// The rounds in a row that caused it.
        public var rounds: Int
        /// From the start of the first round of the run that caused the change to the verdict.
        public var detectionTime: Duration
    }

    public let check: HealthCheckConfig
    public private(set) var state: State = .up
    public private(set) var since: ContinuousClock.Instant
    private var failedInARow = 0
    private var passedInARow = 0
    private var runStartedAt: ContinuousClock.Instant?
    /// Per target: recent outcomes, newest last, for RTT and loss.
    public private(set) var history: [[ProbeOutcome]]
    public static let historyLength = 20

    /// `initialState` lets a restarted daemon keep a WAN it had found down out of service until
    /// `upAfter` good rounds, instead of trying it again at once.
    public init(check: HealthCheckConfig, now: ContinuousClock.Instant, initialState: State = .up) {
        self.check = check
        self.since = now
        self.state = initialState
        history = Array(repeating: [], count: check.targets.count)
    }

    /// Takes one round's result; returns the transition it caused, if any.
    public mutating func record(_ round: ProbeRound, at now: ContinuousClock.Instant) -> Transition? {
        for (index, outcome) in round.outcomes.enumerated() where index < history.count {
            history[index].append(outcome)
            if history[index].count > Self.historyLength { history[index].removeFirst() }
        }
        if round.passes(quorum: check.quorum) {
            if passedInARow == 0 { runStartedAt = round.startedAt }
            passedInARow += 1
            failedInARow = 0
            if state == .down, passedInARow >= check.upAfter { return change(to: .up, rounds: passedInARow, now: now) }
        } else {
            if failedInARow == 0 { runStartedAt = round.startedAt }
            failedInARow += 1
            passedInARow = 0
            if state == .up, failedInARow >= check.downAfter { return change(to: .down, rounds: failedInARow, now: now) }
        }
        return nil
    }

    private mutating func change(to newState: State, rounds: Int, now: ContinuousClock.Instant) -> Transition {
        state = newState
        since = now
        return Transition(state: newState, rounds: rounds, detectionTime: now - (runStartedAt ?? now))
    }

    /// Loss over the recent history of one target, 0...1.
    public func loss(target index: Int) -> Double {
        let outcomes = history[index]
        guard !outcomes.isEmpty else { return 0 }
        return Double(outcomes.filter { !$0.isAnswered }.count) / Double(outcomes.count)
    }

    /// The most recent round-trip time to one target, if it answered recently.
    public func lastRTT(target index: Int) -> Duration? {
        for outcome in history[index].reversed() {
            if case .answered(let rtt) = outcome { return rtt }
        }
        return nil
    }
}
