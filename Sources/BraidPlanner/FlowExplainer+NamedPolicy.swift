import BraidConfig
import Foundation

extension FlowExplainer {
    /// How a named policy places a new connection now: its members' states, the tier in use and
    /// the members' shares, or its last resort when no member is usable.
    static func throughPolicy(
        _ name: String, stickySeconds: Int?, flow: Flow, config: Config, usable usableNames: [String], steps: [String],
        reason: String
    ) -> FlowExplanation {
        var steps = steps
        guard let policy = config.policy(named: name) else {
            steps.append("policy \(name) is not defined")
            return FlowExplanation(steps: steps, outcome: "no such policy: \(name)", wans: [])
        }
        let family = flow.family
        let usable = Set(usableNames)
        let states = policy.members.map { member -> String in
            let carries = config.wans.first { $0.name == member.wan }?.carries(family) ?? false
            let state = !carries ? "takes no \(family)" : usable.contains(member.wan) ? "usable" : "not usable"
            return "\(member.wan) tier \(member.tier) weight \(member.weight): \(state)"
        }
        steps.append("policy \(name) members: \(states.joined(separator: "; "))")
        guard let active = NamedPolicyPlanner.activeTier(policy, config: config, usable: usable) else {
            let outcome: String
            switch policy.lastResort {
            case .main: outcome = "no WAN mark: the main routing table decides"
            case .drop: outcome = "dropped"
            case .unreachable: outcome = "refused with ICMP no-route (unreachable)"
            }
            steps.append("no member of policy \(name) is usable: its last resort is \(policy.lastResort.rawValue)")
            return FlowExplanation(steps: steps, outcome: "\(outcome) (policy \(name) last resort, \(reason))", wans: [])
        }
        let total = active.weights.map(\.weight).reduce(0, +)
        let shares = active.weights.map { entry -> String in
            let percent = Double(entry.weight) * 100 / Double(max(total, 1))
            return "\(config.wans[entry.wanIndex].name) \(percent.formatted(.number.precision(.fractionLength(0...1))))%"
        }
        steps.append("policy \(name) uses tier \(active.tier): \(shares.joined(separator: ", "))")
        if let stickySeconds {
            steps.append(
                "sticky \(stickySeconds)s: a client\(family == .ipv6 ? " (/64)" : "") that got a usable member of tier \(active.tier) in the last \(stickySeconds)s keeps it; the kernel's sets \(NamedPolicyPlanner.stickySetName(name, seconds: stickySeconds, wan: "WAN", family: family)) hold who has which"
            )
        }
        return FlowExplanation(
            steps: steps, outcome: "policy \(name), tier \(active.tier): \(shares.joined(separator: ", ")) (\(reason))",
            wans: active.weights.map { config.wans[$0.wanIndex].name })
    }
}
