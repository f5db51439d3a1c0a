/// Reads a parsed `/etc/config/mwan3` into an `Mwan3Config`, as mwan3 would read it: sections in any
/// order, mwan3's defaults for what is left out. What mwan3 itself would reject or ignore (a member
/// naming a missing interface, a policy with no members, a rule naming a missing policy, an
/// unknown section type, a misspelt option, a number that is not one) becomes a note with its line
/// and is left out; the rest still converts.
public enum Mwan3Reader {
    public static func read(_ document: UCIDocument, file: String) -> (config: Mwan3Config, notes: [ImportNote]) {
        var reader = Reading(file: file)
        for section in document.sections {
            switch section.type {
            case "globals": reader.readGlobals(section)
            case "interface": reader.readInterface(section)
            case "member": reader.readMember(section)
            case "policy": reader.readPolicy(section)
            case "rule": reader.readRule(section)
            default:
                reader.note(
                    section, nil,
                    "unknown section type `\(section.type)` (mwan3 knows globals, interface, member, policy, rule); skipped")
            }
        }
        reader.checkReferences()
        return (reader.config, reader.notes)
    }

    static let knownOptions: [String: Set<String>] = [
        "globals": ["mmx_mask", "logging", "loglevel", "local_source", "rtmon_interval"],
        "interface": [
            "enabled", "family", "initial_state", "track_ip", "track_method", "httping_ssl", "reliability", "count",
            "timeout", "interval", "failure_interval", "recovery_interval", "keep_failure_interval", "down", "up",
            "size", "max_ttl", "check_quality", "failure_latency", "recovery_latency", "failure_loss",
            "recovery_loss", "flush_conntrack",
        ],
        "member": ["interface", "metric", "weight"],
        "policy": ["use_member", "last_resort"],
        "rule": [
            "src_ip", "src_port", "dest_ip", "dest_port", "proto", "family", "ipset", "sticky", "timeout",
            "use_policy", "logging",
        ],
    ]

    struct Reading {
        let file: String
        var config = Mwan3Config()
        var notes: [ImportNote] = []

        mutating func note(_ section: UCISection, _ option: String?, _ message: String) {
            let line = option.flatMap { section.option($0)?.line } ?? section.line
            notes.append(ImportNote(file: file, line: line, section: section.reference, option: option, message: message))
        }

        mutating func checkOptions(_ section: UCISection) {
            let known = Mwan3Reader.knownOptions[section.type] ?? []
            for option in section.options where !known.contains(option.name) {
                note(section, option.name, "mwan3 has no option `\(option.name)` in a \(section.type) section; ignored")
            }
        }

        mutating func integer(_ section: UCISection, _ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
            guard let text = section.value(name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                note(section, name, "'\(text)' is not a whole number in \(range.lowerBound)…\(range.upperBound); using \(value)")
                return value
            }
            return number
        }

        mutating func boolean(_ section: UCISection, _ name: String, default value: Bool) -> Bool {
            guard let text = section.value(name) else { return value }
            switch text.lowercased() {
            case "1", "yes", "on", "true", "enabled": return true
            case "0", "no", "off", "false", "disabled": return false
            default:
                note(section, name, "'\(text)' is not a boolean (1/0, yes/no, on/off, true/false); using \(value ? 1 : 0)")
                return value
            }
        }

        mutating func family(_ section: UCISection) -> Mwan3Family?? {
            guard let text = section.value("family") else { return .none }
            switch text {
            case "ipv4": return .some(.ipv4)
            case "ipv6": return .some(.ipv6)
            case "any" where section.type == "rule": return .some(nil)
            default:
                note(section, "family", "'\(text)' is not ipv4, ipv6\(section.type == "rule" ? " or any" : ""); using the default")
                return .none
            }
        }

        mutating func readGlobals(_ section: UCISection) {
            checkOptions(section)
            if let mask = section.value("mmx_mask") { config.globals.markMask = mask }
            config.globals.line = section.line
        }

        mutating func readInterface(_ section: UCISection) {
            checkOptions(section)
            guard let name = section.name else {
                note(section, nil, "an interface section needs a name (the OpenWrt interface it tracks); skipped")
                return
            }
            var interface = Mwan3Interface(name: name, line: section.line)
            interface.enabled = boolean(section, "enabled", default: false)
            if case .some(.some(let family)) = family(section) { interface.family = family }
            if let state = section.value("initial_state") {
                switch state {
                case "online": interface.initiallyOnline = true
                case "offline": interface.initiallyOnline = false
                default: note(section, "initial_state", "'\(state)' is not online or offline; using online")
                }
            }
            interface.trackIPs = section.values("track_ip")
            interface.trackMethod = section.value("track_method") ?? "ping"
            let methods: Set<String> = ["ping", "arping", "httping", "nping-tcp", "nping-udp", "nping-icmp", "nping-arp", "nslookup"]
            if !methods.contains(interface.trackMethod) {
                note(section, "track_method", "unknown method '\(interface.trackMethod)'; mwan3 falls back to ping, and so does the import")
                interface.trackMethod = "ping"
            }
            interface.httpingTLS = boolean(section, "httping_ssl", default: false)
            interface.reliability = integer(section, "reliability", default: 1, range: 1...1000)
            interface.count = integer(section, "count", default: 1, range: 1...1000)
            interface.timeout = integer(section, "timeout", default: 4, range: 1...86_400)
            interface.interval = integer(section, "interval", default: 10, range: 1...86_400)
            if section.option("failure_interval") != nil {
                interface.failureInterval = integer(section, "failure_interval", default: interface.interval, range: 1...86_400)
            }
            if section.option("recovery_interval") != nil {
                interface.recoveryInterval = integer(section, "recovery_interval", default: interface.interval, range: 1...86_400)
            }
            interface.down = integer(section, "down", default: 5, range: 1...1000)
            interface.up = integer(section, "up", default: 5, range: 1...1000)
            interface.checkQuality = boolean(section, "check_quality", default: false)
            interface.failureLatency = integer(section, "failure_latency", default: 1000, range: 1...3_600_000)
            interface.recoveryLatency = integer(section, "recovery_latency", default: 500, range: 1...3_600_000)
            interface.failureLoss = integer(section, "failure_loss", default: 40, range: 0...100)
            interface.recoveryLoss = integer(section, "recovery_loss", default: 10, range: 0...100)
            interface.flushConntrack = section.values("flush_conntrack").flatMap { $0.split(separator: " ").map(String.init) }
            config.interfaces.append(interface)
        }

        mutating func readMember(_ section: UCISection) {
            checkOptions(section)
            guard let name = section.name else {
                note(section, nil, "a member section needs a name (policies refer to members by name); skipped")
                return
            }
            guard let interface = section.value("interface") else {
                note(section, nil, "member has no `interface`; skipped")
                return
            }
            config.members.append(
                Mwan3Member(
                    name: name, line: section.line, interface: interface,
                    metric: integer(section, "metric", default: 1, range: 1...256),
                    weight: integer(section, "weight", default: 1, range: 1...1000)))
        }

        mutating func readPolicy(_ section: UCISection) {
            checkOptions(section)
            guard let name = section.name else {
                note(section, nil, "a policy section needs a name (rules refer to policies by name); skipped")
                return
            }
            var policy = Mwan3Policy(name: name, line: section.line, members: section.values("use_member"))
            if let lastResort = section.value("last_resort") {
                if let value = Mwan3LastResort(rawValue: lastResort) {
                    policy.lastResort = value
                } else {
                    note(section, "last_resort", "'\(lastResort)' is not unreachable, blackhole or default; using unreachable")
                }
            }
            config.policies.append(policy)
        }

        mutating func readRule(_ section: UCISection) {
            checkOptions(section)
            guard let usePolicy = section.value("use_policy") else {
                note(section, nil, "rule has no `use_policy`; mwan3 skips it, and so does the import")
                return
            }
            var rule = Mwan3Rule(name: section.reference, line: section.line, usePolicy: usePolicy)
            rule.sourceIP = section.value("src_ip")
            rule.sourcePort = section.value("src_port")
            rule.destinationIP = section.value("dest_ip")
            rule.destinationPort = section.value("dest_port")
            rule.proto = section.value("proto") ?? "all"
            if case .some(let family) = family(section) { rule.family = family }
            rule.ipset = section.value("ipset")
            rule.sticky = boolean(section, "sticky", default: false)
            rule.stickyTimeout = integer(section, "timeout", default: 600, range: 1...1_000_000)
            config.rules.append(rule)
        }

        /// Drops what refers to something missing, in dependency order: members whose interface is
        /// not defined, then policies left without members, then rules naming no policy.
        mutating func checkReferences() {
            let interfaces = Set(config.interfaces.map(\.name))
            config.members.removeAll { member in
                guard !interfaces.contains(member.interface) else { return false }
                notes.append(
                    ImportNote(
                        file: file, line: member.line, section: member.name, option: "interface",
                        message: "names interface '\(member.interface)', which no `config interface` section defines; member skipped"))
                return true
            }
            let members = Set(config.members.map(\.name))
            config.policies.removeAll { policy in
                let missing = policy.members.filter { !members.contains($0) }
                for name in missing {
                    notes.append(
                        ImportNote(
                            file: file, line: policy.line, section: policy.name, option: "use_member",
                            message: "member '\(name)' is not defined (or was skipped); left out of the policy"))
                }
                guard policy.members.count > missing.count else {
                    notes.append(
                        ImportNote(
                            file: file, line: policy.line, section: policy.name,
                            message: "policy has no usable members; skipped"))
                    return true
                }
                return false
            }
            for index in config.policies.indices {
                config.policies[index].members.removeAll { !members.contains($0) }
            }
            let policies = Set(config.policies.map(\.name)).union(["default", "unreachable", "blackhole"])
            config.rules.removeAll { rule in
                guard !policies.contains(rule.usePolicy) else { return false }
                notes.append(
                    ImportNote(
                        file: file, line: rule.line, section: rule.name, option: "use_policy",
                        message: "policy '\(rule.usePolicy)' is not defined (or was skipped); rule skipped"))
                return true
            }
        }
    }
}
