import BraidConfig
import BraidKernel
import Foundation

/// Real uplinks in the lab: a DHCP server (Debian's dnsmasq) in an ISP namespace and real DHCP
/// clients (ISC dhclient, dhcpcd) on the router, each with its own pid, lease and config files in
/// the lab's scratch directory, so nothing on the host is read or written. Both clients run their
/// own Debian hook runner (`dhclient-script`, `dhcpcd-run-hooks`) unchanged except for the hook
/// directory, which is the lab's (`hookRoot`): there `braid hooks install --root` puts Braid's hooks.
extension Lab {
    /// The root `braid hooks install --root` installs into for this lab: the hook directories of
    /// Debian's isc-dhcp-client, dhcpcd-base and ppp, empty.
    public func hookRoot() throws -> String {
        let root = NSTemporaryDirectory() + "\(prefix)-files/hookroot"
        for directory in [
            "etc/dhcp/dhclient-exit-hooks.d", "usr/lib/dhcpcd/dhcpcd-hooks", "etc/ppp/ip-up.d", "etc/ppp/ip-down.d",
        ] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        return root
    }

    /// Takes the router's static address off `wan`'s interface: DHCP gives it one.
    public func clearRouterAddress(_ wan: LabWan) throws {
        try router.ip([["address", "flush", "dev", wan.routerInterface]])
    }

    /// Starts dnsmasq on the ISP's customer side of `wan`, leasing the router its usual address
    /// (100.64.I.2/24) with `router` as the gateway (default: the ISP's usual 100.64.I.1). The
    /// ISP's customer interface gets `router` too if it lacks it.
    @discardableResult
    public func startDhcpServer(_ wan: LabWan, router gateway: IPv4Address? = nil) throws -> LabProcess {
        let gateway = gateway ?? wan.gateway
        if gateway != wan.gateway {
            _ = try? wan.namespace.run(["ip", "address", "add", "\(gateway)/24", "dev", "customer"])
        }
        let files = try scratchDirectory()
        let tag = "dnsmasq-\(wan.name)-\(gateway)"
        return try LabProcess(
            lab: self, name: tag, in: wan.namespace,
            [
                "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--interface=customer",
                "--bind-interfaces", "--dhcp-range=\(wan.routerAddress),\(wan.routerAddress),255.255.255.0,2m",
                "--dhcp-option=option:router,\(gateway)", "--dhcp-leasefile=\(files)/\(tag).leases",
                "--pid-file=\(files)/\(tag).pid", "--user=root", "--no-ping", "--dhcp-authoritative", "--log-facility=-",
                "--log-dhcp",
            ])
    }

    /// ISC dhclient (isc-dhcp-client) on `wan`'s router interface, in the foreground, running a copy
    /// of Debian's /sbin/dhclient-script whose only change is the hook directory (`hookRoot`). Like
    /// the packaged script it adds `default via ROUTER` to main, which the kernel refuses (EEXIST,
    /// hidden by the script) on every WAN after the first.
    public func startDhclient(_ wan: LabWan, hookRoot: String) throws -> LabProcess {
        let files = try scratchDirectory()
        let script = "\(files)/dhclient-script"
        if !FileManager.default.fileExists(atPath: script) {
            let original = try String(contentsOfFile: "/sbin/dhclient-script", encoding: .utf8)
            try original.replacingOccurrences(of: "/etc/dhcp/", with: "\(hookRoot)/etc/dhcp/")
                .write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }
        // No DNS servers asked for: dhclient-script writes resolv.conf only when it gets some.
        let conf = try writeFile("dhclient.conf", "request subnet-mask, broadcast-address, routers;\n")
        return try LabProcess(
            lab: self, name: "dhclient-\(wan.name)", in: router,
            [
                "dhclient", "-d", "-4", "-sf", script, "-pf", "\(files)/dhclient-\(wan.name).pid", "-lf",
                "\(files)/dhclient-\(wan.name).leases", "-cf", conf, wan.routerInterface,
            ])
    }

    /// dhcpcd (dhcpcd-base) on `wan`'s router interface, in the foreground, running a copy of
    /// Debian's dhcpcd-run-hooks whose only change is the hook directory. dhcpcd keeps its pid and
    /// control socket under /run/dhcpcd and its leases under /var/lib/dhcpcd, with no option to
    /// move them: a small start script mounts a tmpfs on /run and the lab's directory on
    /// /var/lib/dhcpcd first. `ip netns exec` gave the process a mount namespace of its own (a
    /// slave of the host's), so neither mount reaches the host. `noarp` skips the seconds of ARP
    /// probing before a bind.
    public func startDhcpcd(_ wan: LabWan, hookRoot: String) throws -> LabProcess {
        let files = try scratchDirectory()
        let runner = "\(files)/dhcpcd-run-hooks"
        if !FileManager.default.fileExists(atPath: runner) {
            let original = try String(contentsOfFile: "/usr/lib/dhcpcd/dhcpcd-run-hooks", encoding: .utf8)
            try original.replacingOccurrences(of: "/usr/lib/dhcpcd/dhcpcd-hooks", with: "\(hookRoot)/usr/lib/dhcpcd/dhcpcd-hooks")
                .replacingOccurrences(of: "/etc/dhcpcd.", with: "\(hookRoot)/etc/dhcpcd.")
                .write(toFile: runner, atomically: true, encoding: .utf8)
            chmod(runner, 0o755)
        }
        let conf = try writeFile("dhcpcd.conf", "noarp\nnoipv4ll\nipv4only\noption subnet_mask, routers\n")
        let database = "\(files)/dhcpcd-db-\(wan.name)"
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        let start = try writeFile(
            "dhcpcd-\(wan.name).sh",
            """
            #!/bin/sh
            # The lab's dhcpcd for \(wan.routerInterface): its /run and /var/lib/dhcpcd are the lab's.
            mount -t tmpfs braid-lab-run /run || exit 1
            mount --bind '\(database)' /var/lib/dhcpcd || exit 1
            exec dhcpcd --nobackground -4 -f '\(conf)' -c '\(runner)' '\(wan.routerInterface)'

            """)
        return try LabProcess(lab: self, name: "dhcpcd-\(wan.name)", in: router, ["/bin/sh", start])
    }

    /// Turns `wan` into a point-to-point link, as pppd configures one: the router's address with
    /// the ISP's as its peer (`ip addr add LOCAL peer PEER/32`), no subnet, and proxy ARP on the
    /// ISP's side (this kernel has no ppp driver, so the link stays a veth, which ARPs).
    public func makePointToPoint(_ wan: LabWan, configureRouter: Bool = true) throws {
        try wan.namespace.ip([
            ["address", "flush", "dev", "customer"],
            ["address", "add", "\(wan.gateway)", "peer", "\(wan.routerAddress)/32", "dev", "customer"],
        ])
        try wan.namespace.sysctl("net/ipv4/conf/customer/proxy_arp", "1")
        try router.ip([["address", "flush", "dev", wan.routerInterface]])
        if configureRouter { try configurePointToPointRouterSide(wan) }
    }

    /// The router's side of a point-to-point link: what pppd does before it runs ip-up.
    public func configurePointToPointRouterSide(_ wan: LabWan) throws {
        try router.ip([["address", "add", "\(wan.routerAddress)", "peer", "\(wan.gateway)/32", "dev", wan.routerInterface]])
    }

    func scratchDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "\(prefix)-files"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }
}
