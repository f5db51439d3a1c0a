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
/// - when the transaction ends, any rule or map element that names a missing chain (`goto`,
///   `jump`), set or map (`@name`; `vmap @name` must be a verdict map), or counter.
///
/// References are checked at the end rather than operation by operation because nft creates all
/// the objects of a declarative block before its rules: a rule may `goto` a chain declared below it.
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
        for operation in transaction.operations {
            try working.apply(operation, family: transaction.family, name: transaction.table)
        }
        let result = working.finished()
        if let result { try Self.checkReferences(result) }
        table = result
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
                        guard let type = maps[name] else { throw NftRefusal("No such file or directory: map @\(name), named by chain \(chain.name)") }
                        guard type?.value == .verdict else { throw NftRefusal("map @\(name) is not a verdict map (vmap in chain \(chain.name))") }
                    case .map:
                        guard maps[name] != nil else { throw NftRefusal("No such file or directory: map @\(name), named by chain \(chain.name)") }
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

    /// The table while a transaction runs. A deleted object stays (unseen) until the end, for
    /// the messages; one declared again is a new object, listed after the others of its kind,
    /// as the kernel lists it.
    private struct Working {
        var table: NftablesRuleset?
        var deleted: Set<Key> = []

        struct Key: Hashable {
            var kind: NftObjectKind
            var name: String
        }

        init(table: NftablesRuleset?) {
            self.table = table
        }

        func finished() -> NftablesRuleset? {
            guard var table else { return nil }
            if deleted.isEmpty { return table }
            table.counters.removeAll { deleted.contains(Key(kind: .counter, name: $0.name)) }
            table.sets.removeAll { deleted.contains(Key(kind: .set, name: $0.name)) }
            table.maps.removeAll { deleted.contains(Key(kind: .map, name: $0.name)) }
            table.chains.removeAll { deleted.contains(Key(kind: .chain, name: $0.name)) }
            return table
        }

        func index(_ kind: NftObjectKind, _ name: String) -> Int? {
            guard let table, !deleted.contains(Key(kind: kind, name: name)) else { return nil }
            return switch kind {
            case .counter: table.counters.firstIndex { $0.name == name }
            case .set: table.sets.firstIndex { $0.name == name }
            case .map: table.maps.firstIndex { $0.name == name }
            case .chain: table.chains.firstIndex { $0.name == name }
            }
        }

        func existing(_ kind: NftObjectKind, _ name: String) throws(NftRefusal) -> Int {
            guard let index = index(kind, name) else { throw NftRefusal("No such file or directory: \(kind.rawValue) \(name)") }
            return index
        }

        mutating func apply(_ operation: NftOperation, family: String, name: String) throws(NftRefusal) {
            if case .addTable = operation {
                if table == nil { table = NftablesRuleset(family: family, name: name) }
                return
            }
            guard let current = table else { throw NftRefusal("No such file or directory: table \(family) \(name)") }
            guard current.family == family, current.name == name else {
                throw NftRefusal("the fake models only table \(current.family) \(current.name), not \(family) \(name)")
            }
            switch operation {
            case .addTable: break
            case .deleteTable:
                table = nil
                deleted = []
            case .flushTable:
                for index in table!.chains.indices { table!.chains[index].rules = [] }
            case .loadListing(let listing):
                guard let listed = NftablesRuleset(parsing: listing) else { throw NftRefusal("syntax error: not a listing the fake wrote") }
                for object in listed.objects { try apply(.add(object), family: family, name: name) }
            case .addCounter(let counter):
                if let index = index(.counter, counter.name) {
                    table!.counters[index].comment = counter.comment
                } else {
                    if revive(.counter, counter.name) { table!.counters.removeAll { $0.name == counter.name } }
                    table!.counters.append(counter)
                }
            case .addSet(let set):
                if let index = index(.set, set.name) {
                    let old = table!.sets[index]
                    guard old.type == set.type, old.isInterval == set.isInterval else { throw Self.declaredDifferently(.set, set.name) }
                    table!.sets[index].comment = set.comment
                    try addElements(set.elements, toSet: index)
                } else {
                    if revive(.set, set.name) { table!.sets.removeAll { $0.name == set.name } }
                    table!.sets.append(set)
                }
            case .addMap(let map):
                if let index = index(.map, map.name) {
                    let old = table!.maps[index]
                    guard old.type == map.type, old.isInterval == map.isInterval else { throw Self.declaredDifferently(.map, map.name) }
                    table!.maps[index].comment = map.comment
                    try addElements(map.elements.map { NftMapElement(key: $0.key, value: $0.value) }, toMap: index)
                } else {
                    if revive(.map, map.name) { table!.maps.removeAll { $0.name == map.name } }
                    table!.maps.append(map)
                }
            case .addChain(let chain):
                if let index = index(.chain, chain.name) {
                    guard table!.chains[index].hook == chain.hook else { throw Self.declaredDifferently(.chain, chain.name) }
                    table!.chains[index].comment = chain.comment
                    table!.chains[index].rules += chain.rules
                } else {
                    if revive(.chain, chain.name) { table!.chains.removeAll { $0.name == chain.name } }
                    table!.chains.append(chain)
                }
            case .addRule(let chain, let rule):
                table!.chains[try existing(.chain, chain)].rules.append(rule)
            case .addSetElements(let set, let elements):
                try addElements(elements, toSet: try existing(.set, set))
            case .addMapElements(let map, let elements):
                try addElements(elements, toMap: try existing(.map, map))
            case .flushSet(let set):
                table!.sets[try existing(.set, set)].elements = []
            case .flushMap(let map):
                table!.maps[try existing(.map, map)].elements = []
            case .flushChain(let chain):
                table!.chains[try existing(.chain, chain)].rules = []
            case .deleteCounter(let counter):
                _ = try existing(.counter, counter)
                if let user = liveMaps.first(where: { NftMapType($0.type)?.value == .counter && $0.elements.contains { unquoted($0.value) == counter } }) {
                    throw Self.busy(.counter, counter, "map \(user.name)")
                }
                deleted.insert(Key(kind: .counter, name: counter))
            case .deleteSet(let set):
                _ = try existing(.set, set)
                if let user = liveChains.first(where: { $0.rules.contains { NftReferences(rule: $0.text).collections[set] != nil } }) {
                    throw Self.busy(.set, set, "chain \(user.name)")
                }
                deleted.insert(Key(kind: .set, name: set))
            case .deleteMap(let map):
                _ = try existing(.map, map)
                if let user = liveChains.first(where: { $0.rules.contains { NftReferences(rule: $0.text).collections[map] != nil } }) {
                    throw Self.busy(.map, map, "chain \(user.name)")
                }
                deleted.insert(Key(kind: .map, name: map))
            case .deleteChain(let chain):
                let index = try existing(.chain, chain)
                guard table!.chains[index].rules.isEmpty else { throw Self.busy(.chain, chain, "its own \(table!.chains[index].rules.count) rules") }
                if let user = liveChains.first(where: { $0.rules.contains { NftReferences(rule: $0.text).chains.contains(chain) } }) {
                    throw Self.busy(.chain, chain, "chain \(user.name)")
                }
                if let user = liveMaps.first(where: { map in
                    NftMapType(map.type)?.value == .verdict && map.elements.contains { NftReferences(rule: $0.value).chains.contains(chain) }
                }) {
                    throw Self.busy(.chain, chain, "map \(user.name)")
                }
                deleted.insert(Key(kind: .chain, name: chain))
            }
        }

        var liveChains: [NftablesChain] { table?.chains.filter { !deleted.contains(Key(kind: .chain, name: $0.name)) } ?? [] }
        var liveMaps: [NftablesMap] { table?.maps.filter { !deleted.contains(Key(kind: .map, name: $0.name)) } ?? [] }

        /// Whether `name` was deleted earlier in the transaction (and may now be declared anew).
        mutating func revive(_ kind: NftObjectKind, _ name: String) -> Bool {
            deleted.remove(Key(kind: kind, name: name)) != nil
        }

        /// Adding an element that is there is no error, as with `add element`.
        mutating func addElements(_ elements: [String], toSet index: Int) throws(NftRefusal) {
            var present = Set(table!.sets[index].elements)
            for element in elements where present.insert(element).inserted { table!.sets[index].elements.append(element) }
        }

        /// A key that is there with the same value is no error; with another value it is.
        mutating func addElements(_ elements: [NftMapElement], toMap index: Int) throws(NftRefusal) {
            var present = Dictionary(table!.maps[index].elements.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            for element in elements {
                if let value = present[element.key] {
                    guard value == element.value else {
                        throw NftRefusal("File exists: map \(table!.maps[index].name) already maps \(element.key) to \(value)")
                    }
                    continue
                }
                present[element.key] = element.value
                table!.maps[index].elements.append((element.key, element.value))
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
            let separator = !inQuotes && (character == " " || character == "\t" || character == "," || character == "{" || character == "}" || character == ";")
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
