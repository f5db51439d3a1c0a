import BraidConfig

/// With `ha:`, a WAN's slot (its mark, table and rule) comes from the config alone: the WAN
/// listed n-th gets slot n. conntrackd copies every connection's mark to the peer, and the
/// peer routes by it after a takeover, so a mark must name the same WAN on both gateways;
/// slots kept from each node's own apply history (`WanSlotAssignment.assign`) could differ.
/// Both gateways carry a digest of the layout and compare it over the sync link
/// (`HAPeerLink`): a gateway whose layout differs from its peer's refuses the active role.
public enum HASlotLayout {
    /// WAN name → slot, in config order.
    public static func slots(_ wans: [WanConfig]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: wans.enumerated().map { ($1.name, $0 + 1) })
    }

    /// The layout in words: mark mask, first table, and each WAN's name, interface and slot.
    /// Two gateways that agree on this agree on what every synced mark means.
    public static func text(_ config: Config) -> String {
        let wans = config.wans.enumerated().map { "\($1.name)@\($1.interface)=\($0 + 1)" }
        return "mask=0x\(String(config.kernel.markMask, radix: 16)) table=\(config.kernel.firstTable) "
            + wans.joined(separator: ",")
    }

    /// 16 hex digits of FNV-1a over `text`, stable across processes and machines.
    public static func digest(_ config: Config) -> String {
        var hash = FNV1a64()
        hash.add(text(config).utf8)
        let hex = String(hash.value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension WanSlotAssignment {
    /// The slots the planner uses: config order with `ha:` (see `HASlotLayout`), else each WAN
    /// keeps the slot of the last apply.
    public static func slots(_ config: Config, previous: [String: Int]) -> [String: Int] {
        if config.ha != nil { return HASlotLayout.slots(config.wans) }
        return assign(config.wans, previous: previous, capacity: config.kernel.markCapacity)
    }
}
