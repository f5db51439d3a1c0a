/// Which WANs may carry new connections right now. The core treats a WAN as available while
/// its link is up; the health daemon narrows this further with probe results.
public struct WanAvailability: Sendable, Equatable {
    /// Names of WANs that are known to be unusable.
    public var unavailable: Set<String>

    public init(unavailable: Set<String> = []) { self.unavailable = unavailable }

    public static let allAvailable = WanAvailability()
}
