import BraidPlanner

/// One file Braid installs into a DHCP or PPP client's hook location: where it goes (relative to
/// the root), its mode, and its text. The text only runs `braid hooks report` with what the client
/// learned; it never changes routes, returns at once (`timeout`) and never fails the client.
public struct ClientHookFile: Sendable, Equatable {
    public var client: ClientLeaseReport.Client
    /// Path below the root, without a leading slash (`etc/dhcp/dhclient-exit-hooks.d/braid`).
    public var relativePath: String
    public var mode: UInt16
    public var text: String

    /// The line that marks a file as Braid's: `remove` deletes only files that carry it, and
    /// `install` overwrites only those.
    public static let marker = "# braid client hook: installed by `braid hooks install`; `braid hooks remove` deletes it."
}

/// The texts of Braid's client hooks. `braid` and `stateDirectory` are baked in at install time,
/// single-quoted (`ClientHookInstaller` refuses paths with a quote or a control character).
enum ClientHookScript {
    /// dhclient-script and dhcpcd-run-hooks *source* their hooks: this text must not `exit`, must
    /// leave the client's variables alone, and must end with a status of 0 (a non-zero one is
    /// logged by dhclient-script as a failed hook). Both clients set `$interface`, `$reason`,
    /// `$new_ip_address` and `$new_routers` (space-separated; Braid takes the first).
    static func sourced(client: ClientLeaseReport.Client, braid: String, stateDirectory: String) -> String {
        """
        \(ClientHookFile.marker)
        # Sourced by \(client == .dhclient ? "dhclient-script" : "dhcpcd-run-hooks") on every event. It tells Braid what the client learned
        # (interface, address, router, reason) and nothing else: it never changes routes, returns at
        # once, and never fails the client. Braid follows the gateway from this report when the
        # kernel never shows it (a second WAN's `default via` is refused with EEXIST).
        if [ -x '\(braid)' ]; then
            timeout 3 '\(braid)' hooks report --client \(client.rawValue) --state-dir '\(stateDirectory)' \\
                --interface "${interface-}" --reason "${reason-}" \\
                --address "${new_ip_address-}" --router "${new_routers-}" </dev/null >/dev/null 2>&1 || :
        fi

        """
    }

    /// pppd runs /etc/ppp/ip-up (ip-down) with the arguments `interface tty speed local-IP
    /// remote-IP ipparam` and `IFNAME`, `IPLOCAL`, `IPREMOTE` in the environment; Debian's ip-up
    /// exports them again as `PPP_IFACE`, `PPP_TTY`, `PPP_SPEED`, `PPP_LOCAL`, `PPP_REMOTE`,
    /// `PPP_IPPARAM` and runs ip-up.d with run-parts (no arguments). This script takes either.
    static func ppp(up: Bool, braid: String, stateDirectory: String) -> String {
        """
        #!/bin/sh
        \(ClientHookFile.marker)
        # Run by pppd's \(up ? "ip-up" : "ip-down") (through run-parts): tells Braid that the point-to-point link is
        # \(up ? "up, with its local and peer address" : "down"). It never changes routes and always exits 0.
        # Arguments, as pppd passes them: interface tty speed local-IP remote-IP ipparam.
        [ -x '\(braid)' ] || exit 0
        timeout 3 '\(braid)' hooks report --client pppd --state-dir '\(stateDirectory)' \\
            --interface "${PPP_IFACE:-${IFNAME:-${1-}}}" --reason \(up ? "ip-up" : "ip-down") \\
            --address "${PPP_LOCAL:-${IPLOCAL:-${4-}}}" --router "${PPP_REMOTE:-${IPREMOTE:-${5-}}}" \\
            </dev/null >/dev/null 2>&1
        exit 0

        """
    }
}
