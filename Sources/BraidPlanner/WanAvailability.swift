import BraidConfig

/// Which WANs may carry new connections right now. The core treats a WAN as available while
/// its link is up; the health daemon narrows this further with probe results.
public struct WanAvailability: Sendable, Equatable {
    /// Names of WANs that are known to be unusable.
    public var unavailable: Set<String>
    /// WAN name → why the kernel refused one of its own pieces (its rp_filter sysctl, its gateway
    /// route). Such a WAN is planned without those pieces and out of the split, so that one broken
    /// WAN cannot block the apply, and with it the failover, of the others.
    public var isolated: [String: String]
    /// WANs whose IPv6 is unusable while their IPv4 may work (each family is judged by its own
    /// health targets); nil: IPv6 follows `unavailable`, as for a WAN probed over IPv4 only.
    public var ipv6Unavailable: Set<String>?
    /// WAN name → why the kernel refused one of its IPv6 pieces (its IPv6 route, its accept_ra
    /// sysctl): only its IPv6 is planned without them and out of the IPv6 split; its IPv4 carries on.
    public var ipv6Isolated: [String: String]

    public init(
        unavailable: Set<String> = [], isolated: [String: String] = [:], ipv6Unavailable: Set<String>? = nil,
        ipv6Isolated: [String: String] = [:]
    ) {
        self.unavailable = unavailable
        self.isolated = isolated
        self.ipv6Unavailable = ipv6Unavailable
        self.ipv6Isolated = ipv6Isolated
    }

    /// Why `wan`'s IPv6 pieces are left out, if they are: the whole WAN's isolation or its IPv6's.
    public func ipv6IsolationReason(_ wan: String) -> String? { isolated[wan] ?? ipv6Isolated[wan] }

    /// The WANs that may not take new connections of `family`.
    public func unavailableWans(for family: AddressFamily) -> Set<String> {
        family == .ipv4 ? unavailable : ipv6Unavailable ?? unavailable
    }

    public static let allAvailable = WanAvailability()
}
