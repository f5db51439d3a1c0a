import BraidConfig

/// The WANs whose joint loss passes a rule over. A rule whose `use` list (up to its first target
/// that never falls through) names only WANs is passed over while none of them is usable, so the
/// next matching rule applies; a list that ends in `balance`, `main`, `drop` or a named policy is
/// never passed over (`wans` is nil). Rules of one group come and go together, which is what lets
/// a large policy's rank maps be split by group and left alone on a health change
/// (`PreparedPolicy`).
struct PassOverGroup: Hashable, Sendable {
    /// Sorted and unique; nil: never passed over.
    var wans: [String]?

    init(_ list: [RuleTarget]) {
        var names: Set<String> = []
        for target in list {
            guard case .wan(let name) = target else {
                wans = nil
                return
            }
            names.insert(name)
        }
        wans = names.sorted()
    }

    /// Whether the group's rules are in play when `usable` are the usable WANs (of one family).
    func isLive(_ usable: Set<String>) -> Bool { wans.map { $0.contains(where: usable.contains) } ?? true }

    /// For a map's comment: when its lookup leaves `traffic_rules`.
    var note: String {
        guard let wans else { return "never passed over" }
        switch wans.count {
        case 1: return "left out while \(wans[0]) is down"
        case 2: return "left out while \(wans[0]) and \(wans[1]) are both down"
        default: return "left out while \(wans.dropLast().joined(separator: ", ")) and \(wans.last!) are all down"
        }
    }
}
