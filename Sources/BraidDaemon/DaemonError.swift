/// Why the daemon could not start or keep running.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case linkMonitor(String)
    case statusSocket(String)
    /// Another `braid run` holds the state directory.
    case alreadyRunning(stateDirectory: String, pid: Int32?)
    /// The HA pair (`ha:`) could not start: keepalived, conntrackd or the sync link.
    case highAvailability(String)

    public var description: String {
        switch self {
        case .linkMonitor(let reason): "cannot listen for link changes (rtnetlink): \(reason)"
        case .statusSocket(let reason): "status socket: \(reason)"
        case .alreadyRunning(let directory, let pid):
            "another `braid run`\(pid.map { " (pid \($0))" } ?? "") already uses the state directory \(directory); "
                + "stop it first (`systemctl stop braid`), or give this one its own --state-dir"
        case .highAvailability(let reason): "ha: \(reason)"
        }
    }
}
