/// A named policy (mwan3's "policy", pfSense's "gateway group"): a set of WANs with their own
/// weights and tiers. A rule picks one with `policy: NAME`; `default_policy` takes the traffic no
/// rule decides. Within a policy, only the lowest tier with a usable member carries new
/// connections, shared by the members' weights; when no member is usable, `lastResort` decides.
public struct NamedPolicyConfig: Sendable, Equatable {
    public var name: String
    public var members: [PolicyMemberConfig]
    public var lastResort: PolicyLastResort

    public init(name: String, members: [PolicyMemberConfig], lastResort: PolicyLastResort = .main) {
        self.name = name
        self.members = members
        self.lastResort = lastResort
    }
}

/// One WAN of a named policy, with its share and tier inside that policy (independent of the
/// WAN's own `weight` and `tier`, which are the global pool's).
public struct PolicyMemberConfig: Sendable, Equatable {
    public var wan: String
    /// Relative share within its tier; 0: only when no weighted member of the tier is usable.
    public var weight: Int
    /// 1 is tried first; a higher tier carries traffic only when every lower tier has no usable member.
    public var tier: Int
    /// Overrides the top-level `flush_on_down` for this member's WAN; nil keeps it.
    public var flushOnDown: Bool?

    public init(wan: String, weight: Int = 1, tier: Int = 1, flushOnDown: Bool? = nil) {
        self.wan = wan
        self.weight = weight
        self.tier = tier
        self.flushOnDown = flushOnDown
    }
}

/// What a named policy does with a new connection when none of its members is usable.
public enum PolicyLastResort: String, Sendable, Equatable, CaseIterable {
    /// No WAN mark: the main routing table decides (mwan3's `default`).
    case main
    /// Drop the connection silently (mwan3's `blackhole`).
    case drop
    /// Refuse it with an ICMP "no route" error, so the client gives up at once (mwan3's `unreachable`).
    case unreachable
}

extension Config {
    /// The policy named `name`, if the config defines it.
    public func policy(named name: String) -> NamedPolicyConfig? { policies.first { $0.name == name } }

    /// Whether the connections of `wan` are deleted when it goes down: a policy member's
    /// `flush_on_down` wins over the top-level setting (the loader refuses members that disagree).
    public func flushesOnDown(_ wan: String) -> Bool {
        policies.lazy.flatMap(\.members).first { $0.wan == wan && $0.flushOnDown != nil }?.flushOnDown ?? flushOnDown
    }
}
