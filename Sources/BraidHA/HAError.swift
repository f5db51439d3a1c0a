/// Why the HA side of `braid run` could not start or do its part; `description` says what to fix.
public enum HAError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The sync interface has no IPv4 address (conntrackd and the peer hello need one).
    case noSyncAddress(interface: String)
    /// A program Braid drives (keepalived, conntrackd) is missing or failed to start.
    case program(String)
    /// The peer hello socket.
    case peerLink(String)
    /// Writing a generated file into the state directory.
    case file(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSyncAddress(let interface):
            "ha.sync_interface \(interface) has no IPv4 address; give it this gateway's address on the sync link"
        case .program(let message): message
        case .peerLink(let message): "ha peer link: \(message)"
        case .file(let path, let reason): "cannot write \(path): \(reason)"
        }
    }
}
