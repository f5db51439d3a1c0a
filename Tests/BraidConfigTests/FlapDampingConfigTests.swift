import BraidConfig
import Testing

/// The top-level `flap_damping` section.
@Suite struct FlapDampingConfigTests {
    static func config(health: String = "", top: String = "") -> String { oneHealthCheckedWan(health: health, top: top) }

    @Test func defaultsWhenTheSectionIsAbsent() throws {
        let config = try ConfigLoader.parse(Self.config())
        #expect(
            config.flapDamping
                == FlapDampingConfig(enabled: true, flaps: 3, window: .seconds(60), hold: .seconds(10), maxHold: .seconds(300)))
    }

    @Test func flapDampingSectionIsRead() throws {
        let config = try ConfigLoader.parse(
            Self.config(
                top: """
                    flap_damping:
                      flaps: 4
                      window: 2m
                      hold: 30s
                      max_hold: 1800s
                    """))
        #expect(
            config.flapDamping == FlapDampingConfig(flaps: 4, window: .seconds(120), hold: .seconds(30), maxHold: .seconds(1800)))
    }

    @Test func flapDampingCanBeTurnedOff() throws {
        let config = try ConfigLoader.parse(Self.config(top: "flap_damping:\n  enabled: false"))
        #expect(!config.flapDamping.enabled)
    }

    /// `flap_damping` is line 10, its keys from line 11.
    static let invalid: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "flap_damping.flaps of 0", yaml: config(top: "flap_damping:\n  flaps: 0"),
            expectedPath: "flap_damping.flaps", expectedLine: 11),
        InvalidConfigCase(
            problem: "flap_damping.window is not a duration", yaml: config(top: "flap_damping:\n  window: fast"),
            expectedPath: "flap_damping.window", expectedLine: 11),
        InvalidConfigCase(
            problem: "flap_damping.hold below 1 s", yaml: config(top: "flap_damping:\n  hold: 500ms"),
            expectedPath: "flap_damping.hold", expectedLine: 11),
        InvalidConfigCase(
            problem: "flap_damping.max_hold shorter than hold", yaml: config(top: "flap_damping:\n  hold: 1m\n  max_hold: 30s"),
            expectedPath: "flap_damping.max_hold", expectedLine: 12),
        InvalidConfigCase(
            problem: "default max_hold shorter than a long hold", yaml: config(top: "flap_damping:\n  hold: 10m"),
            expectedPath: "flap_damping.hold", expectedLine: 11),
        InvalidConfigCase(
            problem: "flap_damping.enabled is not a boolean", yaml: config(top: "flap_damping:\n  enabled: no"),
            expectedPath: "flap_damping.enabled", expectedLine: 11),
        InvalidConfigCase(
            problem: "unknown flap_damping key", yaml: config(top: "flap_damping:\n  suppress_limit: 2000"),
            expectedPath: "flap_damping.suppress_limit", expectedLine: 11),
        InvalidConfigCase(
            problem: "flap_damping is a word", yaml: config(top: "flap_damping: off"),
            expectedPath: "flap_damping", expectedLine: 10),
    ]

    @Test(arguments: invalid)
    func badValuesNameTheKeyAndLine(_ invalidCase: InvalidConfigCase) throws {
        try invalidCase.expectRefusedAtKeyAndLine()
    }
}
