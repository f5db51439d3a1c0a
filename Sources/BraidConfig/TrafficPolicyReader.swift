import Foundation

/// Reads `sets`, `rules` and `port_forwards`, checking every name they refer to against the WANs
/// and sets defined in the same file.
struct TrafficPolicyReader {
    let wanNames: [String]
    /// False when the WAN list itself was invalid: then WAN references are not checked, to avoid
    /// reporting the same mistake twice.
    let knownWans: Bool
    let baseDirectory: String
    private(set) var setNames: Set<String> = []
    /// Set name → the families of its entries, so a rule can be checked for a family it can match.
    private(set) var setFamilies: [String: Set<AddressFamily>] = [:]
    /// The named policies rules may pick (`policy: NAME`); nil when `policies` had mistakes, so
    /// that a rule naming a policy that was refused is not reported again.
    var policyNames: Set<String>? = []

    init(wanNames: [String], knownWans: Bool, baseDirectory: String) {
        self.wanNames = wanNames
        self.knownWans = knownWans
        self.baseDirectory = baseDirectory
    }

    mutating func readSets(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [AddressSetConfig] {
        guard case .mapping(let mapping) = cursor.node else {
            collector.report(cursor, "expected a mapping of set names to address lists or { file: PATH }")
            return []
        }
        var sets: [AddressSetConfig] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { continue }
            let setCursor = YAMLCursor(node: value, path: cursor.child(name))
            guard Identifiers.isValidWanName(name) else {
                collector.report(
                    path: setCursor.path, line: key.mark?.line,
                    "\"\(name)\" is not a valid set name (1-15 of a-z 0-9 _ -, starting with a letter or digit)")
                continue
            }
            if case .mapping = value {
                guard let keys = collector.mapping(setCursor, allowed: ["file"]), let fileCursor = keys["file"],
                    let path = collector.string(fileCursor, of: "a file path")
                else {
                    if case .mapping(let inner) = value, inner["file"] == nil {
                        collector.report(setCursor, "needs `file: PATH` or a list of addresses")
                    }
                    continue
                }
                guard !path.isEmpty, !ControlCharacters.contains(path) else {
                    collector.report(fileCursor, "\"\(path)\" is not a file path (empty, or with control characters)")
                    continue
                }
                let fullPath = path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
                let text: String
                switch TextFile.read(fullPath) {
                case .success(let contents): text = contents
                case .failure(let error):
                    collector.report(fileCursor, "cannot read \(fullPath): \(error)")
                    continue
                }
                var entries: [IPPrefix] = []
                var bad = 0
                // Split on any line break: Swift reads "\r\n" as one character, so splitting on "\n" alone
                // would see a Windows-edited file as a single line.
                for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                    let line =
                        rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                        .trimmingCharacters(in: .whitespaces) ?? ""
                    if line.isEmpty { continue }
                    if let prefix = IPPrefix(line) {
                        entries.append(prefix)
                    } else {
                        bad += 1
                        if bad <= 5 {
                            collector.report(
                                fileCursor, "\(fullPath) line \(number + 1): \"\(line)\" is not an IPv4 or IPv6 address or prefix"
                            )
                        }
                    }
                }
                if bad > 5 { collector.report(fileCursor, "\(fullPath): \(bad - 5) more bad lines") }
                sets.append(AddressSetConfig(name: name, entries: entries, file: fullPath))
            } else {
                guard let items = collector.sequence(setCursor, of: "IPv4 or IPv6 addresses or prefixes") else { continue }
                sets.append(AddressSetConfig(name: name, entries: items.compactMap { prefix($0, &collector) }))
            }
            setNames.insert(name)
        }
        // An empty set (a file not filled yet) takes either family, as it matches nothing anyway.
        for set in sets {
            setFamilies[set.name] = set.entries.isEmpty ? Set(AddressFamily.allCases) : Set(set.entries.map(\.family))
        }
        return sets
    }

    func readRules(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [TrafficRuleConfig] {
        guard let items = collector.sequence(cursor, of: "rules") else { return [] }
        var rules: [TrafficRuleConfig] = []
        var names: [String: String] = [:]
        for item in items {
            guard
                let keys = collector.mapping(
                    item,
                    allowed: [
                        "name", "source", "protocol", "destination_port", "destination", "destination_set", "use", "policy",
                        "sticky",
                    ])
            else { continue }
            let before = collector.issues.count
            var rule = TrafficRuleConfig(name: "", use: [])
            if let nameCursor = keys["name"], let name = collector.string(nameCursor, of: "a rule name") {
                if name.isEmpty || name.count > 64 || name.contains("\"") || name.contains(where: \.isNewline)
                    || ControlCharacters.contains(name)
                {
                    collector.report(
                        nameCursor,
                        "\"\(name)\" is not a rule name: 1-64 characters without quotes, line breaks or other control characters")
                } else if let first = names[name] {
                    collector.report(nameCursor, "\"\(name)\" is already the name of \(first)")
                } else {
                    names[name] = item.path
                    rule.name = name
                }
            } else if keys["name"] == nil {
                collector.report(path: item.child("name"), line: item.line, "missing; every rule needs a name")
            }
            if let sourceCursor = keys["source"] { rule.sources = prefixes(sourceCursor, &collector) }
            if let destinationCursor = keys["destination"] { rule.destinations = prefixes(destinationCursor, &collector) }
            if let protocolCursor = keys["protocol"], let text = collector.string(protocolCursor, of: "tcp, udp or icmp") {
                if let transport = TransportProtocol(rawValue: text) {
                    rule.transport = transport
                } else {
                    collector.report(protocolCursor, "\"\(text)\" is not tcp, udp or icmp")
                }
            }
            if let portCursor = keys["destination_port"] {
                rule.destinationPorts = ports(portCursor, &collector)
                if rule.transport != .tcp && rule.transport != .udp {
                    collector.report(portCursor, "a destination port needs `protocol: tcp` or `protocol: udp`")
                }
            }
            if let setCursor = keys["destination_set"], let name = collector.string(setCursor, of: "a set name") {
                if setNames.contains(name) {
                    rule.destinationSet = name
                } else {
                    collector.report(setCursor, "no set named \"\(name)\" (define it under `sets`)")
                }
            }
            if let useCursor = keys["use"] {
                rule.use = targets(useCursor, &collector)
                if keys["policy"] != nil {
                    collector.report(useCursor, "give either `use` or `policy`, not both")
                }
            } else if let policyCursor = keys["policy"] {
                if let target = policyTarget(policyCursor, sticky: keys["sticky"], &collector) { rule.use = [target] }
            } else {
                collector.report(
                    path: item.child("use"), line: item.line,
                    "missing; say which WANs (or balance, main, drop) this rule uses, or name a policy (`policy: NAME`)")
            }
            if let stickyCursor = keys["sticky"], keys["policy"] == nil {
                collector.report(stickyCursor, "sticky needs `policy: NAME`: it keeps a client on the policy's WAN it got")
            }
            if collector.issues.count == before,
                rule.addressFamilies(setFamilies: rule.destinationSet.flatMap { setFamilies[$0] }) == []
            {
                collector.report(
                    item,
                    "rule \"\(rule.name)\" can match no connection: its source, destination and destination_set share no address family (IPv4 or IPv6)"
                )
            }
            if collector.issues.count == before { rules.append(rule) }
        }
        return rules
    }

    func readPortForwards(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [PortForwardConfig] {
        guard let items = collector.sequence(cursor, of: "port forwards") else { return [] }
        var forwards: [PortForwardConfig] = []
        var forwardIndices: [Int] = []
        var names: Set<String> = []
        for (index, item) in items.enumerated() {
            guard let keys = collector.mapping(item, allowed: ["name", "wans", "protocol", "port", "to", "hairpin"]) else {
                continue
            }
            let before = collector.issues.count
            var name = ""
            if let nameCursor = keys["name"], let text = collector.string(nameCursor, of: "a name") {
                if !Identifiers.isValidWanName(text) {
                    collector.report(nameCursor, "\"\(text)\" is not a valid name (1-15 of a-z 0-9 _ -)")
                } else if !names.insert(text).inserted {
                    collector.report(nameCursor, "\"\(text)\" is used by another port forward")
                }
                name = text
            } else if keys["name"] == nil {
                collector.report(path: item.child("name"), line: item.line, "missing; every port forward needs a name")
            }
            var wans: [String] = []
            if let wansCursor = keys["wans"], let entries = collector.sequence(wansCursor, of: "WAN names") {
                for entry in entries {
                    guard let text = collector.string(entry, of: "a WAN name") else { continue }
                    if knownWans && !wanNames.contains(text) {
                        collector.report(entry, "no WAN named \"\(text)\"")
                    } else {
                        wans.append(text)
                    }
                }
            }
            var transport = TransportProtocol.tcp
            if let protocolCursor = keys["protocol"], let text = collector.string(protocolCursor, of: "tcp or udp") {
                if let value = TransportProtocol(rawValue: text), value != .icmp {
                    transport = value
                } else {
                    collector.report(protocolCursor, "\"\(text)\" is not tcp or udp")
                }
            }
            var portRange = PortRange(1, 1)
            if let portCursor = keys["port"], let text = collector.string(portCursor, of: "a port or range") {
                if let range = PortRange.parse(text) {
                    portRange = range
                } else {
                    collector.report(portCursor, "\"\(text)\" is not a port (1-65535) or range (1000-2000)")
                }
            } else if keys["port"] == nil {
                collector.report(path: item.child("port"), line: item.line, "missing; which port (or range) is forwarded")
            }
            var targets: [ForwardTarget] = []
            if let toCursor = keys["to"] {
                let entries: [YAMLCursor]
                if case .sequence = toCursor.node {
                    entries = collector.sequence(toCursor, of: "targets") ?? []
                } else {
                    entries = [toCursor]
                }
                for entry in entries {
                    guard let text = collector.string(entry, of: "ADDRESS[:PORT][@WEIGHT]") else { continue }
                    let target: ForwardTarget
                    switch ForwardTarget.parseExplained(text) {
                    case .success(let parsed): target = parsed
                    case .failure(let error):
                        collector.report(entry, error.description)
                        continue
                    }
                    if target.port != nil && portRange.count > 1 {
                        collector.report(entry, "a forwarded range keeps its ports; give the target without a port")
                        continue
                    }
                    targets.append(target)
                }
                if entries.isEmpty { collector.report(toCursor, "needs at least one target") }
                if Set(targets.map { $0.port == nil }).count > 1 {
                    collector.report(toCursor, "give every target a port, or none (then the arriving port is kept)")
                }
            } else {
                collector.report(path: item.child("to"), line: item.line, "missing; where connections are forwarded")
            }
            var hairpin = true
            if let hairpinCursor = keys["hairpin"], let value = collector.boolean(hairpinCursor) { hairpin = value }
            if collector.issues.count == before {
                let forward = PortForwardConfig(
                    name: name, wans: wans, transport: transport, ports: portRange, targets: targets, hairpin: hairpin)
                // Two forwards of one port on one WAN: the second would never see a connection
                // (unless only it has hairpin: LAN clients and the router then reach it).
                if let clash = forwards.enumerated().first(where: {
                    overlap($0.element, forward) && ($0.element.hairpin || !forward.hairpin)
                }),
                    let portCursor = keys["port"]
                {
                    let shared =
                        clash.element.wans.isEmpty
                        ? (forward.wans.isEmpty ? "every WAN" : forward.wans.joined(separator: ", "))
                        : (forward.wans.isEmpty ? clash.element.wans : forward.wans.filter(clash.element.wans.contains)).joined(
                            separator: ", ")
                    let earlier = "port_forwards[\(forwardIndices[clash.offset])] (\"\(clash.element.name)\")"
                    let covered = clash.element.ports.first <= portRange.first && portRange.last <= clash.element.ports.last
                    collector.report(
                        portCursor,
                        covered
                            ? "\(transport) \(portRange) on \(shared) is already forwarded by \(earlier)"
                            : "\(transport) \(portRange) on \(shared) overlaps \(earlier), which forwards \(transport) \(clash.element.ports)"
                    )
                } else {
                    forwards.append(forward)
                    forwardIndices.append(index)
                }
            }
        }
        return forwards
    }

    /// Same transport, a port in common and a WAN in common (no `wans` means every WAN).
    private func overlap(_ first: PortForwardConfig, _ second: PortForwardConfig) -> Bool {
        guard first.transport == second.transport, first.ports.first <= second.ports.last, second.ports.first <= first.ports.last
        else { return false }
        return first.wans.isEmpty || second.wans.isEmpty || !Set(first.wans).isDisjoint(with: second.wans)
    }

    private func prefix(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> IPPrefix? {
        guard let text = collector.string(cursor, of: "an IPv4 or IPv6 address or prefix") else { return nil }
        guard let prefix = IPPrefix(text) else {
            collector.report(cursor, IPPrefixSyntax.reason(text))
            return nil
        }
        return prefix
    }

    private func prefixes(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [IPPrefix] {
        if case .sequence = cursor.node {
            let items = collector.sequence(cursor, of: "addresses or prefixes") ?? []
            if items.isEmpty { collector.report(cursor, "needs at least one address or prefix") }
            return items.compactMap { prefix($0, &collector) }
        }
        return prefix(cursor, &collector).map { [$0] } ?? []
    }

    private func ports(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [PortRange] {
        let entries: [YAMLCursor]
        if case .sequence = cursor.node { entries = collector.sequence(cursor, of: "ports") ?? [] } else { entries = [cursor] }
        if entries.isEmpty { collector.report(cursor, "needs at least one port") }
        return entries.compactMap { entry in
            guard let text = collector.string(entry, of: "a port or range") else { return nil }
            guard let range = PortRange.parse(text) else {
                collector.report(entry, "\"\(text)\" is not a port (1-65535) or range (27015-27030)")
                return nil
            }
            return range
        }
    }

    /// `policy: NAME` with an optional `sticky: DURATION` (1s-1d, as mwan3's `timeout`).
    private func policyTarget(_ cursor: YAMLCursor, sticky: YAMLCursor?, _ collector: inout IssueCollector) -> RuleTarget? {
        guard let name = collector.string(cursor, of: "a policy name") else { return nil }
        if let policyNames, !policyNames.contains(name) {
            let known = policyNames.sorted().joined(separator: ", ")
            collector.report(
                cursor, "no policy named \"\(name)\" (" + (known.isEmpty ? "define it under `policies`" : "policies: \(known)") + ")")
            return nil
        }
        var seconds: Int?
        if let sticky {
            guard let value = collector.duration(sticky, in: .seconds(1)...(.seconds(86_400))) else { return nil }
            guard value.components.attoseconds == 0 else {
                collector.report(sticky, "give sticky in whole seconds (nft timeouts count seconds)")
                return nil
            }
            seconds = Int(value.components.seconds)
        }
        return .policy(name, stickySeconds: seconds)
    }

    private func targets(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [RuleTarget] {
        guard let items = collector.sequence(cursor, of: "WAN names (or balance, main, drop)") else { return [] }
        if items.isEmpty { collector.report(cursor, "needs at least one WAN, or balance, main or drop") }
        var targets: [RuleTarget] = []
        for (index, item) in items.enumerated() {
            guard let text = collector.string(item, of: "a WAN name") else { continue }
            let target: RuleTarget
            switch text {
            case "balance": target = .balance
            case "main": target = .main
            case "drop": target = .drop
            default:
                guard !knownWans || wanNames.contains(text) else {
                    collector.report(
                        item, "no WAN named \"\(text)\" (WANs: \(wanNames.joined(separator: ", ")); or balance, main, drop)")
                    continue
                }
                target = .wan(text)
            }
            if target == .balance || target == .main || target == .drop, index != items.count - 1 {
                collector.report(item, "\(text) always applies, so it must come last")
            }
            targets.append(target)
        }
        return targets
    }
}
