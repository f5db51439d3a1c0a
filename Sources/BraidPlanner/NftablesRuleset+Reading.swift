/// One top-level object of Braid's table, as data.
public enum NftablesObject: Sendable, Equatable {
    case counter(NftablesCounter)
    case set(NftablesSet)
    case map(NftablesMap)
    case chain(NftablesChain)

    public var name: String {
        switch self {
        case .counter(let counter): counter.name
        case .set(let set): set.name
        case .map(let map): map.name
        case .chain(let chain): chain.name
        }
    }
}

extension NftablesRuleset {
    /// Every object, in the order `render()` writes them: counters, sets, maps, chains.
    public var objects: [NftablesObject] {
        counters.map(NftablesObject.counter) + sets.map(NftablesObject.set) + maps.map(NftablesObject.map)
            + chains.map(NftablesObject.chain)
    }

    /// Reads back what `render()` wrote (the table text Braid keeps in its state file), so that
    /// `NftablesRuleset(parsing: ruleset.render())?.render() == ruleset.render()`. Nil for any
    /// other text, such as the kernel's own listing.
    public init?(parsing text: String) {
        guard let table = RenderedTable(parsing: text) else { return nil }
        self.init(table)
    }

    /// The objects of `table` as data; nil when one of them is not Braid's rendering.
    public init?(_ table: RenderedTable) {
        let words = table.table.split(separator: " ")
        guard words.count == 2 else { return nil }
        self.init(family: String(words[0]), name: String(words[1]))
        for object in table.objects {
            switch NftablesObject(object) {
            case .counter(let counter)?: counters.append(counter)
            case .set(let set)?: sets.append(set)
            case .map(let map)?: maps.append(map)
            case .chain(let chain)?: chains.append(chain)
            case nil: return nil
            }
        }
    }
}

extension NftablesObject {
    /// One object of a rendered table as data; nil when its lines are not what `render()` writes.
    public init?(_ object: RenderedTable.Object) {
        var notes: [Substring] = []
        for line in object.leading where !line.isEmpty {
            guard line.hasPrefix("\t# ") else { return nil }
            notes.append(line.dropFirst(3))
        }
        let comment = notes.isEmpty ? nil : notes.joined(separator: "\n")
        func inner(_ line: Substring) -> Substring? { line.hasPrefix("\t\t") ? line.dropFirst(2) : nil }
        switch object.kind {
        case "counter":
            guard object.declaration.isEmpty, object.content.isEmpty else { return nil }
            self = .counter(NftablesCounter(name: object.name, comment: comment))
        case "set", "map":
            guard let typeLine = object.declaration.first.flatMap(inner) else { return nil }
            var flags = object.declaration.dropFirst().map(inner)
            // A dynamic set: `flags dynamic,timeout` and `timeout Ns` (NamedPolicyPlanner's sticky sets).
            var timeoutSeconds: Int?
            if flags.count == 2, flags[0] == "flags dynamic,timeout", let last = flags[1], last.hasPrefix("timeout "),
                last.hasSuffix("s"), let seconds = Int(last.dropFirst(8).dropLast())
            {
                timeoutSeconds = seconds
                flags = []
            }
            guard flags.isEmpty || flags == ["flags interval"] else { return nil }
            let isInterval = !flags.isEmpty
            let lines = object.content.compactMap { $0.hasPrefix("\t\t\t") ? $0.dropFirst(3) : nil }
            guard lines.count == object.content.count else { return nil }
            if object.kind == "set" {
                guard typeLine.hasPrefix("type ") else { return nil }
                let elements = lines.flatMap { $0.split(separator: ", ", omittingEmptySubsequences: false).map(String.init) }
                self = .set(
                    NftablesSet(
                        name: object.name, type: String(typeLine.dropFirst(5)), isInterval: isInterval,
                        elements: elements, timeoutSeconds: timeoutSeconds, comment: comment))
            } else {
                var elements: [(key: String, value: String)] = []
                for line in lines {
                    guard let separator = line.range(of: " : ") else { return nil }
                    elements.append((String(line[..<separator.lowerBound]), String(line[separator.upperBound...])))
                }
                self = .map(
                    NftablesMap(
                        name: object.name, type: String(typeLine), isInterval: isInterval,
                        elements: elements, comment: comment))
            }
        case "chain":
            var hook: NftablesBaseChain?
            if let first = object.declaration.first {
                guard object.declaration.count == 1, let line = inner(first), let base = NftablesBaseChain(declaration: line)
                else { return nil }
                hook = base
            }
            var rules: [NftablesRule] = []
            var ruleNotes: [Substring] = []
            for line in object.content {
                guard let text = inner(line) else { return nil }
                if text.hasPrefix("# ") {
                    ruleNotes.append(text.dropFirst(2))
                } else {
                    rules.append(NftablesRule(String(text), comment: ruleNotes.isEmpty ? nil : ruleNotes.joined(separator: "\n")))
                    ruleNotes = []
                }
            }
            guard ruleNotes.isEmpty else { return nil }
            self = .chain(NftablesChain(name: object.name, hook: hook, rules: rules, comment: comment))
        default:
            return nil
        }
    }
}
