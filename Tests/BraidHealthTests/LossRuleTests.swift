import BraidConfig
import BraidHealth
import Testing

/// The loss rule of the WAN health tracker (more than `max_loss` of the last `loss_window` rounds
/// failed), next to the consecutive-failure rule, with a synthetic clock: round n starts at
/// n × interval and is judged one timeout later.
@Suite struct LossRuleTests {
    static let start = ContinuousClock.now
    /// The shipped defaults: 150 ms / 300 ms / 3 / 5 / quorum 1 / 20 rounds / 30 %.
    static let check = HealthCheckConfig(targets: [IPv4Address("192.0.2.1")!])

    static func verdictTime(_ sequence: Int, _ check: HealthCheckConfig = check) -> ContinuousClock.Instant {
        start + check.interval * sequence + check.timeout
    }

    /// Feeds one answered/failed round per element, numbered from `first`; returns (round number, transition).
    static func feed(
        _ tracker: inout WanHealthTracker, _ answered: [Bool], from first: Int = 0
    ) -> [(Int, WanHealthTracker.Transition)] {
        answered.enumerated().compactMap { offset, ok in
            let sequence = first + offset
            let round = ProbeRound(
                sequence: sequence, startedAt: start + tracker.check.interval * sequence,
                outcomes: [ok ? .answered(rtt: .milliseconds(12)) : .failed(reason: "no answer within 300ms")])
            return tracker.record(round, at: verdictTime(sequence, tracker.check)).map { (sequence, $0) }
        }
    }

    static func alternating(_ count: Int, failingFirst: Bool = true) -> [Bool] {
        (0..<count).map { $0 % 2 == (failingFirst ? 1 : 0) }
    }

    @Test("50 % alternating loss takes the WAN down at its 7th lost round of 20, about 2 s at the defaults")
    func alternatingLossGoesDownWithinTheWindow() throws {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let transitions = Self.feed(&tracker, Self.alternating(40))
        try #require(transitions.count == 1)
        let (sequence, transition) = transitions[0]
        // Failures at rounds 0, 2, …, 12: the 7th is more than 30 % of 20.
        #expect(sequence == 12)
        #expect(transition.state == .down)
        #expect(transition.cause == .loss(.init(failed: 7, window: 20)))
        #expect(transition.rounds == 7)
        // From the start of the first lost round (0 ms) to the 13th round's timeout: 12 × 150 + 300.
        #expect(transition.detectionTime == .milliseconds(2100))
        #expect("\(transition.cause)" == "loss 35%: 7 of the last 20 rounds failed")
        #expect(tracker.state == .down)
    }

    @Test("An upstream cut and healed every 300 ms (two rounds each way) is taken out, though it never fails 3 rounds in a row")
    func cutAndHealEvery300msIsTakenOut() throws {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let pattern = (0..<40).map { ($0 / 2) % 2 == 1 }  // fail, fail, ok, ok, …
        let transitions = Self.feed(&tracker, pattern)
        #expect(transitions.map(\.0) == [12])  // failures 0, 1, 4, 5, 8, 9, 12
        #expect(transitions.map(\.1.state) == [.down])
    }

    @Test("Three failed rounds in a row still take the WAN down first, with that reason")
    func consecutiveFailuresStillWin() throws {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let transitions = Self.feed(&tracker, [true, true, false, false, false])
        #expect(transitions.map(\.0) == [4])
        #expect(transitions.first?.1.cause == .failedInARow(rounds: 3))
        #expect("\(transitions[0].1.cause)" == "3 failed rounds in a row")
        // From the start of round 2, the first failed one, to round 4's verdict: 2 × 150 + 300.
        #expect(transitions.first?.1.detectionTime == .milliseconds(600))
    }

    @Test("One lost round in five (20 %) never trips the loss rule: at most 4 of any 20 rounds")
    func lightLossIsTolerated() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        #expect(Self.feed(&tracker, (0..<200).map { $0 % 5 != 0 }).isEmpty)
        #expect(tracker.state == .up)
        #expect(tracker.windowLoss.failed == 4)
    }

    @Test("A single cut and heal recovers after up_after good rounds, however long the outage filled the window")
    func singleOutageRecoversAfterUpAfter() throws {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let outage = Array(repeating: false, count: 30)
        let transitions = Self.feed(&tracker, Array(repeating: true, count: 10) + outage + Array(repeating: true, count: 10))
        #expect(transitions.map(\.0) == [12, 44])  // down at the 3rd failure, up at the 5th good round (40…44)
        #expect(transitions.map(\.1.cause) == [.failedInARow(rounds: 3), .passedInARow(rounds: 5, loss: nil)])
        // Recovery: from the start of round 40 to round 44's verdict, 4 × 150 + 300 ms.
        #expect(transitions.last?.1.detectionTime == .milliseconds(900))
    }

    @Test("After recovery the window starts empty: one lost round right after an outage does not take the WAN down again")
    func windowStartsAfreshOnRecovery() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        _ = Self.feed(&tracker, Array(repeating: false, count: 30) + Array(repeating: true, count: 5))
        #expect(tracker.state == .up)
        #expect(tracker.windowLoss.failed == 0)
        #expect(Self.feed(&tracker, [false, true, false, true, true, false, true], from: 35).isEmpty)
        #expect(tracker.state == .up)
    }

    @Test("Down for loss: up_after good rounds are not enough while the window still holds too many losses")
    func lossVerdictNeedsTheLossToFallToo() throws {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        // 50 % loss until round 39 (last failure at 38), then healed.
        let transitions = Self.feed(&tracker, Self.alternating(40) + Array(repeating: true, count: 20))
        try #require(transitions.count == 2)
        #expect(transitions[0].0 == 12)
        // The good run starts at round 39, so by round 43 up_after is met, but rounds 24…43 still
        // hold 8 failures and rounds 26…45 hold 7. At round 46 the window 27…46 holds 6 (28…38): 30 %.
        #expect(transitions[1].0 == 46)
        #expect(transitions[1].1.state == .up)
        #expect(transitions[1].1.cause == .passedInARow(rounds: 8, loss: .init(failed: 6, window: 20)))
        #expect("\(transitions[1].1.cause)" == "8 good rounds in a row, loss 30%: 6 of the last 20 rounds failed")
    }

    @Test("Random-looking loss that happens to give five good rounds in a row stays down for loss")
    func luckyRunDuringLossDoesNotRecover() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        // 50 % loss, then five lucky rounds, then 50 % loss again.
        let pattern = Self.alternating(20) + Array(repeating: true, count: 5) + Self.alternating(20)
        let transitions = Self.feed(&tracker, pattern)
        #expect(transitions.map(\.1.state) == [.down])
        #expect(tracker.state == .down)
    }

    @Test("A restarted daemon's WAN that was down needs only up_after good rounds")
    func initiallyDownRecoversAfterUpAfter() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start, initialState: .down)
        let transitions = Self.feed(&tracker, Array(repeating: true, count: 5))
        #expect(transitions.map(\.0) == [4])
    }

    @Test("A smaller window and higher threshold are honoured: 3 of 10 at 20 % trips, 2 of 10 does not")
    func customWindow() {
        var check = Self.check
        check.lossWindow = 10
        check.maxLoss = 0.2
        check.downAfter = 5
        var tracker = WanHealthTracker(check: check, now: Self.start)
        #expect(Self.feed(&tracker, [false, true, true, true, false, true, true, true, true, true]).isEmpty)
        let transitions = Self.feed(&tracker, [false], from: 10)
        // Round 0 has left the window (rounds 1…10 hold failures 4 and 10): still 2.
        #expect(transitions.isEmpty)
        #expect(Self.feed(&tracker, [true, false], from: 11).map(\.0) == [12])
    }
}
