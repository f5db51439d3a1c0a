/// Which WANs may carry new connections right now. The core treats a WAN as available while
/// its link is up; the health daemon narrows this further with probe results.
public struct WanAvailability: Sendable, Equatable {
    /// Names of WANs that are known to be unusable.
    public var unavailable: Set<String>
    /// WAN name → why the kernel refused one of its own pieces (its rp_filter sysctl, its gateway
    /// route). Such a WAN is planned without those pieces and out of the split, so that one broken
    /// WAN cannot block the apply, and with it the failover, of the others.
    public var isolated: [String: String]

    public init(unavailable: Set<String> = [], isolated: [String: String] = [:]) {
        self.unavailable = unavailable
        self.isolated = isolated
    }

    public static let allAvailable = WanAvailability()
}
