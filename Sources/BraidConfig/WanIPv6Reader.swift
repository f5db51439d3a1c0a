/// Reading a WAN's `ipv6:` section and the IPv6 parts of its health targets.
extension ConfigLoader {
    static func readIPv6(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> WanIPv6Config? {
        guard let keys = collector.mapping(cursor, allowed: ["gateway", "nat"]) else { return nil }
        let before = collector.issues.count
        var gateway = GatewaySetting<IPv6Address>.auto
        if let gatewayCursor = keys["gateway"],
            let text = collector.string(gatewayCursor, of: "an IPv6 address, auto or none")
        {
            if text.contains("%") {
                collector.report(
                    gatewayCursor, "\"\(text)\": leave out the zone (%…); a link-local gateway is on the WAN's own interface")
            } else {
                switch GatewaySetting<IPv6Address>.parse(text, otherFamilyKey: "gateway (the WAN's IPv4 next hop)") {
                case .success(let setting): gateway = setting
                case .failure(let error): collector.report(gatewayCursor, error.message)
                }
            }
        }
        var nat = IPv6NatMode.masquerade
        if let natCursor = keys["nat"] { nat = readIPv6Nat(natCursor, &collector) ?? nat }
        guard collector.issues.count == before else { return nil }
        return WanIPv6Config(gateway: gateway, nat: nat)
    }

    private static func readIPv6Nat(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> IPv6NatMode? {
        if case .mapping = cursor.node {
            guard let keys = collector.mapping(cursor, allowed: ["from", "to"]) else { return nil }
            func prefix(_ key: String, _ role: String) -> IPPrefix? {
                guard let prefixCursor = keys[key] else {
                    collector.report(path: cursor.child(key), line: cursor.line, "missing; give the \(role) prefix")
                    return nil
                }
                guard let text = collector.string(prefixCursor, of: "an IPv6 prefix") else { return nil }
                guard let prefix = IPPrefix(text), prefix.family == .ipv6, text.contains("/") else {
                    collector.report(
                        prefixCursor,
                        "\"\(text)\" is not an IPv6 prefix such as fd00:1::/64 (host bits must be zero)")
                    return nil
                }
                guard (1...127).contains(prefix.length) else {
                    collector.report(prefixCursor, "/\(prefix.length) cannot be translated; use a length of 1 to 127")
                    return nil
                }
                return prefix
            }
            let from = prefix("from", "LAN")
            let to = prefix("to", "public")
            guard let from, let to else { return nil }
            guard from.length == to.length else {
                collector.report(
                    path: cursor.child("to"), line: keys["to"]?.line ?? cursor.line,
                    "\(to) is a /\(to.length) but `from` \(from) is a /\(from.length): prefix translation keeps the host part, so both need the same length"
                )
                return nil
            }
            return .prefixTranslation(PrefixTranslation(from: from, to: to))
        }
        guard let text = collector.string(cursor, of: "masquerade, none, or { from: PREFIX, to: PREFIX }") else { return nil }
        switch text {
        case "masquerade": return .masquerade
        case "none": return IPv6NatMode.none
        default:
            collector.report(
                cursor,
                "\"\(text)\" is not masquerade, none, or a prefix translation { from: fd00:1::/64, to: 2001:db8:2:100::/64 }")
            return nil
        }
    }

    /// A health target of either family; IPv4 ones follow the rules they always had.
    static func healthTarget(_ text: String, _ cursor: YAMLCursor, _ collector: inout IssueCollector) -> IPAddress? {
        switch IPAddress(text) {
        case .v4(let address)? where !address.isUnusableAsHost: return .v4(address)
        case .v6(let address)? where !address.isUnusableAsHost && !address.isLinkLocal: return .v6(address)
        case .v6(let address)? where address.isLinkLocal:
            collector.report(
                cursor, "\"\(text)\" is link-local: it proves nothing beyond the link; probe a host beyond the gateway")
        default:
            collector.report(cursor, "\"\(text)\" is not a usable IPv4 or IPv6 address")
        }
        return nil
    }

    /// IPv6 targets on a WAN that takes no IPv6 would never answer.
    static func reportIPv6TargetsWithoutIPv6(
        _ health: HealthCheckConfig?, _ cursor: YAMLCursor, _ collector: inout IssueCollector
    ) {
        guard let health, let index = health.targets.firstIndex(where: { $0.family == .ipv6 }) else { return }
        let targetsCursor = cursor.node["targets"].map { YAMLCursor(node: $0, path: cursor.child("targets")) } ?? cursor
        collector.report(
            path: targetsCursor.element(index), line: targetsCursor.node[index]?.mark?.line ?? targetsCursor.line,
            "\(health.targets[index]) is an IPv6 target, but this WAN has no `ipv6:` section and takes no IPv6")
    }
}
