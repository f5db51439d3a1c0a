import BraidConfig
import BraidKernel
import BraidPlanner

/// One WAN's live state as `braid status` shows it.
public struct WanStatus: Sendable, Equatable, Codable {
    public var name: String
    public var interface: String
    public var linkUp: Bool
    public var mark: String
    public var table: UInt32
    public var weight: Int
    /// Share of new connections (0...1) the split gives this WAN with the links and the daemon's
    /// verdicts as they are now.
    public var share: Double
    public var connections: Int
    public var received: TrafficCounter
    public var transmitted: TrafficCounter
}

/// The whole gateway's state for `braid status`.
public struct GatewayStatus: Sendable, Equatable, Codable {
    /// False when Braid's table is not in the kernel (never applied, or removed by `down`).
    public var installed: Bool
    public var wans: [WanStatus]

    /// Reads live numbers for the WANs of `config`: link state, connections by conntrack mark,
    /// and the per-WAN counters in Braid's table.
    /// Marks and tables are those installed (read back from Braid's routes); only a WAN with none
    /// installed gets the slot a fresh apply would give it, never one from a state file that may
    /// describe another namespace. `availability`: the running daemon's verdicts, so SHARE is the
    /// split really installed. `leaseReports`: what client hooks reported
    /// (`ClientLeaseReportStore`), for gateways only they know.
    public static func read(
        config: Config, kernel: any KernelPort,
        availability: WanAvailability = .allAvailable, leaseReports: [ClientLeaseReport] = []
    ) throws(KernelError) -> GatewayStatus {
        var facts = try kernel.readHostFacts()
        facts.leaseReports = leaseReports
        let observed = try kernel.readState(layout: config.kernel)
        let counters = try kernel.readCounters()
        let planningFacts = facts.fillingInMissingInterfaces(of: config, assumedUp: false).facts
        let slots = WanSlotAssignment.slots(
            config, previous: GatewayApplier.previousSlots(config, stored: nil, observed: observed))
        // One conntrack dump for all WANs.
        let connections = try kernel.countConnectionsByMark(mask: config.kernel.markMask)
        let desired = try? GatewayPlanner.plan(config, host: planningFacts, availability: availability, previousSlots: slots)
        var wans: [WanStatus] = []
        for (index, wan) in config.wans.enumerated() {
            let slot = slots[wan.name]!
            let mark = config.kernel.mark(forSlot: slot)
            let planned = desired?.wans[index]
            wans.append(
                WanStatus(
                    name: wan.name, interface: wan.interface, linkUp: facts.interfaces[wan.interface]?.isUp ?? false,
                    mark: hex(mark), table: config.kernel.table(forSlot: slot), weight: wan.weight,
                    share: planned.map { $0.splitModulus == 0 ? 0 : Double($0.splitShare) / Double($0.splitModulus) } ?? 0,
                    connections: connections[mark & config.kernel.markMask] ?? 0,
                    received: counters["rx_\(wan.name)"] ?? TrafficCounter(packets: 0, bytes: 0),
                    transmitted: counters["tx_\(wan.name)"] ?? TrafficCounter(packets: 0, bytes: 0)))
        }
        return GatewayStatus(installed: observed.table != nil, wans: wans)
    }
}
