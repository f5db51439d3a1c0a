import BraidPlanner
import Foundation

/// One nft transaction on Braid's table as a list of typed operations: the kernel applies it
/// whole or not at all. `LinuxKernel` renders it to nft syntax for `nft -f -`; `FakeKernel`
/// applies it to an object model that refuses what the kernel refuses (see `NftObjectModel`).
/// Rule bodies stay nft text: Braid's planner writes them, and the model reads from them only
/// the names they refer to.
public struct NftTransaction: Sendable, Equatable {
    public var family: String
    public var table: String
    public var operations: [NftOperation]

    public init(
        family: String = RoutingLayout.tableFamily, table: String = RoutingLayout.tableName, _ operations: [NftOperation] = []
    ) {
        self.family = family
        self.table = table
        self.operations = operations
    }

    /// Deletes the table whether or not it is there: nft 1.0.6 has no `destroy`, and adding a
    /// table that exists is no error.
    public static func deletingTable(
        family: String = RoutingLayout.tableFamily, table: String = RoutingLayout.tableName
    ) -> NftTransaction {
        NftTransaction(family: family, table: table, [.addTable, .deleteTable])
    }

    /// The declarations that create `ruleset`'s objects (an existing object gains the content).
    public static func declarations(of ruleset: NftablesRuleset) -> [NftOperation] {
        ruleset.objects.map(NftOperation.add)
    }

    /// How many bytes of nft syntax `LinuxKernel` writes for it, for benchmarks and logs.
    public var renderedByteCount: Int { NftTransactionRenderer.render(self).utf8.count }

    /// `name`s of the objects the transaction declares, as "kind name", for tests and logs.
    public var declared: [String] {
        operations.compactMap { operation in
            switch operation {
            case .addCounter(let counter): "counter \(counter.name)"
            case .addSet(let set): "set \(set.name)"
            case .addMap(let map): "map \(map.name)"
            case .addChain(let chain): "chain \(chain.name)"
            default: nil
            }
        }
    }
}

/// One command of a transaction. `add` of an object that exists with the same declaration adds
/// its content (rules, elements), as a declarative `table … { … }` block does; with another
/// declaration it is refused.
public enum NftOperation: Sendable, Equatable {
    case addTable
    /// Removes every rule of every chain; sets, maps, counters and the chains themselves stay.
    case flushTable
    case deleteTable
    case addCounter(NftablesCounter)
    case deleteCounter(String)
    case addSet(NftablesSet)
    case flushSet(String)
    case deleteSet(String)
    case addMap(NftablesMap)
    case flushMap(String)
    case deleteMap(String)
    case addChain(NftablesChain)
    case flushChain(String)
    case deleteChain(String)
    case addRule(chain: String, NftablesRule)
    case addSetElements(set: String, [String])
    case addMapElements(map: String, [NftMapElement])
    /// Deletes these elements, written as they were added (an interval as the same prefix or
    /// range); the kernel refuses the whole transaction when one is not there.
    case deleteSetElements(set: String, [String])
    /// Deletes the elements with these keys, whatever they map to.
    case deleteMapElements(map: String, keys: [String])
    /// A table as `nft list table` printed it, loaded as it is: how an undo puts back a table
    /// whose rendering Braid did not keep (a lost state file). Its text is not Braid's rendering,
    /// so nothing but nft can read it; the fake accepts only its own listings.
    case loadListing(String)

    /// For a declaration, its kind's place in `render()`'s order (counters, sets, maps, chains);
    /// nil for a command. A run of declarations in that order is one `table … { … }` block.
    var declarationRank: Int? {
        switch self {
        case .addCounter: 0
        case .addSet: 1
        case .addMap: 2
        case .addChain: 3
        default: nil
        }
    }

    public static func add(_ object: NftablesObject) -> NftOperation {
        switch object {
        case .counter(let counter): .addCounter(counter)
        case .set(let set): .addSet(set)
        case .map(let map): .addMap(map)
        case .chain(let chain): .addChain(chain)
        }
    }

    /// The flush of an object's content; nil for a counter, which has none.
    public static func flush(_ kind: NftObjectKind, _ name: String) -> NftOperation? {
        switch kind {
        case .counter: nil
        case .set: .flushSet(name)
        case .map: .flushMap(name)
        case .chain: .flushChain(name)
        }
    }

    public static func delete(_ kind: NftObjectKind, _ name: String) -> NftOperation {
        switch kind {
        case .counter: .deleteCounter(name)
        case .set: .deleteSet(name)
        case .map: .deleteMap(name)
        case .chain: .deleteChain(name)
        }
    }
}

/// The kinds of object a table holds; the raw value is nft's keyword.
public enum NftObjectKind: String, Sendable, CaseIterable {
    case counter, set, map, chain
}

/// One `key : value` element of a map.
public struct NftMapElement: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// A map's declaration as data: what it is keyed by and what it maps to. Read from the planner's
/// `type …` / `typeof …` line.
public struct NftMapType: Sendable, Equatable {
    public enum Key: Sendable, Equatable {
        /// `type ipv4_addr`, `type mark`, `type ifname`.
        case type(String)
        /// `typeof ip saddr`, `typeof numgen random mod 10`.
        case typeOf(String)
    }

    public enum Value: Sendable, Equatable {
        /// Elements are verdicts (`jump use_1`, `drop`): the map is a verdict map (`vmap`).
        case verdict
        /// Elements name counters (`counter name … map @m`).
        case counter
        /// Elements are data of this type (`mark`, `ipv4_addr`).
        case data(String)
    }

    public var key: Key
    public var value: Value

    public init(key: Key, value: Value) {
        self.key = key
        self.value = value
    }

    /// Nil when `line` is not `type K : V` or `typeof K : V`.
    public init?(_ line: String) {
        guard let separator = line.range(of: " : ", options: .backwards) else { return nil }
        let keyPart = line[..<separator.lowerBound]
        let valuePart = String(line[separator.upperBound...])
        if keyPart.hasPrefix("typeof ") {
            key = .typeOf(String(keyPart.dropFirst("typeof ".count)))
        } else if keyPart.hasPrefix("type ") {
            key = .type(String(keyPart.dropFirst("type ".count)))
        } else {
            return nil
        }
        value =
            switch valuePart {
            case "verdict": .verdict
            case "counter": .counter
            default: .data(valuePart)
            }
    }
}
