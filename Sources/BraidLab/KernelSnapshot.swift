import Foundation

/// Everything of a namespace's kernel state that Braid could touch, as text: the whole nft
/// ruleset, every ip rule, routes in all tables, and the sysctls Braid sets. Two snapshots that
/// compare equal mean Braid left no trace (or changed nothing).
public struct KernelSnapshot: Sendable, Equatable, CustomStringConvertible {
    public var ruleset: String
    public var rules: String
    public var routes: String
    public var sysctls: String

    public static func take(_ namespace: NetworkNamespace, interfaces: [String]) throws -> KernelSnapshot {
        let keys =
            ["net/ipv4/ip_forward", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"]
            + interfaces.map { "net/ipv4/conf/\($0)/rp_filter" }
        return KernelSnapshot(
            ruleset: try namespace.run(["nft", "-s", "list", "ruleset"]),
            rules: try namespace.run(["ip", "rule", "show"]),
            // Less the kernel's `local fe80::…` routes: one appears for each link-local address
            // once its duplicate address detection ends, a second or so after a link came up,
            // whatever Braid does (seen between two snapshots of a test that ran nothing).
            routes: try namespace.run(["ip", "route", "show", "table", "all"]).split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("local fe80:") }.joined(separator: "\n"),
            sysctls: try keys.map {
                "\($0)=\(try namespace.run(["sysctl", "-n", $0]).trimmingCharacters(in: .whitespacesAndNewlines))"
            }
            .joined(separator: "\n"))
    }

    /// The parts that differ, for a failure message.
    public func differences(from other: KernelSnapshot) -> String {
        var parts: [String] = []
        for (name, mine, theirs) in [
            ("ruleset", ruleset, other.ruleset), ("rules", rules, other.rules),
            ("routes", routes, other.routes), ("sysctls", sysctls, other.sysctls),
        ] where mine != theirs {
            parts.append("\(name) differ:\n--- before\n\(theirs)\n+++ after\n\(mine)")
        }
        return parts.joined(separator: "\n")
    }

    public var description: String { "ruleset:\n\(ruleset)\nrules:\n\(rules)\nroutes:\n\(routes)\nsysctls:\n\(sysctls)" }
}
