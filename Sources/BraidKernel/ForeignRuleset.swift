import BraidConfig
import BraidPlanner
import Foundation

/// Everything outside Braid's table that can drop or NAT the traffic Braid routes, as the kernel
/// lists it: `nft -j list ruleset` (which includes iptables-nft's tables, such as Docker's) and,
/// when the legacy iptables tools are installed, `iptables-legacy-save` (a separate set of hooks
/// that nft cannot see).
public struct ForeignRuleset: Sendable, Equatable {
    /// `nft -j list ruleset` output; Braid's own table is skipped when it is parsed.
    public var nftJSON: String
    /// `iptables-legacy-save` output, or nil when the program is not installed.
    public var iptablesLegacySave: String?

    public init(nftJSON: String = "", iptablesLegacySave: String? = nil) {
        self.nftJSON = nftJSON
        self.iptablesLegacySave = iptablesLegacySave
    }

    public static let empty = ForeignRuleset()
}

/// One table of another program's firewall, reduced to what decides a forwarded packet's fate.
struct FirewallTable: Sendable, Equatable {
    /// "ip", "inet", … for nftables; "iptables-legacy" for the legacy tool's tables.
    var family: String
    var name: String
    var chains: [String: FirewallChain]
}

struct FirewallChain: Sendable, Equatable {
    struct Base: Sendable, Equatable {
        var type: String
        var hook: String
        var priority: Int
        /// "accept" or "drop".
        var policy: String
    }

    var name: String
    var base: Base?
    var rules: [FirewallRule] = []
}

struct FirewallRule: Sendable, Equatable {
    var conditions: [FirewallCondition]
    var verdict: FirewallVerdict?
    /// How to point at the rule in a finding: nft's handle or the iptables-save line.
    var reference: String
}

/// A match, kept only as far as Braid can evaluate it for a LAN→WAN packet; the rest is `.other`.
enum FirewallCondition: Sendable, Equatable {
    enum Direction: Sendable, Equatable { case input, output }
    enum AddressField: Sendable, Equatable { case source, destination }
    case interface(Direction, names: [String], negated: Bool)
    case address(AddressField, prefixes: [IPv4Prefix], negated: Bool)
    case connectionState([String], negated: Bool)
    /// iptables-nft's `-m conntrack` shows up in nft's JSON as an opaque `xt` match. Docker and
    /// ufw use it only for `--ctstate RELATED,ESTABLISHED`, so it is read as that.
    case opaqueConntrack
    /// Matches IPv6 packets only (`ip6 daddr …`, `meta nfproto ipv6`): never Braid's IPv4 traffic.
    case ipv6Only
    case other
}

enum FirewallVerdict: Sendable, Equatable {
    case accept, drop, reject, `return`
    case jump(String), goto(String)
    /// masquerade, snat, dnat, redirect.
    case nat(String)
}

enum ForeignRulesetParser {
    /// The tables of `nft -j list ruleset`, without Braid's own.
    static func nftTables(_ json: String) throws(KernelError) -> [FirewallTable] {
        let trimmed = json.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return [] }
        let document: Any
        do { document = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) } catch {
            throw .unexpectedOutput(command: "nft -j list ruleset", detail: "\(error)")
        }
        guard let objects = (document as? [String: Any])?["nftables"] as? [[String: Any]] else {
            throw .unexpectedOutput(command: "nft -j list ruleset", detail: "no nftables array")
        }
        var tables: [String: FirewallTable] = [:]
        var order: [String] = []
        func key(_ family: String, _ table: String) -> String { "\(family) \(table)" }
        for object in objects {
            if let table = object["table"] as? [String: Any], let family = table["family"] as? String,
                let name = table["name"] as? String
            {
                guard !(family == RoutingLayout.tableFamily && name == RoutingLayout.tableName) else { continue }
                tables[key(family, name)] = FirewallTable(family: family, name: name, chains: [:])
                order.append(key(family, name))
            } else if let chain = object["chain"] as? [String: Any], let family = chain["family"] as? String,
                let tableName = chain["table"] as? String, let name = chain["name"] as? String,
                tables[key(family, tableName)] != nil
            {
                var base: FirewallChain.Base?
                if let hook = chain["hook"] as? String {
                    base = .init(
                        type: chain["type"] as? String ?? "filter", hook: hook, priority: chain["prio"] as? Int ?? 0,
                        policy: chain["policy"] as? String ?? "accept")
                }
                tables[key(family, tableName)]!.chains[name] = FirewallChain(name: name, base: base)
            } else if let rule = object["rule"] as? [String: Any], let family = rule["family"] as? String,
                let tableName = rule["table"] as? String, let chainName = rule["chain"] as? String,
                tables[key(family, tableName)]?.chains[chainName] != nil
            {
                let parsed = nftRule(rule["expr"] as? [[String: Any]] ?? [], handle: rule["handle"] as? Int)
                tables[key(family, tableName)]!.chains[chainName]!.rules.append(parsed)
            }
        }
        return order.compactMap { tables[$0] }
    }

    static func nftRule(_ expressions: [[String: Any]], handle: Int?) -> FirewallRule {
        var conditions: [FirewallCondition] = []
        var verdict: FirewallVerdict?
        for expression in expressions {
            guard let (kind, value) = expression.first else { continue }
            switch kind {
            case "match": conditions.append(nftMatch(value as? [String: Any] ?? [:]))
            case "accept": verdict = .accept
            case "drop": verdict = .drop
            case "reject": verdict = .reject
            case "return": verdict = .return
            case "jump": verdict = ((value as? [String: Any])?["target"] as? String).map(FirewallVerdict.jump)
            case "goto": verdict = ((value as? [String: Any])?["target"] as? String).map(FirewallVerdict.goto)
            case "masquerade", "snat", "dnat", "redirect": verdict = .nat(kind)
            case "xt":
                let xt = value as? [String: Any] ?? [:]
                let name = xt["name"] as? String ?? ""
                if xt["type"] as? String == "target" {
                    verdict = iptablesTarget(name)
                } else {
                    conditions.append(name == "conntrack" || name == "state" ? .opaqueConntrack : .other)
                }
            case "vmap":
                // A verdict map: treat it as a drop under conditions Braid cannot evaluate, when it can drop.
                let text = "\(value)"
                if text.contains("drop") || text.contains("reject") {
                    conditions.append(.other)
                    verdict = .drop
                }
            case "counter", "log", "comment", "limit", "mangle", "notrack", "quota", "ct count", "set":
                if kind == "limit" || kind == "quota" { conditions.append(.other) }
            default:
                conditions.append(.other)
            }
        }
        return FirewallRule(conditions: conditions, verdict: verdict, reference: handle.map { "handle \($0)" } ?? "")
    }

    static func nftMatch(_ match: [String: Any]) -> FirewallCondition {
        let operation = match["op"] as? String ?? "=="
        guard ["==", "!=", "in"].contains(operation) else { return .other }
        let negated = operation == "!="
        let left = match["left"] as? [String: Any] ?? [:]
        let right = match["right"]
        if let meta = left["meta"] as? [String: Any], let key = meta["key"] as? String,
            ["iifname", "oifname", "iif", "oif"].contains(key)
        {
            guard let names = strings(right) else { return .other }
            return .interface(key.hasPrefix("i") ? .input : .output, names: names, negated: negated)
        }
        if let payload = left["payload"] as? [String: Any], payload["protocol"] as? String == "ip",
            let field = payload["field"] as? String, field == "saddr" || field == "daddr"
        {
            guard let prefixes = prefixes(right) else { return .other }
            return .address(field == "saddr" ? .source : .destination, prefixes: prefixes, negated: negated)
        }
        if let payload = left["payload"] as? [String: Any], ["ip6", "icmpv6"].contains(payload["protocol"] as? String ?? "") {
            return .ipv6Only
        }
        if let meta = left["meta"] as? [String: Any], meta["key"] as? String == "nfproto", !negated,
            strings(right) == ["ipv6"]
        {
            return .ipv6Only
        }
        if let ct = left["ct"] as? [String: Any], ct["key"] as? String == "state", ct["dir"] == nil {
            guard let states = strings(right) else { return .other }
            return .connectionState(states, negated: negated)
        }
        return .other
    }

    /// A string, a list of strings or an anonymous set of them; nil for anything else (named sets).
    static func strings(_ value: Any?) -> [String]? {
        if let text = value as? String { return text.hasPrefix("@") ? nil : [text] }
        if let list = value as? [Any] {
            let texts = list.compactMap { $0 as? String }; return texts.count == list.count ? texts : nil
        }
        if let set = (value as? [String: Any])?["set"] { return strings(set) }
        return nil
    }

    static func prefixes(_ value: Any?) -> [IPv4Prefix]? {
        if let text = value as? String { return IPv4Prefix(text).map { [$0] } }
        if let prefix = (value as? [String: Any])?["prefix"] as? [String: Any], let address = prefix["addr"] as? String,
            let length = prefix["len"] as? Int
        {
            return IPv4Prefix("\(address)/\(length)").map { [$0] }
        }
        if let set = (value as? [String: Any])?["set"] as? [Any] {
            let parsed = set.map { prefixes($0) }
            guard parsed.allSatisfy({ $0 != nil }) else { return nil }
            return parsed.flatMap { $0! }
        }
        return nil
    }

    static func iptablesTarget(_ name: String) -> FirewallVerdict? {
        switch name.uppercased() {
        case "ACCEPT": .accept
        case "DROP": .drop
        case "REJECT": .reject
        case "RETURN": .return
        case "MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP": .nat(name.lowercased())
        default: nil
        }
    }

    /// The `filter` and `nat` tables of `iptables-legacy-save`, with the built-in chains as base chains
    /// at iptables' fixed priorities.
    static func iptablesSaveTables(_ text: String) -> [FirewallTable] {
        let builtIn: [String: [String: (hook: String, priority: Int)]] = [
            "filter": ["FORWARD": ("forward", 0)],
            "nat": ["PREROUTING": ("prerouting", -100), "POSTROUTING": ("postrouting", 100)],
            "mangle": ["PREROUTING": ("prerouting", -150), "FORWARD": ("forward", -150), "POSTROUTING": ("postrouting", -150)],
        ]
        var tables: [FirewallTable] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("*") {
                tables.append(FirewallTable(family: "iptables-legacy", name: String(line.dropFirst()), chains: [:]))
            } else if line.hasPrefix(":"), !tables.isEmpty {
                let words = line.dropFirst().split(separator: " ").map(String.init)
                guard let name = words.first else { continue }
                let tableName = tables[tables.count - 1].name
                var base: FirewallChain.Base?
                if let hook = builtIn[tableName]?[name] {
                    base = .init(
                        type: tableName == "nat" ? "nat" : "filter", hook: hook.hook, priority: hook.priority,
                        policy: words.count > 1 && words[1] == "DROP" ? "drop" : "accept")
                }
                tables[tables.count - 1].chains[name] = FirewallChain(name: name, base: base)
            } else if line.hasPrefix("-A "), !tables.isEmpty {
                let words = iptablesWords(line)
                guard words.count >= 2, tables[tables.count - 1].chains[words[1]] != nil else { continue }
                var rule = iptablesRule(Array(words.dropFirst(2)), chains: Set(tables[tables.count - 1].chains.keys))
                rule.reference = line
                tables[tables.count - 1].chains[words[1]]!.rules.append(rule)
            }
        }
        return tables
    }

    /// `chains`: the table's chains, so that `-j NAME` is a jump only when NAME is one (else a target
    /// such as LOG or MARK, which does not decide the packet's fate).
    static func iptablesRule(_ words: [String], chains: Set<String>) -> FirewallRule {
        var conditions: [FirewallCondition] = []
        var verdict: FirewallVerdict?
        var negated = false
        var targetSeen = false
        var index = 0
        func next() -> String? {
            index += 1
            return index < words.count ? words[index] : nil
        }
        while index < words.count {
            let word = words[index]
            switch word {
            case "!": negated = true; index += 1; continue
            case "-i", "--in-interface", "-o", "--out-interface":
                if let name = next() {
                    // iptables' wildcard is "+", nft's "*".
                    let pattern = name.hasSuffix("+") ? String(name.dropLast()) + "*" : name
                    conditions.append(
                        .interface(
                            word == "-i" || word == "--in-interface" ? .input : .output, names: [pattern], negated: negated))
                }
            case "-s", "--source", "-d", "--destination":
                if let value = next() {
                    let parsed = value.split(separator: ",").compactMap { IPv4Prefix($0) }
                    conditions.append(
                        parsed.isEmpty
                            ? .other
                            : .address(
                                word.hasPrefix("-s") || word == "--source" ? .source : .destination,
                                prefixes: parsed, negated: negated))
                }
            case "--ctstate", "--state":
                if let value = next() {
                    conditions.append(
                        .connectionState(value.lowercased().split(separator: ",").map(String.init), negated: negated))
                }
            case "-m", "--match", "--comment":
                _ = next()
            case "-j", "--jump":
                targetSeen = true
                if let target = next() { verdict = iptablesTarget(target) ?? (chains.contains(target) ? .jump(target) : nil) }
            case "-g", "--goto":
                if let target = next() { verdict = .goto(target) }
            default:
                // Options after the target are the target's (--reject-with, --log-prefix, --to-source).
                if !targetSeen { conditions.append(.other) }
                // Skip this option's arguments.
                while index + 1 < words.count, !words[index + 1].hasPrefix("-"), words[index + 1] != "!" { index += 1 }
            }
            negated = false
            index += 1
        }
        return FirewallRule(conditions: conditions, verdict: verdict, reference: "")
    }

    /// Splits an iptables-save line into words, keeping a double-quoted comment as one.
    static func iptablesWords(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in line {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" && quoted { escaped = true; continue }
            if character == "\"" { quoted.toggle(); continue }
            if character == " " && !quoted {
                if !current.isEmpty { words.append(current); current = "" }
                continue
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
