import BraidPlanner

/// One change to the kernel, small enough to undo. An apply is a list of steps; when one fails,
/// the inverses of those already done run in reverse, leaving the kernel as it was.
public enum KernelStep: Sendable, Equatable, CustomStringConvertible {
    case addRoute(Route)
    case deleteRoute(Route)
    /// Swap the route in a slot (a WAN's gateway changed): the old one is what an undo restores.
    case replaceRoute(old: Route, new: Route)
    case addRule(PolicyRule)
    case deleteRule(PolicyRule)
    /// Load one nft transaction; `undo` is the transaction that restores the previous table (nil:
    /// there was none, so an undo deletes the table).
    case loadRuleset(transaction: NftTransaction, undo: NftTransaction?)
    /// Load `transaction` to put back an earlier table.
    case restoreRuleset(transaction: NftTransaction)
    /// Delete Braid's table, whether or not it is there.
    case deleteTable
    case setSysctl(key: String, value: String, previous: String)

    public var inverse: KernelStep {
        switch self {
        case .addRoute(let route): .deleteRoute(route)
        case .deleteRoute(let route): .addRoute(route)
        case .replaceRoute(let old, let new): .replaceRoute(old: new, new: old)
        case .addRule(let rule): .deleteRule(rule)
        case .deleteRule(let rule): .addRule(rule)
        case .loadRuleset(_, let undo): undo.map { .restoreRuleset(transaction: $0) } ?? .deleteTable
        case .restoreRuleset, .deleteTable: .deleteTable  // only used as an inverse or by `down`; never inverted
        case .setSysctl(let key, let value, let previous): .setSysctl(key: key, value: previous, previous: value)
        }
    }

    public var description: String {
        switch self {
        case .addRoute(let route): "add route \(route)"
        case .deleteRoute(let route): "delete route \(route)"
        case .replaceRoute(_, let new): "replace route \(new)"
        case .addRule(let rule): "add ip rule \(rule)"
        case .deleteRule(let rule): "delete ip rule \(rule)"
        case .loadRuleset: "load nft table \(RoutingLayout.tableFamily) \(RoutingLayout.tableName)"
        case .restoreRuleset: "restore nft table \(RoutingLayout.tableFamily) \(RoutingLayout.tableName)"
        case .deleteTable: "delete nft table \(RoutingLayout.tableFamily) \(RoutingLayout.tableName)"
        case .setSysctl(let key, let value, _): "set sysctl \(key) = \(value)"
        }
    }
}
