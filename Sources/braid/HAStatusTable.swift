import BraidHA
import Foundation

/// The HA pair in `braid status`: this gateway's role, the peer, conntrackd's sync state.
enum HAStatusTable {
    static func render(_ ha: HAStatus) -> String {
        let formatter = ISO8601DateFormatter()
        var lines = [
            "",
            "HA: \(ha.role.rawValue) since \(formatter.string(from: ha.since)) (\(ha.reason)); priority \(ha.priority)"
                + (ha.preempt ? ", preempts" : ", does not preempt") + ", \(ha.transitions) role change(s)",
            "  peer \(ha.peer): " + (ha.peerReachable ? "reachable" : "unreachable")
                + (ha.peerRole.map { ", \($0)" } ?? ""),
            "  slot layout \(ha.layoutDigest)"
                + (ha.peerLayoutDigest.map { $0 == ha.layoutDigest ? " (the peer's matches)" : " (the peer's is \($0): differs)" }
                    ?? " (the peer's not known yet)"),
            "  conntrackd: \(ha.syncState)"
                + (ha.internalCacheEntries.map { ", \($0) connection(s) of this gateway" } ?? "")
                + (ha.externalCacheEntries.map { ", \($0) synced from the peer" } ?? ""),
        ]
        if !ha.ready { lines.append("  will not become active: \(ha.reason)") }
        if let commit = ha.lastCommitMilliseconds {
            lines.append(
                String(format: "  last takeover: synced connections committed %.0f ms after keepalived's report", commit))
        }
        return lines.joined(separator: "\n")
    }
}
