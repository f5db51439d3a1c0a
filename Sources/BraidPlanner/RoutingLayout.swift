import BraidConfig

/// The fixed numbers Braid uses in the kernel, in one place. The configurable ones (mark mask,
/// first table, first priority) come from `KernelLayoutConfig`; these are the ones that are not.
public enum RoutingLayout {
    /// The `protocol` value on every ip rule and route Braid installs. It is how `apply` and
    /// `down` find Braid's own entries among everyone else's, without a state file. 213 is unused
    /// by the kernel's RTPROT_* list and by common routing daemons (BGP/OSPF/ISIS use 186-192).
    public static let protocolTag: UInt32 = 213
    /// The nft table that holds everything Braid puts in netfilter.
    public static let tableFamily = "inet"
    public static let tableName = "braid"
    public static let mainTable: UInt32 = 254
    /// Sysctl values that reverse-path filtering treats as loose.
    public static let looseReversePathFilter = "2"
}

extension KernelLayoutConfig {
    /// The fwmark value of the WAN in `slot` (1-based, see `WanSlotAssignment`): 0 means "no
    /// WAN chosen yet".
    public func mark(forSlot slot: Int) -> UInt32 {
        UInt32(slot) << markShift
    }

    public func table(forSlot slot: Int) -> UInt32 {
        firstTable + UInt32(slot - 1)
    }

    /// The rule that lets main's specific routes (LAN, VPN, connected subnets) win over the
    /// per-WAN default routes; without it, replies to LAN hosts would leave by a WAN.
    public var suppressRulePriority: UInt32 { firstRulePriority }

    public func fwmarkRulePriority(forSlot slot: Int) -> UInt32 {
        firstRulePriority + UInt32(slot)
    }

    /// `use: [main]` connections: their mark sends them to the main table.
    public func mainRulePriority(highestSlot: Int) -> UInt32 {
        firstRulePriority + 1 + UInt32(highestSlot)
    }

    public func fallbackRulePriority(highestSlot: Int) -> UInt32 {
        firstRulePriority + 2 + UInt32(highestSlot)
    }
}
