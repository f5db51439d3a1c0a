import BraidConfig

/// Gives every WAN a slot (its number inside Braid's mark bits, which also picks its routing
/// table and fwmark rule) that it keeps for as long as it stays in the config. Established
/// connections carry their WAN's mark in conntrack; if marks followed list positions, reordering,
/// inserting or removing a WAN would send every other WAN's open connections out the wrong uplink.
public enum WanSlotAssignment {
    /// `previous`: WAN name → slot from the last apply (empty on a fresh host). WANs still in
    /// `wans` keep their slot; new ones take the lowest free slots, in config order, so a fresh
    /// install numbers the WANs 1, 2, 3… as listed.
    public static func assign(_ wans: [WanConfig], previous: [String: Int], capacity: Int) -> [String: Int] {
        var slots: [String: Int] = [:]
        var taken = Set<Int>()
        for wan in wans {
            guard let slot = previous[wan.name], (1...max(capacity, 1)).contains(slot), !taken.contains(slot) else { continue }
            slots[wan.name] = slot
            taken.insert(slot)
        }
        var next = 1
        for wan in wans where slots[wan.name] == nil {
            while taken.contains(next) { next += 1 }
            slots[wan.name] = next
            taken.insert(next)
        }
        return slots
    }
}
