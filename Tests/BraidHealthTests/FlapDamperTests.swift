import BraidConfig
import BraidHealth
import Testing

/// Flap damping with a manual clock: instants are offsets from a fixed start.
@Suite struct FlapDamperTests {
    static let start = ContinuousClock.now
    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    /// Down at `from`, up `period` later, down again `period` after that, … `count` recoveries.
    static func flap(_ damper: inout FlapDamper, count: Int, every period: Int, from: Int) -> [FlapDamper.Suppression] {
        (0..<count).flatMap { index -> [FlapDamper.Suppression?] in
            let down = from + 2 * period * index
            return [damper.record(.down, at: at(down)), damper.record(.up, at: at(down + period))]
        }.compactMap { $0 }
    }

    @Test("A single outage and recovery is never held")
    func singleOutageIsNotDelayed() {
        var damper = FlapDamper(config: FlapDampingConfig())
        #expect(damper.record(.down, at: Self.at(0)) == nil)
        #expect(!damper.isSuppressed(at: Self.at(0)))
        #expect(damper.record(.up, at: Self.at(800)) == nil)
        #expect(!damper.isSuppressed(at: Self.at(800)))
        #expect(damper.suppressedUntil == nil)
    }

    @Test("Two outages within a minute are not held; a third within the minute is")
    func thirdRecoveryWithinTheWindowIsHeld() throws {
        var damper = FlapDamper(config: FlapDampingConfig())
        #expect(Self.flap(&damper, count: 2, every: 10_000, from: 0).isEmpty)  // ups at 10 s and 30 s
        #expect(!damper.isSuppressed(at: Self.at(30_000)))
        let suppressions = Self.flap(&damper, count: 1, every: 10_000, from: 40_000)  // up at 50 s
        let suppression = try #require(suppressions.first)
        #expect(suppression.flaps == 3)
        #expect(suppression.hold == .seconds(10))
        #expect(suppression.until == Self.at(60_000))
        #expect("\(suppression)" == "3 flaps within 60s; held down for 10s")
        #expect(damper.isSuppressed(at: Self.at(59_999)))
        #expect(!damper.isSuppressed(at: Self.at(60_000)))
    }

    @Test("Flaps further apart than the window are never held")
    func slowFlapsAreNotHeld() {
        var damper = FlapDamper(config: FlapDampingConfig())
        #expect(Self.flap(&damper, count: 10, every: 15_000, from: 0).isEmpty)  // a recovery every 30 s: 2 per minute
        #expect(!damper.isSuppressed(at: Self.at(300_000)))
    }

    @Test(
        "A link flapping every 300 ms is suppressed at its 3rd recovery, held while it flaps, released 10 s after the last flap")
    func linkFlappingEvery300ms() throws {
        var damper = FlapDamper(config: FlapDampingConfig())
        // Down at 0, up at 300, down at 600, up at 900, down at 1200, up at 1500, … for 5 s.
        let suppressions = Self.flap(&damper, count: 9, every: 300, from: 0)  // last up at 16 × 300 + 300 = 5100
        #expect(suppressions.count == 1)
        #expect(suppressions.first?.until == Self.at(1500 + 10_000))
        // Each flap while suppressed starts the hold again.
        #expect(damper.suppressedUntil == Self.at(5100 + 10_000))
        #expect(damper.isSuppressed(at: Self.at(15_099)))
        #expect(!damper.isSuppressed(at: Self.at(15_100)))
    }

    @Test("A link that goes on flapping after its release is held twice as long, up to max_hold; calm brings the hold back")
    func holdDoublesAndDecays() throws {
        var damper = FlapDamper(config: FlapDampingConfig())
        var holds: [Duration] = []
        var time = 0
        // Bursts of 3 flaps, each burst starting 1 s after the previous suppression ended.
        for _ in 0..<8 {
            let suppressions = Self.flap(&damper, count: 3, every: 300, from: time)
            let suppression = try #require(suppressions.first)
            holds.append(suppression.hold)
            time = Int((suppression.until - Self.start) / .milliseconds(1)) + 1000
        }
        #expect(holds == [10, 20, 40, 80, 160, 300, 300, 300].map { .seconds($0) })
        // Ten calm minutes (ten windows) after the last release: back to the first hold.
        let calm = time + 600_000
        let suppressions = Self.flap(&damper, count: 3, every: 300, from: calm)
        #expect(suppressions.map(\.hold) == [.seconds(10)])
    }

    @Test("One calm window after a release undoes one doubling")
    func oneCalmWindowUndoesOneDoubling() throws {
        var damper = FlapDamper(config: FlapDampingConfig())
        let first = try #require(Self.flap(&damper, count: 3, every: 300, from: 0).first)
        let released = Int((first.until - Self.start) / .milliseconds(1))
        let second = try #require(Self.flap(&damper, count: 3, every: 300, from: released + 1000).first)
        #expect(second.hold == .seconds(20))
        let secondReleased = Int((second.until - Self.start) / .milliseconds(1))
        let third = try #require(Self.flap(&damper, count: 3, every: 300, from: secondReleased + 61_000).first)
        #expect(third.hold == .seconds(20))
    }

    @Test("Going down is never delayed, and repeated states are not flaps")
    func downsAndRepeatsAreNotFlaps() {
        var damper = FlapDamper(config: FlapDampingConfig())
        for time in stride(from: 0, to: 3000, by: 100) { #expect(damper.record(.up, at: Self.at(time)) == nil) }
        #expect(damper.flapTimes.isEmpty)
        #expect(damper.record(.down, at: Self.at(3000)) == nil)
        #expect(damper.state == .down)
    }

    @Test("With enabled: false nothing is ever held")
    func disabledNeverSuppresses() {
        var damper = FlapDamper(config: .off)
        #expect(Self.flap(&damper, count: 50, every: 300, from: 0).isEmpty)
        #expect(!damper.isSuppressed(at: Self.at(15_000)))
    }

    @Test("flaps: 1 turns damping into a hold-down timer: every recovery waits `hold`")
    func oneFlapIsAHoldDownTimer() {
        var damper = FlapDamper(config: FlapDampingConfig(flaps: 1, hold: .seconds(5), maxHold: .seconds(5)))
        #expect(Self.flap(&damper, count: 1, every: 1000, from: 0).map(\.until) == [Self.at(6000)])
        #expect(Self.flap(&damper, count: 1, every: 1000, from: 100_000).map(\.hold) == [.seconds(5)])
    }

    @Test("Fed the tracker's verdicts, a WAN with health whose upstream flaps is held after its third recovery")
    func dampsTrackerVerdicts() {
        let check = HealthCheckConfig(targets: [IPv4Address("192.0.2.1")!])
        var tracker = WanHealthTracker(check: check, now: Self.start)
        var damper = FlapDamper(config: FlapDampingConfig())
        var suppressions: [FlapDamper.Suppression] = []
        // Outages of 4 rounds, then 6 good rounds (5 to recover, 1 up), repeated: 10 rounds = 1.5 s each.
        for sequence in 0..<60 {
            let ok = sequence % 10 >= 4
            let round = ProbeRound(
                sequence: sequence, startedAt: Self.start + check.interval * sequence,
                outcomes: [ok ? .answered(rtt: .milliseconds(10)) : .failed(reason: "timeout")])
            let now = Self.start + check.interval * sequence + check.timeout
            if let transition = tracker.record(round, at: now), let suppression = damper.record(transition.state, at: now) {
                suppressions.append(suppression)
            }
        }
        #expect(suppressions.count == 1)
        #expect(suppressions.first?.flaps == 3)
    }
}
