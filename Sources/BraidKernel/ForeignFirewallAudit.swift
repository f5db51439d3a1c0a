import BraidConfig
import BraidPlanner

/// Something in another program's firewall that drops or translates the LAN→WAN traffic Braid
/// routes, with the change that lets the traffic through. Braid never edits other tables; it says
/// what it saw and what to change.
public struct ForeignFirewallFinding: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// All forwarded LAN→WAN connections (or their replies) are dropped.
        case drop
        /// A rule with conditions Braid does not evaluate (ports, named sets, …) may drop some of it.
        case partialDrop = "partial_drop"
        /// Another NAT rule translates the traffic; it may duplicate or override Braid's.
        case nat
        /// Braid could not read the other firewalls.
        case unchecked
    }

    public var kind: Kind
    /// "ip", "inet", … for nftables tables; "iptables-legacy" for legacy iptables.
    public var family: String
    public var table: String
    public var chain: String
    public var hook: String
    public var priority: Int
    /// What the chain does to Braid's traffic.
    public var problem: String
    /// Commands (or steps) that let the traffic through without giving up the rest of that firewall.
    public var fix: [String]

    public init(
        kind: Kind, family: String, table: String, chain: String, hook: String, priority: Int, problem: String, fix: [String]
    ) {
        self.kind = kind
        self.family = family
        self.table = table
        self.chain = chain
        self.hook = hook
        self.priority = priority
        self.problem = problem
        self.fix = fix
    }

    /// "table ip filter, chain FORWARD (hook forward, priority 0)", or the legacy iptables spelling.
    public var location: String {
        if kind == .unchecked { return "other firewalls" }
        if family == "iptables-legacy" { return "iptables-legacy table \(table), chain \(chain)" }
        return "table \(family) \(table), chain \(chain) (hook \(hook), priority \(priority))"
    }

    /// `apply`'s warning: what happens to the traffic, where, and the fix.
    public var warning: String {
        switch kind {
        case .drop: "Braid's forwarded traffic will be dropped by another firewall: " + summary
        case .partialDrop: "another firewall may drop some of Braid's forwarded traffic: " + summary
        case .nat: "another firewall also NATs Braid's traffic: " + summary
        case .unchecked: problem
        }
    }

    /// One paragraph for `apply`'s warnings and `status`.
    public var summary: String {
        var text = "\(location): \(problem)"
        if !fix.isEmpty { text += "\n  fix: " + fix.joined(separator: "\n       ") }
        return text
    }
}

/// Reads other programs' base chains on the forward path and reports the ones that would drop or
/// NAT Braid's LAN→WAN traffic.
///
/// Why this matters: nftables runs every table's base chains on a hook one after the other, and
/// an `accept` in one table only ends that table's chain. Braid's chains only mark, count and NAT;
/// a `drop` in any other base chain on the forward path — Docker's `policy drop` on iptables'
/// FORWARD, ufw's default routed policy, firewalld's zones — still kills the packet, and the user
/// sees "Braid does not forward". The audit follows each chain the way the kernel would for three
/// packets per LAN/WAN pair (a new connection out, a packet of an established one, and its reply),
/// taking jumps, gotos and returns; it treats a condition it cannot evaluate as not matching, so a
/// drop behind such a condition is reported as `partial_drop`, not as `drop`.
public enum ForeignFirewallAudit {
    /// Findings for `ruleset`. `lanPrefixes`: the LAN interfaces' subnets, so that a rule limited to
    /// other source addresses (Docker's `masquerade` of 172.17.0.0/16) is not counted.
    public static func findings(
        in ruleset: ForeignRuleset, lanInterfaces: [String], wanInterfaces: [String],
        lanPrefixes: [String: [IPv4Prefix]] = [:]
    ) -> [ForeignFirewallFinding] {
        var tables: [FirewallTable]
        var findings: [ForeignFirewallFinding] = []
        do { tables = try ForeignRulesetParser.nftTables(ruleset.nftJSON) } catch {
            tables = []
            findings.append(unchecked("could not read `nft -j list ruleset`: \(error)"))
        }
        if let legacy = ruleset.iptablesLegacySave { tables += ForeignRulesetParser.iptablesSaveTables(legacy) }
        let probes = lanInterfaces.flatMap { lan in
            wanInterfaces.flatMap { wan in Probe.all(lan: lan, wan: wan, lanPrefixes: lanPrefixes[lan] ?? []) }
        }
        for table in tables where ["ip", "inet", "iptables-legacy"].contains(table.family) {
            for chain in table.chains.values.sorted(by: { ($0.base?.priority ?? 0, $0.name) < ($1.base?.priority ?? 0, $1.name) })
            {
                guard let base = chain.base, ["prerouting", "forward", "postrouting"].contains(base.hook),
                    ["filter", "nat"].contains(base.type)
                else { continue }
                findings += audit(chain, base: base, in: table, probes: probes)
            }
        }
        return findings
    }

    /// Reads the host and the other firewalls and audits them; never throws, so that a failed check
    /// never fails an apply: it becomes an `unchecked` finding.
    public static func check(config: Config, kernel: any KernelPort) -> [ForeignFirewallFinding] {
        let ruleset: ForeignRuleset
        do { ruleset = try kernel.readForeignRuleset() } catch {
            return [unchecked("could not check other firewalls: \(error)")]
        }
        var prefixes: [String: [IPv4Prefix]] = [:]
        if let facts = try? kernel.readHostFacts() {
            for name in config.lan.interfaces {
                prefixes[name] = (facts.interfaces[name]?.addresses ?? []).compactMap { address in
                    IPv4Prefix(
                        address: IPv4Address(address.address.value & IPv4Prefix.mask(address.prefixLength)),
                        length: address.prefixLength)
                }
            }
        }
        return findings(
            in: ruleset, lanInterfaces: config.lan.interfaces, wanInterfaces: config.wans.map(\.interface), lanPrefixes: prefixes)
    }

    static func unchecked(_ problem: String) -> ForeignFirewallFinding {
        ForeignFirewallFinding(
            kind: .unchecked, family: "", table: "", chain: "", hook: "", priority: 0, problem: problem, fix: [])
    }

    // MARK: - Following a chain

    /// One packet Braid forwards, as far as the audit can know it.
    struct Probe: Hashable {
        enum Direction: Hashable { case outbound, reply }
        var direction: Direction
        var lan: String
        var wan: String
        var state: String
        var lanPrefixes: [IPv4Prefix]

        static func all(lan: String, wan: String, lanPrefixes: [IPv4Prefix]) -> [Probe] {
            [
                Probe(direction: .outbound, lan: lan, wan: wan, state: "new", lanPrefixes: lanPrefixes),
                Probe(direction: .outbound, lan: lan, wan: wan, state: "established", lanPrefixes: lanPrefixes),
                Probe(direction: .reply, lan: lan, wan: wan, state: "established", lanPrefixes: lanPrefixes),
            ]
        }

        var input: String { direction == .outbound ? lan : wan }
        var output: String { direction == .outbound ? wan : lan }

        var label: String {
            switch (direction, state) {
            case (.outbound, "new"): "new connections \(lan)→\(wan)"
            case (.outbound, _): "established traffic \(lan)→\(wan)"
            default: "replies \(wan)→\(lan)"
            }
        }
    }

    enum Truth { case always, never, maybe }

    /// Where a packet's fate was decided.
    struct Decision: Hashable {
        enum Kind: Hashable { case drop, nat(String) }
        var kind: Kind
        var chain: String
        /// nil: the base chain's policy.
        var rule: String?

        /// "drop" or "reject" for a drop; for NAT the kind says it.
        var verb = "drop"

        var description: String {
            let verb: String
            switch kind {
            case .drop: verb = self.verb
            case .nat(let kind): verb = kind
            }
            guard let rule else { return "policy \(verb)" }
            return "a `\(verb)` rule in chain \(chain) (\(rule))"
        }
    }

    enum Outcome { case accepted, decided(Decision), fellThrough }

    static func audit(
        _ chain: FirewallChain, base: FirewallChain.Base, in table: FirewallTable, probes: [Probe]
    ) -> [ForeignFirewallFinding] {
        // NAT happens on a connection's first packet only.
        let relevant = base.type == "nat" ? probes.filter { $0.direction == .outbound && $0.state == "new" } : probes
        var decided: [Decision: [Probe]] = [:]
        var partial: [Decision: [Probe]] = [:]
        for probe in relevant {
            var maybe: [Decision] = []
            var outcome = walk(chain.name, in: table, probe: probe, hook: base.hook, depth: 0, maybe: &maybe)
            if case .fellThrough = outcome, base.policy == "drop" {
                outcome = .decided(Decision(kind: .drop, chain: chain.name, rule: nil))
            }
            if case .decided(let decision) = outcome { decided[decision, default: []].append(probe) }
            // A packet that is dropped anyway need not hear about the rules that might have dropped it.
            if case .decided(let decision) = outcome, decision.kind == .drop { continue }
            for decision in maybe { partial[decision, default: []].append(probe) }
        }
        var findings: [ForeignFirewallFinding] = []
        func finding(_ kind: ForeignFirewallFinding.Kind, _ problem: String, _ fix: [String]) -> ForeignFirewallFinding {
            ForeignFirewallFinding(
                kind: kind, family: table.family, table: table.name, chain: chain.name, hook: base.hook,
                priority: base.priority, problem: problem, fix: fix)
        }
        let drops = decided.filter { $0.key.kind == .drop }
        if !drops.isEmpty {
            let affected = Array(Set(drops.values.joined()))
            let causes = drops.sorted { $0.key.description < $1.key.description }
                .map { "\($0.key.description) drops \(labels($0.value))" }
            findings.append(
                finding(
                    .drop,
                    causes.joined(separator: "; ") + ". Braid's `accept` does not override it: a drop in any base chain wins",
                    fixes(for: chain, in: table, affected: affected)))
        }
        for (decision, affected) in decided.sorted(by: { $0.key.description < $1.key.description }) {
            guard case .nat = decision.kind else { continue }
            findings.append(
                finding(.nat, "\(decision.description) translates \(labels(affected)); \(natOrder(base))", natFixes()))
        }
        let partialDrops = partial.filter { $0.key.kind == .drop }
        if !partialDrops.isEmpty {
            let causes = partialDrops.sorted { $0.key.description < $1.key.description }
                .map { "\($0.key.description) may drop some \(labels($0.value))" }
            findings.append(
                finding(
                    .partialDrop, causes.joined(separator: "; ") + " (conditions Braid does not evaluate)",
                    ["check that rule; if it should not apply to Braid's traffic, add an accept rule for it before the drop"]))
        }
        for (decision, affected) in partial.sorted(by: { $0.key.description < $1.key.description }) {
            guard case .nat = decision.kind else { continue }
            findings.append(
                finding(.nat, "\(decision.description) may translate some \(labels(affected)); \(natOrder(base))", natFixes()))
        }
        return findings
    }

    /// Follows `chainName` for `probe` as the kernel would. Drops and NATs behind conditions the
    /// audit cannot evaluate go to `maybe`, and the packet carries on as if they did not match.
    static func walk(
        _ chainName: String, in table: FirewallTable, probe: Probe, hook: String, depth: Int,
        maybe: inout [Decision]
    ) -> Outcome {
        guard depth < 32, let chain = table.chains[chainName] else { return .fellThrough }
        for rule in chain.rules {
            let truth = evaluate(rule.conditions, probe: probe, hook: hook)
            if truth == .never { continue }
            let definite = truth == .always
            let here = Decision(kind: .drop, chain: chainName, rule: rule.reference)
            switch rule.verdict {
            case nil:
                continue
            case .accept?:
                if definite { return .accepted }
            case .drop?, .reject?:
                var decision = here
                if rule.verdict == .reject { decision.verb = "reject" }
                if definite { return .decided(decision) }
                maybe.append(decision)
            case .nat(let kind)?:
                let decision = Decision(kind: .nat(kind), chain: chainName, rule: rule.reference)
                if definite { return .decided(decision) }
                maybe.append(decision)
            case .return?:
                if definite { return .fellThrough }
            case .jump(let target)?, .goto(let target)?:
                let isGoto = if case .goto = rule.verdict { true } else { false }
                if definite {
                    let outcome = walk(target, in: table, probe: probe, hook: hook, depth: depth + 1, maybe: &maybe)
                    // A goto never comes back: when its chain ends, so does this one.
                    if case .fellThrough = outcome, !isGoto { continue }
                    return outcome
                }
                var nested: [Decision] = []
                if case .decided(let decision) = walk(
                    target, in: table, probe: probe, hook: hook, depth: depth + 1, maybe: &nested)
                {
                    nested.append(decision)
                }
                maybe += nested
            }
        }
        return .fellThrough
    }

    static func evaluate(_ conditions: [FirewallCondition], probe: Probe, hook: String) -> Truth {
        var result = Truth.always
        for condition in conditions {
            switch evaluate(condition, probe: probe, hook: hook) {
            case .never: return .never
            case .maybe: result = .maybe
            case .always: break
            }
        }
        return result
    }

    static func evaluate(_ condition: FirewallCondition, probe: Probe, hook: String) -> Truth {
        func truth(_ matches: Bool, _ negated: Bool) -> Truth { matches != negated ? .always : .never }
        switch condition {
        case .interface(let direction, let names, let negated):
            // Before routing there is no output interface yet.
            if direction == .output && hook == "prerouting" { return .maybe }
            let interface = direction == .input ? probe.input : probe.output
            return truth(names.contains { interfaceMatches(interface, pattern: $0) }, negated)
        case .address(let field, let prefixes, let negated):
            let lanSide = (field == .source) == (probe.direction == .outbound)
            if lanSide {
                guard !probe.lanPrefixes.isEmpty else { return .maybe }
                if probe.lanPrefixes.allSatisfy({ lan in prefixes.contains { contains($0, lan) } }) {
                    return truth(true, negated)
                }
                if probe.lanPrefixes.allSatisfy({ lan in prefixes.allSatisfy { !overlaps($0, lan) } }) {
                    return truth(false, negated)
                }
                return .maybe
            }
            // The internet side: a rule about private or local ranges only is not about it.
            if prefixes.allSatisfy({ prefix in nonPublic.contains { contains($0, prefix) } }) { return truth(false, negated) }
            return .maybe
        case .connectionState(let states, let negated):
            return truth(states.contains(probe.state), negated)
        case .opaqueConntrack:
            return probe.state == "established" ? .always : .never
        case .ipv6Only:
            return .never
        case .other:
            return .maybe
        }
    }

    static let nonPublic = [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
        "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "0.0.0.0/8",
    ].compactMap { IPv4Prefix($0) }

    static func interfaceMatches(_ interface: String, pattern: String) -> Bool {
        pattern.hasSuffix("*") ? interface.hasPrefix(pattern.dropLast()) : interface == pattern
    }

    static func contains(_ outer: IPv4Prefix, _ inner: IPv4Prefix) -> Bool {
        outer.length <= inner.length && inner.address.value & outer.mask == outer.address.value
    }

    static func overlaps(_ first: IPv4Prefix, _ second: IPv4Prefix) -> Bool { contains(first, second) || contains(second, first) }

    /// "new connections lan0→wan1, replies wan1→lan0", or "all traffic between lan0 and wan1 (both ways)".
    static func labels(_ probes: [Probe]) -> String {
        var pairs: [[String]] = []
        for probe in probes where !pairs.contains([probe.lan, probe.wan]) { pairs.append([probe.lan, probe.wan]) }
        return pairs.sorted { $0.lexicographicallyPrecedes($1) }.map { pair in
            let here = probes.filter { [$0.lan, $0.wan] == pair }
            let all = Probe.all(lan: pair[0], wan: pair[1], lanPrefixes: [])
            if all.allSatisfy({ wanted in here.contains { $0.direction == wanted.direction && $0.state == wanted.state } }) {
                return "all traffic between \(pair[0]) and \(pair[1]) (both ways)"
            }
            return all.filter { wanted in here.contains { $0.direction == wanted.direction && $0.state == wanted.state } }
                .map(\.label).joined(separator: ", ")
        }.joined(separator: ", ")
    }

    static func natOrder(_ base: FirewallChain.Base) -> String {
        let braid = base.hook == "prerouting" ? -100 : 100
        if base.priority < braid { return "it runs before Braid's NAT (priority \(braid)), so its translation wins" }
        if base.priority > braid {
            return "it runs after Braid's NAT (priority \(braid)); Braid's translation wins unless Braid has `nat: none`"
        }
        return "it runs at the same priority as Braid's NAT; whichever chain was registered first decides"
    }

    static func natFixes() -> [String] {
        ["keep WAN NAT in one place: limit this rule to its own sources or interfaces, or set Braid's `nat: none` and keep yours"]
    }

    // MARK: - Fixes

    /// What lets `affected` through `chain` without switching that firewall off, in its owner's own tool.
    static func fixes(for chain: FirewallChain, in table: FirewallTable, affected: [Probe]) -> [String] {
        let pairs = Array(Set(affected.map { [$0.lan, $0.wan] })).sorted { $0.lexicographicallyPrecedes($1) }
        let outbound = affected.contains { $0.direction == .outbound }
        let replies = affected.contains { $0.direction == .reply }
        let legacy = table.family == "iptables-legacy"
        let iptables = legacy ? "iptables-legacy" : "iptables"
        let isIptables =
            legacy
            || (table.family == "ip" && ["filter", "nat", "mangle", "raw"].contains(table.name)
                && chain.name == chain.name.uppercased())
        func iptablesRules(_ chainName: String) -> [String] {
            pairs.flatMap { pair -> [String] in
                (outbound ? ["\(iptables) -I \(chainName) -i \(pair[0]) -o \(pair[1]) -j ACCEPT"] : [])
                    + (replies || outbound
                        ? [
                            "\(iptables) -I \(chainName) -i \(pair[1]) -o \(pair[0]) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
                        ] : [])
            }
        }
        if isIptables, table.name == "filter", chain.name == "FORWARD", table.chains["DOCKER-USER"] != nil {
            // Docker rewrites FORWARD when it starts but leaves DOCKER-USER to the administrator.
            return [
                "Docker: allow Braid's traffic in DOCKER-USER, the chain Docker keeps for your rules (make it persistent, e.g. a unit that runs after docker.service):"
            ]
                + iptablesRules("DOCKER-USER")
        }
        if isIptables, table.chains["ufw-user-forward"] != nil {
            return ["ufw: allow the routed traffic (ufw's own rules already accept the replies):"]
                + pairs.map { "ufw route allow in on \($0[0]) out on \($0[1])" }
        }
        if table.family == "inet" && table.name == "firewalld" {
            return [
                "firewalld: allow forwarding from the LAN's zone to the WAN's zone with a policy, e.g.",
                "firewall-cmd --permanent --new-policy braid-lan-wan",
                "firewall-cmd --permanent --policy braid-lan-wan --add-ingress-zone LANZONE --add-egress-zone WANZONE --set-target ACCEPT",
                "firewall-cmd --reload",
            ]
        }
        if isIptables {
            return [
                "allow Braid's traffic in \(chain.name) (or set its policy to ACCEPT: \(iptables) -t \(table.name) -P \(chain.name) ACCEPT):"
            ]
                + iptablesRules(chain.name)
        }
        let reference = "\(table.family) \(table.name) \(chain.name)"
        var lines = [
            "allow Braid's traffic at the top of \(chain.name) (and in the file that creates the table, so it survives a reload), or set its policy to accept:"
        ]
        for pair in pairs {
            if outbound { lines.append("nft insert rule \(reference) iifname \"\(pair[0])\" oifname \"\(pair[1])\" accept") }
            lines.append(
                "nft insert rule \(reference) iifname \"\(pair[1])\" oifname \"\(pair[0])\" ct state established,related accept")
        }
        return lines
    }
}
