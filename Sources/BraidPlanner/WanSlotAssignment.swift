import BraidConfig

/// Gives every WAN a slot (its number inside Braid's mark bits, which also picks its routing
/// table and fwmark rule) that it keeps for as long as it stays in the config. Established
/// connections carry their WAN's mark in conntrack; if marks followed list positions, reordering,
/// inserting or removing a WAN would send every other WAN's open connections out the wrong uplink.
public enum WanSlotAssignment {
    /// `previous`: WAN name → slot from the last apply (empty on a fresh host). WANs still in
    /// `wans` keep their slot; new ones take the lowest free slots, in config order, so a fresh
    /// install numbers the WANs 1, 2, 3… as listed. A slot freed by this very change is given out
    /// only when no other is free: the removed WAN's connections may still be in conntrack with
    /// its mark, and a new WAN must not inherit them.
    public static func assign(_ wans: [WanConfig], previous: [String: Int], capacity: Int) -> [String: Int] {
        var slots: [String: Int] = [:]
        var taken = Set<Int>()
        for wan in wans {
            guard let slot = previous[wan.name], (1...max(capacity, 1)).contains(slot), !taken.contains(slot) else { continue }
            slots[wan.name] = slot
            taken.insert(slot)
        }
        let freedNow = Set(previous.values).subtracting(taken)
        for wan in wans where slots[wan.name] == nil {
            let slot =
                (1...max(capacity, 1)).first { !taken.contains($0) && !freedNow.contains($0) }
                ?? (1...max(capacity, 1)).first { !taken.contains($0) } ?? taken.count + 1
            slots[wan.name] = slot
            taken.insert(slot)
        }
        return slots
    }
}
