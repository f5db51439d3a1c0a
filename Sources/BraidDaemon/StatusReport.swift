import BraidApply
import BraidConfig
import BraidKernel
import BraidPlanner

/// What `braid status --json` prints and `GET /api/v1/status` serves: the kernel's view of each
/// WAN (link, mark, table, share, connections, counters), plus the daemon's live health when one runs.
public struct StatusReport: Sendable, Codable {
    public var installed: Bool
    public var wans: [WanStatus]
    public var daemon: DaemonStatus?
    /// Other programs' chains that drop or NAT Braid's LAN→WAN traffic (`ForeignFirewallAudit`).
    public var otherFirewalls: [ForeignFirewallFinding]

    public init(installed: Bool, wans: [WanStatus], daemon: DaemonStatus?, otherFirewalls: [ForeignFirewallFinding]) {
        self.installed = installed
        self.wans = wans
        self.daemon = daemon
        self.otherFirewalls = otherFirewalls
    }

    /// Reads the kernel (blocking: a few `ip`/`nft` runs and one conntrack dump; call it off the
    /// control loop). SHARE is the split installed: the WANs the daemon keeps out (down, held,
    /// drained), or with no daemon, those the last apply left out.
    public static func read(
        config: Config, kernel: any KernelPort, store: AppliedStateStore, daemon: DaemonStatus?,
        leaseReports: [ClientLeaseReport] = []
    ) throws(KernelError) -> StatusReport {
        let stored = store.load()
        let unavailable =
            daemon.map { $0.wans.filter { !$0.state.carriesTraffic }.map(\.name) } ?? stored?.unavailableWans ?? []
        let status = try GatewayStatus.read(
            config: config, kernel: kernel, availability: WanAvailability(unavailable: Set(unavailable)),
            leaseReports: leaseReports)
        return StatusReport(
            installed: status.installed, wans: status.wans, daemon: daemon,
            otherFirewalls: ForeignFirewallAudit.check(config: config, kernel: kernel))
    }
}
