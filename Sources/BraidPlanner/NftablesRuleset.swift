/// Braid's nft table as data: named counters, maps and chains, each with the comment that
/// explains why it exists. `render()` gives the text that `braid plan` prints and that the
/// kernel port loads; the object names tell the kernel port what it may delete on a re-apply.
public struct NftablesRuleset: Sendable, Equatable {
    public var family: String
    public var name: String
    public var counters: [NftablesCounter]
    public var sets: [NftablesSet]
    public var maps: [NftablesMap]
    public var chains: [NftablesChain]

    public init(family: String = RoutingLayout.tableFamily, name: String = RoutingLayout.tableName,
                counters: [NftablesCounter] = [], sets: [NftablesSet] = [], maps: [NftablesMap] = [], chains: [NftablesChain] = []) {
        self.family = family
        self.name = name
        self.counters = counters
        self.sets = sets
        self.maps = maps
        self.chains = chains
    }

    /// The declarative table body, loadable with `nft -f`.
    public func render() -> String {
        var lines = ["table \(family) \(name) {"]
        func comment(_ text: String) {
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) { lines.append("\t# \(line)") }
        }
        for counter in counters {
            if let note = counter.comment { comment(note) }
            lines.append("\tcounter \(counter.name) {")
            lines.append("\t}")
        }
        // Sets and maps share one layout: header, type, flags, then element lines joined by commas.
        func collection(_ keyword: String, _ name: String, typeLine: String, isInterval: Bool, note: String?, elementLines: [String]) {
            if !lines.last!.hasSuffix("{") { lines.append("") }
            if let note { comment(note) }
            lines.append("\t\(keyword) \(name) {")
            lines.append("\t\t\(typeLine)")
            if isInterval { lines.append("\t\tflags interval") }
            if !elementLines.isEmpty {
                lines.append("\t\telements = {")
                for (index, line) in elementLines.enumerated() {
                    lines.append("\t\t\t" + line + (index == elementLines.count - 1 ? "" : ","))
                }
                lines.append("\t\t}")
            }
            lines.append("\t}")
        }
        for set in sets {
            // Eight per line: sets can hold 100,000 prefixes.
            let rows = stride(from: 0, to: set.elements.count, by: 8).map {
                set.elements[$0..<min($0 + 8, set.elements.count)].joined(separator: ", ")
            }
            collection("set", set.name, typeLine: "type \(set.type)", isInterval: set.isInterval, note: set.comment, elementLines: rows)
        }
        for map in maps {
            collection("map", map.name, typeLine: map.type, isInterval: map.isInterval, note: map.comment,
                       elementLines: map.elements.map { "\($0.key) : \($0.value)" })
        }
        for chain in chains {
            lines.append("")
            if let note = chain.comment { comment(note) }
            lines.append("\tchain \(chain.name) {")
            if let hook = chain.hook { lines.append("\t\t\(hook)") }
            for rule in chain.rules {
                if let note = rule.comment {
                    for line in note.split(separator: "\n") { lines.append("\t\t# \(line)") }
                }
                lines.append("\t\t\(rule.text)")
            }
            lines.append("\t}")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A named counter; named so its totals survive re-applies (rules are replaced, objects are kept).
public struct NftablesCounter: Sendable, Equatable {
    public var name: String
    public var comment: String?

    public init(name: String, comment: String? = nil) {
        self.name = name
        self.comment = comment
    }
}

/// A named set of addresses (`type` such as `ipv4_addr`); elements are already disjoint.
public struct NftablesSet: Sendable, Equatable {
    public var name: String
    public var type: String
    public var isInterval: Bool
    public var elements: [String]
    public var comment: String?

    public init(name: String, type: String, isInterval: Bool, elements: [String], comment: String? = nil) {
        self.name = name
        self.type = type
        self.isInterval = isInterval
        self.elements = elements
        self.comment = comment
    }
}

/// A named map: `type` is the full `type …` or `typeof …` line.
public struct NftablesMap: Sendable, Equatable {
    public var name: String
    public var type: String
    public var isInterval: Bool
    public var elements: [(key: String, value: String)]
    public var comment: String?

    public init(name: String, type: String, isInterval: Bool = false, elements: [(key: String, value: String)], comment: String? = nil) {
        self.name = name
        self.type = type
        self.isInterval = isInterval
        self.elements = elements
        self.comment = comment
    }

    public static func == (lhs: NftablesMap, rhs: NftablesMap) -> Bool {
        lhs.name == rhs.name && lhs.type == rhs.type && lhs.isInterval == rhs.isInterval && lhs.comment == rhs.comment
            && lhs.elements.map(\.key) == rhs.elements.map(\.key) && lhs.elements.map(\.value) == rhs.elements.map(\.value)
    }
}

/// A chain: base chains carry their `type … hook … priority …; policy …;` line.
public struct NftablesChain: Sendable, Equatable {
    public var name: String
    public var hook: String?
    public var rules: [NftablesRule]
    public var comment: String?

    public init(name: String, hook: String? = nil, rules: [NftablesRule], comment: String? = nil) {
        self.name = name
        self.hook = hook
        self.rules = rules
        self.comment = comment
    }
}

/// One rule and the packet-path reason it exists.
public struct NftablesRule: Sendable, Equatable {
    public var text: String
    public var comment: String?

    public init(_ text: String, comment: String? = nil) {
        self.text = text
        self.comment = comment
    }
}
