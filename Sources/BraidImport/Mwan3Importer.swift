/// The result of `braid import mwan3`: a Braid config and what could not be carried over as it was.
public struct Mwan3Import: Sendable, Equatable {
    /// The Braid config, as YAML text.
    public var yaml: String
    /// Every option not carried over as it was, with why; printed on stderr.
    public var notes: [ImportNote]
}

/// Turns an mwan3 configuration (and optionally OpenWrt's network configuration, for devices and
/// gateways) into a Braid config that routes the way mwan3 would: interfaces become WANs (an
/// `family ipv6` interface becomes the `ipv6:` part of the WAN on the same device), members and
/// policies become named policies (metric → tier), rules keep their order.
public enum Mwan3Importer {
    public static func convert(
        mwan3 mwan3Text: String, file mwan3File: String, network networkText: String? = nil, networkFile: String? = nil
    ) throws(UCIParseError) -> Mwan3Import {
        let document = try UCIParser.parse(mwan3Text, file: mwan3File)
        let (mwan3, readNotes) = Mwan3Reader.read(document, file: mwan3File)
        let network = try networkText.map { text throws(UCIParseError) in
            OpenWrtNetwork.read(try UCIParser.parse(text, file: networkFile ?? "network"))
        }
        var conversion = Conversion(mwan3: mwan3, network: network, file: mwan3File)
        conversion.notes = readNotes
        for section in document.sections {
            conversion.optionLines[section.reference, default: [:]].merge(
                section.options.map { ($0.name, $0.line) }, uniquingKeysWith: { first, _ in first })
        }
        conversion.run()
        // In file order, so the report reads alongside the file; notes about the whole file first.
        let notes = conversion.notes.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }
        return Mwan3Import(yaml: conversion.writer.text, notes: notes.map(\.element))
    }

    struct Conversion {
        let mwan3: Mwan3Config
        let network: OpenWrtNetwork?
        let file: String
        var notes: [ImportNote] = []
        var writer = YAMLWriter()
        var wanNames = BraidNameMapping()
        var policyNames = BraidNameMapping()
        var ruleNames = BraidNameMapping()
        var setNames = BraidNameMapping()
        /// mwan3 interface name → the Braid WAN it became (both families of a device map to one WAN).
        var wanOfInterface: [String: String] = [:]
        /// Section reference → option → its line, so that a note about an option points at it.
        var optionLines: [String: [String: Int]] = [:]

        init(mwan3: Mwan3Config, network: OpenWrtNetwork?, file: String) {
            self.mwan3 = mwan3
            self.network = network
            self.file = file
        }

        mutating func note(_ line: Int?, _ section: String, _ option: String? = nil, _ message: String) {
            let optionLine = option.flatMap { optionLines[section]?[$0] }
            notes.append(ImportNote(file: file, line: optionLine ?? line, section: section, option: option, message: message))
        }

        mutating func run() {
            writer.comment("Imported from \(file) by `braid import mwan3`; the notes on stderr say what changed.")
            writer.comment("Check it with `braid check -c FILE` and `braid plan -c FILE` before `braid run`.")
            writer.blank()
            globals()
            let wans = wanSections()
            flushOnDown(wans)
            lan()
            writeWans(wans)
            let usedSets = writePoliciesAndRules()
            writeSets(usedSets)
        }

        // MARK: globals, lan

        mutating func globals() {
            if let line = mwan3.globals.line, mwan3.globals.markMask.lowercased() != "0x3f00" {
                note(
                    line, "globals", "mmx_mask",
                    "not carried: Braid keeps its marks in `kernel.mark_mask` (default 0xff000000, bits mwan3 and fw4 "
                        + "leave alone); set that key if those bits are taken on this router")
            }
        }

        mutating func lan() {
            var device = "br-lan"
            if let network {
                if let lanDevice = network.device(of: "lan") {
                    device = lanDevice
                } else {
                    note(nil, "lan", nil, "the network file has no `lan` interface with a device; lan.interfaces is br-lan, check it")
                }
            } else {
                note(nil, "lan", nil, "without --network the LAN interface is assumed to be br-lan, OpenWrt's default; check it")
            }
            writer.key("lan", indent: 0)
            writer.flowList("interfaces", [device], indent: 2)
            writer.blank()
        }

        // MARK: WANs

        struct WanDraft {
            var name: String
            var device: String
            var ipv4: Mwan3Interface?
            var ipv6: Mwan3Interface?
        }

        /// Groups the enabled interfaces by device: one WAN each, with its IPv4 and IPv6 sections.
        mutating func wanSections() -> [WanDraft] {
            var drafts: [WanDraft] = []
            if network == nil, !mwan3.interfaces.isEmpty {
                note(
                    mwan3.interfaces[0].line, mwan3.interfaces[0].name, nil,
                    "without --network each logical interface name stands for its device and every gateway is `auto`; "
                        + "give --network /etc/config/network for the real devices and gateways")
            }
            for interface in mwan3.interfaces {
                guard interface.enabled else {
                    note(interface.line, interface.name, "enabled", "the interface is disabled in mwan3; left out")
                    continue
                }
                let device = network?.device(of: interface.name) ?? interface.name
                if network != nil, network?.interfaces[interface.name] == nil {
                    note(interface.line, interface.name, nil, "the network file has no interface '\(interface.name)'; device assumed to be '\(device)'")
                }
                if let index = drafts.firstIndex(where: { $0.device == device }) {
                    switch interface.family {
                    case .ipv4 where drafts[index].ipv4 == nil: drafts[index].ipv4 = interface
                    case .ipv6 where drafts[index].ipv6 == nil: drafts[index].ipv6 = interface
                    default:
                        note(interface.line, interface.name, nil, "a second \(interface.family.rawValue) interface on device \(device); left out")
                        continue
                    }
                    wanOfInterface[interface.name] = drafts[index].name
                    continue
                }
                let (name, changed) = wanNames.name(for: interface.name)
                if changed {
                    note(interface.line, interface.name, nil, "WAN named '\(name)' (Braid names are 1-15 of a-z 0-9 _ -)")
                }
                wanOfInterface[interface.name] = name
                drafts.append(
                    WanDraft(
                        name: name, device: device, ipv4: interface.family == .ipv4 ? interface : nil,
                        ipv6: interface.family == .ipv6 ? interface : nil))
            }
            return drafts.filter { draft in
                guard draft.ipv4 == nil, let only = draft.ipv6 else { return true }
                note(
                    only.line, only.name, "family",
                    "an IPv6-only uplink (no ipv4 interface on \(draft.device)) cannot be a Braid WAN yet; left out")
                wanOfInterface[only.name] = nil
                return false
            }
        }

        mutating func flushOnDown(_ wans: [WanDraft]) {
            let sections = wans.flatMap { [$0.ipv4, $0.ipv6].compactMap { $0 } }
            let flushing = sections.filter { !Set($0.flushConntrack).isDisjoint(with: ["ifdown", "disconnected"]) }
            for section in sections where !section.flushConntrack.isEmpty {
                note(
                    section.line, section.name, "flush_conntrack",
                    "mwan3 flushes the whole conntrack table on \(section.flushConntrack.joined(separator: ", ")); Braid's "
                        + "flush_on_down deletes only the failed WAN's connections")
            }
            writer.comment("mwan3 keeps connections of a failed WAN unless flush_conntrack says otherwise.")
            writer.pair("flush_on_down", flushing.isEmpty ? "false" : "true", indent: 0, plain: true)
            writer.blank()
        }

        mutating func writeWans(_ wans: [WanDraft]) {
            writer.key("wans", indent: 0)
            for wan in wans {
                guard let ipv4 = wan.ipv4 else { continue }
                writer.pair("name", wan.name, indent: 2, listItem: true)
                writer.pair("interface", wan.device, indent: 4)
                writer.pair("gateway", gateway(for: ipv4), indent: 4)
                if let ipv6 = wan.ipv6 {
                    writer.key("ipv6", indent: 4)
                    writer.pair("gateway", ipv6Gateway(for: ipv6), indent: 6)
                    writer.pair("nat", "masquerade", indent: 6)
                    note(
                        ipv6.line, ipv6.name, nil,
                        "its IPv6 leaves by \(wan.name) with `nat: masquerade` (NAT66), the usual mwan3 setup; use "
                            + "`nat: none` if each uplink routes your prefix")
                }
                health(ipv4: ipv4, ipv6: wan.ipv6)
            }
            writer.blank()
        }

        mutating func gateway(for interface: Mwan3Interface) -> String {
            guard let network, let entry = network.interfaces[interface.name] else { return "auto" }
            let proto = entry.proto ?? "none"
            if proto == "static" {
                if let gateway = entry.gateway { return gateway }
                note(interface.line, interface.name, nil, "proto static without a gateway in the network file; gateway: auto")
                return "auto"
            }
            if OpenWrtNetwork.pointToPointProtocols.contains(proto) { return "none" }
            if proto != "dhcp" {
                note(interface.line, interface.name, nil, "proto \(proto): gateway learned at run time (auto); check it")
            }
            return "auto"
        }

        func ipv6Gateway(for interface: Mwan3Interface) -> String {
            guard let network, let entry = network.interfaces[interface.name] else { return "auto" }
            if entry.proto == "static", let gateway = entry.ipv6Gateway { return gateway }
            if let proto = entry.proto, OpenWrtNetwork.pointToPointProtocols.contains(proto) { return "none" }
            return "auto"
        }

        mutating func health(ipv4: Mwan3Interface, ipv6: Mwan3Interface?) {
            var targets: [String] = []
            for section in [ipv4, ipv6].compactMap({ $0 }) {
                for target in section.trackIPs {
                    let isV4 = IPv4Literal.isValid(target)
                    let isV6 = target.contains(":")
                    if isV4 || isV6 {
                        targets.append(target)
                    } else {
                        note(section.line, section.name, "track_ip", "'\(target)' is a host name; Braid probes addresses only, so it is left out (not resolved)")
                    }
                }
            }
            guard !targets.isEmpty else {
                note(ipv4.line, ipv4.name, "track_ip", "no target to probe: the WAN is up while its link is up, as in mwan3")
                return
            }
            let section = ipv4
            writer.key("health", indent: 4)
            writer.flowList("targets", targets, indent: 6)
            writer.pair("method", method(for: section), indent: 6)
            writer.pair("interval", "\(section.interval)s", indent: 6)
            let timeout = min(section.timeout, 60)
            if timeout != section.timeout {
                note(section.line, section.name, "timeout", "\(section.timeout) s is above Braid's 60 s limit; 60s")
            }
            writer.pair("timeout", "\(timeout)s", indent: 6)
            writer.pair("down_after", "\(section.down)", indent: 6)
            writer.pair("up_after", "\(section.up)", indent: 6)
            let quorum = min(section.reliability, targets.count)
            if quorum != section.reliability {
                note(section.line, section.name, "reliability", "\(section.reliability) is more than the \(targets.count) target(s); quorum \(quorum)")
            }
            writer.pair("quorum", "\(quorum)", indent: 6)
            if section.checkQuality {
                if section.failureLoss > 0 && section.failureLoss < 100 {
                    writer.pair("max_loss", "\(section.failureLoss)%", indent: 6)
                    note(
                        section.line, section.name, "failure_loss",
                        "carried as max_loss \(section.failureLoss)% over Braid's loss window (20 rounds), not per round")
                } else {
                    note(section.line, section.name, "failure_loss", "\(section.failureLoss)% has no Braid equivalent; not carried")
                }
                note(
                    section.line, section.name, "failure_latency",
                    "Braid has no latency limit; failure_latency/recovery_latency/recovery_loss are not carried")
            }
            if section.count > 1 {
                note(section.line, section.name, "count", "Braid sends one probe per target per round; count \(section.count) not carried")
            }
            for (option, value) in [("failure_interval", section.failureInterval), ("recovery_interval", section.recoveryInterval)] {
                if let value, value != section.interval {
                    note(section.line, section.name, option, "Braid probes at one interval; \(value) s not carried (interval \(section.interval) s kept)")
                }
            }
            if !section.initiallyOnline {
                note(section.line, section.name, "initial_state", "Braid starts every WAN as probing (carrying traffic); offline not carried")
            }
            note(
                section.line, section.name, "interval",
                "mwan3's timers are kept (\(section.interval) s × \(section.down) failed rounds ≈ "
                    + "\(section.interval * section.down) s to fail over); remove interval/timeout/down_after/up_after "
                    + "for Braid's defaults (under 1 s)")
            if let ipv6, ipv6.trackMethod != ipv4.trackMethod || ipv6.interval != ipv4.interval {
                note(ipv6.line, ipv6.name, nil, "Braid probes both families with one health section; the ipv4 interface's settings are used")
            }
        }

        mutating func method(for section: Mwan3Interface) -> String {
            switch section.trackMethod {
            case "ping", "nping-icmp": return "icmp"
            case "nping-tcp":
                note(section.line, section.name, "track_method", "nping-tcp → tcp:80 (nping's default port)")
                return "tcp:80"
            case "httping":
                if section.httpingTLS {
                    note(section.line, section.name, "httping_ssl", "Braid's http method has no TLS; probing plain http")
                }
                note(section.line, section.name, "track_method", "httping → http://TARGET/: each target is asked for /")
                return "http://" + (section.trackIPs.first ?? "") + "/"
            case "nslookup":
                note(section.line, section.name, "track_method", "nslookup → dns:openwrt.org: any DNS answer from the target counts")
                return "dns:openwrt.org"
            default:
                note(section.line, section.name, "track_method", "\(section.trackMethod) has no Braid equivalent; icmp")
                return "icmp"
            }
        }

        // MARK: policies and rules

        /// Writes `policies`, `default_policy` and `rules`; returns the sets the rules name.
        mutating func writePoliciesAndRules() -> [(name: String, line: Int, section: String)] {
            var policyOf: [String: String] = [:]
            var policyLines: [(String, [(String, String)], String)] = []
            for policy in mwan3.policies {
                var members: [(wan: String, weight: Int, metric: Int)] = []
                for memberName in policy.members {
                    guard let member = mwan3.members.first(where: { $0.name == memberName }) else { continue }
                    guard let wan = wanOfInterface[member.interface] else {
                        note(policy.line, policy.name, "use_member", "member '\(memberName)' uses interface '\(member.interface)', which was left out")
                        continue
                    }
                    if let existing = members.firstIndex(where: { $0.wan == wan }) {
                        if members[existing].metric != member.metric || members[existing].weight != member.weight {
                            note(
                                policy.line, policy.name, "use_member",
                                "members '\(memberName)' and another one use WAN \(wan) (both families); the first one's metric and weight are kept")
                        }
                        continue
                    }
                    members.append((wan, member.weight, member.metric))
                }
                guard !members.isEmpty else {
                    note(policy.line, policy.name, nil, "no member is left; the policy is left out and rules using it go to its last resort")
                    continue
                }
                let (name, changed) = policyNames.name(for: policy.name)
                if changed { note(policy.line, policy.name, nil, "policy named '\(name)'") }
                policyOf[policy.name] = name
                let metrics = Array(Set(members.map(\.metric))).sorted()
                let rendered = members.map { member -> [(String, String)] in
                    var pairs = [("wan", member.wan), ("weight", "\(member.weight)")]
                    let tier = metrics.firstIndex(of: member.metric)! + 1
                    if tier > 1 { pairs.append(("tier", "\(tier)")) }
                    return pairs
                }
                let lastResort: String
                switch policy.lastResort {
                case .unreachable: lastResort = "unreachable"
                case .blackhole: lastResort = "drop"
                case .default: lastResort = "main"
                }
                policyLines.append((name, rendered.flatMap { $0 + [("|", "")] }, lastResort))
            }
            if !policyLines.isEmpty {
                writer.key("policies", indent: 0)
                for (name, flat, lastResort) in policyLines {
                    writer.key(name, indent: 2)
                    writer.key("members", indent: 4)
                    var current: [(String, String)] = []
                    for pair in flat {
                        if pair.0 == "|" {
                            writer.flowMapping(current, indent: 6)
                            current = []
                        } else {
                            current.append(pair)
                        }
                    }
                    writer.pair("last_resort", lastResort, indent: 4)
                }
                writer.blank()
            }
            return writeRules(policyOf: policyOf)
        }

        enum RuleTarget {
            case policy(String)
            case use(String)
        }

        /// A rule as it will be written, kept until every rule is read: catch-alls are only known
        /// for what they are at the end.
        struct RuleDraft {
            var name: String
            var line: Int
            var section: String
            var source: String?
            var destination: [String] = []
            var destinationSet: String?
            var protocolName: String?
            var ports: [String] = []
            var target: RuleTarget
            var sticky: Int?
            /// The families this rule matches everything of (a catch-all), if it is one.
            var catchAll: Set<Mwan3Family> = []
        }

        mutating func writeRules(policyOf: [String: String]) -> [(name: String, line: Int, section: String)] {
            var sets: [(name: String, line: Int, section: String)] = []
            var drafts: [RuleDraft] = []
            /// Family → the rule that matched all of it, so later rules of that family are dead.
            var caughtBy: [Mwan3Family: RuleDraft] = [:]
            var anonymous = 0
            // Without a WAN that takes IPv6, Braid leaves IPv6 alone: only IPv4 is routed by the rules.
            let hasIPv6 = mwan3.interfaces.contains { $0.enabled && $0.family == .ipv6 && wanOfInterface[$0.name] != nil }
            let families: [Mwan3Family] = hasIPv6 ? [.ipv4, .ipv6] : [.ipv4]
            for rule in mwan3.rules {
                let ruleFamilies = Self.families(of: rule).filter(families.contains)
                guard !ruleFamilies.isEmpty else {
                    note(rule.line, rule.name, nil, "an IPv6 rule, and no imported WAN takes IPv6; left out")
                    continue
                }
                if let family = rule.family, let address = [rule.sourceIP, rule.destinationIP].compactMap({ $0 }).first,
                    (address.contains(":") ? Mwan3Family.ipv6 : .ipv4) != family
                {
                    note(rule.line, rule.name, "family", "family \(family.rawValue) with an address of the other family never matches; left out")
                    continue
                }
                if ruleFamilies.allSatisfy({ caughtBy[$0] != nil }) {
                    let earlier = caughtBy[ruleFamilies.first!]!.section
                    note(rule.line, rule.name, nil, "comes after '\(earlier)', which matches all of its traffic: never used (in mwan3 either); left out")
                    continue
                }
                if rule.sourcePort != nil {
                    note(rule.line, rule.name, "src_port", "Braid rules do not match source ports; the rule is left out")
                    continue
                }
                var protocolName: String?
                switch rule.proto {
                case "all", "": protocolName = nil
                case "tcp", "6": protocolName = "tcp"
                case "udp", "17": protocolName = "udp"
                case "icmp", "1": protocolName = "icmp"
                default:
                    note(rule.line, rule.name, "proto", "'\(rule.proto)' is not tcp, udp, icmp or all; the rule is left out")
                    continue
                }
                var ports: [String] = []
                if let destinationPort = rule.destinationPort {
                    if protocolName == "tcp" || protocolName == "udp" {
                        ports = destinationPort.split(whereSeparator: { $0 == "," || $0 == " " }).map {
                            String($0.map { $0 == ":" ? "-" : $0 })
                        }
                    } else {
                        note(rule.line, rule.name, "dest_port", "ports count only with proto tcp or udp (mwan3 ignores them too); left out")
                    }
                }
                let target: RuleTarget
                switch rule.usePolicy {
                case "default": target = .use("main")
                case "blackhole": target = .use("drop")
                case "unreachable":
                    target = .use("drop")
                    note(rule.line, rule.name, "use_policy", "unreachable → drop: Braid refuses the connection")
                default:
                    guard let policy = policyOf[rule.usePolicy] else {
                        note(rule.line, rule.name, "use_policy", "policy '\(rule.usePolicy)' was left out; the rule is left out")
                        continue
                    }
                    target = .policy(policy)
                }
                let originalName: String
                if rule.name.hasPrefix("@") {
                    anonymous += 1
                    originalName = "rule\(anonymous)"
                } else {
                    originalName = rule.name
                }
                let (name, changed) = ruleNames.name(for: originalName)
                if changed, !rule.name.hasPrefix("@") { note(rule.line, rule.name, nil, "rule named '\(name)'") }
                var draft = RuleDraft(
                    name: name, line: rule.line, section: rule.name, source: rule.sourceIP,
                    destination: rule.destinationIP.map { [$0] } ?? [], protocolName: protocolName, ports: ports,
                    target: target, sticky: rule.sticky ? min(rule.stickyTimeout, 86_400) : nil)
                if let ipset = rule.ipset {
                    let (setName, _) = setNames.name(for: ipset)
                    draft.destinationSet = setName
                    if !sets.contains(where: { $0.name == setName }) { sets.append((setName, rule.line, rule.name)) }
                }
                let everything: [String: Mwan3Family] = ["0.0.0.0/0": .ipv4, "::/0": .ipv6]
                let addressesCatchAll =
                    (rule.sourceIP == nil || everything[rule.sourceIP!] != nil)
                    && (rule.destinationIP == nil || everything[rule.destinationIP!] != nil)
                if protocolName == nil, ports.isEmpty, rule.ipset == nil, rule.sticky == false, addressesCatchAll {
                    draft.catchAll = ruleFamilies.filter { caughtBy[$0] == nil }
                    for family in draft.catchAll { caughtBy[family] = draft }
                }
                if hasIPv6, ruleFamilies.count == 1, rule.sourceIP == nil, rule.destinationIP == nil {
                    // Braid tells a rule's family by its addresses: say it with the family's all-prefix.
                    draft.destination = [ruleFamilies.first == .ipv4 ? "0.0.0.0/0" : "::/0"]
                }
                drafts.append(draft)
            }
            // One policy catching every family Braid routes becomes default_policy.
            var defaultPolicy: String?
            let catchers = families.compactMap { caughtBy[$0] }
            if catchers.count == families.count, case .policy(let policy) = catchers[0].target,
                catchers.allSatisfy({ if case .policy(policy) = $0.target { true } else { false } })
            {
                defaultPolicy = policy
                let names = Set(catchers.map(\.name))
                for catcher in catchers where names.contains(catcher.name) {
                    note(catcher.line, catcher.section, nil, "matches everything: it becomes `default_policy: \(policy)`")
                }
                drafts.removeAll { names.contains($0.name) }
            }
            let uncaught = families.filter { caughtBy[$0] == nil }
            if !uncaught.isEmpty {
                // mwan3 leaves traffic no rule matches to the main routing table.
                let (name, _) = ruleNames.name(for: "mwan3_unmatched")
                drafts.append(
                    RuleDraft(
                        name: name, line: 0, section: "rules",
                        destination: uncaught.map { $0 == .ipv4 ? "0.0.0.0/0" : "::/0" }, target: .use("main")))
                note(
                    nil, "rules", nil,
                    "no catch-all rule for \(uncaught.map(\.rawValue).joined(separator: " and ")): mwan3 sends that traffic by "
                        + "the main table, and the rule \(name) keeps that; remove it to balance unmatched traffic over every WAN")
            }
            if let defaultPolicy {
                writer.pair("default_policy", defaultPolicy, indent: 0)
                writer.blank()
            }
            if !drafts.isEmpty {
                writer.key("rules", indent: 0)
                for draft in drafts { write(draft) }
                writer.blank()
            }
            return sets
        }

        mutating func write(_ draft: RuleDraft) {
            writer.pair("name", draft.name, indent: 2, listItem: true)
            if let source = draft.source { writer.pair("source", source, indent: 4) }
            if draft.destination.count == 1 {
                writer.pair("destination", draft.destination[0], indent: 4)
            } else if !draft.destination.isEmpty {
                writer.flowList("destination", draft.destination, indent: 4)
            }
            if let set = draft.destinationSet { writer.pair("destination_set", set, indent: 4) }
            if let protocolName = draft.protocolName { writer.pair("protocol", protocolName, indent: 4) }
            if draft.ports.count == 1 {
                writer.pair("destination_port", draft.ports[0], indent: 4)
            } else if !draft.ports.isEmpty {
                writer.flowList("destination_port", draft.ports, indent: 4)
            }
            switch draft.target {
            case .policy(let policy): writer.pair("policy", policy, indent: 4)
            case .use(let use): writer.flowList("use", [use], indent: 4)
            }
            if let sticky = draft.sticky { writer.pair("sticky", "\(sticky)s", indent: 4) }
        }

        /// The families a rule can match: its addresses' family, else its `family`, else both.
        static func families(of rule: Mwan3Rule) -> Set<Mwan3Family> {
            let addresses = [rule.sourceIP, rule.destinationIP].compactMap { $0 }
            if let address = addresses.first { return [address.contains(":") ? .ipv6 : .ipv4] }
            if let family = rule.family { return [family] }
            return [.ipv4, .ipv6]
        }

        mutating func writeSets(_ sets: [(name: String, line: Int, section: String)]) {
            guard !sets.isEmpty else { return }
            writer.key("sets", indent: 0)
            for set in sets {
                writer.flowList(set.name, [], indent: 2)
                note(set.line, set.section, "ipset", "set '\(set.name)' is empty: mwan3 left its entries to ipset/fw4; supply them (inline or `file:`)")
            }
        }
    }
}

/// A dotted-quad IPv4 literal, checked without parsing into Braid's types (the loader does that).
enum IPv4Literal {
    static func isValid(_ text: String) -> Bool {
        let address = text.split(separator: "/", maxSplits: 1).first.map(String.init) ?? text
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isNumber) && Int(part)! <= 255
        }
    }
}

