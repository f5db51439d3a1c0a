import BraidConfig
import Synchronization

/// The policy compiler's last outputs, by what the compiler reads: the rules, the sets, the WANs'
/// names and which of them are usable. A memo of a pure function, so a hit is exactly what
/// compiling again would give. A weight change leaves all of these alone, and compiling 10,000
/// rules was most of such a change's plan; a WAN that goes down and comes back finds the
/// all-up compilation still here.
final class PolicyCompileMemo: Sendable {
    static let shared = PolicyCompileMemo()

    struct Key: Sendable, Equatable {
        var rules: [TrafficRuleConfig]
        var sets: [AddressSetConfig]
        var configWans: [String]
        var plannedWans: [String]
        var usable: Set<String>
        var usableIPv6: Set<String>?
        var grouping: PolicyCompiler.Grouping

        init(_ config: Config, wans: [PlannedWan], usable: Set<String>, usableIPv6: Set<String>?) {
            rules = config.rules
            sets = config.sets
            configWans = config.wans.map(\.name)
            plannedWans = wans.map(\.name)
            self.usable = usable
            self.usableIPv6 = usableIPv6
            grouping = PolicyCompiler.grouping
        }
    }

    /// Two: the state before a health change and the one after.
    private static let capacity = 2
    private let recent = Mutex<[(key: Key, output: PolicyCompiler.Output)]>([])

    /// `compile()`'s output for `key`, from the memo when it was compiled lately. Failures are
    /// not remembered.
    func output<Failure: Error>(
        for key: Key, _ compile: () throws(Failure) -> PolicyCompiler.Output
    ) throws(Failure) -> PolicyCompiler.Output {
        if let known = recent.withLock({ recent in recent.firstIndex { $0.key == key }.map { recent[$0].output } }) {
            return known
        }
        let output = try compile()
        recent.withLock { recent in
            recent.removeAll { $0.key == key }
            recent.insert((key, output), at: 0)
            if recent.count > Self.capacity { recent.removeLast() }
        }
        return output
    }
}
