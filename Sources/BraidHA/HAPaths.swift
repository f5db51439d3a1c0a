/// Where an HA gateway keeps keepalived's and conntrackd's files: all inside Braid's state
/// directory, so two pairs (four gateways) can run on one host, as the lab does, without
/// finding each other's pid files, locks or sockets in the shared /run.
public struct HAPaths: Sendable, Equatable {
    public let directory: String

    public init(stateDirectory: String) { directory = stateDirectory + "/ha" }

    public var keepalivedConfig: String { directory + "/keepalived.conf" }
    /// keepalived's main (`-p`) and VRRP child (`-r`) pid files; it starts no checker child (`--vrrp`).
    public var keepalivedPid: String { directory + "/keepalived.pid" }
    public var vrrpPid: String { directory + "/keepalived-vrrp.pid" }
    /// keepalived writes every role change of the sync group here; Braid reads it.
    public var notifyFifo: String { directory + "/keepalived.fifo" }
    /// Read by keepalived's `track_file`: "0" while this gateway may be active, "1" to give it up.
    public var trackFile: String { directory + "/ready" }
    public var conntrackdConfig: String { directory + "/conntrackd.conf" }
    public var conntrackdLock: String { directory + "/conntrackd.lock" }
    public var conntrackdSocket: String { directory + "/conntrackd.ctl" }
}
