/// Reads `policies` and checks `default_policy`: every member must name a WAN of the same file,
/// and every policy needs at least one member.
struct NamedPolicyReader {
    let wanNames: [String]
    /// False when the WAN list itself was invalid: then members are not checked against it.
    let knownWans: Bool

    /// `name: { members: [...], last_resort: ... }`, or the short form `name: [...]` (members only).
    func readPolicies(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [NamedPolicyConfig] {
        guard case .mapping(let mapping) = cursor.node else {
            collector.report(cursor, "expected a mapping of policy names to { members: [...], last_resort: ... }")
            return []
        }
        var policies: [NamedPolicyConfig] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { continue }
            let policyCursor = YAMLCursor(node: value, path: cursor.child(name))
            guard Identifiers.isValidWanName(name) else {
                collector.report(
                    path: policyCursor.path, line: key.mark?.line,
                    "\"\(name)\" is not a valid policy name (1-15 of a-z 0-9 _ -, starting with a letter or digit)")
                continue
            }
            let before = collector.issues.count
            var policy = NamedPolicyConfig(name: name, members: [])
            let membersCursor: YAMLCursor?
            if case .sequence = value {
                membersCursor = policyCursor
            } else {
                guard let keys = collector.mapping(policyCursor, allowed: ["members", "last_resort"]) else { continue }
                membersCursor = keys["members"]
                if membersCursor == nil {
                    collector.report(
                        path: policyCursor.child("members"), line: policyCursor.line ?? key.mark?.line,
                        "missing; list the policy's WANs ({ wan: NAME, weight: N, tier: N })")
                }
                if let resortCursor = keys["last_resort"],
                    let text = collector.string(resortCursor, of: "main, drop or unreachable")
                {
                    if let value = PolicyLastResort(rawValue: text) {
                        policy.lastResort = value
                    } else {
                        collector.report(resortCursor, "\"\(text)\" is not main, drop or unreachable")
                    }
                }
            }
            if let membersCursor { policy.members = readMembers(membersCursor, &collector) }
            if collector.issues.count == before { policies.append(policy) }
        }
        return policies
    }

    private func readMembers(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> [PolicyMemberConfig] {
        guard let items = collector.sequence(cursor, of: "policy members") else { return [] }
        if items.isEmpty {
            collector.report(cursor, "a policy needs at least one member ({ wan: NAME })")
            return []
        }
        var members: [PolicyMemberConfig] = []
        var seen: [String: String] = [:]
        for item in items {
            guard let keys = collector.mapping(item, allowed: ["wan", "weight", "tier", "flush_on_down"]) else { continue }
            var member = PolicyMemberConfig(wan: "")
            if let wanCursor = keys["wan"], let text = collector.string(wanCursor, of: "a WAN name") {
                if knownWans && !wanNames.contains(text) {
                    collector.report(wanCursor, "no WAN named \"\(text)\" (WANs: \(wanNames.joined(separator: ", ")))")
                    continue
                } else if let first = seen[text] {
                    collector.report(wanCursor, "\"\(text)\" is already a member of this policy (\(first))")
                    continue
                }
                seen[text] = item.path
                member.wan = text
            } else {
                if keys["wan"] == nil {
                    collector.report(path: item.child("wan"), line: item.line, "missing; name the member's WAN")
                }
                continue
            }
            if let weightCursor = keys["weight"] {
                guard let value = collector.integer(weightCursor, in: 0...ConfigLoader.maximumWeight, of: "a weight") else {
                    continue
                }
                member.weight = value
            }
            if let tierCursor = keys["tier"] {
                guard let value = collector.integer(tierCursor, in: 1...100, of: "a tier") else { continue }
                member.tier = value
            }
            if let flushCursor = keys["flush_on_down"] {
                guard let value = collector.boolean(flushCursor) else { continue }
                member.flushOnDown = value
            }
            members.append(member)
        }
        return members
    }

    /// A WAN's connections are flushed or kept as a whole (its conntrack mark does not say which
    /// policy placed them), so members of one WAN must agree on `flush_on_down`.
    static func checkFlushAgreement(
        _ policies: [NamedPolicyConfig], _ cursor: YAMLCursor, _ collector: inout IssueCollector
    ) {
        var said: [String: (Bool, String)] = [:]
        for policy in policies {
            for member in policy.members {
                guard let value = member.flushOnDown else { continue }
                if let (other, where_) = said[member.wan], other != value {
                    collector.report(
                        path: cursor.child(policy.name), line: cursor.node[policy.name]?.mark?.line,
                        "flush_on_down for \(member.wan) is \(value) here but \(other) in policy \(where_); a WAN's connections are flushed or kept as a whole"
                    )
                } else {
                    said[member.wan] = (value, policy.name)
                }
            }
        }
    }
}
