import BraidConfig
import BraidHealth
import BraidPlanner

/// How a WAN's probes judge each family. A WAN has one prober (one round over all its targets);
/// a WAN that takes IPv6 and has targets of both families is judged twice from each round: its
/// IPv4 targets decide its IPv4, its IPv6 targets its IPv6. A WAN whose targets are all of one
/// family is judged once, and that verdict holds for both families (one link, one fate).
enum FamilyHealth {
    /// The primary check (the IPv4 targets when there are both, else all) and the IPv6 one, which
    /// exists only when the families are judged apart.
    static func checks(_ wan: WanConfig) -> (primary: HealthCheckConfig, ipv6: HealthCheckConfig?)? {
        guard let health = wan.health else { return nil }
        guard wan.ipv6 != nil, let ipv4 = health.check(for: .ipv4), let ipv6 = health.check(for: .ipv6) else {
            return (health, nil)
        }
        return (ipv4, ipv6)
    }

    /// A round over all of `targets`, as the primary check's round and (when judged apart) the
    /// IPv6 check's: each keeps its targets' outcomes in order.
    static func split(_ round: ProbeRound, targets: [IPAddress], apart: Bool) -> (primary: ProbeRound, ipv6: ProbeRound?) {
        guard apart, round.outcomes.count == targets.count else { return (round, nil) }
        func part(_ family: AddressFamily) -> ProbeRound {
            ProbeRound(
                sequence: round.sequence, startedAt: round.startedAt,
                outcomes: zip(targets, round.outcomes).filter { $0.0.family == family }.map(\.1))
        }
        return (part(.ipv4), part(.ipv6))
    }
}

extension WanRuntime {
    /// Its IPv6 cannot take new connections: its own IPv6 probes say down, or (judged with its
    /// IPv4) the WAN's probes do.
    var isIPv6Down: Bool { ipv6Tracker.map { $0.state == .down } ?? isDown }

    /// Flap damping keeps its IPv6 alone out of service at `now` (its own damper, for IPv6
    /// judged apart); the whole WAN's hold holds its IPv6 too.
    func isIPv6Held(at now: ContinuousClock.Instant) -> Bool {
        isHeld(at: now) || (ipv6Damper?.isSuppressed(at: now) ?? false)
    }

    /// The IPv6 state `braid status` shows, for a WAN whose IPv6 is judged apart; nil otherwise
    /// (its IPv6 shares `state(at:)`).
    func ipv6State(at now: ContinuousClock.Instant) -> WanState? {
        guard let ipv6Tracker else { return nil }
        let shared = state(at: now)
        if shared == .noLink || shared == .noAddress || shared == .unusable || shared == .held { return shared }
        if ipv6Unusable != nil { return .unusable }
        if ipv6Tracker.state == .down { return .down }
        if isIPv6Held(at: now) { return .held }
        return ipv6Judged ? .up : .probing
    }
}

/// What of a WAN's interface its IPv6 plan depends on, beyond its link: its IPv6 addresses (a
/// global one to masquerade to, the ones port forwards listen on) and the IPv6 default routes
/// others put on it (an `auto` gateway is learned from the router advertisement's). A change
/// re-plans, so Braid follows an RA-learned gateway as it changes or expires.
struct IPv6LinkFacts: Sendable, Equatable {
    var addresses: [IPv6InterfaceAddress]
    var defaultRoutes: [KernelDefaultRoute]

    init(_ facts: InterfaceFacts?) {
        addresses = facts?.ipv6Addresses ?? []
        defaultRoutes = (facts?.defaultRoutes ?? []).filter { $0.family == .ipv6 }
    }
}
