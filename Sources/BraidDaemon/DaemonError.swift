/// Why the daemon could not start or keep running.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case linkMonitor(String)
    case statusSocket(String)

    public var description: String {
        switch self {
        case .linkMonitor(let reason): "cannot listen for link changes (rtnetlink): \(reason)"
        case .statusSocket(let reason): "status socket: \(reason)"
        }
    }
}
