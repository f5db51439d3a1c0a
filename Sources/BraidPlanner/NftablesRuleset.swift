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

    public init(
        family: String = RoutingLayout.tableFamily, name: String = RoutingLayout.tableName,
        counters: [NftablesCounter] = [], sets: [NftablesSet] = [], maps: [NftablesMap] = [], chains: [NftablesChain] = []
    ) {
        self.family = family
        self.name = name
        self.counters = counters
        self.sets = sets
        self.maps = maps
        self.chains = chains
    }

    /// The declarative table body, loadable with `nft -f`: counters, sets, maps, then chains, each
    /// after its comment; a set or map is set off by a blank line unless it opens the table, a
    /// chain always. Sets are written eight elements a line (they can hold 100,000 prefixes).
    public func render() -> String { rendering().source }
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
    /// A dynamic set the packet path fills (`flags dynamic,timeout`): its elements expire this
    /// many seconds after they were last added or updated. Nil: a set of fixed elements.
    public var timeoutSeconds: Int?
    public var comment: String?

    public init(
        name: String, type: String, isInterval: Bool, elements: [String], timeoutSeconds: Int? = nil, comment: String? = nil
    ) {
        self.name = name
        self.type = type
        self.isInterval = isInterval
        self.elements = elements
        self.timeoutSeconds = timeoutSeconds
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

    public init(
        name: String, type: String, isInterval: Bool = false, elements: [(key: String, value: String)], comment: String? = nil
    ) {
        self.name = name
        self.type = type
        self.isInterval = isInterval
        self.elements = elements
        self.comment = comment
    }

    public static func == (lhs: NftablesMap, rhs: NftablesMap) -> Bool {
        // Element by element, without copying 10,000 keys into arrays first.
        lhs.name == rhs.name && lhs.type == rhs.type && lhs.isInterval == rhs.isInterval && lhs.comment == rhs.comment
            && lhs.elements.count == rhs.elements.count
            && zip(lhs.elements, rhs.elements).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// A chain: base chains carry where they hook into the packet path.
public struct NftablesChain: Sendable, Equatable {
    public var name: String
    public var hook: NftablesBaseChain?
    public var rules: [NftablesRule]
    public var comment: String?

    public init(name: String, hook: NftablesBaseChain? = nil, rules: [NftablesRule], comment: String? = nil) {
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

/// Where a base chain sees packets: its `type … hook … priority …; policy …;` line as data.
public struct NftablesBaseChain: Sendable, Equatable {
    /// `type`: what the chain may do (`route` re-routes the router's own packets when it changes
    /// their mark; `nat` sees only a connection's first packet).
    public enum Kind: String, Sendable, CaseIterable { case filter, nat, route }
    public enum Hook: String, Sendable, CaseIterable { case prerouting, input, forward, output, postrouting }
    public enum Policy: String, Sendable, CaseIterable { case accept, drop }

    public var type: Kind
    public var hook: Hook
    public var priority: NftablesPriority
    public var policy: Policy

    public init(type: Kind, hook: Hook, priority: NftablesPriority, policy: Policy = .accept) {
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
    }

    /// The chain's first line, as nft reads it.
    public var declaration: String {
        "type \(type.rawValue) hook \(hook.rawValue) priority \(priority); policy \(policy.rawValue);"
    }

    /// Reads `declaration` back; nil for anything else.
    public init?(declaration: some StringProtocol) {
        let words = declaration.split(separator: " ")
        guard words.count == 8, words[0] == "type", words[2] == "hook", words[4] == "priority", words[5].hasSuffix(";"),
            words[6] == "policy", words[7].hasSuffix(";"),
            let type = Kind(rawValue: String(words[1])), let hook = Hook(rawValue: String(words[3])),
            let priority = NftablesPriority(String(words[5].dropLast())),
            let policy = Policy(rawValue: String(words[7].dropLast()))
        else { return nil }
        self.init(type: type, hook: hook, priority: priority, policy: policy)
    }
}

/// A base chain's priority: a number, written as one of nft's standard names when it was given
/// as one (the name is how `nft list` shows it, so Braid keeps the spelling it chose).
public struct NftablesPriority: Sendable, Equatable, CustomStringConvertible {
    public var value: Int
    /// The standard name, when the priority is written as one.
    public var keyword: String?

    public static func number(_ value: Int) -> NftablesPriority { NftablesPriority(value: value, keyword: nil) }
    public static let raw = NftablesPriority(value: -300, keyword: "raw")
    public static let mangle = NftablesPriority(value: -150, keyword: "mangle")
    public static let dstnat = NftablesPriority(value: -100, keyword: "dstnat")
    public static let filter = NftablesPriority(value: 0, keyword: "filter")
    public static let security = NftablesPriority(value: 50, keyword: "security")
    public static let srcnat = NftablesPriority(value: 100, keyword: "srcnat")
    static let keywords = [raw, mangle, dstnat, filter, security, srcnat]

    /// A standard name or a signed number.
    public init?(_ text: String) {
        if let named = Self.keywords.first(where: { $0.keyword == text }) {
            self = named
        } else if let value = Int(text) {
            self.init(value: value, keyword: nil)
        } else {
            return nil
        }
    }

    init(value: Int, keyword: String?) {
        self.value = value
        self.keyword = keyword
    }

    public var description: String { keyword ?? String(value) }
}
