import BraidConfig

/// What one probe to one target found.
public enum ProbeOutcome: Sendable, Equatable {
    case answered(rtt: Duration)
    case failed(reason: String)

    public var isAnswered: Bool { if case .answered = self { true } else { false } }
}

/// One round of probes for one WAN: every target was probed once; each outcome is in target order.
public struct ProbeRound: Sendable, Equatable {
    public var sequence: Int
    public var startedAt: ContinuousClock.Instant
    public var outcomes: [ProbeOutcome]

    public init(sequence: Int, startedAt: ContinuousClock.Instant, outcomes: [ProbeOutcome]) {
        self.sequence = sequence
        self.startedAt = startedAt
        self.outcomes = outcomes
    }

    public func passes(quorum: Int) -> Bool {
        outcomes.filter(\.isAnswered).count >= quorum
    }
}
