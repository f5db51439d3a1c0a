import BraidConfig

/// The up/down state machine of one WAN, fed with probe rounds in order. Pure: the caller supplies
/// the rounds and the clock readings, so tests drive it deterministically.
///
/// A WAN starts up (a gateway that just booted should carry traffic at once, not after `upAfter`
/// rounds). Two rules take it down:
/// - `downAfter` failed rounds in a row: a dead upstream, judged in under a second.
/// - more than `maxLoss` of the last `lossWindow` rounds failed: an upstream that is cut and healed
///   faster than `downAfter` rounds never fails enough rounds in a row, yet loses connections.
///
/// `upAfter` passing rounds in a row bring it back; after a loss verdict the loss in the window
/// must also have fallen to `maxLoss` or below, so a link still losing half its rounds is not
/// re-used after a lucky run. The window starts empty each time the WAN comes up: the rounds lost
/// during an outage are not held against the recovered WAN.
public struct WanHealthTracker: Sendable {
    public enum State: String, Sendable, Codable { case up, down }

    /// Failed rounds among the last `window` rounds; rounds not seen yet (just after start or
    /// recovery) count as passed.
    public struct WindowLoss: Sendable, Equatable, CustomStringConvertible {
        public var failed: Int
        public var window: Int
        public var ratio: Double { Double(failed) / Double(window) }

        public init(failed: Int, window: Int) {
            self.failed = failed
            self.window = window
        }

        public var description: String {
            "loss \(RatioText.formatPercent(ratio)): \(failed) of the last \(window) rounds failed"
        }
    }

    /// Which rule changed the state: for the log line and the status reason.
    public enum Cause: Sendable, Equatable, CustomStringConvertible {
        /// `down_after` failed rounds in a row.
        case failedInARow(rounds: Int)
        /// More than `max_loss` of the last `loss_window` rounds failed.
        case loss(WindowLoss)
        /// `up_after` good rounds in a row; `loss` is the window's loss when the WAN had been
        /// taken down for loss and the recovery also waited for it to fall.
        case passedInARow(rounds: Int, loss: WindowLoss?)

        public var description: String {
            switch self {
            case .failedInARow(let rounds): "\(rounds) failed rounds in a row"
            case .loss(let loss): "\(loss)"
            case .passedInARow(let rounds, nil): "\(rounds) good rounds in a row"
            case .passedInARow(let rounds, let loss?): "\(rounds) good rounds in a row, \(loss)"
            }
        }
    }

    /// A change of state and the evidence for it.
    public struct Transition: Sendable, Equatable {
        public var state: State
        /// The rounds that caused it: in a row for `downAfter`/`upAfter`, failed in the window for the loss rule.
        public var rounds: Int
        /// From the start of the first round of the evidence (the run, or the oldest failed round
        /// in the loss window) to the verdict.
        public var detectionTime: Duration
        public var cause: Cause
    }

    public let check: HealthCheckConfig
    public private(set) var state: State = .up
    public private(set) var since: ContinuousClock.Instant
    private var failedInARow = 0
    private var passedInARow = 0
    private var runStartedAt: ContinuousClock.Instant?
    /// The last `lossWindow` rounds since the WAN last came up (or started), newest last.
    private var window: [(passed: Bool, startedAt: ContinuousClock.Instant)] = []
    /// Why the WAN is down, when it is; nil while up, and after a restart that found it down.
    public private(set) var downCause: Cause?
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

    /// The loss rule's view of the recent rounds.
    public var windowLoss: WindowLoss {
        WindowLoss(failed: window.filter { !$0.passed }.count, window: check.lossWindow)
    }

    /// Takes one round's result; returns the transition it caused, if any.
    public mutating func record(_ round: ProbeRound, at now: ContinuousClock.Instant) -> Transition? {
        for (index, outcome) in round.outcomes.enumerated() where index < history.count {
            history[index].append(outcome)
            if history[index].count > Self.historyLength { history[index].removeFirst() }
        }
        let passed = round.passes(quorum: check.quorum)
        window.append((passed, round.startedAt))
        if window.count > check.lossWindow { window.removeFirst(window.count - check.lossWindow) }
        let loss = windowLoss
        let lossExceeded = loss.failed > check.toleratedFailedRounds
        if passed {
            if passedInARow == 0 { runStartedAt = round.startedAt }
            passedInARow += 1
            failedInARow = 0
            guard state == .down, passedInARow >= check.upAfter else { return nil }
            if case .loss = downCause {
                guard !lossExceeded else { return nil }
                return change(to: .up, rounds: passedInARow, cause: .passedInARow(rounds: passedInARow, loss: loss), now: now)
            }
            return change(to: .up, rounds: passedInARow, cause: .passedInARow(rounds: passedInARow, loss: nil), now: now)
        } else {
            if failedInARow == 0 { runStartedAt = round.startedAt }
            failedInARow += 1
            passedInARow = 0
            guard state == .up else { return nil }
            if failedInARow >= check.downAfter {
                return change(to: .down, rounds: failedInARow, cause: .failedInARow(rounds: failedInARow), now: now)
            }
            if lossExceeded {
                let firstFailure = window.first { !$0.passed }?.startedAt
                return change(to: .down, rounds: loss.failed, cause: .loss(loss), now: now, evidenceStartedAt: firstFailure)
            }
            return nil
        }
    }

    private mutating func change(
        to newState: State, rounds: Int, cause: Cause, now: ContinuousClock.Instant,
        evidenceStartedAt: ContinuousClock.Instant? = nil
    ) -> Transition {
        state = newState
        since = now
        downCause = newState == .down ? cause : nil
        // A recovered WAN is judged on what it does from now on, not on the outage it came back from.
        if newState == .up { window.removeAll() }
        let start = evidenceStartedAt ?? runStartedAt ?? now
        return Transition(state: newState, rounds: rounds, detectionTime: now - start, cause: cause)
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
