import BraidConfig
import Testing

@testable import BraidPlanner

/// Evaluates a plan's `traffic_rules` for one new connection the way nft would, reading only the
/// rendered rule texts and map elements (not the compiler's own data): ct mark starts at the
/// worst rank, each lookup rule of the packet's family runs in order, and the dispatch map's
/// verdict is followed through `rule_action_N` and `use_N`. Answers the verdict that decides:
/// `goto choose_X`, `goto choose_main`, `drop`, `goto policy_…`, or `return` (the split).
struct RankPipelineWalker {
    let state: DesiredState
    private var maps: [String: ParsedMap] = [:]

    struct ParsedMap {
        var fields: [String]
        /// Per element, one range per field, and the value.
        var elements: [(ranges: [ClosedRange<UInt128>], value: String)]
    }

    init(_ state: DesiredState) throws {
        self.state = state
        for map in state.ruleset.maps where map.type.hasSuffix(" : ct mark") {
            let keyText = map.type.dropFirst("typeof ".count).components(separatedBy: " : ")[0]
            let fields = keyText.components(separatedBy: " . ")
            var elements: [(ranges: [ClosedRange<UInt128>], value: String)] = []
            for element in map.elements {
                let parts = element.key.components(separatedBy: " . ")
                try #require(parts.count == fields.count, "\(map.name): element \(element.key) does not fit \(keyText)")
                elements.append((try zip(fields, parts).map { try Self.range($1, field: $0) }, element.value))
            }
            maps[map.name] = ParsedMap(fields: fields, elements: elements)
        }
    }

    static func range(_ text: String, field: String) throws -> ClosedRange<UInt128> {
        switch field {
        case "ct mark":
            let bounds = text.split(separator: "-").map { UInt128(UInt32($0.dropFirst(2), radix: 16)!) }
            return bounds[0]...bounds[bounds.count - 1]
        case "meta l4proto":
            let number: UInt128 = ["tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58][text] ?? UInt128(text)!
            return number...number
        case "th dport":
            let ports = try #require(PortRange.parse(text), "port \(text)")
            return UInt128(ports.first)...UInt128(ports.last)
        default:
            if text.contains("/") {
                let prefix = try #require(IPPrefix(text), "prefix \(text)")
                let line = RuleBox.range(prefix)
                return line.lower...line.upper
            }
            let bounds = try text.split(separator: "-").map { try #require(IPAddress($0), "address \($0) in \(text)") }
            return Self.value(bounds[0])...Self.value(bounds[bounds.count - 1])
        }
    }

    static func value(_ address: IPAddress) -> UInt128 {
        switch address {
        case .v4(let address): UInt128(address.value)
        case .v6(let address): address.line
        }
    }

    func field(_ field: String, _ flow: Flow) -> UInt128? {
        switch field {
        case "ct mark": nil
        case "ip saddr", "ip6 saddr": Self.value(flow.source)
        case "ip daddr", "ip6 daddr": Self.value(flow.destination)
        case "meta l4proto": flow.transport.map { UInt128(PolicyCompiler.protocolNumber($0, family: flow.family)) } ?? 0
        case "th dport": flow.destinationPort.map { UInt128($0) }
        default: nil
        }
    }

    /// Whether a rule whose text starts with `meta nfproto X` or reads an address of a family applies.
    func applies(_ text: String, to family: AddressFamily) -> Bool {
        if text.hasPrefix("meta nfproto ipv4 ") || text.contains("ip saddr") || text.contains("ip daddr") {
            return family == .ipv4
        }
        if text.hasPrefix("meta nfproto ipv6 ") || text.contains("ip6 saddr") || text.contains("ip6 daddr") {
            return family == .ipv6
        }
        return true
    }

    static func hexValue(_ text: some StringProtocol) -> UInt128 { UInt128(UInt32(text.dropFirst(2), radix: 16)!) }

    /// `ct mark > R <matches> ct mark set R`: a destination-set rule's own pipeline rule.
    func setRuleMatches(_ rule: String, _ flow: Flow) throws -> Bool {
        var words = rule.split(separator: " ").map(String.init)
        words.removeFirst(4)
        words.removeLast(4)
        var index = 0
        func operand() -> [String] {
            if words[index] == "{" {
                var items: [String] = []
                index += 1
                while words[index] != "}" { items.append(String(words[index].trimmingCharacters(in: [","]))); index += 1 }
                index += 1
                return items
            }
            index += 1
            return [words[index - 1]]
        }
        while index < words.count {
            let field = words[index] + " " + words[index + 1]
            index += 2
            let items = operand()
            // A connection without ports (ICMP) matches no port criterion.
            guard let value = self.field(field, flow) else { return false }
            var ranges: [ClosedRange<UInt128>] = []
            for item in items {
                if item.hasPrefix("@") {
                    let set = try #require(state.ruleset.sets.first { $0.name == item.dropFirst() }, "no set \(item)")
                    ranges += try set.elements.map { try Self.range($0, field: field) }
                } else {
                    ranges.append(try Self.range(item, field: field))
                }
            }
            if !ranges.contains(where: { $0.contains(value) }) { return false }
        }
        return true
    }

    func verdict(_ flow: Flow) throws -> String {
        var mark: UInt128 = 0
        for (position, rule) in state.trafficRules.enumerated() {
            guard applies(rule, to: flow.family) else { continue }
            if position == 0 {
                try #require(rule.hasPrefix("ct mark set 0x"), "the pipeline starts with NOMATCH: \(rule)")
                mark = Self.hexValue(rule.dropFirst("ct mark set ".count))
            } else if rule == "ct mark set 0x00000000" {
                return "return"
            } else if rule.hasPrefix("ct mark > ") {
                let rank = Self.hexValue(rule.split(separator: " ")[3])
                if mark > rank, try setRuleMatches(rule, flow) { mark = rank }
            } else if let name = rule.components(separatedBy: " map @").last, rule.contains(" map @") {
                let map = try #require(maps[name], "no rank map \(name)")
                let key = map.fields.map { field($0, flow) ?? ($0 == "ct mark" ? mark : nil) }
                // A connection with no port (ICMP) cannot match a port field.
                let hits = map.elements.filter { element in
                    zip(element.ranges, key).allSatisfy { range, value in value.map(range.contains) ?? false }
                }
                try #require(hits.count <= 1, "\(name): \(hits.count) elements match \(flow) (overlapping keys)")
                if let hit = hits.first {
                    // A map without the rank field must be the first lookup of the family.
                    try #require(map.fields.contains("ct mark") || mark == Self.hexValue(state.trafficRules[0].dropFirst(12)))
                    mark = Self.hexValue(hit.value)
                }
            } else if let name = rule.components(separatedBy: " vmap @").last, rule.contains("ct mark vmap @") {
                let dispatch = try state.map(name)
                guard let element = dispatch.elements.first(where: { UInt128(UInt32($0.key.dropFirst(2), radix: 16)!) == mark })
                else { continue }
                let action = try state.chain(String(element.value.dropFirst("goto ".count))).rules.map(\.text)
                try #require(action.count == 2 && action[0] == "ct mark set 0x00000000", "action chain \(action)")
                // An empty `use_N` (never in the maps while its rule is passed over) would return to the split.
                return try state.effectiveVerdict(action[1]) ?? "return"
            } else {
                Issue.record("unexpected traffic_rules rule \(rule)")
            }
        }
        return "return"
    }
}
