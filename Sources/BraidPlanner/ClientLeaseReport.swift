import BraidConfig

/// What a DHCP or PPP client last told Braid about one interface, through the client hook Braid
/// installs (`braid hooks install`): the lease's address and router, the client's reason word, and
/// when. The planner's input for gateways the kernel never shows: Debian's dhclient-script adds
/// `default via` to main, which the kernel refuses (EEXIST) on a second WAN, and a renewal that
/// brings a new router leaves the old route in place. Reading and writing the report files is
/// BraidApply's (`ClientLeaseReportStore`); this is only the value.
public struct ClientLeaseReport: Sendable, Hashable {
    /// Which client sent it; the word decides how `reason` reads.
    public enum Client: String, Sendable, Hashable, CaseIterable {
        /// ISC dhclient (Debian's isc-dhcp-client), through dhclient-exit-hooks.d.
        case dhclient
        /// dhcpcd (Debian's dhcpcd-base), through dhcpcd-hooks.
        case dhcpcd
        /// pppd, through ip-up.d / ip-down.d (and ipv6-up.d / ipv6-down.d).
        case pppd
    }

    public var interface: String
    public var family: AddressFamily
    public var client: Client
    /// The client's own word: dhclient's and dhcpcd's `$reason` (`BOUND`, `RENEW`, `EXPIRE`, …),
    /// or `ip-up` / `ip-down` for pppd.
    public var reason: String
    /// The lease is in force: the client bound, renewed, rebound or rebooted with it (or pppd's
    /// link is up). False after an expiry, release, stop or `ip-down`.
    public var isBound: Bool
    /// The address the client put on the interface (`new_ip_address`, `PPP_LOCAL`).
    public var address: IPAddress?
    /// The first router the lease names (`new_routers`), or pppd's peer (`PPP_REMOTE`).
    public var router: IPAddress?
    /// Wall-clock seconds since 1970 when the hook ran.
    public var reportedAt: Double

    public init(
        interface: String, family: AddressFamily = .ipv4, client: Client, reason: String, isBound: Bool,
        address: IPAddress?, router: IPAddress?, reportedAt: Double
    ) {
        self.interface = interface
        self.family = family
        self.client = client
        self.reason = reason
        self.isBound = isBound
        self.address = address
        self.router = router
        self.reportedAt = reportedAt
    }

    /// Whether `reason` from `client` means the lease is in force. Reasons that say nothing about
    /// the lease (dhclient's `PREINIT`, dhcpcd's `CARRIER`, `NOCARRIER` is handled by the link)
    /// are nil: the hook records nothing for them.
    public static func isBound(reason: String, client: Client) -> Bool? {
        switch client {
        case .dhclient:
            switch reason {
            case "BOUND", "RENEW", "REBIND", "REBOOT", "TIMEOUT": return true
            case "EXPIRE", "FAIL", "RELEASE", "STOP": return false
            default: return nil
            }
        case .dhcpcd:
            switch reason {
            case "BOUND", "RENEW", "REBIND", "REBOOT", "INFORM", "STATIC": return true
            case "EXPIRE", "NAK", "RELEASE", "STOP", "DEPARTED", "NOCARRIER", "IPV4LL": return false
            case "BOUND6", "RENEW6", "REBIND6", "REBOOT6", "INFORM6", "ROUTERADVERT": return true
            case "EXPIRE6", "RELEASE6", "STOP6": return false
            default: return nil
            }
        case .pppd:
            switch reason {
            case "ip-up", "ipv6-up": return true
            case "ip-down", "ipv6-down": return false
            default: return nil
            }
        }
    }
}
