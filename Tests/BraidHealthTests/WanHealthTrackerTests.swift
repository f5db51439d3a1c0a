import BraidConfig
import BraidHealth
import Testing

/// The WAN health state machine, driven round by round with a synthetic clock.
@Suite struct WanHealthTrackerTests {
    static let start = ContinuousClock.now
    static let check = HealthCheckConfig(
        targets: [IPv4Address("192.0.2.1")!, IPv4Address("192.0.2.2")!],
        interval: .milliseconds(100), timeout: .milliseconds(200), downAfter: 3, upAfter: 5, quorum: 1)

    static func round(_ sequence: Int, _ answered: [Bool]) -> ProbeRound {
        ProbeRound(
            sequence: sequence, startedAt: start + .milliseconds(100 * sequence),
            outcomes: answered.map { $0 ? .answered(rtt: .milliseconds(10)) : .failed(reason: "timeout") })
    }

    /// Feeds rounds and returns the transitions, with the verdict at each round's timeout.
    static func feed(_ tracker: inout WanHealthTracker, _ rounds: [[Bool]], from first: Int = 0) -> [WanHealthTracker.Transition]
    {
        rounds.enumerated().compactMap { offset, answered in
            let sequence = first + offset
            return tracker.record(round(sequence, answered), at: start + .milliseconds(100 * sequence + 200))
        }
    }

    @Test func startsUp() {
        #expect(WanHealthTracker(check: Self.check, now: Self.start).state == .up)
    }

    @Test func downAfterThreeFailedRoundsWithTheDetectionTime() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let transitions = Self.feed(&tracker, [[true, true], [false, false], [false, false], [false, false]])
        #expect(transitions.count == 1)
        #expect(transitions.first?.state == .down)
        // First failed round started at 100 ms; the third one's timeout is at 300 + 200 ms.
        #expect(transitions.first?.detectionTime == .milliseconds(400))
    }

    @Test("A lost probe, or two, never flips a WAN when down_after is 3")
    func isolatedLossesDoNotFlip() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        let pattern: [[Bool]] = [
            [false, false], [true, true], [false, false], [false, false], [true, false], [false, false],
        ]
        #expect(Self.feed(&tracker, pattern).isEmpty)
        #expect(tracker.state == .up)
    }

    @Test("Quorum 1: one dead target of two keeps the WAN up")
    func quorumOfOne() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        #expect(Self.feed(&tracker, Array(repeating: [true, false], count: 20)).isEmpty)
        #expect(tracker.loss(target: 1) == 1)
        #expect(tracker.loss(target: 0) == 0)
        #expect(tracker.lastRTT(target: 0) == .milliseconds(10))
    }

    @Test("Quorum 2: one dead target of two takes the WAN down")
    func quorumOfTwo() {
        var check = Self.check
        check.quorum = 2
        var tracker = WanHealthTracker(check: check, now: Self.start)
        #expect(Self.feed(&tracker, Array(repeating: [true, false], count: 3)).map(\.state) == [.down])
    }

    @Test func upAgainOnlyAfterFiveGoodRoundsInARow() {
        var tracker = WanHealthTracker(check: Self.check, now: Self.start)
        _ = Self.feed(&tracker, Array(repeating: [false, false], count: 3))
        #expect(tracker.state == .down)
        // Four good, one bad, then five good.
        let pattern = Array(repeating: [true, true], count: 4) + [[false, false]] + Array(repeating: [true, true], count: 5)
        let transitions = Self.feed(&tracker, pattern, from: 3)
        #expect(transitions.map(\.state) == [.up])
        #expect(transitions.first?.rounds == 5)
        #expect(tracker.state == .up)
    }

    @Test func defaultsPromiseSubSecondWorstCaseDetection() {
        let defaults = HealthCheckConfig(targets: [IPv4Address("192.0.2.1")!])
        #expect(defaults.worstCaseDetection == .milliseconds(750))
        #expect(defaults.downAfter > 1)
    }
}

/// Health-check config text: methods and durations.
@Suite struct HealthCheckTextTests {
    @Test(arguments: [
        ("icmp", "icmp"), ("tcp:443", "tcp:443"), ("http://example.com/health", "http://example.com/health"),
        ("http://example.com:8080/x", "http://example.com:8080/x"), ("dns:example.org", "dns:example.org"),
    ])
    func methodsRoundTrip(text: String, described: String) throws {
        let method = try HealthCheckMethod.parse(text).get()
        #expect(method.description == described)
    }

    @Test(arguments: [
        "ping", "tcp:", "tcp:0", "tcp:70000", "http://", "http://ex ample.com/", "dns:", "dns:a..b", "https://x/", "tcp:+80",
        "tcp:0443", "http://h:+8080/",
    ])
    func badMethodsAreRejected(text: String) {
        #expect((try? HealthCheckMethod.parse(text).get()) == nil)
    }

    @Test func durations() {
        #expect(DurationText.parse("100ms") == .milliseconds(100))
        #expect(DurationText.parse("1s") == .seconds(1))
        #expect(DurationText.parse("1.5s") == .milliseconds(1500))
        #expect(DurationText.parse("2m") == .seconds(120))
        for bad in ["", "ms", "10", "1h", "-1s", "1.2.3s", "fast"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
    }
}
