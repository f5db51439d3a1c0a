import BraidConfig
import BraidPlanner

/// The narrow interface between Braid and the kernel: read the host, read what Braid installed,
/// perform one step, and read the live numbers `braid status` shows. `LinuxKernel` is the real one;
/// `FakeKernel` keeps the same state in memory for tests.
public protocol KernelPort: Sendable {
    func readHostFacts() throws(KernelError) -> HostFacts
    /// What Braid has installed now, read from the kernel (never from Braid's records).
    func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState
    /// The names of the counters, maps and sets in Braid's table, as the kernel has them. Slower than
    /// `readState` (which reads only chains) with many objects, so only a full reload asks for them.
    func readObjectNames() throws(KernelError) -> TableObjectNames
    /// Only Braid's ip rules and routes (`table` is nil): the cheap check run on every route or rule notification.
    func readRouting() throws(KernelError) -> ObservedKernelState
    func readSysctls(_ keys: [String]) throws(KernelError) -> [String: String]
    func perform(_ step: KernelStep) throws(KernelError)
    /// Conntrack entries whose mark, under `mask`, equals `mark`.
    func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int
    /// Every conntrack entry counted in one dump, grouped by its mark under `mask` (0 for entries
    /// no WAN marked): what a metrics scrape reads for all WANs at once.
    func countConnectionsByMark(mask: UInt32) throws(KernelError) -> [UInt32: Int]
    /// Deletes the conntrack entries whose mark, under `mask`, equals `mark` (and no others);
    /// returns how many were deleted.
    func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int
    /// The same for one family's entries only (see the extension for ports that cannot tell them apart).
    func flushConnections(mark: UInt32, mask: UInt32, family: AddressFamily) throws(KernelError) -> Int
    /// Braid's named counters: name → (packets, bytes).
    func readCounters() throws(KernelError) -> [String: TrafficCounter]
    /// The nftables ruleset generation, which every committed nft transaction (anyone's, on any
    /// table) increments. Cheap: one netlink request.
    func readRulesetGeneration() throws(KernelError) -> UInt64
    /// Braid's table as the kernel lists it, rules and set elements but no counter values, in a
    /// form `nft -f` loads back; nil when there is no table. Slow with large sets.
    func readTableListing() throws(KernelError) -> String?
    /// Every other program's IPv4 tables (nftables, including iptables-nft's, and legacy iptables
    /// when installed), for `ForeignFirewallAudit`. Braid's own table is left out.
    func readForeignRuleset() throws(KernelError) -> ForeignRuleset
}

/// Packet and byte totals of one nft counter.
public struct TrafficCounter: Sendable, Equatable, Codable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }
}

extension KernelPort {
    /// Deletes the conntrack entries of one family that carry `mark` under `mask` (a WAN whose
    /// IPv6 alone went down keeps its IPv4 connections). A port that cannot tell the families
    /// apart deletes both, which is what flushing did before families were judged apart.
    public func flushConnections(mark: UInt32, mask: UInt32, family: AddressFamily) throws(KernelError) -> Int {
        try flushConnections(mark: mark, mask: mask)
    }
}
