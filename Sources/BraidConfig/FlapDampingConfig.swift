/// How Braid keeps a WAN that keeps coming back out of service: the `flaps`-th recovery within
/// `window` holds the WAN down for `hold`, and every further suppression that starts before the
/// WAN has been calm for a `window` doubles the hold, up to `maxHold`. It covers every WAN, with
/// or without `health`: a recovery is a link coming back as well as the probes passing again.
/// The top-level `flap_damping` section; see docs/config.md.
public struct FlapDampingConfig: Sendable, Equatable {
    public var enabled: Bool
    /// Recoveries (down → up) within `window` that make the WAN suppressed; the `flaps`-th is held.
    public var flaps: Int
    public var window: Duration
    /// The first hold; also how long a suppressed WAN must go without a further flap to be released.
    public var hold: Duration
    public var maxHold: Duration

    /// A single outage and its recovery, or two, are never delayed: only the third recovery
    /// within a minute is held. 10 s is long enough for a connection to be worth opening there,
    /// doubling to 5 min keeps a link that flaps all day out of the split nearly all day.
    public static let defaultFlaps = 3
    public static let defaultWindow = Duration.seconds(60)
    public static let defaultHold = Duration.seconds(10)
    public static let defaultMaxHold = Duration.seconds(300)

    public init(
        enabled: Bool = true, flaps: Int = Self.defaultFlaps, window: Duration = Self.defaultWindow,
        hold: Duration = Self.defaultHold, maxHold: Duration = Self.defaultMaxHold
    ) {
        self.enabled = enabled
        self.flaps = flaps
        self.window = window
        self.hold = hold
        self.maxHold = maxHold
    }

    /// Damping that never suppresses anything.
    public static let off = FlapDampingConfig(enabled: false)
}

extension ConfigLoader {
    static func readFlapDamping(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> FlapDampingConfig? {
        guard let keys = collector.mapping(cursor, allowed: ["enabled", "flaps", "window", "hold", "max_hold"]) else {
            return nil
        }
        let before = collector.issues.count
        var damping = FlapDampingConfig()
        if let enabledCursor = keys["enabled"], let value = collector.boolean(enabledCursor) { damping.enabled = value }
        if let flapsCursor = keys["flaps"], let value = collector.integer(flapsCursor, in: 1...1000, of: "a number of flaps") {
            damping.flaps = value
        }
        func duration(_ key: String, _ range: ClosedRange<Duration>) -> Duration? {
            guard let durationCursor = keys[key] else { return nil }
            return collector.duration(durationCursor, in: range)
        }
        if let value = duration("window", .seconds(1)...(.seconds(3600))) { damping.window = value }
        if let value = duration("hold", .seconds(1)...(.seconds(3600))) { damping.hold = value }
        if let value = duration("max_hold", .seconds(1)...(.seconds(86400))) { damping.maxHold = value }
        if collector.issues.count == before, damping.maxHold < damping.hold, let maxCursor = keys["max_hold"] ?? keys["hold"] {
            collector.report(
                maxCursor,
                "max_hold (\(DurationText.format(damping.maxHold))) is shorter than hold (\(DurationText.format(damping.hold))); the hold only grows"
            )
        }
        return collector.issues.count == before ? damping : nil
    }
}
