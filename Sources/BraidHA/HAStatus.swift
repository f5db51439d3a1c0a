import Foundation

/// The HA pair as `braid status` and `/api/v1/status` show it (the `ha` object of the daemon's status).
public struct HAStatus: Sendable, Codable, Equatable {
    public var role: HARole
    public var since: Date
    /// Why this gateway is in `role`, or why it refuses the active role.
    public var reason: String
    /// The VRRP priority and whether it takes the active role back on return.
    public var priority: Int
    public var preempt: Bool
    public var peer: String
    /// A hello from the peer's Braid within the last second (over the sync link).
    public var peerReachable: Bool
    public var peerRole: String?
    public var layoutDigest: String
    public var peerLayoutDigest: String?
    /// Whether this gateway may be active now (what the track file tells keepalived).
    public var ready: Bool
    /// conntrackd: "running" or "restarting", with its caches' entry counts when known.
    public var syncState: String
    public var internalCacheEntries: Int?
    public var externalCacheEntries: Int?
    public var transitions: Int
    /// How long the last takeover's conntrackd commit took, from keepalived's report to done.
    public var lastCommitMilliseconds: Double?

    public init(
        role: HARole, since: Date, reason: String, priority: Int, preempt: Bool, peer: String, peerReachable: Bool,
        peerRole: String?, layoutDigest: String, peerLayoutDigest: String?, ready: Bool, syncState: String,
        internalCacheEntries: Int?, externalCacheEntries: Int?, transitions: Int, lastCommitMilliseconds: Double?
    ) {
        self.role = role
        self.since = since
        self.reason = reason
        self.priority = priority
        self.preempt = preempt
        self.peer = peer
        self.peerReachable = peerReachable
        self.peerRole = peerRole
        self.layoutDigest = layoutDigest
        self.peerLayoutDigest = peerLayoutDigest
        self.ready = ready
        self.syncState = syncState
        self.internalCacheEntries = internalCacheEntries
        self.externalCacheEntries = externalCacheEntries
        self.transitions = transitions
        self.lastCommitMilliseconds = lastCommitMilliseconds
    }
}

/// One role change, for the event log, the metrics and the log.
public struct HARoleChange: Sendable, Equatable {
    public var from: HARole
    public var to: HARole
    public var reason: String
}
