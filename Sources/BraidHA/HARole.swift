/// This gateway's part in an HA pair, as keepalived reports it for the sync group.
public enum HARole: String, Sendable, Codable, CaseIterable {
    /// keepalived has not reported a state yet.
    case starting
    /// Holds the virtual addresses and carries the traffic (VRRP master).
    case active
    /// Ready to take over (VRRP backup).
    case backup
    /// Cannot be active: no usable WAN, the peer's slot layout differs, or an interface is down.
    case fault
    /// keepalived is not running (it died and is being restarted, or Braid is stopping).
    case stopped

    /// The role a keepalived state word names (`MASTER`, `BACKUP`, `FAULT`, `STOP`).
    public init?(keepalivedState: some StringProtocol) {
        switch keepalivedState {
        case "MASTER": self = .active
        case "BACKUP": self = .backup
        case "FAULT": self = .fault
        case "STOP", "DELETED": self = .stopped
        default: return nil
        }
    }
}

/// One line keepalived writes to its notify FIFO: `GROUP "braid" MASTER 0` or
/// `INSTANCE "braid_lan0" BACKUP 200`.
public struct KeepalivedNotification: Sendable, Equatable {
    public enum Scope: String, Sendable { case group = "GROUP", instance = "INSTANCE" }
    public var scope: Scope
    public var name: String
    public var role: HARole

    public init(scope: Scope, name: String, role: HARole) {
        self.scope = scope
        self.name = name
        self.role = role
    }

    /// Nil for lines that are neither (keepalived also reports checker and script states).
    public init?(line: String) {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count >= 3, let scope = Scope(rawValue: String(words[0])), let role = HARole(keepalivedState: words[2])
        else { return nil }
        self.init(scope: scope, name: String(words[1].filter { $0 != "\"" }), role: role)
    }
}
