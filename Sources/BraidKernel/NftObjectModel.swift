import BraidPlanner

/// Braid's nft table as the kernel holds it, for `FakeKernel`: it applies a transaction the way
/// the kernel does — whole or not at all — and refuses what the kernel refuses, so a transaction
/// that passes the fake does not fail on a real kernel for a reason the fake could have seen:
///
/// - an operation on an object (or table) that does not exist: a flush, a delete, a rule or an
///   element added to it;
/// - a declaration of an existing object with another declaration (a chain's hook, a set's or
///   map's type or flags), or a map element whose key is there with another value;
/// - a delete of an object still in use: a chain with rules or named by a `goto`/`jump`, a set or
///   map named by a rule, a counter named by a counter map;
/// - a rule or map element that names a missing chain (`goto`, `jump`), set or map (`@name`;
///   `vmap @name` must be a verdict map), or counter.
///
/// References are checked after each block of declarations (as `NftTransactionRenderer` groups
/// them), after each rule or element added by a command, and when the transaction ends — not
/// declaration by declaration, because nft creates all the objects of a block before its rules:
/// a rule may `goto` a chain declared below it in the same block, but not in a later one.
public struct NftObjectModel: Sendable, Equatable {
    /// The table, or nil when there is none.
    public private(set) var table: NftablesRuleset?

    public init(table: NftablesRuleset? = nil) {
        self.table = table
    }

    /// The table's text, as `NftablesRuleset.render()` writes it; nil when there is none.
    public func render() -> String? { table?.render() }

    /// Applies `transaction`; on a refusal, nothing of it is applied.
    public mutating func apply(_ transaction: NftTransaction) throws(NftRefusal) {
        var working = Working(table: table)
        let operations = transaction.operations
        for (index, operation) in operations.enumerated() {
            try working.apply(operation, family: transaction.family, name: transaction.table)
            // The end of the transaction is checked below.
            if index + 1 < operations.count, Self.isCheckpoint(after: operation, before: operations[index + 1]) {
                try working.finished().map(Self.checkReferences)
            }
        }
        let result = working.finished()
        if let result { try Self.checkReferences(result) }
        table = result
    }

    /// Where nft resolves names: after a command that adds a rule or elements, and at the end of a
    /// block of declarations.
    static func isCheckpoint(after operation: NftOperation, before next: NftOperation) -> Bool {
        switch operation {
        case .addRule, .addMapElements: return true
        default:
            guard let rank = operation.declarationRank else { return false }
            return next.declarationRank.map { $0 < rank } ?? true
        }
    }

    /// Every name a rule or map element refers to must exist.
    static func checkReferences(_ table: NftablesRuleset) throws(NftRefusal) {
        let chains = Set(table.chains.map(\.name))
        let sets = Set(table.sets.map(\.name))
        let maps = Dictionary(table.maps.map { ($0.name, NftMapType($0.type)) }, uniquingKeysWith: { first, _ in first })
        let counters = Set(table.counters.map(\.name))
        for chain in table.chains {
            for rule in chain.rules {
                let references = NftReferences(rule: rule.text)
                for target in references.chains where !chains.contains(target) {
                    throw NftRefusal("No such file or directory: chain \(target), named by a rule in chain \(chain.name)")
                }
                for (name, use) in references.collections {
                    switch use {
                    case .verdictMap:
                        guard let type = maps[name] else {
                            throw NftRefusal("No such file or directory: map @\(name), named by chain \(chain.name)")
                        }
                        guard type?.value == .verdict else {
                            throw NftRefusal("map @\(name) is not a verdict map (vmap in chain \(chain.name))")
                        }
                    case .map:
                        guard maps[name] != nil else {
                            throw NftRefusal("No such file or directory: map @\(name), named by chain \(chain.name)")
                        }
                    case .setOrMap:
                        guard sets.contains(name) || maps[name] != nil else {
                            throw NftRefusal("No such file or directory: set @\(name), named by chain \(chain.name)")
                        }
                    }
                }
            }
        }
        for map in table.maps {
            switch NftMapType(map.type)?.value {
            case .verdict?:
                for element in map.elements {
                    for target in NftReferences(rule: element.value).chains where !chains.contains(target) {
                        throw NftRefusal("No such file or directory: chain \(target), named by map \(map.name)")
                    }
                }
            case .counter?:
                for element in map.elements where !counters.contains(unquoted(element.value)) {
                    throw NftRefusal("No such file or directory: counter \(unquoted(element.value)), named by map \(map.name)")
                }
            default: break
            }
        }
    }

    /// The table while a transaction runs, with each kind's objects found by name. A deleted
    /// object is gone at once; one declared again is a new object, listed after the others of
    /// its kind, as the kernel lists it.
    private struct Working {
        var family = ""
        var name = ""
        var exists = false
        var counters = Slots<NftablesCounter>()
        var sets = Slots<NftablesSet>()
        var maps = Slots<NftablesMap>()
        var chains = Slots<NftablesChain>()

        init(table: NftablesRuleset?) {
            guard let table else { return }
            (family, name, exists) = (table.family, table.name, true)
            counters = Slots(table.counters)
            sets = Slots(table.sets)
            maps = Slots(table.maps)
            chains = Slots(table.chains)
        }

        func finished() -> NftablesRuleset? {
            guard exists else { return nil }
            return NftablesRuleset(
                family: family, name: name, counters: counters.live, sets: sets.live, maps: maps.live,
                chains: chains.live)
        }

        func missing(_ kind: NftObjectKind, _ name: String) -> NftRefusal {
            NftRefusal("No such file or directory: \(kind.rawValue) \(name)")
        }

        mutating func apply(_ operation: NftOperation, family: String, name: String) throws(NftRefusal) {
            if case .addTable = operation {
                if !exists { self = Working(table: NftablesRuleset(family: family, name: name)) }
                return
            }
            guard exists else { throw NftRefusal("No such file or directory: table \(family) \(name)") }
            guard self.family == family, self.name == name else {
                throw NftRefusal("the fake models only table \(self.family) \(self.name), not \(family) \(name)")
            }
            switch operation {
            case .addTable: break
            case .deleteTable:
                self = Working(table: nil)
            case .flushTable:
                for index in chains.items.indices where chains.items[index] != nil { chains.items[index]!.rules = [] }
            case .loadListing(let listing):
                guard let listed = NftablesRuleset(parsing: listing) else {
                    throw NftRefusal("syntax error: not a listing the fake wrote")
                }
                for object in listed.objects { try apply(.add(object), family: family, name: name) }
            case .addCounter(let counter):
                if let index = counters.index(counter.name) {
                    counters.items[index]!.comment = counter.comment
                } else {
                    counters.append(counter)
                }
            case .addSet(let set):
                if let index = sets.index(set.name) {
                    let old = sets.items[index]!
                    guard old.type == set.type, old.isInterval == set.isInterval else {
                        throw Self.declaredDifferently(.set, set.name)
                    }
                    sets.items[index]!.comment = set.comment
                    addElements(set.elements, toSet: index)
                } else {
                    sets.append(set)
                }
            case .addMap(let map):
                if let index = maps.index(map.name) {
                    let old = maps.items[index]!
                    guard old.type == map.type, old.isInterval == map.isInterval else {
                        throw Self.declaredDifferently(.map, map.name)
                    }
                    maps.items[index]!.comment = map.comment
                    try addElements(map.elements.map { NftMapElement(key: $0.key, value: $0.value) }, toMap: index)
                } else {
                    maps.append(map)
                }
            case .addChain(let chain):
                if let index = chains.index(chain.name) {
                    guard chains.items[index]!.hook == chain.hook else { throw Self.declaredDifferently(.chain, chain.name) }
                    chains.items[index]!.comment = chain.comment
                    chains.items[index]!.rules += chain.rules
                } else {
                    chains.append(chain)
                }
            case .addRule(let chain, let rule):
                guard let index = chains.index(chain) else { throw missing(.chain, chain) }
                chains.items[index]!.rules.append(rule)
            case .addSetElements(let set, let elements):
                guard let index = sets.index(set) else { throw missing(.set, set) }
                addElements(elements, toSet: index)
            case .addMapElements(let map, let elements):
                guard let index = maps.index(map) else { throw missing(.map, map) }
                try addElements(elements, toMap: index)
            case .deleteSetElements(let set, let elements):
                guard let index = sets.index(set) else { throw missing(.set, set) }
                try deleteElements(elements, fromSet: index)
            case .deleteMapElements(let map, let keys):
                guard let index = maps.index(map) else { throw missing(.map, map) }
                try deleteElements(keys, fromMap: index)
            case .flushSet(let set):
                guard let index = sets.index(set) else { throw missing(.set, set) }
                sets.items[index]!.elements = []
            case .flushMap(let map):
                guard let index = maps.index(map) else { throw missing(.map, map) }
                maps.items[index]!.elements = []
            case .flushChain(let chain):
                guard let index = chains.index(chain) else { throw missing(.chain, chain) }
                chains.items[index]!.rules = []
            case .deleteCounter(let counter):
                guard counters.index(counter) != nil else { throw missing(.counter, counter) }
                if let user = maps.live.first(where: {
                    NftMapType($0.type)?.value == .counter && $0.elements.contains { unquoted($0.value) == counter }
                }) {
                    throw Self.busy(.counter, counter, "map \(user.name)")
                }
                counters.remove(counter)
            case .deleteSet(let set):
                guard sets.index(set) != nil else { throw missing(.set, set) }
                if let user = chainNaming(collection: set) { throw Self.busy(.set, set, "chain \(user)") }
                sets.remove(set)
            case .deleteMap(let map):
                guard maps.index(map) != nil else { throw missing(.map, map) }
                if let user = chainNaming(collection: map) { throw Self.busy(.map, map, "chain \(user)") }
                maps.remove(map)
            case .deleteChain(let chain):
                guard let index = chains.index(chain) else { throw missing(.chain, chain) }
                let rules = chains.items[index]!.rules.count
                guard rules == 0 else { throw Self.busy(.chain, chain, "its own \(rules) rules") }
                if let user = chains.live.first(where: {
                    $0.rules.contains { NftReferences(rule: $0.text).chains.contains(chain) }
                }) {
                    throw Self.busy(.chain, chain, "chain \(user.name)")
                }
                if let user = maps.live.first(where: { map in
                    NftMapType(map.type)?.value == .verdict
                        && map.elements.contains { NftReferences(rule: $0.value).chains.contains(chain) }
                }) {
                    throw Self.busy(.chain, chain, "map \(user.name)")
                }
                chains.remove(chain)
            }
        }

        /// The chain with a rule that names `@collection`, if any.
        func chainNaming(collection: String) -> String? {
            let needle = "@" + collection
            for case let chain? in chains.items {
                // The substring test first: parsing every rule of a flushed table for each delete is the cost to avoid.
                for rule in chain.rules where rule.text.contains(needle) {
                    if NftReferences(rule: rule.text).collections[collection] != nil { return chain.name }
                }
            }
            return nil
        }

        /// Adding an element that is there is no error, as with `add element`.
        mutating func addElements(_ elements: [String], toSet index: Int) {
            var present = Set(sets.items[index]!.elements)
            for element in elements where present.insert(element).inserted { sets.items[index]!.elements.append(element) }
        }

        /// Every element must be there (the kernel answers "element does not exist"), each once.
        mutating func deleteElements(_ elements: [String], fromSet index: Int) throws(NftRefusal) {
            var doomed = Set(elements)
            guard doomed.count == elements.count else { throw Self.missingElement(sets.items[index]!.name) }
            let before = sets.items[index]!.elements.count
            sets.items[index]!.elements.removeAll { doomed.remove($0) != nil }
            guard sets.items[index]!.elements.count == before - elements.count else {
                throw Self.missingElement(sets.items[index]!.name)
            }
        }

        mutating func deleteElements(_ keys: [String], fromMap index: Int) throws(NftRefusal) {
            var doomed = Set(keys)
            guard doomed.count == keys.count else { throw Self.missingElement(maps.items[index]!.name) }
            let before = maps.items[index]!.elements.count
            maps.items[index]!.elements.removeAll { doomed.remove($0.key) != nil }
            guard maps.items[index]!.elements.count == before - keys.count else {
                throw Self.missingElement(maps.items[index]!.name)
            }
        }

        static func missingElement(_ name: String) -> NftRefusal {
            NftRefusal("Could not process rule: No such file or directory: element does not exist in \(name)")
        }

        /// A key that is there with the same value is no error; with another value it is.
        mutating func addElements(_ elements: [NftMapElement], toMap index: Int) throws(NftRefusal) {
            var present = Dictionary(
                maps.items[index]!.elements.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            for element in elements {
                if let value = present[element.key] {
                    guard value == element.value else {
                        throw NftRefusal("File exists: map \(maps.items[index]!.name) already maps \(element.key) to \(value)")
                    }
                    continue
                }
                present[element.key] = element.value
                maps.items[index]!.elements.append((element.key, element.value))
            }
        }

        static func declaredDifferently(_ kind: NftObjectKind, _ name: String) -> NftRefusal {
            NftRefusal("File exists: \(kind.rawValue) \(name) is declared differently")
        }

        static func busy(_ kind: NftObjectKind, _ name: String, _ user: String) -> NftRefusal {
            NftRefusal("Device or resource busy: \(kind.rawValue) \(name) is used by \(user)")
        }
    }
}

/// One kind's objects in order, found by name; a deleted one leaves a hole until the end.
private struct Slots<Object: NamedNftObject> {
    var items: [Object?] = []
    var positions: [String: Int] = [:]

    init() {}

    init(_ objects: [Object]) {
        for object in objects { append(object) }
    }

    func index(_ name: String) -> Int? { positions[name] }

    mutating func append(_ object: Object) {
        positions[object.name] = items.count
        items.append(object)
    }

    mutating func remove(_ name: String) {
        guard let index = positions.removeValue(forKey: name) else { return }
        items[index] = nil
    }

    var live: [Object] { items.compactMap { $0 } }
}

private protocol NamedNftObject { var name: String { get } }
extension NftablesCounter: NamedNftObject {}
extension NftablesSet: NamedNftObject {}
extension NftablesMap: NamedNftObject {}
extension NftablesChain: NamedNftObject {}

/// A counter map names its counters in quotes.
func unquoted(_ text: String) -> String {
    text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
}

/// Why the fake refused a transaction, worded like nft's error.
public struct NftRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "Error: \(message)" }
}

/// The names a rule (or a verdict map's element) refers to: `goto`/`jump` targets and `@name`
/// sets and maps, with how each is used.
struct NftReferences {
    enum Use { case setOrMap, map, verdictMap }

    var chains: [String] = []
    var collections: [String: Use] = [:]

    init(rule text: String) {
        // Quoted strings (interface names, comments) cannot hold references.
        var words: [Substring] = []
        var inQuotes = false
        var start: String.Index?
        for index in text.indices {
            let character = text[index]
            if character == "\"" { inQuotes.toggle() }
            let separator =
                !inQuotes
                && (character == " " || character == "\t" || character == "," || character == "{" || character == "}"
                    || character == ";")
            if separator {
                if let begin = start { words.append(text[begin..<index]) }
                start = nil
            } else if start == nil {
                start = index
            }
        }
        if let begin = start { words.append(text[begin...]) }
        for (position, word) in words.enumerated() {
            let previous = position > 0 ? words[position - 1] : ""
            if (previous == "goto" || previous == "jump"), !word.hasPrefix("\"") {
                chains.append(String(word))
            }
            if word.hasPrefix("@"), word.count > 1 {
                let use: Use = previous == "vmap" ? .verdictMap : previous == "map" ? .map : .setOrMap
                collections[String(word.dropFirst())] = use
            }
        }
    }
}
