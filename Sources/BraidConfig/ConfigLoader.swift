import Foundation
import Yams

/// Turns YAML text into a validated `Config`, or reports every problem with its key path and line.
/// It checks what can be known from the file alone; whether interfaces exist is the planner's
/// question, asked against the host at `apply`.
public enum ConfigLoader {
    /// Where `braid` looks when no `-c` is given.
    public static let defaultPath = "/etc/braid/braid.yaml"

    /// The most a weight may be, so that the sum of 255 weights still fits comfortably in the
    /// 32-bit modulus nft's `numgen` takes.
    public static let maximumWeight = 1_000_000

    public static func load(path: String) throws(ConfigError) -> Config {
        let text: String
        switch TextFile.read(path, limit: TextFile.maximumConfigBytes) {
        case .success(let contents): text = contents
        case .failure(let error): throw .unreadable(path: path, reason: error.description)
        }
        return try parse(text, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    /// Parses config text; relative set file paths are read from `baseDirectory`.
    public static func parse(
        _ text: String, baseDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigError) -> Config {
        if let issue = AliasExpansion.check(text) { throw .invalid([issue]) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error)
        } catch {
            throw .syntax(message: "\(error)", line: nil)
        }
        guard let root else {
            throw .invalid([ConfigIssue(path: "", line: nil, message: "the config is empty; it needs `lan` and `wans`")])
        }
        var collector = IssueCollector()
        let config = readConfig(YAMLCursor(node: root, path: ""), baseDirectory: baseDirectory, &collector)
        if let config, collector.issues.isEmpty { return config }
        throw .invalid(collector.issues)
    }

    private static func syntaxError(_ error: YamlError) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return .syntax(message: problem, line: mark.line)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .syntax(message: "duplicate key \(duplicates.joined(separator: ", "))", line: context.mark.line)
        default:
            return .syntax(message: "\(error)", line: nil)
        }
    }

    private static func readConfig(_ cursor: YAMLCursor, baseDirectory: String, _ collector: inout IssueCollector) -> Config? {
        guard
            let keys = collector.mapping(
                cursor,
                allowed: [
                    "lan", "wans", "kernel", "flush_on_down", "flap_damping", "sticky", "sets", "rules", "port_forwards", "api",
                    "hooks", "policies", "default_policy",
                    "ha",
                ])
        else { return nil }
        var flushOnDown = true
        if let flushCursor = keys["flush_on_down"], let value = collector.boolean(flushCursor) { flushOnDown = value }
        var kernel = KernelLayoutConfig()
        if let kernelCursor = keys["kernel"] { kernel = readKernelLayout(kernelCursor, &collector) ?? kernel }
        var flapDamping = FlapDampingConfig()
        if let dampingCursor = keys["flap_damping"] { flapDamping = readFlapDamping(dampingCursor, &collector) ?? flapDamping }

        let lan: LanConfig?
        if let lanCursor = keys["lan"] {
            lan = readLan(lanCursor, &collector)
        } else {
            collector.report(path: "lan", line: cursor.line, "missing; list the LAN interfaces under lan.interfaces")
            lan = nil
        }
        let wans: [WanConfig]?
        if let wansCursor = keys["wans"] {
            wans = readWans(wansCursor, lan: lan, kernel: kernel, &collector)
        } else {
            collector.report(path: "wans", line: cursor.line, "missing; list at least one WAN")
            wans = nil
        }
        var sticky = StickyMode.none
        if let stickyCursor = keys["sticky"], let text = collector.string(stickyCursor, of: "none or source") {
            if let mode = StickyMode(rawValue: text) {
                sticky = mode
            } else {
                collector.report(stickyCursor, "\"\(text)\" is not none or source")
            }
        }
        let wanNames = wans?.map(\.name) ?? []
        // References to WANs are checked only when every WAN entry was valid: otherwise a mistake in a
        // WAN entry would be reported again at every rule that names it.
        let wansComplete = wans != nil && !collector.issues.contains { $0.path == "wans" || $0.path.hasPrefix("wans[") }
        var policy = TrafficPolicyReader(wanNames: wanNames, knownWans: wansComplete, baseDirectory: baseDirectory)
        let policiesBefore = collector.issues.count
        var namedPolicies: [NamedPolicyConfig] = []
        if let policiesCursor = keys["policies"] {
            namedPolicies = NamedPolicyReader(wanNames: wanNames, knownWans: wansComplete).readPolicies(
                policiesCursor, &collector)
            NamedPolicyReader.checkFlushAgreement(namedPolicies, policiesCursor, &collector)
        }
        policy.policyNames = collector.issues.count == policiesBefore ? Set(namedPolicies.map(\.name)) : nil
        var defaultPolicy: String?
        if let defaultCursor = keys["default_policy"], let name = collector.string(defaultCursor, of: "a policy name") {
            if let known = policy.policyNames, !known.contains(name) {
                collector.report(
                    defaultCursor,
                    "no policy named \"\(name)\" ("
                        + (known.isEmpty ? "define it under `policies`" : "policies: \(known.sorted().joined(separator: ", "))") + ")")
            } else {
                defaultPolicy = name
            }
        }
        let sets = keys["sets"].map { policy.readSets($0, &collector) } ?? []
        let rules = keys["rules"].map { policy.readRules($0, &collector) } ?? []
        let forwards = keys["port_forwards"].map { policy.readPortForwards($0, &collector) } ?? []
        let api = keys["api"].map { readApi($0, &collector) } ?? ApiConfig()
        let hooks = keys["hooks"].map { readEventHooks($0, &collector) } ?? EventHookConfig()
        let ha = keys["ha"].flatMap { readHA($0, lan: lan, wans: wansComplete ? wans : nil, wansCursor: keys["wans"], &collector) }
        guard let lan, let wans else { return nil }
        var config = Config(
            lan: lan, wans: wans, kernel: kernel, flushOnDown: flushOnDown, sticky: sticky, sets: sets, rules: rules,
            portForwards: forwards,
            flapDamping: flapDamping)
        config.api = api ?? ApiConfig()
        config.hooks = hooks ?? EventHookConfig()
        config.policies = namedPolicies
        config.defaultPolicy = defaultPolicy
        config.ha = ha
        return config
    }

    private static func readLan(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> LanConfig? {
        guard let keys = collector.mapping(cursor, allowed: ["interfaces"]) else { return nil }
        guard let interfacesCursor = keys["interfaces"] else {
            collector.report(
                path: cursor.child("interfaces"), line: cursor.line,
                "missing; list the interfaces where client traffic enters")
            return nil
        }
        guard let items = collector.sequence(interfacesCursor, of: "interface names") else { return nil }
        if items.isEmpty { collector.report(interfacesCursor, "needs at least one interface") }
        var names: [String] = []
        for item in items {
            guard let name = collector.string(item, of: "an interface name") else { continue }
            guard Identifiers.isValidInterfaceName(name) else {
                collector.report(item, "\"\(name)\" is not a valid interface name (1-15 of a-z A-Z 0-9 _ - .)")
                continue
            }
            if names.contains(name) { collector.report(item, "\"\(name)\" is listed twice") }
            names.append(name)
        }
        return LanConfig(interfaces: names)
    }

    private static func readWans(
        _ cursor: YAMLCursor, lan: LanConfig?, kernel: KernelLayoutConfig,
        _ collector: inout IssueCollector
    ) -> [WanConfig]? {
        guard let items = collector.sequence(cursor, of: "WANs") else { return nil }
        if items.isEmpty {
            collector.report(cursor, "needs at least one WAN")
            return nil
        }
        if items.count > kernel.markCapacity {
            collector.report(
                cursor, "\(items.count) WANs do not fit in kernel.mark_mask, which has room for \(kernel.markCapacity)")
        }
        var wans: [WanConfig] = []
        var seenNames: [String: String] = [:]
        var seenInterfaces: [String: String] = [:]
        for item in items {
            guard let wan = readWan(item, &collector) else { continue }
            let nameCursor = YAMLCursor(node: item.node["name"] ?? item.node, path: item.path + ".name")
            let interfaceCursor = YAMLCursor(node: item.node["interface"] ?? item.node, path: item.path + ".interface")
            if let first = seenNames[wan.name] {
                collector.report(nameCursor, "\"\(wan.name)\" is already the name of \(first)")
            }
            if let first = seenInterfaces[wan.interface] {
                collector.report(interfaceCursor, "\"\(wan.interface)\" is already used by \(first)")
            }
            if let lan, lan.interfaces.contains(wan.interface) {
                collector.report(interfaceCursor, "\"\(wan.interface)\" is also a LAN interface (lan.interfaces)")
            }
            seenNames[wan.name] = seenNames[wan.name] ?? item.path
            seenInterfaces[wan.interface] = seenInterfaces[wan.interface] ?? item.path
            wans.append(wan)
        }
        if wans.count == items.count, !wans.isEmpty, wans.allSatisfy({ $0.weight == 0 }) {
            collector.report(cursor, "every WAN has weight 0; at least one needs a positive weight")
        }
        if wans.count == items.count {
            if !kernel.tablesFit(highestSlot: wans.count) {
                collector.report(
                    path: "kernel.first_table", line: cursor.line,
                    "tables \(kernel.firstTable)-\(kernel.lastTable(highestSlot: wans.count)) would include the reserved tables 253-255 or overflow; pick another first_table"
                )
            }
            if !kernel.rulePrioritiesFit(highestSlot: wans.count) {
                collector.report(
                    path: "kernel.first_rule_priority", line: cursor.line,
                    "Braid's rules \(kernel.firstRulePriority)-\(kernel.lastRulePriority(highestSlot: wans.count)) must stay below the main table's rule (32766)"
                )
            }
        }
        return wans
    }

    private static func readWan(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> WanConfig? {
        guard
            let keys = collector.mapping(
                cursor, allowed: ["name", "interface", "gateway", "weight", "nat", "tier", "health", "ipv6"])
        else { return nil }
        func required(_ key: String, _ explanation: String) -> YAMLCursor? {
            if let value = keys[key] { return value }
            collector.report(path: cursor.child(key), line: cursor.line, "missing; \(explanation)")
            return nil
        }
        var name: String?
        if let nameCursor = required("name", "every WAN needs a name"), let text = collector.string(nameCursor, of: "a WAN name")
        {
            if !Identifiers.isValidWanName(text) {
                collector.report(
                    nameCursor, "\"\(text)\" is not a valid WAN name (1-15 of a-z 0-9 _ -, starting with a letter or digit)")
            } else if Identifiers.reservedWanNames.contains(text) {
                collector.report(nameCursor, "\"\(text)\" is reserved; pick another name")
            } else {
                name = text
            }
        }
        var interface: String?
        if let interfaceCursor = required("interface", "name the interface this WAN leaves by"),
            let text = collector.string(interfaceCursor, of: "an interface name")
        {
            if Identifiers.isValidInterfaceName(text) {
                interface = text
            } else {
                collector.report(interfaceCursor, "\"\(text)\" is not a valid interface name (1-15 of a-z A-Z 0-9 _ - .)")
            }
        }
        // Omitted means `auto`: most uplinks learn their gateway by DHCP.
        var gateway: GatewaySetting<IPv4Address>? = .auto
        if let gatewayCursor = keys["gateway"] {
            gateway = nil
            if let text = collector.string(gatewayCursor, of: "auto, none or an IPv4 address") {
                switch GatewaySetting<IPv4Address>.parse(text, otherFamilyKey: cursor.child("ipv6.gateway")) {
                case .success(let setting): gateway = setting
                case .failure(let error): collector.report(gatewayCursor, error.message)
                }
            }
        }
        var weight = 1
        if let weightCursor = keys["weight"] {
            guard let value = collector.integer(weightCursor, in: 0...maximumWeight, of: "a weight") else { return nil }
            weight = value
        }
        var nat = NatMode.masquerade
        if let natCursor = keys["nat"], let text = collector.string(natCursor, of: "masquerade, none, or an IPv4 address") {
            switch text {
            case "masquerade": nat = .masquerade
            case "none": nat = .none
            default:
                if let address = IPv4Address(text), !address.isUnusableAsHost {
                    nat = .snat(address)
                } else {
                    collector.report(natCursor, "\"\(text)\" is not masquerade, none, or an IPv4 address to SNAT to")
                    return nil
                }
            }
        } else if keys["nat"] != nil {
            return nil
        }
        var tier = 1
        if let tierCursor = keys["tier"] {
            guard let value = collector.integer(tierCursor, in: 1...100, of: "a tier") else { return nil }
            tier = value
        }
        var health: HealthCheckConfig?
        if let healthCursor = keys["health"] {
            guard let value = readHealth(healthCursor, &collector) else { return nil }
            health = value
        }
        var ipv6: WanIPv6Config?
        if let ipv6Cursor = keys["ipv6"] {
            guard let value = readIPv6(ipv6Cursor, &collector) else { return nil }
            ipv6 = value
        }
        if ipv6 == nil, let healthCursor = keys["health"] { reportIPv6TargetsWithoutIPv6(health, healthCursor, &collector) }
        guard let name, let interface, let gateway else { return nil }
        return WanConfig(
            name: name, interface: interface, gateway: gateway, weight: weight, nat: nat, tier: tier, health: health, ipv6: ipv6)
    }

    private static func readHealth(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> HealthCheckConfig? {
        let allowed = ["targets", "method", "interval", "timeout", "down_after", "up_after", "quorum", "loss_window", "max_loss"]
        guard let keys = collector.mapping(cursor, allowed: allowed) else { return nil }
        let before = collector.issues.count
        var targets: [IPAddress] = []
        if let targetsCursor = keys["targets"] {
            if let items = collector.sequence(targetsCursor, of: "IPv4 or IPv6 addresses") {
                if items.isEmpty { collector.report(targetsCursor, "needs at least one target") }
                for item in items {
                    guard let text = collector.string(item, of: "an IPv4 or IPv6 address") else { continue }
                    if let address = healthTarget(text, item, &collector) { targets.append(address) }
                }
            }
        } else {
            collector.report(path: cursor.child("targets"), line: cursor.line, "missing; list one or more addresses to probe")
        }
        var check = HealthCheckConfig(targets: targets)
        if let methodCursor = keys["method"], let text = collector.string(methodCursor, of: "a probe method") {
            switch HealthCheckMethod.parse(text) {
            case .success(let method): check.method = method
            case .failure(let error): collector.report(methodCursor, "\"\(text)\": \(error.reason)")
            }
        }
        func duration(_ key: String, _ range: ClosedRange<Duration>) -> Duration? {
            guard let durationCursor = keys[key] else { return nil }
            return collector.duration(durationCursor, in: range)
        }
        if let value = duration("interval", .milliseconds(20)...(.seconds(3600))) { check.interval = value }
        if let value = duration("timeout", .milliseconds(10)...(.seconds(60))) { check.timeout = value }
        if let countCursor = keys["down_after"],
            let value = collector.integer(countCursor, in: 1...1000, of: "a number of rounds")
        {
            check.downAfter = value
        }
        if let countCursor = keys["up_after"], let value = collector.integer(countCursor, in: 1...1000, of: "a number of rounds")
        {
            check.upAfter = value
        }
        if let quorumCursor = keys["quorum"], let value = collector.integer(quorumCursor, in: 1...1000, of: "a number of targets")
        {
            if !targets.isEmpty, value > targets.count {
                collector.report(quorumCursor, "\(value) is more than the \(targets.count) target(s); the WAN could never be up")
            } else {
                check.quorum = value
            }
        }
        readLossRule(keys, into: &check, &collector)
        return collector.issues.count == before ? check : nil
    }

    private static func readKernelLayout(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> KernelLayoutConfig? {
        guard let keys = collector.mapping(cursor, allowed: ["mark_mask", "first_table", "first_rule_priority"]) else {
            return nil
        }
        var layout = KernelLayoutConfig()
        if let maskCursor = keys["mark_mask"],
            let mask = collector.integer(maskCursor, in: 1...Int(UInt32.max), of: "a 32-bit mark mask")
        {
            let value = UInt32(mask)
            let shifted = value >> UInt32(value.trailingZeroBitCount)
            if shifted & (shifted &+ 1) != 0 {
                collector.report(maskCursor, "0x\(String(value, radix: 16)) is not one contiguous run of bits")
            } else if value.nonzeroBitCount < 2 {
                collector.report(
                    maskCursor, "0x\(String(value, radix: 16)) leaves room for only one WAN mark; use at least 2 bits")
            } else {
                layout.markMask = value
            }
        }
        if let tableCursor = keys["first_table"],
            let table = collector.integer(tableCursor, in: 1...Int(Int32.max), of: "a routing table id")
        {
            layout.firstTable = UInt32(table)
        }
        if let priorityCursor = keys["first_rule_priority"],
            let priority = collector.integer(priorityCursor, in: 1...32000, of: "an ip rule priority")
        {
            layout.firstRulePriority = UInt32(priority)
        }
        return layout
    }
}
