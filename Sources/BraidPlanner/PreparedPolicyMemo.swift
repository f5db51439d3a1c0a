import BraidConfig
import Synchronization

/// The last `PreparedPolicy`, by what preparing reads: the rules, the sets, the WANs' names and
/// whether IPv6 is compiled, never their health. A health change of a grouped policy then costs
/// only the choice of lookups; the rank maps are not computed again. A memo of a pure function.
final class PreparedPolicyMemo: Sendable {
    static let shared = PreparedPolicyMemo()

    struct Key: Sendable, Equatable {
        var rules: [TrafficRuleConfig]
        var sets: [AddressSetConfig]
        var configWans: [String]
        var plannedWans: [String]
        var dualStack: Bool
        var grouping: PolicyCompiler.Grouping

        init(_ config: Config, wans: [PlannedWan], dualStack: Bool, grouping: PolicyCompiler.Grouping) {
            rules = config.rules
            sets = config.sets
            configWans = config.wans.map(\.name)
            plannedWans = wans.map(\.name)
            self.dualStack = dualStack
            self.grouping = grouping
        }
    }

    private let last = Mutex<(key: Key, prepared: PreparedPolicy)?>(nil)

    /// `prepare()`'s result for `key`, from the memo when it is the last one prepared. Failures
    /// are not remembered.
    func prepared<Failure: Error>(
        for key: Key, _ prepare: () throws(Failure) -> PreparedPolicy
    ) throws(Failure) -> PreparedPolicy {
        if let known = last.withLock({ last in last?.key == key ? last?.prepared : nil }) { return known }
        let prepared = try prepare()
        last.withLock { $0 = (key, prepared) }
        return prepared
    }
}
