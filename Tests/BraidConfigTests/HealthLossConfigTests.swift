import BraidConfig
import Testing

/// `health.loss_window` and `health.max_loss`.
@Suite struct HealthLossConfigTests {
    static func config(health: String = "", top: String = "") -> String { oneHealthCheckedWan(health: health, top: top) }

    @Test func defaultsWhenTheKeysAreAbsent() throws {
        let health = try #require(try ConfigLoader.parse(Self.config()).wans[0].health)
        #expect(health.lossWindow == 20)
        #expect(health.maxLoss == 0.3)
        #expect(health.toleratedFailedRounds == 6)
    }

    @Test(arguments: [("25%", 0.25), ("12.5%", 0.125), ("0.25", 0.25), ("\"40%\"", 0.4), ("99%", 0.99)])
    func maxLossAsPercentOrFraction(text: String, expected: Double) throws {
        let config = try ConfigLoader.parse(Self.config(health: "      loss_window: 40\n      max_loss: \(text)"))
        let health = try #require(config.wans[0].health)
        #expect(health.lossWindow == 40)
        #expect(abs(health.maxLoss - expected) < 1e-12)
    }

    @Test func tolerancesAreNotLostToRounding() {
        for (window, loss, tolerated) in [(20, 0.3, 6), (10, 0.7, 7), (100, 0.29, 29), (3, 0.34, 1), (20, 0.05, 1)] {
            let check = HealthCheckConfig(targets: [IPv4Address("192.0.2.1")!], lossWindow: window, maxLoss: loss)
            #expect(check.toleratedFailedRounds == tolerated, "\(window) × \(loss)")
        }
    }

    @Test func percentFormatting() {
        #expect(RatioText.formatPercent(0.3) == "30%")
        #expect(RatioText.formatPercent(0.125) == "12.5%")
        #expect(RatioText.formatPercent(0.35) == "35%")
    }

    /// Health lines start at line 9 (the `health` mapping is line 7, its targets line 8).
    static let invalid: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "max_loss of 0%", yaml: config(health: "      max_loss: 0%"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "max_loss of 100%", yaml: config(health: "      max_loss: 100%"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "max_loss of 1.5", yaml: config(health: "      max_loss: 1.5"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "max_loss is a word", yaml: config(health: "      max_loss: some"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "negative max_loss", yaml: config(health: "      max_loss: -10%"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "max_loss with a space before %", yaml: config(health: "      max_loss: 30 %"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 9),
        InvalidConfigCase(
            problem: "loss_window of 1", yaml: config(health: "      loss_window: 1"),
            expectedPath: "wans[0].health.loss_window", expectedLine: 9),
        InvalidConfigCase(
            problem: "loss_window above 1000", yaml: config(health: "      loss_window: 1001"),
            expectedPath: "wans[0].health.loss_window", expectedLine: 9),
        InvalidConfigCase(
            problem: "loss window tolerating less than one round",
            yaml: config(health: "      loss_window: 3\n      max_loss: 30%"),
            expectedPath: "wans[0].health.max_loss", expectedLine: 10),
    ]

    @Test(arguments: invalid)
    func badValuesNameTheKeyAndLine(_ invalidCase: InvalidConfigCase) throws {
        try invalidCase.expectRefusedAtKeyAndLine()
    }
}
